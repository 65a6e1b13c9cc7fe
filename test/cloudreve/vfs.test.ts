/** CloudreveVfs behaviour beyond the contract: request counts, bytes moved, auth, uploads, naming. */
import { describe, expect, it } from 'vitest';
import { Readable } from 'node:stream';
import { CloudreveVfs } from '../../adapters/cloudreve/index.js';
import { collect, expectCode, pseudoRandomBytes, sha256, sha256Stream } from '../helpers.js';
import { login, setup, sleep } from './fixtures.js';

const text = (s: string) => Buffer.from(s);

describe('CloudreveVfs: listing', () => {
  it('250 entries at page size 100 take exactly 3 list requests', async () => {
    const { emu, vfs } = await setup({}, { pageSize: 100 });
    const files: Record<string, string> = {};
    for (let i = 0; i < 250; i++) files[`f${String(i).padStart(3, '0')}.txt`] = `n${i}`;
    emu.store.create(['many'], 1, false);
    for (const [name, body] of Object.entries(files)) emu.store.seedFile(['many', name], Buffer.from(body));
    await vfs.stat('/many'); // log in first, so only listing requests remain
    emu.clearLog();
    const entries = await vfs.list('/many');
    expect(entries).toHaveLength(250);
    expect(new Set(entries.map((e) => e.name)).size).toBe(250);
    expect(emu.requests('GET /file').filter((e) => e.route === 'GET /file')).toHaveLength(3);
  });

  it('follows offset pages when the server has cursors turned off', async () => {
    const { emu, vfs } = await setup({ cursorPagination: false }, { pageSize: 10 });
    emu.store.create(['off'], 1, false);
    for (let i = 0; i < 25; i++) emu.store.seedFile(['off', `x${i}`], Buffer.from('x'));
    expect(await vfs.list('/off')).toHaveLength(25);
    expect(emu.requests().filter((e) => e.route === 'GET /file')).toHaveLength(3);
  });

  it('a page size above the server maximum is capped and still lists everything', async () => {
    const { emu, vfs } = await setup({ maxPageSize: 20 }, { pageSize: 5000 });
    emu.store.create(['cap'], 1, false);
    for (let i = 0; i < 45; i++) emu.store.seedFile(['cap', `c${i}`], Buffer.from('c'));
    expect(await vfs.list('/cap')).toHaveLength(45);
    expect(emu.requests().filter((e) => e.route === 'GET /file')).toHaveLength(3);
  });
});

