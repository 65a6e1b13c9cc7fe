/**
 * CouchdropVfs behaviour beyond the shared contract: ranged reads with and without `Range` support,
 * redirected downloads (the token stays home), spool files cleaned up, mtimes in seconds, secrets kept
 * out of logs and errors, aborts, and what the service is never asked to do.
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { CouchdropVfs } from '../../adapters/couchdrop/index.js';
import { createLogger } from '../../src/log.js';
import { collect, expectCode, pseudoRandomBytes } from '../helpers.js';
import { harness } from './fixtures.js';
import type { Harness } from './fixtures.js';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

const downloads = (hh: Harness) => hh.emu.log.filter((e) => e.route === '/file/download');

describe('CouchdropVfs reads', { timeout: 60_000 }, () => {
  it('asks for a Range; when the service ignores it, skips and cuts locally and stops the download early', async () => {
    h = await harness();
    const size = 24 * 1024 * 1024;
    const data = pseudoRandomBytes(size, 42);
    await h.emu.store.write('/big.bin', data);
    const got = await collect(await h.vfs.read('/big.bin', { offset: 1000, length: 5000 }));
    expect(got.equals(data.subarray(1000, 6000))).toBe(true);
    const tail = await collect(await h.vfs.read('/big.bin', { offset: size - 10 }));
    expect(tail.equals(data.subarray(size - 10))).toBe(true);
    const [first, second] = downloads(h);
    expect(first).toMatchObject({ status: 200, range: 'bytes=1000-5999' });
    expect(second).toMatchObject({ status: 200, range: `bytes=${size - 10}-` });
    // The first read needed 6 KB of a 24 MiB body: the rest was never pulled through.
    await new Promise((r) => setTimeout(r, 50));
    expect(first!.bytesOut).toBeLessThan(size);
    expect(h.vfs.capabilities.rangedReads).toBe(false);
  });

  it('uses 206 answers when the service honours Range (and 416 past the end means no bytes)', async () => {
    h = await harness({ rangeRequests: true }, { rangeRequests: true });
    const data = pseudoRandomBytes(100_000, 9);
    await h.emu.store.write('/r.bin', data);
    expect((await collect(await h.vfs.read('/r.bin', { offset: 500, length: 300 }))).equals(data.subarray(500, 800))).toBe(true);
    expect((await collect(await h.vfs.read('/r.bin', { offset: 200_000, length: 10 }))).length).toBe(0);
    expect(downloads(h).map((d) => [d.status, d.bytesOut])).toEqual([[206, 300], [416, 0]]);
    expect(h.vfs.capabilities.rangedReads).toBe(true);
  });

  it('follows a download redirect to another origin without sending the token there', async () => {
    h = await harness({ downloadRedirect: 'cross-origin', seed: { 'r.txt': 'redirected bytes' } });
    expect((await collect(await h.vfs.read('/r.txt'))).toString()).toBe('redirected bytes');
    const hops = h.emu.log.map((e) => [e.route.startsWith('/storage/') ? '/storage' : e.route, e.status, e.sentToken]);
    expect(hops).toEqual([['/file/download', 302, undefined], ['/storage', 200, false]]);
  });

  it('keeps the token on a same-origin redirect', async () => {
    h = await harness({ downloadRedirect: 'same-origin', seed: { 'r.txt': 'same origin' } });
    expect((await collect(await h.vfs.read('/r.txt', { offset: 5 }))).toString()).toBe('origin');
    expect(h.emu.log.at(-1)).toMatchObject({ status: 200, sentToken: true });
  });

  it('an abort while reading ends the stream with ECANCELED', async () => {
    h = await harness();
    await h.emu.store.write('/long.bin', pseudoRandomBytes(8 * 1024 * 1024, 1));
    const controller = new AbortController();
    const stream = await h.vfs.read('/long.bin', { signal: controller.signal });
    let error: unknown;
    try {
      for await (const _ of stream) controller.abort();
    } catch (e) {
      error = e;
    }
    expect(error).toMatchObject({ code: 'ECANCELED' });
  });
});

describe('CouchdropVfs writes', { timeout: 60_000 }, () => {
  it('sends size and modtime (seconds), keeps mtime to the second, and leaves no spool file behind', async () => {
    const spoolDir = await mkdtemp(join(tmpdir(), 'cd-spool-test-'));
    try {
      h = await harness({}, { spoolDir });
      const when = new Date('2020-01-09T01:31:05.789Z');
      await h.vfs.write('/a.txt', Readable.from([Buffer.from('streamed')]), { mtime: when });
      const upload = h.emu.log.find((e) => e.route === '/file/upload')!;
      expect(upload.sizeParam).toBe(8);
      expect((await h.vfs.stat('/a.txt')).mtime.getTime()).toBe(Math.floor(when.getTime() / 1000) * 1000);
      async function* broken() {
        yield new Uint8Array(Buffer.from('partial'));
        throw new Error('source failed');
      }
      await expectCode(h.vfs.write('/b.txt', broken()), 'EIO');
      h.emu.setFaults([{ kind: 422, every: 1, routes: ['/file/upload'] }]);
      await expectCode(h.vfs.write('/c.txt', Readable.from([Buffer.from('x')])), 'EIO');
      expect(await readdir(spoolDir)).toEqual([]);
    } finally {
      await rm(spoolDir, { recursive: true, force: true });
    }
  });

  it('a size hint that does not match the stream uploads nothing (EINVAL)', async () => {
    h = await harness({ seed: { 'f.txt': 'original' } });
    await expectCode(h.vfs.write('/f.txt', Readable.from([Buffer.from('short')]), { size: 100 }), 'EINVAL');
    expect(h.emu.log.some((e) => e.route === '/file/upload')).toBe(false);
    expect((await collect(await h.vfs.read('/f.txt'))).toString()).toBe('original');
  });

  it('copy is download + upload (no copy route) and keeps the source mtime', async () => {
    h = await harness();
    const when = new Date('2019-05-05T05:05:05Z');
    await h.vfs.write('/src.bin', pseudoRandomBytes(300_000, 4), { mtime: when });
    h.emu.clearLog();
    await h.vfs.copy('/src.bin', '/dst.bin');
    expect(h.emu.log.map((e) => `${e.route} ${e.status}`)).toEqual(['/file/lstat 200', '/file/lstat 404', '/file/download 200', '/file/upload 200']);
    expect((await h.vfs.stat('/dst.bin')).mtime.getTime()).toBe(when.getTime());
    expect(h.vfs.capabilities.serverSideCopy).toBe(false);
  });

  it('remove of a non-empty folder without recursive looks first and never calls delete', async () => {
    h = await harness({ seed: { full: { 'keep.txt': 'k' } } });
    await expectCode(h.vfs.remove('/full'), 'ENOTEMPTY');
    expect(h.emu.log.some((e) => e.route === '/file/delete')).toBe(false);
  });

  it('rename onto an existing file with overwrite moves the old one aside, then deletes it', async () => {
    h = await harness({ seed: { 'a.txt': 'new', 'b.txt': 'old' } });
    await h.vfs.rename('/a.txt', '/b.txt', { overwrite: true });
    expect((await collect(await h.vfs.read('/b.txt'))).toString()).toBe('new');
    expect((await h.vfs.list('/')).map((e) => e.name)).toEqual(['b.txt']);
    expect(h.emu.log.filter((e) => e.route === '/file/rename')).toHaveLength(2);
  });

  it('when the move onto an existing target fails, the target is put back', async () => {
    h = await harness({ seed: { 'a.txt': 'new', 'b.txt': 'old' } });
    // The second rename call (source → target) fails upstream.
    h.emu.setFaults([{ kind: 422, every: 2, limit: 1, routes: ['/file/rename'], message: 'box: item locked' }]);
    const e = await expectCode(h.vfs.rename('/a.txt', '/b.txt', { overwrite: true }), 'EIO');
    expect(e.details.providerMessage).toBe('box: item locked');
    expect((await collect(await h.vfs.read('/b.txt'))).toString()).toBe('old');
    expect((await collect(await h.vfs.read('/a.txt'))).toString()).toBe('new');
    expect((await h.vfs.list('/')).map((x) => x.name).sort()).toEqual(['a.txt', 'b.txt']);
  });
});

describe('CouchdropVfs basics', { timeout: 60_000 }, () => {
  it('lists bare names with sizes from either key; folders are size 0', async () => {
    h = await harness({ sizeKey: 'size:', seed: { d: { 'x.bin': 'xyz', sub: { 'y.txt': 'y' } } } });
    const entries = await h.vfs.list('/d');
    expect(entries.map((e) => [e.path, e.type, e.size]).sort()).toEqual([['/d/sub', 'directory', 0], ['/d/x.bin', 'file', 3]]);
  });

  it('space() is ENOTSUP with a reason; capabilities say what Couchdrop does', async () => {
    h = await harness();
    const e = await expectCode(h.vfs.space(), 'ENOTSUP');
    expect(e.message).toMatch(/no storage usage or quota route/);
    expect(h.vfs.capabilities).toMatchObject({ quota: false, serverSideCopy: false, serverSideMove: true, preservesMtime: true, mtimeResolutionMs: 1000 });
  });

  it('never writes a token or password to a log line or an error message', async () => {
    const lines: string[] = [];
    const logger = createLogger({ level: 'debug', write: (l) => lines.push(l) });
    h = await harness({ seed: { 'f.txt': 'x' }, userPermissions: { write: false } }, { login: true, logger });
    await h.vfs.stat('/f.txt');
    const e = await expectCode(h.vfs.write('/g.txt', Buffer.from('x')), 'EACCES');
    h.emu.setFaults([{ kind: 429, every: 2 }]);
    for (let i = 0; i < 3; i++) await h.vfs.stat('/f.txt');
    const bad = new CouchdropVfs({ username: h.emu.username, password: 'Sup3r-secret-pw', apiUrl: h.emu.apiUrl, fileioUrl: h.emu.fileioUrl, logger });
    const e2 = await expectCode(bad.stat('/'), 'EACCES');
    expect(lines.length).toBeGreaterThan(0);
    const text = [...lines, e.message, JSON.stringify(e.details), e2.message, JSON.stringify(e2.details)].join('\n');
    expect(text).not.toContain(h.emu.password);
    expect(text).not.toContain('Sup3r-secret-pw');
    expect(text).not.toContain(h.emu.token);
    expect(text).not.toMatch(/cdl-[0-9a-f-]{36}/); // issued login tokens
  });

  it('needs credentials', () => {
    expect(() => new CouchdropVfs({} as never)).toThrow(/token/);
  });
});
