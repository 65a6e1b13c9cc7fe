/** Metadata and directory cache: every assertion is about how many calls reached the inner Vfs. */
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { MemoryVfs } from '../../adapters/memory/index.js';
import { CachedVfs } from '../../src/cache.js';
import type { CacheOptions } from '../../src/cache.js';
import { VfsError } from '../../src/errors.js';
import { expectCode } from '../helpers.js';
import { CountingVfs } from './counting-vfs.js';

async function setup(options: CacheOptions = {}, counting: ConstructorParameters<typeof CountingVfs>[1] = {}) {
  const memory = new MemoryVfs();
  const counter = new CountingVfs(memory, counting);
  const cache = new CachedVfs(counter, options);
  return { memory, counter, cache };
}

async function folderOf(memory: MemoryVfs, dir: string, n: number): Promise<string[]> {
  await memory.mkdir(dir);
  const names = Array.from({ length: n }, (_, i) => `file-${String(i).padStart(3, '0')}.txt`);
  for (const [i, name] of names.entries()) await memory.write(`${dir}/${name}`, Buffer.alloc(i + 1, 'x'));
  return names;
}

describe('CachedVfs metadata cache', () => {
  it('is named after its inner Vfs and has its capabilities', async () => {
    const { cache, counter } = await setup();
    expect(cache.name).toBe('cached(counting(memory))');
    expect(cache.capabilities).toEqual(counter.capabilities);
  });

  it('list then stat of 100 children is one inner call in total', async () => {
    const { memory, counter, cache } = await setup();
    const names = await folderOf(memory, '/a', 100);
    const listed = await cache.list('/a');
    expect(listed).toHaveLength(100);
    for (const [i, name] of names.entries()) {
      const entry = await cache.stat(`/a/${name}`);
      expect(entry).toMatchObject({ path: `/a/${name}`, type: 'file', size: i + 1 });
    }
    expect(counter.calls.list).toBe(1);
    expect(counter.calls.stat).toBe(0);
    expect(counter.totalCalls).toBe(1);
    expect(cache.stats().statHits).toBe(100);
  });

  it('a fresh listing answers a missing child with ENOENT without a request', async () => {
    const { memory, counter, cache } = await setup();
    await folderOf(memory, '/a', 3);
    await cache.list('/a');
    await expectCode(cache.stat('/a/missing'), 'ENOENT');
    await expectCode(cache.stat('/a/missing/deeper/still'), 'ENOENT');
    await expectCode(cache.list('/a/missing'), 'ENOENT');
    await expectCode(cache.list('/a/file-000.txt'), 'ENOTDIR');
    expect(counter.totalCalls).toBe(1);
    expect(cache.stats().negativeHits).toBe(3);
  });

  it('20 concurrent stat calls of one path become one inner call', async () => {
    const { memory, counter, cache } = await setup({}, { latencyMs: 20 });
    await memory.write('/one.txt', Buffer.from('1'));
    const results = await Promise.all(Array.from({ length: 20 }, () => cache.stat('/one.txt')));
    expect(results.every((e) => e.size === 1 && e.path === '/one.txt')).toBe(true);
    expect(counter.calls.stat).toBe(1);
    expect(cache.stats().coalesced).toBe(19);
  });

  it('20 concurrent list calls of one directory become one inner call', async () => {
    const { memory, counter, cache } = await setup({}, { latencyMs: 20 });
    await folderOf(memory, '/d', 5);
    const results = await Promise.all(Array.from({ length: 20 }, () => cache.list('/d')));
    expect(results.every((r) => r.length === 5)).toBe(true);
    expect(counter.calls.list).toBe(1);
  });

  it('a second stat within the TTL is served from memory', async () => {
    const { memory, counter, cache } = await setup();
    await memory.write('/s.txt', Buffer.from('abc'));
    expect((await cache.stat('/s.txt')).size).toBe(3);
    expect((await cache.stat('/s.txt')).size).toBe(3);
    expect(counter.calls.stat).toBe(1);
  });

  it('a change made behind the cache shows up after the TTL', async () => {
    const { memory, counter, cache } = await setup({ statTtlMs: 150, dirTtlMs: 150 });
    await memory.mkdir('/r');
    await memory.write('/r/f.txt', Buffer.from('old'));
    expect((await cache.list('/r')).map((e) => e.size)).toEqual([3]);
    expect((await cache.stat('/r/f.txt')).size).toBe(3);
    // Another client changes the folder directly on the server.
    await memory.write('/r/f.txt', Buffer.from('much newer'));
    await memory.write('/r/g.txt', Buffer.from('new file'));
    await sleep(250);
    const listed = await cache.list('/r');
    expect(listed.map((e) => e.name).sort()).toEqual(['f.txt', 'g.txt']);
    expect((await cache.stat('/r/f.txt')).size).toBe(10);
    expect(counter.calls.list).toBe(2);
  });

  it('with long TTLs a change behind the cache is not seen until forget()', async () => {
    const { memory, counter, cache } = await setup({ statTtlMs: 60_000, dirTtlMs: 60_000 });
    await memory.mkdir('/t');
    await memory.mkdir('/t/sub');
    await memory.write('/t/sub/f.txt', Buffer.from('v1'));
    await cache.list('/t');
    await cache.list('/t/sub');
    await memory.write('/t/sub/f.txt', Buffer.from('version 2'));
    await memory.write('/t/new.txt', Buffer.from('n'));
    expect((await cache.stat('/t/sub/f.txt')).size).toBe(2);
    await expectCode(cache.stat('/t/new.txt'), 'ENOENT');
    const before = counter.totalCalls;
    cache.forget('/t');
    expect((await cache.stat('/t/sub/f.txt')).size).toBe(9);
    expect((await cache.stat('/t/new.txt')).size).toBe(1);
    expect(counter.totalCalls).toBeGreaterThan(before);
  });

  it('forget() of one subtree keeps what it knows elsewhere', async () => {
    const { memory, counter, cache } = await setup({ statTtlMs: 60_000, dirTtlMs: 60_000 });
    await folderOf(memory, '/keep', 3);
    await folderOf(memory, '/drop', 3);
    await cache.list('/keep');
    await cache.list('/drop');
    cache.forget('/drop');
    counter.reset();
    await cache.stat('/keep/file-000.txt');
    expect(counter.totalCalls).toBe(0);
    await cache.stat('/drop/file-000.txt');
    expect(counter.calls.stat + counter.calls.list).toBe(1);
  });

  it('"does not exist" is remembered for the negative TTL, then asked again', async () => {
    const { memory, counter, cache } = await setup({ statTtlMs: 60_000, negativeTtlMs: 500 });
    await expectCode(cache.stat('/later.txt'), 'ENOENT');
    await memory.write('/later.txt', Buffer.from('here now'));
    // Within the negative TTL the answer comes from memory.
    await expectCode(cache.stat('/later.txt'), 'ENOENT');
    expect(counter.calls.stat).toBe(1);
    await sleep(700);
    expect((await cache.stat('/later.txt')).size).toBe(8);
    expect(counter.calls.stat).toBe(2);
  });

  it('a missing parent answers for everything below it', async () => {
    const { counter, cache } = await setup();
    await expectCode(cache.stat('/nope'), 'ENOENT');
    await expectCode(cache.stat('/nope/a/b/c.txt'), 'ENOENT');
    await expectCode(cache.list('/nope/a'), 'ENOENT');
    expect(counter.totalCalls).toBe(1);
  });

  it('an inner error is not cached: the next call asks again and succeeds', async () => {
    const { memory, counter, cache } = await setup();
    await memory.write('/flaky.txt', Buffer.from('fine'));
    counter.failNext('stat', new VfsError('EIO', 'provider hiccup', { retryable: true }));
    await expectCode(cache.stat('/flaky.txt'), 'EIO');
    expect((await cache.stat('/flaky.txt')).size).toBe(4);
    counter.failNext('list', new VfsError('EAGAIN', 'throttled', { retryable: true }));
    await expectCode(cache.list('/'), 'EAGAIN');
    expect((await cache.list('/')).map((e) => e.name)).toEqual(['flaky.txt']);
    expect(counter.calls.stat).toBe(2);
    expect(counter.calls.list).toBe(2);
  });

  it('one caller aborting does not fail the others sharing its request', async () => {
    const { memory, counter, cache } = await setup({}, { latencyMs: 50 });
    await memory.write('/shared.txt', Buffer.from('shared'));
    const impatient = new AbortController();
    const first = cache.stat('/shared.txt', { signal: impatient.signal });
    const second = cache.stat('/shared.txt');
    impatient.abort();
    await expectCode(first, 'ECANCELED');
    expect((await second).size).toBe(6);
    expect(counter.calls.stat).toBe(1);
  });

  it('entries handed out are copies: changing one does not change the cache', async () => {
    const { memory, cache } = await setup();
    await memory.write('/c.txt', Buffer.from('abc'));
    const entry = await cache.stat('/c.txt');
    entry.size = 999;
    entry.mtime.setTime(0);
    const again = await cache.stat('/c.txt');
    expect(again.size).toBe(3);
    expect(again.mtime.getTime()).not.toBe(0);
  });

  it('the metadata cache is bounded by entry count', async () => {
    const { memory, counter, cache } = await setup({ maxEntries: 50 });
    await folderOf(memory, '/many', 120);
    for (let i = 0; i < 120; i++) await cache.stat(`/many/file-${String(i).padStart(3, '0')}.txt`);
    expect(cache.stats().metadataEntries).toBeLessThanOrEqual(50);
    counter.reset();
    await cache.stat('/many/file-000.txt'); // long evicted
    expect(counter.calls.stat).toBe(1);
  });

  it('for a case-insensitive provider, "/Docs/A.txt" and "/docs/a.txt" share one cache entry', async () => {
    const { counter, cache } = await setup({}, { capabilities: { caseSensitive: false } });
    await cache.mkdir('/Docs');
    await cache.write('/Docs/A.txt', Buffer.from('upper'));
    counter.reset();
    expect((await cache.stat('/docs/a.txt')).size).toBe(5);
    expect((await cache.list('/DOCS')).map((e) => e.name)).toEqual(['A.txt']);
    expect(counter.totalCalls).toBe(0);
    cache.forget('/DOCS/a.TXT');
    await cache.stat('/Docs/A.txt');
    expect(counter.calls.stat + counter.calls.list).toBe(1);
  });
  it('the quota is asked once per TTL, and again at once after an upload through the cache', async () => {
    const { counter, cache } = await setup();
    const first = await cache.space();
    await Promise.all([cache.space(), cache.space(), cache.space()]);
    expect(counter.calls.space).toBe(1);
    await cache.write('/grow.bin', Buffer.alloc(5000, 1));
    const after = await cache.space();
    expect(counter.calls.space).toBe(2);
    expect(after.used).toBe(first.used + 5000);
  });

  it('a quota answer older than the TTL is asked again', async () => {
    const { counter, cache } = await setup({ statTtlMs: 30 });
    await cache.space();
    await sleep(60);
    await cache.space();
    expect(counter.calls.space).toBe(2);
  });
});