describe('CloudreveVfs: reads', () => {
  it('a 1 KiB ranged read of a 20 MiB file moves about 1 KiB', async () => {
    const { emu, vfs } = await setup();
    const big = pseudoRandomBytes(20 * 1024 * 1024, 5);
    emu.store.seedFile(['big.bin'], big);
    const offset = 7 * 1024 * 1024 + 3;
    const got = await collect(await vfs.read('/big.bin', { offset, length: 1024 }));
    expect(got.equals(big.subarray(offset, offset + 1024))).toBe(true);
    const served = emu.bytesOut('GET /file/content');
    expect(served).toBe(1024);
    const ranged = emu.requests('GET /file/content');
    expect(ranged).toHaveLength(1);
    expect(ranged[0]!.range).toBe(`bytes=${offset}-${offset + 1023}`);
    expect(ranged[0]!.status).toBe(206);
  });

  it('reuses the signed URL, and sends no Authorization header to it', async () => {
    const { emu, vfs } = await setup();
    emu.store.seedFile(['r.txt'], Buffer.from('0123456789'));
    for (let i = 0; i < 4; i++) expect((await collect(await vfs.read('/r.txt', { offset: i, length: 2 }))).toString()).toBe(`${i}${i + 1}`);
    expect(emu.requests('POST /file/url')).toHaveLength(1);
    expect(emu.requests('GET /file/content')).toHaveLength(4);
  });

  it('an expired content URL (40005) is replaced once and the read succeeds', async () => {
    const { emu, vfs } = await setup({ urlTtlMs: 1000 });
    // The server's clock runs ahead: it reports a later expiry than the signature really has.
    emu.settings.urlExpiresSkewMs = 120_000;
    emu.store.seedFile(['e.txt'], Buffer.from('expiring'));
    expect((await collect(await vfs.read('/e.txt'))).toString()).toBe('expiring');
    await sleep(1100);
    expect((await collect(await vfs.read('/e.txt', { offset: 2, length: 3 }))).toString()).toBe('pir');
    expect(emu.requests('POST /file/url')).toHaveLength(2);
    // Whole-file reads ask for "bytes=0-" too (206), so the Content-Range says how many bytes must arrive.
    expect(emu.requests('GET /file/content').map((e) => e.code ?? e.status)).toEqual([206, 40005, 206]);
  });

  it('a JSON file that looks like an error envelope is read as content', async () => {
    const { vfs } = await setup();
    const body = '{"code":40005,"msg":"Signature expired"}';
    await vfs.write('/looks-like-error.json', text(body));
    expect((await collect(await vfs.read('/looks-like-error.json'))).toString()).toBe(body);
    expect((await collect(await vfs.read('/looks-like-error.json', { offset: 1, length: 6 }))).toString()).toBe('"code"');
  });

  it('a zero-length read still checks that the file exists', async () => {
    const { vfs } = await setup({ seed: { z: 'abc' } });
    expect((await collect(await vfs.read('/z', { offset: 1, length: 0 }))).length).toBe(0);
    await expectCode(vfs.read('/nothing', { length: 0 }), 'ENOENT');
  });

  it('a read after an overwrite through the Vfs sees the new content (cached URL dropped)', async () => {
    const { vfs } = await setup();
    await vfs.write('/v.txt', text('first'));
    expect((await collect(await vfs.read('/v.txt'))).toString()).toBe('first');
    await vfs.write('/v.txt', text('second!'));
    expect((await collect(await vfs.read('/v.txt'))).toString()).toBe('second!');
  });

  it('a download cut short mid-body is resumed from where it stopped; cut every time, it fails with a VfsError', async () => {
    const { emu, vfs } = await setup();
    const data = pseudoRandomBytes(2 * 1024 * 1024, 3);
    emu.store.seedFile(['cut.bin'], data);
    emu.injectFault('reset', { route: 'GET /file/content' });
    expect((await collect(await vfs.read('/cut.bin'))).equals(data)).toBe(true);
    const ranges = emu.requests('GET /file/content').length;
    expect(ranges).toBe(2);
    emu.injectFault('reset', { route: 'GET /file/content', times: 10 });
    const stream = await vfs.read('/cut.bin');
    await expect(collect(stream)).rejects.toMatchObject({ name: 'VfsError', code: expect.stringMatching(/EIO|ECONNRESET/) });
  });
});

