/** Cache options: defaults a user can rely on, and nonsense refused up front. */
import { describe, expect, it } from 'vitest';
import { MemoryVfs } from '../../adapters/memory/index.js';
import { CACHE_DEFAULTS, CachedVfs } from '../../src/cache.js';

describe('CachedVfs options', () => {
  it('has the documented defaults', () => {
    const cache = new CachedVfs(new MemoryVfs());
    expect(cache.options).toMatchObject({
      statTtlMs: 10_000, dirTtlMs: 10_000, negativeTtlMs: 2_000, maxEntries: 100_000,
      blockSize: 1024 * 1024, readAheadBytes: 8 * 1024 * 1024, blockCacheBytes: 64 * 1024 * 1024,
    });
    expect(CACHE_DEFAULTS.negativeTtlMs).toBeLessThan(CACHE_DEFAULTS.statTtlMs);
  });

  it('keeps read-ahead within a quarter of the block cache, so it never evicts what it fetched', () => {
    const cache = new CachedVfs(new MemoryVfs(), { blockSize: 1024 * 1024, blockCacheBytes: 8 * 1024 * 1024, readAheadBytes: 64 * 1024 * 1024 });
    expect(cache.options.readAheadBytes).toBe(2 * 1024 * 1024);
  });

  it('refuses a zero block size or a negative TTL', () => {
    expect(() => new CachedVfs(new MemoryVfs(), { blockSize: 0 })).toThrow(RangeError);
    expect(() => new CachedVfs(new MemoryVfs(), { statTtlMs: -1 })).toThrow(RangeError);
  });

  it('TTL 0 turns metadata caching off: every stat asks the inner Vfs', async () => {
    const memory = await MemoryVfs.fromTree({ 'a.txt': 'a' });
    const cache = new CachedVfs(memory, { statTtlMs: 0, dirTtlMs: 0, negativeTtlMs: 0 });
    await cache.list('/');
    await memory.write('/a.txt', Buffer.from('changed'));
    expect((await cache.stat('/a.txt')).size).toBe(7);
    await memory.remove('/a.txt');
    await expect(cache.stat('/a.txt')).rejects.toMatchObject({ code: 'ENOENT' });
    await memory.write('/a.txt', Buffer.from('back'));
    expect((await cache.stat('/a.txt')).size).toBe(4);
  });
});
