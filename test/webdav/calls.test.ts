/**
 * Provider calls per user-visible operation (what a remote drive pays for): a Depth 1 PROPFIND of
 * 2000 entries is one stat and one list (webdav-server made about 9 calls per entry), a second one
 * within the cache TTL costs nothing, and a ranged GET asks the Vfs for exactly that range.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryVfs } from '../../adapters/memory/index.js';
import type { OpOptions, ReadOptions } from '../../src/vfs.js';
import { serveWebdav } from '../../mount/webdav.js';
import type { WebdavServer } from '../../mount/webdav.js';

class CountingVfs extends MemoryVfs {
  calls: string[] = [];
  reads: ReadOptions[] = [];
  override async stat(path: string, options?: OpOptions) {
    this.calls.push(`stat ${path}`);
    return super.stat(path, options);
  }
  override async list(dir: string, options?: OpOptions) {
    this.calls.push(`list ${dir}`);
    return super.list(dir, options);
  }
  override async read(path: string, options: ReadOptions = {}) {
    this.calls.push(`read ${path}`);
    this.reads.push({ ...(options.offset !== undefined ? { offset: options.offset } : {}), ...(options.length !== undefined ? { length: options.length } : {}) });
    return super.read(path, options);
  }
}

describe('Vfs calls per WebDAV request', () => {
  const vfs = new CountingVfs();
  let raw: WebdavServer;
  let cached: WebdavServer;

  beforeAll(async () => {
    await vfs.mkdir('/big');
    for (let i = 0; i < 2000; i++) await vfs.write(`/big/f${i}.txt`, Buffer.from('x'));
    await vfs.write('/file.bin', Buffer.alloc(100_000, 7));
    raw = await serveWebdav(vfs, { cache: false });
    cached = await serveWebdav(vfs);
  });
  afterAll(async () => {
    await raw?.close();
    await cached?.close();
  });

  it('PROPFIND Depth 1 of 2000 entries is one stat and one list', async () => {
    vfs.calls = [];
    const res = await fetch(raw.url + 'big/', { method: 'PROPFIND', headers: { Depth: '1' } });
    const xml = await res.text();
    expect(res.status).toBe(207);
    expect(xml.match(/<D:response>/g)?.length).toBe(2001);
    expect(vfs.calls).toEqual(['stat /big', 'list /big']);
  });

  it('a second PROPFIND through the default CachedVfs reaches the Vfs not at all', async () => {
    await (await fetch(cached.url + 'big/', { method: 'PROPFIND', headers: { Depth: '1' } })).text();
    vfs.calls = [];
    const again = await fetch(cached.url + 'big/', { method: 'PROPFIND', headers: { Depth: '1' } });
    expect((await again.text()).match(/<D:response>/g)?.length).toBe(2001);
    expect(vfs.calls).toEqual([]);
  });

  it('a ranged GET reads exactly that range', async () => {
    vfs.calls = [];
    vfs.reads = [];
    const res = await fetch(raw.url + 'file.bin', { headers: { Range: 'bytes=99000-99099' } });
    expect(res.status).toBe(206);
    expect((await res.arrayBuffer()).byteLength).toBe(100);
    expect(vfs.calls).toEqual(['stat /file.bin', 'read /file.bin']);
    expect(vfs.reads).toEqual([{ offset: 99000, length: 100 }]);
  });
});