describe('CloudreveVfs: writes', () => {
  it('overwrite uploads a new version: the file keeps its id', async () => {
    const { emu, vfs } = await setup({}, { smallFileBytes: 0 });
    const first = await vfs.write('/keep-id.txt', text('one'));
    const second = await vfs.write('/keep-id.txt', text('two two'));
    expect(second.id).toBe(first.id);
    expect(second.etag).not.toBe(first.etag);
    const sessions = emu.requests('PUT /file/upload');
    expect(sessions).toHaveLength(2);
  });

  it('a 4-chunk upload outlives the access token without failing', async () => {
    // 250 ms per request: login, session and 4 chunks take > 1.2 s, the token lives 0.8 s.
    const { emu, vfs } = await setup({ accessTtlMs: 800, chunkSize: 64 * 1024, latencyMs: 250 }, { smallFileBytes: 0 });
    const data = pseudoRandomBytes(4 * 64 * 1024 - 100, 11);
    const entry = await vfs.write('/four.bin', Readable.from([data.subarray(0, 100_000), data.subarray(100_000)]), { size: data.length });
    expect(entry.size).toBe(data.length);
    const chunks = emu.requests('POST /file/upload/');
    const accepted = chunks.filter((c) => c.code === 0);
    expect(accepted).toHaveLength(4);
    // A chunk may meet a token that expired while it queued on a loaded machine: 401, then resent.
    expect(chunks.filter((c) => c.code !== 0).every((c) => c.code === 401)).toBe(true);
    const loginAt = emu.requests('POST /session/token')[0]!.time;
    expect(accepted[3]!.time).toBeGreaterThan(loginAt + 800);
    // Renewed on the way, never a second login.
    expect(emu.authStats()).toMatchObject({ logins: 1 });
    expect(emu.authStats().refreshes).toBeGreaterThanOrEqual(1);
    emu.settings.latencyMs = 0;
    const back = await sha256Stream(await vfs.read('/four.bin'));
    expect(back.hex).toBe(sha256(data));
  });

  it('a relay policy (chunk_size 0) takes the whole file as chunk 0', async () => {
    const { emu, vfs } = await setup({ chunkSize: 0 }, { smallFileBytes: 0 });
    const data = pseudoRandomBytes(300_000, 6);
    await vfs.write('/relay.bin', data);
    expect(emu.requests('POST /file/upload/').map((e) => e.bytesIn)).toEqual([300_000]);
    expect((await collect(await vfs.read('/relay.bin'))).equals(data)).toBe(true);
  });

  it('a failed chunk is retried and the upload completes', async () => {
    const { emu, vfs } = await setup({ chunkSize: 32 * 1024 }, { smallFileBytes: 0 });
    emu.injectFault('proxy502', { route: 'POST /file/upload/', times: 1 });
    emu.injectFault('reset', { route: 'POST /file/upload/', times: 1 });
    const data = pseudoRandomBytes(100_000, 2);
    await vfs.write('/retry.bin', data);
    expect((await collect(await vfs.read('/retry.bin'))).equals(data)).toBe(true);
    expect(emu.requests('POST /file/upload/').length).toBe(4 + 2);
  });

  it('an upload that keeps failing is cancelled and the previous version stays', async () => {
    const { emu, vfs } = await setup({ chunkSize: 32 * 1024 }, { maxAttempts: 2, smallFileBytes: 0 });
    await vfs.write('/safe.bin', text('good version'));
    emu.injectFault('proxy502', { route: 'POST /file/upload/', times: 50 });
    await expect(vfs.write('/safe.bin', pseudoRandomBytes(100_000, 4))).rejects.toMatchObject({ name: 'VfsError' });
    expect(emu.requests('DELETE /file/upload')).toHaveLength(1);
    expect(emu.store.sessions.size).toBe(0);
    emu.injectFault('proxy502', { route: 'NONE', times: 0 });
    expect((await collect(await vfs.read('/safe.bin'))).toString()).toBe('good version');
  });

  it('aborting mid-upload is ECANCELED, cancels the session and keeps the previous version', async () => {
    const { emu, vfs } = await setup({ chunkSize: 16 * 1024, latencyMs: 60 }, { smallFileBytes: 0 });
    await vfs.write('/ab.bin', text('before'));
    const controller = new AbortController();
    const write = vfs.write('/ab.bin', pseudoRandomBytes(10 * 16 * 1024, 12), { signal: controller.signal });
    const started = Date.now();
    while (emu.requests('POST /file/upload/').length < 2 && Date.now() - started < 10_000) await sleep(10);
    controller.abort();
    await expectCode(write, 'ECANCELED');
    await sleep(100);
    expect(emu.requests('DELETE /file/upload')).toHaveLength(1);
    expect(emu.store.sessions.size).toBe(0);
    emu.settings.latencyMs = 0;
    expect((await collect(await vfs.read('/ab.bin'))).toString()).toBe('before');
  });

  it('an abandoned new file leaves no placeholder behind', async () => {
    const { emu, vfs } = await setup({ chunkSize: 16 * 1024 });
    async function* broken() {
      yield new Uint8Array(20_000);
      throw new Error('source died');
    }
    await expect(vfs.write('/half.bin', broken(), { size: 50_000 })).rejects.toMatchObject({ name: 'VfsError' });
    await expectCode(vfs.stat('/half.bin'), 'ENOENT');
    expect(emu.store.sessions.size).toBe(0);
  });

  it('a stream of unknown size is spooled, uploaded in chunks, and the spool removed', async () => {
    const { mkdtemp, readdir } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const spoolDir = await mkdtemp(join(tmpdir(), 'cr-spool-test-'));
    const { emu, vfs } = await setup({ chunkSize: 50_000 }, { spoolDir });
    const data = pseudoRandomBytes(180_000, 9);
    await vfs.write('/spooled.bin', Readable.from([data.subarray(0, 70_000), data.subarray(70_000)]));
    expect(emu.requests('POST /file/upload/')).toHaveLength(4);
    expect((await collect(await vfs.read('/spooled.bin'))).equals(data)).toBe(true);
    expect(await readdir(spoolDir)).toEqual([]);
  });

  it('a declared size that does not match the data fails without replacing the file', async () => {
    const { vfs } = await setup();
    await vfs.write('/sz.txt', text('original'));
    await expectCode(vfs.write('/sz.txt', Readable.from([text('too long for the size')]), { size: 3 }), 'EINVAL');
    expect((await collect(await vfs.read('/sz.txt'))).toString()).toBe('original');
  });

  it('writing past the quota is ENOSPC', async () => {
    const { vfs } = await setup({ quota: 50_000 });
    await expectCode(vfs.write('/huge.bin', pseudoRandomBytes(60_000)), 'ENOSPC');
    await expectCode(vfs.stat('/huge.bin'), 'ENOENT');
  });

  it('a file over the policy max_size is EFBIG', async () => {
    const { vfs } = await setup({ maxFileSize: 1000 });
    await expectCode(vfs.write('/big.txt', pseudoRandomBytes(1001)), 'EFBIG');
  });

  it('writing onto a file being uploaded elsewhere is EBUSY (40073)', async () => {
    const { emu, vfs } = await setup();
    const tokens = await login(emu);
    const res = await fetch(`${emu.url}/api/v4/file/upload`, {
      method: 'PUT', headers: { Authorization: `Bearer ${tokens.access_token}` },
      body: JSON.stringify({ uri: 'cloudreve://my/busy.bin', size: 10 }),
    });
    expect(((await res.json()) as { code: number }).code).toBe(0);
    await expectCode(vfs.write('/busy.bin', text('x')), 'EBUSY');
    await expectCode(vfs.remove('/busy.bin'), 'EBUSY');
  });
});

