/**
 * The Couchdrop emulator speaks the API as the reference describes it (raw HTTP, no adapter):
 * parameters from query/form/multipart/JSON, `token` header, documented bodies and codes, and knobs.
 */
import { mkdtemp, mkdir, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startCouchdropEmulator } from '../../adapters/couchdrop/emulator/index.js';
import type { CouchdropEmulator, CouchdropEmulatorOptions } from '../../adapters/couchdrop/emulator/index.js';
import { collect } from '../helpers.js';

let emu: CouchdropEmulator | undefined;
afterEach(async () => {
  await emu?.close();
  emu = undefined;
});

async function start(options: CouchdropEmulatorOptions = {}): Promise<CouchdropEmulator> {
  emu = await startCouchdropEmulator(options);
  return emu;
}

/** POST a file route with `path` in the query string and the default token. */
async function call(e: CouchdropEmulator, route: string, params: Record<string, string>, init: RequestInit = {}): Promise<Response> {
  const url = new URL(route, e.url);
  for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
  return fetch(url, { method: 'POST', ...init, headers: { token: e.token, ...(init.headers as Record<string, string>) } });
}

describe('Couchdrop emulator', () => {
  it('lists with bare filenames, Unix-second modtimes and folders of size 0', async () => {
    const e = await start({ seed: { docs: { 'a.txt': 'hello', sub: {} } } });
    const res = await call(e, '/file/ls', { path: '/docs' });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { ls: Array<Record<string, unknown>> };
    const byName = new Map(body.ls.map((x) => [x.filename, x]));
    expect(byName.get('a.txt')).toMatchObject({ size: 5, is_dir: false });
    expect(Number.isInteger(byName.get('a.txt')!.modtime)).toBe(true);
    expect(Math.abs((byName.get('a.txt')!.modtime as number) - Date.now() / 1000)).toBeLessThan(60);
    expect(byName.get('sub')).toMatchObject({ size: 0, is_dir: true });
  });

  it('emits the docs\' literal "size:" key when switched', async () => {
    const e = await start({ seed: { 'f.bin': 'abc' }, sizeKey: 'size:' });
    const body = (await (await call(e, '/file/lstat', { path: '/f.bin' })).json()) as { lstat: Record<string, unknown> };
    expect(body.lstat['size:']).toBe(3);
    expect(body.lstat.size).toBeUndefined();
  });

  it('reads `path` from a urlencoded form, a multipart field and a JSON body', async () => {
    const e = await start({ seed: { folder: { 'x.txt': 'x' } } });
    const form = await call(e, '/file/ls', {}, { body: new URLSearchParams({ path: '/folder' }) });
    const fd = new FormData();
    fd.set('path', '/folder');
    const multipart = await call(e, '/file/ls', {}, { body: fd });
    const json = await call(e, '/file/ls', {}, { body: JSON.stringify({ path: '/folder' }), headers: { 'content-type': 'application/json' } });
    for (const res of [form, multipart, json]) {
      expect(res.status).toBe(200);
      expect(((await res.json()) as { ls: Array<{ filename: string }> }).ls.map((x) => x.filename)).toEqual(['x.txt']);
    }
  });

  it('stores upload bodies verbatim and honours modtime', async () => {
    const e = await start();
    const bytes = Buffer.from([0, 1, 2, 3, 255, 254, 13, 10]);
    const res = await call(e, '/file/upload', { path: '/raw.bin', size: String(bytes.length), modtime: '1578531065' }, {
      body: bytes, headers: { 'content-type': 'application/octet-stream' },
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({});
    expect((await collect(await e.store.read('/raw.bin'))).equals(bytes)).toBe(true);
    expect((await e.store.stat('/raw.bin')).mtime.getTime()).toBe(1578531065_000);
    const logged = e.log.find((x) => x.route === '/file/upload')!;
    expect(logged).toMatchObject({ bytesIn: bytes.length, sizeParam: bytes.length, status: 200, auth: 'static' });
  });

  it('a multipart upload is stored verbatim too (so a client sending multipart fails its round trip)', async () => {
    const e = await start();
    const fd = new FormData();
    fd.set('data', new Blob(['payload']));
    expect((await call(e, '/file/upload', { path: '/m.bin' }, { body: fd })).status).toBe(200);
    const stored = (await collect(await e.store.read('/m.bin'))).toString();
    expect(stored).not.toBe('payload');
    expect(stored).toContain('payload');
  });

  it('an upload into a missing parent is 404 parent-folder-not-found and stores nothing', async () => {
    const e = await start();
    const res = await call(e, '/file/upload', { path: '/nope/f.txt' }, { body: 'x' });
    expect(res.status).toBe(404);
    expect(await res.text()).toContain('parent-folder-not-found');
    expect(await e.store.list('/')).toEqual([]);
  });

  it('refuses an upload whose size parameter does not match the body', async () => {
    const e = await start({ seed: { 'keep.txt': 'original' } });
    const res = await call(e, '/file/upload', { path: '/keep.txt', size: '100' }, { body: 'short' });
    expect(res.status).toBe(422);
    expect((await collect(await e.store.read('/keep.txt'))).toString()).toBe('original');
  });

  it('mkdir is one level; an existing folder answers 422 "folder already exists"', async () => {
    const e = await start();
    expect((await call(e, '/file/mkdir', { path: '/a' })).status).toBe(200);
    const again = await call(e, '/file/mkdir', { path: '/a' });
    expect(again.status).toBe(422);
    expect(await again.json()).toEqual({ error: 'folder already exists' });
    const deep = await call(e, '/file/mkdir', { path: '/x/y' });
    expect(deep.status).toBe(404);
    expect(await deep.text()).toContain('parent-folder-not-found');
  });

  it('downloads raw bytes by POST and GET; Range is ignored unless switched on', async () => {
    const e = await start({ seed: { 'r.txt': 'abcdefghij' } });
    const post = await call(e, '/file/download', { path: '/r.txt' }, { headers: { range: 'bytes=2-4' } });
    expect(post.status).toBe(200);
    expect(post.headers.get('content-length')).toBe('10');
    expect(await post.text()).toBe('abcdefghij');
    const get = await call(e, '/file/download', { path: '/r.txt' }, { method: 'GET' });
    expect(await get.text()).toBe('abcdefghij');
    e.settings.rangeRequests = true;
    const ranged = await call(e, '/file/download', { path: '/r.txt' }, { headers: { range: 'bytes=2-4' } });
    expect(ranged.status).toBe(206);
    expect(ranged.headers.get('content-range')).toBe('bytes 2-4/10');
    expect(await ranged.text()).toBe('cde');
    expect((await call(e, '/file/download', { path: '/r.txt' }, { headers: { range: 'bytes=50-' } })).status).toBe(416);
  });

  it('missing paths are 404 with an {"error"} body', async () => {
    const e = await start();
    for (const route of ['/file/ls', '/file/lstat', '/file/download', '/file/delete']) {
      const res = await call(e, route, { path: '/ghost' });
      expect(res.status, route).toBe(404);
      expect(typeof ((await res.json()) as { error: unknown }).error).toBe('string');
    }
  });

  it('a bad, missing or expired token is 403; /authenticate issues tokens, 401 for 2FA users', async () => {
    const e = await start({ users: [{ username: 'tfa', password: 'secret-pw', twoFactor: true }] });
    expect((await call(e, '/file/ls', { path: '/' }, { headers: { token: 'wrong' } })).status).toBe(403);
    expect((await fetch(new URL('/file/ls?path=/', e.url), { method: 'POST' })).status).toBe(403);
    const login = await fetch(new URL('/authenticate', e.url), {
      method: 'POST', body: new URLSearchParams({ username: e.username, password: e.password, system: 'test' }),
    });
    expect(login.status).toBe(200);
    const { token } = (await login.json()) as { token: string };
    expect((await call(e, '/file/ls', { path: '/' }, { headers: { token } })).status).toBe(200);
    e.expireLoginTokens();
    expect((await call(e, '/file/ls', { path: '/' }, { headers: { token } })).status).toBe(403);
    const wrong = await fetch(new URL('/authenticate', e.url), { method: 'POST', body: new URLSearchParams({ username: e.username, password: 'nope' }) });
    expect(wrong.status).toBe(403);
    const tfa = await fetch(new URL('/authenticate', e.url), {
      method: 'POST', body: JSON.stringify({ username: 'tfa', password: 'secret-pw' }), headers: { 'content-type': 'application/json' },
    });
    expect(tfa.status).toBe(401);
  });

  it('accepts the legacy ?token= query parameter unless switched off', async () => {
    const e = await start();
    const viaQuery = await fetch(new URL(`/file/ls?path=/&token=${e.token}`, e.url), { method: 'POST' });
    expect(viaQuery.status).toBe(200);
    const strict = await startCouchdropEmulator({ tokenInQuery: false });
    try {
      expect((await fetch(new URL(`/file/ls?path=/&token=${strict.token}`, strict.url), { method: 'POST' })).status).toBe(403);
    } finally {
      await strict.close();
    }
  });

  it('read-only and no-delete tokens get 403 with the documented messages', async () => {
    const e = await start({
      seed: { 'f.txt': 'x' },
      tokens: [{ token: 'read-only-token', permissions: { write: false, delete: false } }, { token: 'no-delete-token', permissions: { delete: false } }],
    });
    const ro = { headers: { token: 'read-only-token' } };
    expect((await call(e, '/file/ls', { path: '/' }, ro)).status).toBe(200);
    const up = await call(e, '/file/upload', { path: '/g.txt' }, { ...ro, body: 'y' });
    expect(up.status).toBe(403);
    expect(await up.json()).toEqual({ error: 'you cannot write to that folder' });
    const del = await call(e, '/file/delete', { path: '/f.txt' }, { headers: { token: 'no-delete-token' } });
    expect(del.status).toBe(403);
    expect(await del.json()).toEqual({ error: 'you do not have the right permissions' });
    expect((await call(e, '/file/mkdir', { path: '/d' }, { headers: { token: 'no-delete-token' } })).status).toBe(200);
  });

  it('rename and delete live at configurable (provisional) routes', async () => {
    const e = await start({ seed: { d: { 'a.txt': 'A' } }, routes: { rename: { path: '/file/mv', toParam: 'to' }, delete: { path: '/file/rm' } } });
    expect((await call(e, '/file/rename', { path: '/d/a.txt', new_path: '/b.txt' })).status).toBe(404);
    expect((await call(e, '/file/mv', { path: '/d/a.txt', to: '/b.txt' })).status).toBe(200);
    expect((await collect(await e.store.read('/b.txt'))).toString()).toBe('A');
    expect((await call(e, '/file/rm', { path: '/d' })).status).toBe(200);
    expect((await e.store.list('/')).map((x) => x.name)).toEqual(['b.txt']);
  });

  it('a token bucket answers 429 without Retry-After', async () => {
    const e = await start({ rateLimit: { ratePerSec: 1, burst: 2 } });
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) {
      const res = await call(e, '/file/lstat', { path: '/' });
      statuses.push(res.status);
      if (res.status === 429) expect(res.headers.get('retry-after')).toBeNull();
      await res.arrayBuffer();
    }
    expect(statuses.slice(0, 2)).toEqual([200, 200]);
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThanOrEqual(1);
  });

  it('injects faults on every Nth request and by seeded probability, the same way each run', async () => {
    const e = await start({ faults: [{ kind: 429, every: 3 }, { kind: 422, every: 4, message: 'dropbox said no' }] });
    const statuses: number[] = [];
    for (let i = 0; i < 8; i++) statuses.push((await call(e, '/file/lstat', { path: '/' })).status);
    expect(statuses).toEqual([200, 200, 429, 422, 200, 429, 200, 422]);
    expect(await (await call(e, '/file/lstat', { path: '/' })).json()).toMatchObject({ error: expect.any(String) });
    const runs: number[][] = [];
    for (let run = 0; run < 2; run++) {
      e.setFaults([{ kind: 503, probability: 0.3 }]);
      const seen: number[] = [];
      for (let i = 0; i < 20; i++) seen.push((await call(e, '/file/lstat', { path: '/' })).status);
      runs.push(seen);
    }
    expect(runs[0]!.filter((s) => s === 503).length).toBeGreaterThan(0);
    expect(runs[0]!.filter((s) => s === 200).length).toBeGreaterThan(0);
    const again = await startCouchdropEmulator({ faults: [{ kind: 503, probability: 0.3 }] });
    try {
      const seen: number[] = [];
      for (let i = 0; i < 20; i++) seen.push((await call(again, '/file/lstat', { path: '/' })).status);
      expect(seen).toEqual(runs[0]);
    } finally {
      await again.close();
    }
  });

  it('a 422 fault carries the upstream message; an upload answered with a fault is still counted whole', async () => {
    const e = await start({ faults: [{ kind: 422, every: 1, routes: ['/file/upload'], message: 'onedrive: item locked' }] });
    const res = await call(e, '/file/upload', { path: '/u.bin', size: '5' }, { body: '12345' });
    expect(res.status).toBe(422);
    expect(await res.json()).toEqual({ error: 'onedrive: item locked' });
    expect(e.log.at(-1)).toMatchObject({ fault: 422, bytesIn: 5 });
  });

  it('seeds from a local directory (keeping mtimes) and from the demo set', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cd-seed-'));
    try {
      await mkdir(join(dir, 'sub'));
      await writeFile(join(dir, 'sub', 'f.txt'), 'from disk');
      await utimes(join(dir, 'sub', 'f.txt'), 1_600_000_000, 1_600_000_000);
      const e = await start({ seed: { directory: dir } });
      const body = (await (await call(e, '/file/lstat', { path: '/sub/f.txt' })).json()) as { lstat: { modtime: number; size: number } };
      expect(body.lstat).toMatchObject({ modtime: 1_600_000_000, size: 9 });
      await e.close();
      const demo = await start({ seed: 'demo' });
      const ls = (await (await call(demo, '/file/ls', { path: '/' })).json()) as { ls: Array<{ filename: string }> };
      expect(ls.ls.map((x) => x.filename).sort()).toEqual(['google', 'mount0']);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('fault rules accept `status` as an alias of `kind`, and refuse a rule without either', async () => {
    const e = await start({ faults: [{ status: 503, every: 2 }] });
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) statuses.push((await call(e, '/file/lstat', { path: '/' })).status);
    expect(statuses).toEqual([200, 503, 200, 503]);
    expect(() => e.setFaults([{ every: 1 }])).toThrow(/needs a kind/);
  });

  it('unknown routes are 404 JSON', async () => {
    const e = await start();
    const res = await call(e, '/file/frobnicate', { path: '/' });
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ error: 'no such route' });
  });
});
