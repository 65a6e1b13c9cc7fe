/**
 * Hostile provider replies: a proxy between each adapter and its (real) emulator spoils answers —
 * an HTML 502 page, truncated JSON, wrong types, missing fields, a 200 that carries an error, a
 * body shorter or longer than its Content-Length, a connection dropped mid-download or after an
 * upload. Each must end as a clear VfsError (or succeed after a safe retry), never crash the
 * process, never hand out wrong bytes as a file's content, and never report a half-written file
 * as written.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CloudreveVfs, startCloudreveEmulator } from '../../adapters/cloudreve/index.js';
import { CouchdropVfs, startCouchdropEmulator } from '../../adapters/couchdrop/index.js';
import { VfsError } from '../../src/errors.js';
import type { Vfs } from '../../src/vfs.js';
import { collect, expectCode, pseudoRandomBytes, sha256 } from '../helpers.js';
import {
  closeDelimitedShort, drop, editJson, endless, fixed, htmlPage, longBody, shortBody, startHostileProxy, truncated,
} from './proxy.js';
import type { HostileProxy } from './proxy.js';

const BIG = pseudoRandomBytes(300 * 1024, 11);
const OLD = Buffer.from('the good old version\n');
const FAST = { baseDelayMs: 5, maxDelayMs: 40, maxAttempts: 3, adaptive: false } as const;

/** What differs between the two providers: how to start, and the routes and shapes to spoil. */
interface Bench {
  proxy: HostileProxy;
  /** The adapter, talking through the proxy. */
  vfs: Vfs;
  /** Read what the server really holds (rules cleared first). */
  serverBytes(path: string): Promise<Buffer>;
  routes: { list: RegExp; stat: RegExp; content: RegExp; upload: RegExp; uploadSteps: RegExp[] };
  /** Edits of a listing / a stat answer. */
  listFiles(json: any): any[] | null | undefined;
  setListFiles(json: any, value: unknown): void;
  statEntry(json: any): any;
  nameKey: string;
  /** A 200 answer that says "error" in the provider's own way. */
  errorInside: string;
  close(): Promise<void>;
}