describe('CloudreveVfs: auth', () => {
  it('50 parallel calls at token expiry cause at most one refresh', async () => {
    const { emu, vfs } = await setup({ accessTtlMs: 1200 });
    emu.store.seedFile(['s.txt'], Buffer.from('s'));
    await vfs.stat('/s.txt');
    expect(emu.authStats()).toMatchObject({ logins: 1, refreshes: 0 });
    await sleep(1300); // the access token is now expired
    // The refreshed token lives long, so 50 calls that outlast 1.2 s on a loaded machine still need one refresh.
    emu.settings.accessTtlMs = 3_600_000;
    const results = await Promise.all(Array.from({ length: 50 }, () => vfs.stat('/s.txt')));
    expect(results.every((e) => e.size === 1)).toBe(true);
    expect(emu.authStats().refreshes).toBeLessThanOrEqual(1);
    expect(emu.authStats().logins + emu.authStats().refreshes).toBe(2);
    expect(emu.requests('POST /session/token/refresh')).toHaveLength(1);
  });

  it('a 401 (server-side expiry the client did not know of) refreshes once and retries', async () => {
    const { emu } = await setup({ accessTtlMs: 300 });
    const tokens = await login(emu);
    await sleep(400);
    const vfs = new CloudreveVfs({
      baseUrl: emu.url,
      tokens: { accessToken: tokens.access_token, refreshToken: tokens.refresh_token, accessExpires: new Date(Date.now() + 3_600_000) },
    });
    try {
      expect(await vfs.list('/')).toEqual([]);
      expect(emu.requests('GET /file').map((e) => e.code)).toEqual([401, 0]);
      expect(emu.authStats().refreshes).toBe(1);
    } finally {
      await vfs.close();
    }
  });

  it('a refused refresh (40020) logs in again when the password is known', async () => {
    const { emu, vfs } = await setup({ accessTtlMs: 300, refreshTtlMs: 300 });
    await vfs.list('/');
    await sleep(400);
    await vfs.list('/');
    expect(emu.authStats().logins).toBe(2);
  });

  it('without a password, a dead session is EACCES with a clear message', async () => {
    const { emu } = await setup({ accessTtlMs: 200, refreshTtlMs: 200 });
    const tokens = await login(emu);
    await sleep(300);
    const vfs = new CloudreveVfs({ baseUrl: emu.url, tokens: { accessToken: tokens.access_token, refreshToken: tokens.refresh_token } });
    try {
      const e = await expectCode(vfs.list('/'), 'EACCES');
      expect(e.message).toMatch(/log in again/);
      expect(e.message).not.toContain(tokens.refresh_token);
    } finally {
      await vfs.close();
    }
  });

  it('a wrong password is EACCES and the password never appears in the error', async () => {
    const { emu } = await setup();
    const vfs = new CloudreveVfs({ baseUrl: emu.url, email: emu.email, password: 'wrong-password-123' });
    const e = await expectCode(vfs.list('/'), 'EACCES');
    expect(e.details.providerCode).toBe(40080);
    expect(JSON.stringify({ m: e.message, d: e.details })).not.toContain('wrong-password-123');
  });

  it('two-factor login asks the otp callback', async () => {
    const { emu } = await setup({ otp: '123456' });
    const noOtp = new CloudreveVfs({ baseUrl: emu.url, email: emu.email, password: emu.password });
    await expectCode(noOtp.list('/'), 'EACCES');
    const vfs = new CloudreveVfs({ baseUrl: emu.url, email: emu.email, password: emu.password, otp: () => '123456' });
    expect(await vfs.list('/')).toEqual([]);
  });
});

