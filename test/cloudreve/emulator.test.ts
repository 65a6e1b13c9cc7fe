/**
 * The emulator against the reference (shared/api/cloudreve-v4.md): raw HTTP, no client code, one
 * case per line of "which operation returns what", plus envelope, auth, pagination, uploads, content.
 */
import { describe, expect, it } from 'vitest';
import { api, emulator, login, sleep } from './fixtures.js';
import type { CloudreveEmulator } from '../../adapters/cloudreve/index.js';

const MY = 'cloudreve://my';

async function session(emu: CloudreveEmulator) {
  const token = (await login(emu)).access_token;
  const call = (method: string, route: string, opts: Parameters<typeof api>[3] = {}) => api(emu, method, route, { token, ...opts });
  return { token, call };
}

describe('emulator: envelope and routing', () => {
  it('answers HTTP 200 + {code,msg,data} on JSON routes, errors with a correlation id', async () => {
    const emu = await emulator();
    const ping = await api(emu, 'GET', '/site/ping');
    expect(ping.status).toBe(200);
    expect(ping.env).toMatchObject({ code: 0, msg: '' });
    expect(typeof ping.env.data).toBe('string');
    const err = await api(emu, 'GET', '/file/info', { query: { uri: `${MY}/x` } });
    expect(err.status).toBe(200);
    expect(err.env.code).toBe(401);
    expect(err.env.correlation_id).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('a success with nothing to return omits data', async () => {
    const emu = await emulator({ seed: { a: 'x' } });
    const { call } = await session(emu);
    const { text } = await call('POST', '/file/rename', { body: { uri: `${MY}/a`, new_name: 'b' } });
    expect(JSON.parse(text).code).toBe(0);
    const del = await call('DELETE', '/file', { body: { uris: [`${MY}/b`] } });
    expect(del.text).toBe('{"code":0,"msg":""}');
  });

  it('unknown routes and wrong methods get gin\'s plain-text 404', async () => {
    const emu = await emulator();
    for (const [m, r] of [['GET', '/no/such/route'], ['PATCH', '/file/info']] as const) {
      const res = await api(emu, m, r);
      expect(res.status).toBe(404);
      expect(res.text).toBe('404 page not found');
    }
  });

  it('echoes a client-sent X-Cr-Correlation-Id; /session/prepare knows the user', async () => {
    const emu = await emulator();
    const res = await api(emu, 'GET', '/file/info', { query: { uri: `${MY}/x` }, headers: { 'X-Cr-Correlation-Id': 'abc-123' } });
    expect(res.env.correlation_id).toBe('abc-123');
    expect((await api(emu, 'GET', '/session/prepare', { query: { email: emu.email } })).env.data).toEqual({ webauthn_enabled: false, password_enabled: true });
    expect((await api(emu, 'GET', '/session/prepare', { query: { email: 'who@else.org' } })).env.code).toBe(404);
  });

  it('site config: login captcha off, basic with captcha_type normal', async () => {
    const emu = await emulator();
    expect((await api(emu, 'GET', '/site/config/login')).env.data.login_captcha).toBeUndefined();
    expect((await api(emu, 'GET', '/site/config/basic')).env.data.captcha_type).toBe('normal');
  });
});

describe('emulator: authentication', () => {
  it('login returns {user, token} with RFC3339 expiries; bad password 40080; bad email 40001 without correlation id', async () => {
    const emu = await emulator();
    const ok = await api(emu, 'POST', '/session/token', { body: { email: emu.email, password: emu.password } });
    expect(ok.env.code).toBe(0);
    expect(ok.env.data.user.email).toBe(emu.email);
    expect(Date.parse(ok.env.data.token.access_expires)).toBeGreaterThan(Date.now());
    expect(ok.env.data.token.access_token.split('.')).toHaveLength(3);
    expect((await api(emu, 'POST', '/session/token', { body: { email: emu.email, password: 'nope-nope' } })).env.code).toBe(40080);
    const bad = await api(emu, 'POST', '/session/token', { body: { email: 'not-an-email', password: 'xxxxxx' } });
    expect(bad.env.code).toBe(40001);
    expect(bad.env.correlation_id).toBeUndefined();
  });

  it('2FA: 203 with a session id, then /session/token/2fa (wrong otp 40022, unknown session 404)', async () => {
    const emu = await emulator({ otp: '424242' });
    const first = await api(emu, 'POST', '/session/token', { body: { email: emu.email, password: emu.password } });
    expect(first.env.code).toBe(203);
    expect(typeof first.env.data).toBe('string');
    expect((await api(emu, 'POST', '/session/token/2fa', { body: { otp: '000000', session_id: first.env.data } })).env.code).toBe(40022);
    expect((await api(emu, 'POST', '/session/token/2fa', { body: { otp: '424242', session_id: 'nope' } })).env.code).toBe(404);
    const ok = await api(emu, 'POST', '/session/token/2fa', { body: { otp: '424242', session_id: first.env.data } });
    expect(ok.env.data.token.access_token).toBeTruthy();
  });

  it('no or expired Bearer → anonymous → 401 on file and user routes; batch routes wrap it in 40081', async () => {
    const emu = await emulator({ accessTtlMs: 200 });
    const tokens = await login(emu);
    expect((await api(emu, 'GET', '/file', { token: tokens.access_token, query: { uri: MY } })).env.code).toBe(0);
    await sleep(300);
    expect((await api(emu, 'GET', '/file', { token: tokens.access_token, query: { uri: MY } })).env.code).toBe(401);
    expect((await api(emu, 'GET', '/user/capacity', { token: 'garbage' })).env.code).toBe(401);
    const del = await api(emu, 'DELETE', '/file', { body: { uris: [`${MY}/a`] } });
    expect(del.env.code).toBe(40081);
    expect(del.env.aggregated_error?.[`${MY}/a`]?.code).toBe(401);
  });

  it('a refresh token used as Bearer → 40020', async () => {
    const emu = await emulator();
    const tokens = await login(emu);
    expect((await api(emu, 'GET', '/file', { token: tokens.refresh_token, query: { uri: MY } })).env.code).toBe(40020);
  });

  it('refresh rotates both tokens (bare pair); bad or expired → 40020; logout revokes the family', async () => {
    const emu = await emulator({ refreshTtlMs: 60_000 });
    const tokens = await login(emu);
    const r = await api(emu, 'POST', '/session/token/refresh', { body: { refresh_token: tokens.refresh_token } });
    expect(r.env.code).toBe(0);
    expect(Object.keys(r.env.data).sort()).toEqual(['access_expires', 'access_token', 'refresh_expires', 'refresh_token']);
    expect(r.env.data.refresh_token).not.toBe(tokens.refresh_token);
    expect((await api(emu, 'POST', '/session/token/refresh', { body: { refresh_token: 'x.y.z' } })).env.code).toBe(40020);
    const out = await api(emu, 'DELETE', '/session/token', { body: { refresh_token: r.env.data.refresh_token } });
    expect(out.env).toMatchObject({ code: 0, data: '' });
    expect((await api(emu, 'POST', '/session/token/refresh', { body: { refresh_token: r.env.data.refresh_token } })).env.code).toBe(40020);
  });

  it('an expired refresh token → 40020', async () => {
    const emu = await emulator({ refreshTtlMs: 150 });
    const tokens = await login(emu);
    await sleep(250);
    expect((await api(emu, 'POST', '/session/token/refresh', { body: { refresh_token: tokens.refresh_token } })).env.code).toBe(40020);
  });
});

describe('emulator: URIs', () => {
  it('decodes encodeURIComponent segments (+ literal), trailing slash optional, emits escaped paths', async () => {
    const emu = await emulator({ seed: { 'My Docs': { 'a+b #1 100%.txt': 'x' } } });
    const { call } = await session(emu);
    const list = await call('GET', '/file', { query: { uri: `${MY}/My%20Docs/` } });
    expect(list.env.code).toBe(0);
    expect(list.env.data.files[0].path).toBe(`${MY}/My%20Docs/a%2Bb%20%231%20100%25.txt`);
    expect(list.env.data.files[0].name).toBe('a+b #1 100%.txt');
  });

  it('bad %xx or a foreign scheme → 40001; unknown filesystem → -1', async () => {
    const emu = await emulator();
    const { call } = await session(emu);
    expect((await call('GET', '/file', { query: { uri: `${MY}/bad%zz` } })).env.code).toBe(40001);
    expect((await call('GET', '/file', { query: { uri: 'http://my/x' } })).env.code).toBe(40001);
    const unknown = await call('GET', '/file', { query: { uri: 'cloudreve://nowhere/x' } });
    expect(unknown.env).toMatchObject({ code: -1, msg: '' });
  });

  it('names breaking the rules → 40052 on create, rename and upload', async () => {
    const emu = await emulator({ seed: { ok: 'x' } });
    const { call } = await session(emu);
    expect((await call('POST', '/file/create', { body: { uri: `${MY}/a%3Ab`, type: 'folder' } })).env.code).toBe(40052);
    expect((await call('POST', '/file/rename', { body: { uri: `${MY}/ok`, new_name: 'a*b' } })).env.code).toBe(40052);
    expect((await call('PUT', '/file/upload', { body: { uri: `${MY}/${'n'.repeat(256)}`, size: 1 } })).env.code).toBe(40052);
  });
});

describe('emulator: which operation returns what', () => {
  it('missing path on list, info, rename, upload cancel and as move destination → 40016', async () => {
    const emu = await emulator({ seed: { f: 'x' } });
    const { call } = await session(emu);
    expect((await call('GET', '/file', { query: { uri: `${MY}/missing` } })).env.code).toBe(40016);
    expect((await call('GET', '/file/info', { query: { uri: `${MY}/missing` } })).env.code).toBe(40016);
    expect((await call('POST', '/file/rename', { body: { uri: `${MY}/missing`, new_name: 'x' } })).env.code).toBe(40016);
    expect((await call('DELETE', '/file/upload', { body: { id: 'abc', uri: `${MY}/missing` } })).env.code).toBe(40016);
    expect((await call('POST', '/file/move', { body: { uris: [`${MY}/f`], dst: `${MY}/missing` } })).env.code).toBe(40016);
  });

  it('listing a path that is a file → 40016', async () => {
    const emu = await emulator({ seed: { f: 'x' } });
    const { call } = await session(emu);
    expect((await call('GET', '/file', { query: { uri: `${MY}/f` } })).env.code).toBe(40016);
  });

  it('40004: create with err_on_conflict, rename onto a name, move/copy collisions, upload onto a file without version', async () => {
    const emu = await emulator({ seed: { d: { f: 'x' }, e: { f: 'y' }, g: 'z' } });
    const { call } = await session(emu);
    expect((await call('POST', '/file/create', { body: { uri: `${MY}/d`, type: 'folder', err_on_conflict: true } })).env.code).toBe(40004);
    expect((await call('POST', '/file/rename', { body: { uri: `${MY}/d`, new_name: 'e' } })).env.code).toBe(40004);
    expect((await call('POST', '/file/move', { body: { uris: [`${MY}/d/f`], dst: `${MY}/e` } })).env.code).toBe(40004);
    // Copying into the source's own folder collides with the source itself.
    expect((await call('POST', '/file/move', { body: { uris: [`${MY}/d/f`], dst: `${MY}/d`, copy: true } })).env.code).toBe(40004);
    expect((await call('PUT', '/file/upload', { body: { uri: `${MY}/g`, size: 1 } })).env.code).toBe(40004);
  });

  it('create: mkdir -p, idempotent without err_on_conflict, type clash 40004, file ancestor 403', async () => {
    const emu = await emulator({ seed: { file: 'x' } });
    const { call } = await session(emu);
    const made = await call('POST', '/file/create', { body: { uri: `${MY}/p/q/r`, type: 'folder' } });
    expect(made.env.code).toBe(0);
    expect(made.env.data).toMatchObject({ type: 1, name: 'r', path: `${MY}/p/q/r` });
    const again = await call('POST', '/file/create', { body: { uri: `${MY}/p/q/r`, type: 'folder' } });
    expect(again.env).toMatchObject({ code: 0, data: { id: made.env.data.id } });
    expect((await call('POST', '/file/create', { body: { uri: `${MY}/p/q/r`, type: 'file' } })).env.code).toBe(40004);
    expect((await call('POST', '/file/create', { body: { uri: `${MY}/file/sub`, type: 'folder' } })).env.code).toBe(403);
  });

  it('root: info and rename → 403; delete and move → 40081 containing 403', async () => {
    const emu = await emulator({ seed: { d: {} } });
    const { call } = await session(emu);
    expect((await call('GET', '/file/info', { query: { uri: MY } })).env.code).toBe(403);
    expect((await call('POST', '/file/rename', { body: { uri: MY, new_name: 'x' } })).env.code).toBe(403);
    const del = await call('DELETE', '/file', { body: { uris: [MY] } });
    expect(del.env.code).toBe(40081);
    expect(del.env.aggregated_error?.[MY]?.code).toBe(403);
    const mv = await call('POST', '/file/move', { body: { uris: [MY], dst: `${MY}/d` } });
    expect(mv.env.aggregated_error?.[MY]?.code).toBe(403);
  });

  it('move: a missing source and a folder into its own descendant go into 40081; a file destination is 403', async () => {
    const emu = await emulator({ seed: { d: { sub: {} }, f: 'x' } });
    const { call } = await session(emu);
    const missing = await call('POST', '/file/move', { body: { uris: [`${MY}/nope`], dst: `${MY}/d` } });
    expect(missing.env.aggregated_error?.[`${MY}/nope`]?.code).toBe(40016);
    const loop = await call('POST', '/file/move', { body: { uris: [`${MY}/d`], dst: `${MY}/d/sub` } });
    expect(loop.env.aggregated_error?.[`${MY}/d`]?.code).toBe(403);
    expect((await call('POST', '/file/move', { body: { uris: [`${MY}/d`], dst: `${MY}/f` } })).env.code).toBe(403);
  });

  it('delete of a missing URI, even alone → 40081 with 40016 inside', async () => {
    const emu = await emulator();
    const { call } = await session(emu);
    const res = await call('DELETE', '/file', { body: { uris: [`${MY}/ghost`] } });
    expect(res.env.code).toBe(40081);
    expect(res.env.aggregated_error?.[`${MY}/ghost`]?.code).toBe(40016);
  });

  it('more than 3000 URIs → 40074', async () => {
    const emu = await emulator();
    const { call } = await session(emu);
    const uris = Array.from({ length: 3001 }, (_, i) => `${MY}/f${i}`);
    expect((await call('DELETE', '/file', { body: { uris } })).env.code).toBe(40074);
  });

  it('soft delete goes to the trash (still counted), skip_soft_delete removes for good', async () => {
    const emu = await emulator({ seed: { a: '12345', b: '678' } });
    const { call } = await session(emu);
    await call('DELETE', '/file', { body: { uris: [`${MY}/a`] } });
    const trash = await call('GET', '/file', { query: { uri: 'cloudreve://trash' } });
    expect(trash.env.data.files.map((f: { name: string }) => f.name)).toEqual(['a']);
    expect(trash.env.data.files[0].metadata['sys:restore_uri']).toBe(`${MY}/a`);
    expect((await call('GET', '/user/capacity')).env.data.used).toBe(8);
    await call('DELETE', '/file', { body: { uris: [`${MY}/b`], skip_soft_delete: true } });
    expect((await call('GET', '/user/capacity')).env.data.used).toBe(5);
    await call('POST', '/file/restore', { body: { uris: ['cloudreve://trash/a'] } });
    expect((await call('GET', '/file/info', { query: { uri: `${MY}/a` } })).env.data.size).toBe(5);
    await call('DELETE', '/file', { body: { uris: [`${MY}/a`] } });
    await call('DELETE', '/file/trash');
    expect((await call('GET', '/user/capacity')).env.data.used).toBe(0);
  });

  it('a path being uploaded is locked: delete, rename and move → 40073 with the lock; DELETE /file/lock clears it', async () => {
    const emu = await emulator({ seed: { d: {} } });
    const { call } = await session(emu);
    const s = await call('PUT', '/file/upload', { body: { uri: `${MY}/up.bin`, size: 10 } });
    expect(s.env.code).toBe(0);
    const del = await call('DELETE', '/file', { body: { uris: [`${MY}/up.bin`] } });
    expect(del.env.code).toBe(40073);
    expect(del.env.data[0]).toMatchObject({ path: `${MY}/up.bin`, owner: { application: { type: 'upload' } }, type: 0 });
    expect((await call('POST', '/file/rename', { body: { uri: `${MY}/up.bin`, new_name: 'x' } })).env.code).toBe(40073);
    expect((await call('POST', '/file/move', { body: { uris: [`${MY}/up.bin`], dst: `${MY}/d` } })).env.code).toBe(40073);
    expect((await call('PUT', '/file/upload', { body: { uri: `${MY}/up.bin`, size: 10, entity_type: 'version' } })).env.code).toBe(40073);
    expect((await call('DELETE', '/file/lock', { body: { tokens: [del.env.data[0].token] } })).env.code).toBe(0);
    expect((await call('POST', '/file/rename', { body: { uri: `${MY}/up.bin`, new_name: 'x' } })).env.code).toBe(0);
    // The session lost its lock: its chunk is refused.
    const chunk = await call('POST', `/file/upload/${s.env.data.session_id}/0`, { raw: Buffer.alloc(10), headers: { 'Content-Type': 'application/octet-stream' } });
    expect(chunk.env.code).toBe(40073);
  });

  it('a force-unlocked session takes its chunks but cannot complete (40073 "Lock expired", as CompleteUpload)', async () => {
    const emu = await emulator({ chunkSize: 4 });
    const { call } = await session(emu);
    const octet = { 'Content-Type': 'application/octet-stream' };
    const sid = (await call('PUT', '/file/upload', { body: { uri: `${MY}/two.bin`, size: 8 } })).env.data.session_id;
    const held = await call('DELETE', '/file', { body: { uris: [`${MY}/two.bin`] } });
    expect((await call('DELETE', '/file/lock', { body: { tokens: [held.env.data[0].token] } })).env.code).toBe(0);
    expect((await call('POST', `/file/upload/${sid}/0`, { raw: Buffer.from('abcd'), headers: octet })).env.code).toBe(0);
    expect((await call('POST', `/file/upload/${sid}/1`, { raw: Buffer.from('efgh'), headers: octet })).env).toMatchObject({ code: 40073, msg: 'Lock expired' });
  });

  it('a folder on /file/url → 40081 with 40077; a missing path → 40081 with 40016; skip_error gives empty items', async () => {
    const emu = await emulator({ seed: { d: {} } });
    const { call } = await session(emu);
    const dir = await call('POST', '/file/url', { body: { uris: [`${MY}/d`] } });
    expect(dir.env.aggregated_error?.[`${MY}/d`]?.code).toBe(40077);
    const gone = await call('POST', '/file/url', { body: { uris: [`${MY}/x`] } });
    expect(gone.env.aggregated_error?.[`${MY}/x`]?.code).toBe(40016);
    const skip = await call('POST', '/file/url', { body: { uris: [`${MY}/x`], skip_error: true } });
    expect(skip.env).toMatchObject({ code: 0, data: { urls: [{ url: '' }] } });
  });
});

describe('emulator: listing and pagination', () => {
  it('cursor pages: 250 entries at page_size 100 → next_token twice, folders first, name order', async () => {
    const tree: Record<string, string | Record<string, never>> = {};
    for (let i = 0; i < 248; i++) tree[`file${String(i).padStart(3, '0')}`] = 'x';
    tree['zdir'] = {};
    tree['adir'] = {};
    const emu = await emulator({ seed: tree });
    const { call } = await session(emu);
    const names: string[] = [];
    let token: string | undefined;
    let pages = 0;
    do {
      const res = await call('GET', '/file', { query: { uri: MY, page_size: '100', ...(token ? { next_page_token: token } : {}) } });
      expect(res.env.code).toBe(0);
      expect(res.env.data.pagination.is_cursor).toBe(true);
      expect(res.env.data).toHaveProperty('props.max_page_size', 2000);
      expect(res.env.data.storage_policy).toMatchObject({ type: 'local' });
      names.push(...res.env.data.files.map((f: { name: string }) => f.name));
      token = res.env.data.pagination.next_token;
      pages++;
    } while (token);
    expect(pages).toBe(3);
    expect(names).toHaveLength(250);
    expect(names.slice(0, 3)).toEqual(['adir', 'zdir', 'file000']);
  });

  it('page size defaults to 100 and is capped at max_page_size; an undecodable token → -1', async () => {
    const tree: Record<string, string> = {};
    for (let i = 0; i < 130; i++) tree[`f${i}`] = 'x';
    const emu = await emulator({ seed: tree, maxPageSize: 50 });
    const { call } = await session(emu);
    expect((await call('GET', '/file', { query: { uri: MY } })).env.data.files).toHaveLength(50);
    emu.settings.maxPageSize = 2000;
    expect((await call('GET', '/file', { query: { uri: MY } })).env.data.files).toHaveLength(100);
    expect((await call('GET', '/file', { query: { uri: MY, next_page_token: '!!!' } })).env.code).toBe(-1);
  });

  it('offset mode returns total_items and no next_token', async () => {
    const tree: Record<string, string> = {};
    for (let i = 0; i < 15; i++) tree[`f${i}`] = 'x';
    const emu = await emulator({ seed: tree, cursorPagination: false });
    const { call } = await session(emu);
    const p1 = await call('GET', '/file', { query: { uri: MY, page: '1', page_size: '10' } });
    expect(p1.env.data.pagination).toMatchObject({ page: 1, total_items: 15 });
    expect(p1.env.data.pagination.next_token).toBeUndefined();
    expect(p1.env.data.files).toHaveLength(5);
  });
});

describe('emulator: uploads', () => {
  const octet = { 'Content-Type': 'application/octet-stream' };

  it('a session: placeholder listed with sys:upload_session_id and reserved quota, chunks finalise it', async () => {
    const emu = await emulator({ chunkSize: 4 });
    const { call } = await session(emu);
    const s = await call('PUT', '/file/upload', { body: { uri: `${MY}/new/f.bin`, size: 10 } });
    expect(s.env.data).toMatchObject({ upload_id: '', chunk_size: 4, storage_policy: { type: 'local' }, uri: `${MY}/new/f.bin` });
    expect(s.env.data.expires).toBeLessThan(Date.now() / 1000 + 86_401);
    const listed = await call('GET', '/file', { query: { uri: `${MY}/new` } });
    expect(listed.env.data.files[0]).toMatchObject({ name: 'f.bin', size: 10, metadata: { 'sys:upload_session_id': s.env.data.session_id } });
    expect((await call('GET', '/user/capacity')).env.data.used).toBe(10);
    const sid = s.env.data.session_id;
    // Out of order and retried chunks are fine.
    for (const [i, body] of [[2, 'ij'], [0, 'abcd'], [0, 'abcd'], [1, 'efgh']] as const) {
      expect((await call('POST', `/file/upload/${sid}/${i}`, { raw: Buffer.from(body), headers: octet })).text).toBe('{"code":0,"msg":""}');
    }
    const info = await call('GET', '/file/info', { query: { uri: `${MY}/new/f.bin` } });
    expect(info.env.data.size).toBe(10);
    expect(info.env.data.metadata).toBeNull();
    expect((await call('POST', `/file/upload/${sid}/0`, { raw: Buffer.from('abcd'), headers: octet })).env.code).toBe(40011);
  });

  it('chunk errors: wrong Content-Length 40013, index out of range 40012, unknown session 40011', async () => {
    const emu = await emulator({ chunkSize: 4 });
    const { call } = await session(emu);
    const sid = (await call('PUT', '/file/upload', { body: { uri: `${MY}/c.bin`, size: 6 } })).env.data.session_id;
    const wrong = await call('POST', `/file/upload/${sid}/0`, { raw: Buffer.from('abc'), headers: octet });
    expect(wrong.env).toMatchObject({ code: 40013, msg: 'Invalid Content-Length (expected: 4)' });
    expect((await call('POST', `/file/upload/${sid}/2`, { raw: Buffer.from('ab'), headers: octet })).env.code).toBe(40012);
    expect((await call('POST', '/file/upload/no-such-session/0', { raw: Buffer.from('abcd'), headers: octet })).env.code).toBe(40011);
  });

  it('a chunk sent after its session expired → 40011, and the placeholder is gone', async () => {
    const emu = await emulator({ chunkSize: 4, sessionTtlMs: 800 });
    const { call } = await session(emu);
    const sid = (await call('PUT', '/file/upload', { body: { uri: `${MY}/late.bin`, size: 8 } })).env.data.session_id;
    expect((await call('POST', `/file/upload/${sid}/0`, { raw: Buffer.from('abcd'), headers: octet })).env.code).toBe(0);
    await sleep(900);
    expect((await call('POST', `/file/upload/${sid}/1`, { raw: Buffer.from('efgh'), headers: octet })).env.code).toBe(40011);
    expect((await call('GET', '/file/info', { query: { uri: `${MY}/late.bin` } })).env.code).toBe(40016);
    expect((await call('GET', '/user/capacity')).env.data.used).toBe(0);
  });

  it('version upload keeps the file id; quota 40051; max_size 40049', async () => {
    const emu = await emulator({ seed: { v: 'old' }, quota: 100, maxFileSize: 50 });
    const { call } = await session(emu);
    const before = (await call('GET', '/file/info', { query: { uri: `${MY}/v` } })).env.data;
    const sid = (await call('PUT', '/file/upload', { body: { uri: `${MY}/v`, size: 3, entity_type: 'version' } })).env.data.session_id;
    // The old version stays readable while the new one uploads.
    expect((await call('GET', '/file/info', { query: { uri: `${MY}/v` } })).env.data.size).toBe(3);
    await call('POST', `/file/upload/${sid}/0`, { raw: Buffer.from('new'), headers: octet });
    const after = (await call('GET', '/file/info', { query: { uri: `${MY}/v` } })).env.data;
    expect(after.id).toBe(before.id);
    expect(after.primary_entity).not.toBe(before.primary_entity);
    expect((await call('PUT', '/file/upload', { body: { uri: `${MY}/big`, size: 51 } })).env.code).toBe(40049);
    await call('PUT', '/file/upload', { body: { uri: `${MY}/r1`, size: 50 } });
    expect((await call('PUT', '/file/upload', { body: { uri: `${MY}/r2`, size: 50 } })).env.code).toBe(40051);
  });

  it('cancel removes the placeholder (new file) or only the pending version (existing file)', async () => {
    const emu = await emulator({ seed: { keep: 'kept' } });
    const { call } = await session(emu);
    const a = (await call('PUT', '/file/upload', { body: { uri: `${MY}/n.bin`, size: 5 } })).env.data.session_id;
    expect((await call('DELETE', '/file/upload', { body: { id: a, uri: `${MY}/n.bin` } })).env.code).toBe(0);
    expect((await call('GET', '/file/info', { query: { uri: `${MY}/n.bin` } })).env.code).toBe(40016);
    const b = (await call('PUT', '/file/upload', { body: { uri: `${MY}/keep`, size: 5, entity_type: 'version' } })).env.data.session_id;
    await call('DELETE', '/file/upload', { body: { id: b, uri: `${MY}/keep` } });
    expect((await call('GET', '/file/info', { query: { uri: `${MY}/keep` } })).env.data.size).toBe(4);
    // An unknown session (expired, completed) is a no-op on an unlocked file, as on the server...
    expect((await call('DELETE', '/file/upload', { body: { id: 'nope', uri: `${MY}/keep` } })).env.code).toBe(0);
    expect((await call('GET', '/file/info', { query: { uri: `${MY}/keep` } })).env.data.size).toBe(4);
    // ...40073 while another session locks it, and a known session named with another file is 404.
    const c = (await call('PUT', '/file/upload', { body: { uri: `${MY}/keep`, size: 5, entity_type: 'version' } })).env.data.session_id;
    const held = await call('DELETE', '/file/upload', { body: { id: 'nope', uri: `${MY}/keep` } });
    expect(held.env).toMatchObject({ code: 40073, data: [{ path: `${MY}/keep`, owner: { application: { type: 'upload' } }, type: 0 }] });
    await call('PUT', '/file/content', { query: { uri: `${MY}/other` }, raw: Buffer.from('o'), headers: octet });
    expect((await call('DELETE', '/file/upload', { body: { id: c, uri: `${MY}/other` } })).env.code).toBe(404);
    expect((await call('DELETE', '/file/upload', { body: { id: c, uri: `${MY}/keep` } })).env.code).toBe(0);
  });

  it('zero-byte files: one empty chunk, or /file/create type=file', async () => {
    const emu = await emulator();
    const { call } = await session(emu);
    const sid = (await call('PUT', '/file/upload', { body: { uri: `${MY}/z1`, size: 0 } })).env.data.session_id;
    expect((await call('POST', `/file/upload/${sid}/0`, { raw: Buffer.alloc(0), headers: octet })).env.code).toBe(0);
    expect((await call('GET', '/file/info', { query: { uri: `${MY}/z1` } })).env.data).toMatchObject({ size: 0, metadata: null });
    expect((await call('POST', '/file/create', { body: { uri: `${MY}/z2`, type: 'file' } })).env.data).toMatchObject({ type: 0, size: 0 });
  });

  it('PUT /file/content: one-shot create or new version; stale previous 40076; no Content-Length stores an empty file', async () => {
    const emu = await emulator();
    const { call, token } = await session(emu);
    const made = await call('PUT', '/file/content', { query: { uri: `${MY}/deep/c.txt` }, raw: Buffer.from('hello'), headers: octet });
    expect(made.env.data).toMatchObject({ name: 'c.txt', size: 5 });
    const stale = await call('PUT', '/file/content', { query: { uri: `${MY}/deep/c.txt`, previous: 'not-current' }, raw: Buffer.from('x'), headers: octet });
    expect(stale.env.code).toBe(40076);
    // A streamed body without Content-Length: the server reads nothing.
    const res = await fetch(`${emu.url}/api/v4/file/content?uri=${encodeURIComponent(`${MY}/deep/c.txt`)}`, {
      method: 'PUT', headers: { Authorization: `Bearer ${token}` }, duplex: 'half',
      body: new ReadableStream({ start(c) { c.enqueue(new TextEncoder().encode('streamed')); c.close(); } }),
    } as RequestInit);
    expect(((await res.json()) as { data: { size: number } }).data.size).toBe(0);
  });
});

describe('emulator: content URLs', () => {
  async function urlFor(emu: CloudreveEmulator, path: string, extra: Record<string, unknown> = {}) {
    const { call } = await session(emu);
    const res = await call('POST', '/file/url', { body: { uris: [`${MY}/${path}`], ...extra } });
    expect(res.env.code).toBe(0);
    return res.env.data as { urls: Array<{ url: string }>; expires: string };
  }

  it('signed, absolute, no Bearer needed; Range → 206 with Content-Range; HEAD; 416', async () => {
    const emu = await emulator({ seed: { 'doc.txt': 'abcdefghij' } });
    const { urls, expires } = await urlFor(emu, 'doc.txt');
    expect(urls[0]!.url).toMatch(new RegExp(`^${emu.url}/api/v4/file/content/[^/]+/0/doc\\.txt\\?sign=`));
    expect(Date.parse(expires)).toBeGreaterThan(Date.now());
    const whole = await fetch(urls[0]!.url);
    expect(whole.status).toBe(200);
    expect(whole.headers.get('accept-ranges')).toBe('bytes');
    expect(await whole.text()).toBe('abcdefghij');
    const part = await fetch(urls[0]!.url, { headers: { Range: 'bytes=2-4' } });
    expect(part.status).toBe(206);
    expect(part.headers.get('content-range')).toBe('bytes 2-4/10');
    expect(await part.text()).toBe('cde');
    const suffix = await fetch(urls[0]!.url, { headers: { Range: 'bytes=-3' } });
    expect(await suffix.text()).toBe('hij');
    const head = await fetch(urls[0]!.url, { method: 'HEAD' });
    expect(head.headers.get('content-length')).toBe('10');
    const bad = await fetch(urls[0]!.url, { headers: { Range: 'bytes=20-30' } });
    expect(bad.status).toBe(416);
    expect(bad.headers.get('content-range')).toBe('bytes */10');
  });

  it('download=true adds Content-Disposition; redirect with one URI → 302', async () => {
    const emu = await emulator({ seed: { 'n a.txt': 'x' } });
    const { urls } = await urlFor(emu, 'n%20a.txt', { download: true });
    const res = await fetch(urls[0]!.url);
    expect(res.headers.get('content-disposition')).toMatch(/^attachment/);
    const { token } = await session(emu);
    const redirect = await fetch(`${emu.url}/api/v4/file/url`, {
      method: 'POST', redirect: 'manual', headers: { Authorization: `Bearer ${token}` },
      body: JSON.stringify({ uris: [`${MY}/n%20a.txt`], redirect: true }),
    });
    expect(redirect.status).toBe(302);
    expect(redirect.headers.get('location')).toContain('/api/v4/file/content/');
  });

  it('a group speed limit is baked into the URL, signed, and the bytes still arrive intact', async () => {
    const data = Buffer.alloc(5000, 7);
    const emu = await emulator({ seed: { 'slow.bin': data }, downloadSpeed: 20_000 });
    const { urls } = await urlFor(emu, 'slow.bin');
    expect(urls[0]!.url).toContain('/20000/slow.bin?');
    expect(Buffer.from(await (await fetch(urls[0]!.url)).arrayBuffer()).equals(data)).toBe(true);
    const lifted = await fetch(urls[0]!.url.replace('/20000/', '/0/'));
    expect(((await lifted.json()) as { code: number }).code).toBe(40071);
  });

  it('a tampered sign → 40071, an expired one → 40005, both JSON with HTTP 200', async () => {
    const emu = await emulator({ seed: { 's.txt': 'x' }, urlTtlMs: 200 });
    const { urls } = await urlFor(emu, 's.txt');
    // Change the first character of the MAC (to a different one, whatever it was).
    const tampered = await fetch(urls[0]!.url.replace(/sign=(.)/, (_, c: string) => `sign=${c === 'A' ? 'B' : 'A'}`));
    expect(tampered.status).toBe(200);
    expect(((await tampered.json()) as { code: number }).code).toBe(40071);
    await sleep(300);
    const expired = await fetch(urls[0]!.url);
    expect(((await expired.json()) as { code: number }).code).toBe(40005);
  });
});

describe('emulator: faults and the request log', () => {
  it('injected proxy errors, resets and envelope codes, and a log with routes and bytes', async () => {
    const emu = await emulator({ seed: { f: 'x' } });
    const { call } = await session(emu);
    emu.injectFault('proxy502', { route: 'GET /file/info' });
    const proxied = await call('GET', '/file/info', { query: { uri: `${MY}/f` } });
    expect(proxied.status).toBe(502);
    emu.injectFault('code50001', { route: 'GET /file/info' });
    expect((await call('GET', '/file/info', { query: { uri: `${MY}/f` } })).env.code).toBe(50001);
    emu.injectFault('code-1', { route: 'GET /file/info' });
    expect((await call('GET', '/file/info', { query: { uri: `${MY}/f` } })).env.code).toBe(-1);
    emu.injectFault('proxy429', { route: 'GET /file/info' });
    const throttled = await call('GET', '/file/info', { query: { uri: `${MY}/f` } });
    expect(throttled.status).toBe(429);
    expect(throttled.headers.get('retry-after')).toBe('1');
    emu.injectFault('reset', { route: 'GET /file/info' });
    await expect(call('GET', '/file/info', { query: { uri: `${MY}/f` } })).rejects.toThrow();
    expect((await call('GET', '/file/info', { query: { uri: `${MY}/f` } })).env.code).toBe(0);
    const infoLog = emu.requests('GET /file/info');
    expect(infoLog.map((e) => e.fault ?? 'none')).toEqual(['proxy502', 'code50001', 'code-1', 'proxy429', 'reset', 'none']);
    expect(infoLog[5]!.bytesOut).toBeGreaterThan(100);
  });

  it('random faults are reproducible from their seed', async () => {
    const run = async () => {
      const emu = await emulator({ faults: { rate: 0.5, seed: 42, kinds: ['proxy503', 'code50004'] } });
      const out: string[] = [];
      for (let i = 0; i < 12; i++) {
        const res = await api(emu, 'GET', '/site/ping');
        out.push(res.status === 200 ? String(res.env.code) : `http${res.status}`);
      }
      return out;
    };
    const a = await run();
    expect(await run()).toEqual(a);
    expect(a).toContain('http503');
    expect(a).toContain('50004');
    expect(a.some((x) => x === '0')).toBe(true);
  });
});

describe('emulator: seeding and the proxy rate limit', () => {
  it('seeds from a directory on disk and from the demo set', async () => {
    const { mkdtemp, mkdir, writeFile, rm } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const dir = await mkdtemp(join(tmpdir(), 'cr-seed-'));
    try {
      await mkdir(join(dir, 'sub dir'));
      await writeFile(join(dir, 'sub dir', 'x #1.txt'), 'from disk');
      const emu = await emulator({ seed: dir });
      const { call } = await session(emu);
      const list = await call('GET', '/file', { query: { uri: `${MY}/sub%20dir` } });
      expect(list.env.data.files.map((f: { name: string; size: number }) => [f.name, f.size])).toEqual([['x #1.txt', 9]]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    const demo = await emulator({ seed: 'demo' });
    const { call } = await session(demo);
    const names = (await call('GET', '/file', { query: { uri: MY } })).env.data.files.map((f: { name: string }) => f.name);
    expect(names).toEqual(expect.arrayContaining(['Documents', 'Photos', 'hello.txt']));
  });

  it('a proxy rate limit answers 429 with Retry-After once the bucket is empty', async () => {
    const emu = await emulator({ proxyRateLimit: { requestsPerSecond: 2, burst: 3 } });
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) statuses.push((await api(emu, 'GET', '/site/ping')).status);
    expect(statuses.slice(0, 3)).toEqual([200, 200, 200]);
    expect(statuses).toContain(429);
    const limited = emu.log.find((e) => e.status === 429)!;
    expect(limited.fault).toBe('proxy429');
  });
});