async function cloudreveBench(): Promise<Bench> {
  const proxy = await startHostileProxy();
  // Content URLs are signed with the site URL: make them point at the proxy too.
  const emu = await startCloudreveEmulator({ seed: { docs: { 'a.txt': 'hello' }, 'big.bin': BIG, 'old.txt': OLD }, siteUrl: proxy.url });
  proxy.target = emu.url;
  const vfs = new CloudreveVfs({ baseUrl: proxy.url, email: emu.email, password: emu.password, maxAttempts: 3, schedulerOptions: FAST, smallFileBytes: 64 * 1024 });
  const check = new CloudreveVfs({ baseUrl: emu.url, email: emu.email, password: emu.password, schedulerOptions: FAST });
  return {
    proxy, vfs,
    // A stat first: the server keeps old versions (VersionRetention), so a content URL cached by an
    // earlier read still serves the old bytes until the client sees the file's new entity.
    serverBytes: async (p) => {
      await check.stat(p);
      return collect(await check.read(p));
    },
    routes: { list: /^GET \/api\/v4\/file$/, stat: /^GET \/api\/v4\/file\/info$/, content: /^GET \/api\/v4\/file\/content\//, upload: /^(PUT \/api\/v4\/file\/content|POST \/api\/v4\/file\/upload\/)/,
      uploadSteps: [/^PUT \/api\/v4\/file\/upload$/, /^POST \/api\/v4\/file\/upload\//, /^DELETE \/api\/v4\/file\/upload$/] },
    listFiles: (j) => j.data.files,
    setListFiles: (j, v) => void (j.data.files = v),
    statEntry: (j) => j.data,
    nameKey: 'name',
    errorInside: JSON.stringify({ code: 0, msg: '', data: null }),
    close: async () => {
      await vfs.close();
      await check.close();
      await emu.close();
      await proxy.close();
    },
  };
}

async function couchdropBench(): Promise<Bench> {
  const proxy = await startHostileProxy();
  const emu = await startCouchdropEmulator({ seed: { docs: { 'a.txt': 'hello' }, 'big.bin': BIG, 'old.txt': OLD }, rangeRequests: true });
  proxy.target = emu.url;
  const vfs = new CouchdropVfs({ token: emu.token, apiUrl: proxy.url, fileioUrl: proxy.url, scheduler: FAST, rangeRequests: true });
  return {
    proxy, vfs,
    serverBytes: async (p) => collect(await emu.store.read(p)),
    routes: { list: /^POST \/file\/ls$/, stat: /^POST \/file\/lstat$/, content: /^POST \/file\/download$/, upload: /^POST \/file\/upload$/, uploadSteps: [/^POST \/file\/upload$/] },
    listFiles: (j) => j.ls,
    setListFiles: (j, v) => void (j.ls = v),
    statEntry: (j) => j.lstat,
    nameKey: 'filename',
    errorInside: JSON.stringify({ error: 'backend storage unavailable' }),
    close: async () => {
      await vfs.close();
      await emu.close();
      await proxy.close();
    },
  };
}

describe.each([
  ['cloudreve', cloudreveBench],
  ['couchdrop', couchdropBench],
])('%s: hostile replies', (_name, start) => {
  let b: Bench;
  beforeAll(async () => {
    b = await start();
  });
  afterAll(async () => {
    await b?.close();
  });
  beforeEach(async () => {
    b.proxy.clear();
    // Undo whatever a previous test may have left behind.
    await b.vfs.write('/old.txt', OLD).catch(() => undefined);
  });

  /** The outcome of a call: its value, or the VfsError it failed with (anything else fails the test). */
  async function outcome<T>(p: Promise<T>): Promise<{ value?: T; error?: VfsError }> {
    try {
      return { value: await p };
    } catch (e) {
      expect(e, `not a VfsError: ${String(e)}`).toBeInstanceOf(VfsError);
      return { error: e as VfsError };
    }
  }

  it('an HTML 502 page once is retried; every time, it is EIO naming the status', async () => {
    b.proxy.add({ match: b.routes.list, act: htmlPage(502), forward: false, times: 1 });
    expect((await b.vfs.list('/docs')).map((e) => e.name)).toEqual(['a.txt']);
    b.proxy.add({ match: b.routes.list, act: htmlPage(502), forward: false });
    const e = await expectCode(b.vfs.list('/docs'), 'EIO');
    expect(e.message).toMatch(/502/);
    expect(e.details.status).toBe(502);
    expect(e.retryable).toBe(true);
  });

  it('truncated JSON once is retried; every time, it is EPROTO/EIO saying the answer was unreadable', async () => {
    b.proxy.add({ match: b.routes.list, act: truncated, times: 1 });
    expect((await b.vfs.list('/docs')).map((e) => e.name)).toEqual(['a.txt']);
    b.proxy.add({ match: b.routes.stat, act: truncated });
    const e = await expectCode(b.vfs.stat('/docs/a.txt'), 'EPROTO', 'EIO');
    expect(e.message).toMatch(/JSON|envelope|unexpected|unreadable/i);
  });

  it('a listing that is null, or holds an entry of the wrong type, is EPROTO', async () => {
    b.proxy.add({ match: b.routes.list, act: editJson((j) => b.setListFiles(j, null)) });
    const e1 = await expectCode(b.vfs.list('/docs'), 'EPROTO');
    expect(e1.details.path).toBe('/docs');
    b.proxy.clear();
    b.proxy.add({ match: b.routes.list, act: editJson((j) => b.setListFiles(j, 'abc')) });
    await expectCode(b.vfs.list('/docs'), 'EPROTO');
    b.proxy.clear();
    b.proxy.add({ match: b.routes.list, act: editJson((j) => void (b.listFiles(j)![0].size = 'abc')) });
    const e2 = await expectCode(b.vfs.list('/docs'), 'EPROTO');
    expect(e2.message).toMatch(/size/);
    b.proxy.clear();
    b.proxy.add({ match: b.routes.list, act: editJson((j) => void (b.listFiles(j)![0] = 42)) });
    await expectCode(b.vfs.list('/docs'), 'EPROTO');
  });

  it('a listed name that is not one path segment never becomes another path', async () => {
    for (const name of ['..', '.', 'a/../../b', '', 'x\u0000y']) {
      b.proxy.clear();
      b.proxy.add({ match: b.routes.list, act: editJson((j) => void (b.listFiles(j)![0][b.nameKey] = name)) });
      const got = await outcome(b.vfs.list('/docs'));
      if (got.value) {
        // Tolerated only by leaving the entry out (SFTP-style "." and ".." lines) or keeping its last segment.
        for (const e of got.value) {
          expect(e.path.startsWith('/docs/'), `${JSON.stringify(name)} → ${e.path}`).toBe(true);
          expect(e.name === '' || e.name === '.' || e.name === '..' || e.name.includes('/') || e.name.includes('\0'), `${JSON.stringify(name)} → ${e.name}`).toBe(false);
        }
      } else expect(got.error!.code, got.error!.message).toBe('EPROTO');
    }
  });

  // (Couchdrop listings have no pages: defined for Cloudreve only, not skipped.)
  if (_name === 'cloudreve') it('a listing cursor that repeats forever is EPROTO, not an endless loop', async () => {
    const now = new Date().toISOString();
    const page = {
      code: 0, msg: '',
      data: {
        files: [{ type: 0, id: 'loop', name: 'loop.txt', created_at: now, updated_at: now, size: 1, path: 'cloudreve://my/docs/loop.txt' }],
        parent: { type: 1, id: 'docs', name: 'docs', created_at: now, updated_at: now, size: 0, path: 'cloudreve://my/docs' },
        pagination: { page: 0, page_size: 1, next_token: 'again-and-again', is_cursor: true },
        props: { capability: '', max_page_size: 2000, order_by_options: [], order_direction_options: [] }, context_hint: null, mixed_type: false,
      },
    };
    b.proxy.add({ match: b.routes.list, act: fixed(200, JSON.stringify(page)), forward: false });
    const e = await expectCode(b.vfs.list('/docs'), 'EPROTO');
    expect(e.message).toMatch(/cursor/);
  });

  it('an endless JSON answer is EPROTO once it passes the ceiling, not a process that buffers until it dies', async () => {
    b.proxy.add({ match: b.routes.list, act: endless, forward: false });
    const e = await expectCode(b.vfs.list('/docs'), 'EPROTO', 'EIO');
    expect(e.message).toMatch(/larger than/);
  }, 60_000);

  it('a stat answer with a wrong type or a missing field is EPROTO, not a made-up entry', async () => {
    b.proxy.add({ match: b.routes.stat, act: editJson((j) => void (b.statEntry(j).size = 'abc')) });
    const e = await expectCode(b.vfs.stat('/docs/a.txt'), 'EPROTO');
    expect(e.message).toMatch(/size/);
    b.proxy.clear();
    b.proxy.add({ match: b.routes.stat, act: editJson((j) => void (b.statEntry(j).size = -5)) });
    await expectCode(b.vfs.stat('/docs/a.txt'), 'EPROTO');
    b.proxy.clear();
    b.proxy.add({ match: b.routes.list, act: editJson((j) => void delete b.listFiles(j)![0][b.nameKey]) });
    await expectCode(b.vfs.list('/docs'), 'EPROTO');
    b.proxy.clear();
    b.proxy.add({ match: b.routes.stat, act: editJson((j) => void delete b.statEntry(j).size) });
    await expectCode(b.vfs.stat('/docs/a.txt'), 'EPROTO');
  });

  it('a 200 that carries an error (or no data) is a clear VfsError', async () => {
    b.proxy.add({ match: b.routes.stat, act: fixed(200, b.errorInside), forward: false });
    const e = await expectCode(b.vfs.stat('/docs/a.txt'), 'EPROTO', 'EIO');
    expect(e.details.path).toBe('/docs/a.txt');
    b.proxy.clear();
    b.proxy.add({ match: b.routes.list, act: fixed(200, b.errorInside), forward: false });
    await expectCode(b.vfs.list('/docs'), 'EPROTO', 'EIO');
    b.proxy.clear();
    b.proxy.add({ match: b.routes.list, act: fixed(200, '"just a string"'), forward: false });
    await expectCode(b.vfs.list('/docs'), 'EPROTO', 'EIO');
  });

  /** Read all of big.bin with the given spoiler on the content route; never wrong bytes. */
  async function readSpoiled(act: Parameters<HostileProxy['add']>[0]['act'], times?: number): Promise<{ value?: Buffer; error?: VfsError }> {
    b.proxy.add({ match: b.routes.content, act, ...(times !== undefined ? { times } : {}) });
    const got = await outcome((async () => collect(await b.vfs.read('/big.bin')))());
    if (got.value) expect(sha256(got.value), `read returned ${got.value.length} of ${BIG.length} bytes as if complete`).toBe(sha256(BIG));
    else expect(['EIO', 'EPROTO', 'ECONNRESET'], got.error!.message).toContain(got.error!.code);
    return got;
  }

  it('a download that drops mid-body is resumed; dropped every time, it fails; it never looks complete', async () => {
    const once = await readSpoiled(shortBody, 1);
    expect(once.value, once.error?.message).toBeDefined();
    b.proxy.clear();
    const always = await readSpoiled(shortBody);
    expect(always.error).toBeDefined();
  });

  it('a body longer than its Content-Length, or cut short without any length, is never taken as the file', async () => {
    const long = await readSpoiled(longBody, 1);
    expect(long.value, long.error?.message).toBeDefined(); // resumed after the short "complete" answer
    b.proxy.clear();
    const cut = await readSpoiled(closeDelimitedShort, 1);
    expect(cut.value, cut.error?.message).toBeDefined();
    b.proxy.clear();
    const always = await readSpoiled(longBody);
    expect(always.error).toBeDefined();
    b.proxy.clear();
    // A ranged read too (the path the caches and FUSE use).
    b.proxy.add({ match: b.routes.content, act: closeDelimitedShort });
    const ranged = await outcome((async () => collect(await b.vfs.read('/big.bin', { offset: 1000, length: 100_000 })))());
    if (ranged.value) expect(sha256(ranged.value)).toBe(sha256(BIG.subarray(1000, 101_000)));
    else expect(['EIO', 'EPROTO']).toContain(ranged.error!.code);
  });

  it('an HTML error page on the content route is retried or EIO, never returned as content', async () => {
    const once = await readSpoiled(htmlPage(502), 1);
    expect(once.value).toBeDefined();
    b.proxy.clear();
    await readSpoiled(htmlPage(502));
  });

  it('an upload whose answer is lost, mangled or an error page is never half-written', async () => {
    const fresh = (n: number) => pseudoRandomBytes(20_000 + n, 100 + n);
    const spoilers = [
      { act: drop, forward: true },
      { act: drop, forward: false },
      { act: htmlPage(502), forward: true },
      { act: htmlPage(502), forward: false },
      { act: truncated, forward: true },
      { act: shortBody, forward: true },
    ];
    for (const [i, s] of spoilers.entries()) {
      for (const times of [1, undefined]) {
        await b.vfs.write('/old.txt', OLD);
        b.proxy.clear();
        b.proxy.add({ match: b.routes.upload, act: s.act, forward: s.forward, ...(times !== undefined ? { times } : {}) });
        const data = fresh(i);
        const got = await outcome(b.vfs.write('/old.txt', data, { size: data.length }));
        b.proxy.clear();
        const onServer = await b.serverBytes('/old.txt');
        const label = `spoiler ${i} (${times ?? 'always'}): ${got.error?.message ?? 'written'}`;
        if (got.value) {
          expect(sha256(onServer), label).toBe(sha256(data));
          expect(got.value.size, label).toBe(data.length);
        } else {
          // Failed: the server holds the old version or the whole new one, nothing in between.
          expect([sha256(OLD), sha256(data)], label).toContain(sha256(onServer));
        }
        if (times === undefined && !s.forward) expect(got.error, label).toBeDefined();
      }
    }
  });

  it('a large upload whose every step may lose its answer still ends written or cleanly failed, and the next write works', async () => {
    const big = pseudoRandomBytes(200_000, 77);
    for (const route of b.routes.uploadSteps) {
      for (const act of [drop, htmlPage(502), truncated]) {
        await b.vfs.write('/old.txt', OLD);
        b.proxy.clear();
        b.proxy.add({ match: route, act, times: 1 });
        const got = await outcome(b.vfs.write('/old.txt', big, { size: big.length }));
        b.proxy.clear();
        const onServer = await b.serverBytes('/old.txt');
        const label = `${route} ${got.error?.message ?? 'written'}`;
        if (got.value) expect(sha256(onServer), label).toBe(sha256(big));
        else expect([sha256(OLD), sha256(big)], label).toContain(sha256(onServer));
        // Whatever happened, the path is not left locked or half-done: the next write succeeds.
        const again = pseudoRandomBytes(150_000, 78);
        await b.vfs.write('/old.txt', again, { size: again.length });
        expect(sha256(await b.serverBytes('/old.txt')), label).toBe(sha256(again));
      }
    }
  });

  it('keeps working once the provider behaves again', async () => {
    b.proxy.clear();
    expect((await b.vfs.list('/docs')).map((e) => e.name)).toEqual(['a.txt']);
    expect(sha256(await collect(await b.vfs.read('/big.bin')))).toBe(sha256(BIG));
  });
});