describe('CloudreveVfs: rename and copy with name collisions', () => {
  const hidden = (names: string[]) => names.filter((n) => n.startsWith('.cloudmount-'));

  it('rename to another folder and a name that is taken in the source folder', async () => {
    const { vfs } = await setup();
    await vfs.mkdir('/a');
    await vfs.mkdir('/b');
    await vfs.write('/a/x.txt', text('mover'));
    await vfs.write('/a/y.txt', text('sibling with the new name'));
    await vfs.write('/b/x.txt', text('bystander with the old name'));
    await vfs.rename('/a/x.txt', '/b/y.txt');
    expect((await collect(await vfs.read('/b/y.txt'))).toString()).toBe('mover');
    expect((await collect(await vfs.read('/a/y.txt'))).toString()).toBe('sibling with the new name');
    expect((await collect(await vfs.read('/b/x.txt'))).toString()).toBe('bystander with the old name');
    const all = [...(await vfs.list('/a')), ...(await vfs.list('/b'))].map((e) => e.name);
    expect(all.sort()).toEqual(['x.txt', 'y.txt', 'y.txt']);
  });

  it('rename with overwrite across folders replaces the target; the old one goes to the trash', async () => {
    const { emu, vfs } = await setup();
    await vfs.mkdir('/p');
    await vfs.mkdir('/q');
    await vfs.write('/p/new.txt', text('new'));
    await vfs.write('/q/old.txt', text('old'));
    await vfs.rename('/p/new.txt', '/q/old.txt', { overwrite: true });
    expect((await collect(await vfs.read('/q/old.txt'))).toString()).toBe('new');
    expect(hidden((await vfs.list('/q')).map((e) => e.name))).toEqual([]);
    expect(emu.store.trash).toHaveLength(1);
  });

  it('a failed move puts a displaced target back', async () => {
    const { emu, vfs } = await setup();
    await vfs.mkdir('/m');
    await vfs.mkdir('/n');
    await vfs.write('/m/f.txt', text('mover'));
    await vfs.write('/n/f.txt', text('keep me'));
    // Every send fails (one fault would be settled and resent: settle.ts).
    emu.injectFault('code50004', { route: 'POST /file/move', times: 20 });
    await expect(vfs.rename('/m/f.txt', '/n/f.txt', { overwrite: true })).rejects.toMatchObject({ name: 'VfsError' });
    expect((await collect(await vfs.read('/n/f.txt'))).toString()).toBe('keep me');
    expect((await collect(await vfs.read('/m/f.txt'))).toString()).toBe('mover');
    expect(hidden((await vfs.list('/n')).map((e) => e.name))).toEqual([]);
  });

  it('copy inside one folder goes through a staging folder that is removed', async () => {
    const { vfs } = await setup();
    await vfs.mkdir('/c');
    await vfs.write('/c/orig.txt', text('payload'));
    const entry = await vfs.copy('/c/orig.txt', '/c/dup.txt');
    expect(entry).toMatchObject({ path: '/c/dup.txt', size: 7, type: 'file' });
    expect((await vfs.list('/c')).map((e) => e.name).sort()).toEqual(['dup.txt', 'orig.txt']);
  });

  it('copy of a folder tree to a new name in another folder where the old name exists', async () => {
    const { vfs } = await setup();
    await vfs.mkdir('/src');
    await vfs.mkdir('/src/tree');
    await vfs.write('/src/tree/leaf.txt', text('leaf'));
    await vfs.mkdir('/dst');
    await vfs.mkdir('/dst/tree');
    await vfs.copy('/src/tree', '/dst/tree2');
    expect((await collect(await vfs.read('/dst/tree2/leaf.txt'))).toString()).toBe('leaf');
    expect(await vfs.list('/dst/tree')).toEqual([]);
    expect((await vfs.list('/dst')).map((e) => e.name).sort()).toEqual(['tree', 'tree2']);
  });

  it('copy with overwrite onto an existing file', async () => {
    const { vfs } = await setup();
    await vfs.mkdir('/o');
    await vfs.write('/o/a.txt', text('A'));
    await vfs.write('/o/b.txt', text('BBB'));
    await vfs.copy('/o/a.txt', '/o/b.txt', { overwrite: true });
    expect((await collect(await vfs.read('/o/b.txt'))).toString()).toBe('A');
    expect((await vfs.list('/o')).map((e) => e.name).sort()).toEqual(['a.txt', 'b.txt']);
  });
});

describe('CloudreveVfs: names, delete, space', () => {
  it('forbidden characters travel as full-width look-alikes and come back as typed', async () => {
    const { emu, vfs } = await setup();
    await vfs.write('/a?b:c*"d"<e>|f\\g.txt', text('x'));
    expect([...emu.store.root.children.keys()]).toEqual(['a？b：c＊＂d＂＜e＞｜f＼g.txt']);
    expect((await vfs.list('/')).map((e) => e.name)).toEqual(['a?b:c*"d"<e>|f\\g.txt']);
  });

  it('a name that grows past 255 bytes once encoded is ENAMETOOLONG', async () => {
    const { vfs } = await setup();
    await expectCode(vfs.write('/' + '?'.repeat(100), text('x')), 'ENAMETOOLONG');
  });

  it('remove goes to the trash by default, and for good with permanentDelete', async () => {
    const { emu, vfs } = await setup();
    await vfs.write('/t.txt', text('t'));
    await vfs.remove('/t.txt');
    expect(emu.store.trash.map((t) => t.node.name)).toEqual(['t.txt']);
    const perm = new CloudreveVfs({ baseUrl: emu.url, email: emu.email, password: emu.password, permanentDelete: true });
    await perm.write('/p.txt', text('p'));
    await perm.remove('/p.txt');
    expect(emu.store.trash.map((t) => t.node.name)).toEqual(['t.txt']);
    await expectCode(perm.stat('/p.txt'), 'ENOENT');
  });

  it('space reports used (trash included) and total', async () => {
    const { vfs } = await setup({ quota: 10_000_000 });
    await vfs.write('/s.bin', pseudoRandomBytes(1000));
    expect(await vfs.space()).toEqual({ used: 1000, total: 10_000_000, free: 9_999_000 });
  });

  it('errors name the operation and path and never carry a token', async () => {
    const { vfs } = await setup();
    const e = await expectCode(vfs.list('/nope'), 'ENOENT');
    expect(e.details).toMatchObject({ provider: 'cloudreve', path: '/nope', providerCode: 40016 });
    expect(e.message).not.toMatch(/eyJ/);
  });
});

describe('CloudreveVfs: an unreliable server', () => {
  it('reads and listings ride through random proxy errors, resets and 50001/-1 replies', async () => {
    const { emu, vfs } = await setup({
      seed: { d: { 'a.txt': 'alpha', 'b.txt': 'beta' } },
      faults: { rate: 0.3, seed: 7, routes: /^(GET \/file(\/info)?|POST \/file\/url)$/, kinds: ['proxy502', 'reset', 'code50001', 'code-1'] },
    }, { maxAttempts: 8, schedulerOptions: { baseDelayMs: 10, maxDelayMs: 100 } });
    for (let i = 0; i < 8; i++) {
      expect((await vfs.list('/d')).map((e) => e.name).sort()).toEqual(['a.txt', 'b.txt']);
      expect((await vfs.stat('/d/a.txt')).size).toBe(5);
      expect((await collect(await vfs.read('/d/b.txt'))).toString()).toBe('beta');
    }
    expect(emu.log.filter((e) => e.fault).length).toBeGreaterThan(3);
  });

  it('a proxy rate limit (429 + Retry-After) slows the client down instead of failing it', async () => {
    const { emu, vfs } = await setup({ seed: { f: 'x' }, proxyRateLimit: { requestsPerSecond: 20, burst: 5 } }, { maxAttempts: 8 });
    const results = await Promise.all(Array.from({ length: 30 }, () => vfs.stat('/f')));
    expect(results.every((e) => e.size === 1)).toBe(true);
    expect(emu.log.some((e) => e.status === 429)).toBe(true);
    expect(vfs.client.scheduler.stats().throttled).toBeGreaterThan(0);
  });

  it('a reply slower than timeoutMs is abandoned and retried', async () => {
    const { emu, vfs } = await setup({ seed: { f: 'x' }, faults: { rate: 0, slowMs: 2000 } }, { timeoutMs: 400 });
    emu.injectFault('slow', { route: 'GET /file/info' });
    expect((await vfs.stat('/f')).size).toBe(1);
    expect(emu.requests('GET /file/info').map((e) => e.fault ?? 'ok')).toEqual(['slow', 'ok']);
  });

  it('an upload session that expires mid-upload fails the write and keeps the previous version', async () => {
    const { emu, vfs } = await setup({ chunkSize: 16 * 1024, sessionTtlMs: 400, latencyMs: 120 }, { smallFileBytes: 0 });
    await vfs.write('/exp.bin', text('previous'));
    await expectCode(vfs.write('/exp.bin', pseudoRandomBytes(6 * 16 * 1024, 8)), 'ESTALE');
    expect(emu.requests('POST /file/upload/').some((e) => e.code === 40011)).toBe(true);
    emu.settings.latencyMs = 0;
    expect((await collect(await vfs.read('/exp.bin'))).toString()).toBe('previous');
  });
});

describe('CloudreveVfs: logging', () => {
  it('debug logs of a session with a login, a refresh and an upload hold no token or password', async () => {
    const { createLogger } = await import('../../src/log.js');
    const lines: string[] = [];
    const logger = createLogger({ level: 'debug', write: (l) => lines.push(l) });
    const { emu, vfs } = await setup({ accessTtlMs: 400, chunkSize: 8 * 1024 }, { logger });
    await vfs.write('/l.bin', pseudoRandomBytes(20_000));
    const firstTokens = vfs.client.tokens.current()!;
    await sleep(450);
    emu.injectFault('proxy502', { route: 'GET /file/info' });
    await vfs.stat('/l.bin');
    await collect(await vfs.read('/l.bin'));
    const secondTokens = vfs.client.tokens.current()!;
    expect(secondTokens.accessToken).not.toBe(firstTokens.accessToken);
    expect(lines.length).toBeGreaterThan(0);
    const all = lines.join('\n');
    for (const secret of [emu.password, firstTokens.accessToken, firstTokens.refreshToken, secondTokens.accessToken, secondTokens.refreshToken]) {
      expect(all).not.toContain(secret);
    }
    expect(all).not.toMatch(/sign=[A-Za-z0-9_-]{8}/);
  });
});

describe('CloudreveVfs: storage policies', () => {
  it('a direct-to-storage policy (upload_urls) uploads to the storage, not through the master (every flow: policies.test.ts)', async () => {
    const { emu, vfs } = await setup({ policyType: 's3' }, { smallFileBytes: 0 });
    await vfs.write('/s3.bin', text('x'));
    expect(emu.requests('POST /file/upload/')).toHaveLength(0);
    expect(emu.requests('STORAGE PUT s3')).toHaveLength(1);
    expect(emu.requests('DELETE /file/upload')).toHaveLength(0);
    expect((await collect(await vfs.read('/s3.bin'))).toString()).toBe('x');
  });
});

describe('CloudreveVfs: small files in one request', () => {
  it('a small write is one PUT /file/content, and an overwrite keeps the id', async () => {
    const { emu, vfs } = await setup({ seed: { d: {} } });
    await vfs.stat('/d');
    emu.clearLog();
    const first = await vfs.write('/d/small.txt', text('tiny'));
    expect(emu.log.map((e) => e.route)).toEqual(['GET /file/info', 'PUT /file/content']);
    const second = await vfs.write('/d/small.txt', text('tiny v2'), { size: 7 });
    expect(second).toMatchObject({ id: first.id, size: 7 });
    expect(second.etag).not.toBe(first.etag);
    expect(emu.requests('PUT /file/upload')).toHaveLength(0);
    expect((await collect(await vfs.read('/d/small.txt'))).toString()).toBe('tiny v2');
  });

  it('overwrite:false still goes through a session, which refuses an existing file atomically', async () => {
    const { emu, vfs } = await setup();
    await vfs.write('/k.txt', text('keep'));
    await expectCode(vfs.write('/k.txt', text('new'), { overwrite: false }), 'EEXIST');
    expect(emu.requests('PUT /file/upload').map((e) => e.code)).toEqual([40004]);
  });

  it('a small write onto a folder is EISDIR; over max_size is EFBIG; small files work under any storage policy', async () => {
    const { emu, vfs } = await setup({ seed: { dir: {} }, maxFileSize: 10, policyType: 's3' });
    await expectCode(vfs.write('/dir', text('x')), 'EISDIR');
    await expectCode(vfs.write('/big.txt', text('more than ten bytes')), 'EFBIG');
    await vfs.write('/ok.txt', text('fits'));
    expect(emu.store.find(['ok.txt'])?.entity?.data.toString()).toBe('fits');
  });

  it('a declared size that does not match a small stream is EINVAL and sends nothing', async () => {
    const { emu, vfs } = await setup();
    await expectCode(vfs.write('/m.txt', Readable.from([text('abcdef')]), { size: 3 }), 'EINVAL');
    expect(emu.requests('PUT /file/content')).toHaveLength(0);
  });
});
