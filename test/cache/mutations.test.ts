/** Mutations through the cache patch it: a client never sees its own change disappear. */
import { describe, expect, it } from 'vitest';
import { MemoryVfs } from '../../adapters/memory/index.js';
import { CachedVfs } from '../../src/cache.js';
import { VfsError } from '../../src/errors.js';
import { collect, expectCode, pseudoRandomBytes } from '../helpers.js';
import { CountingVfs } from './counting-vfs.js';

/** Long TTLs: anything fresh that the tests see must come from patching, not from expiry. */
async function setup() {
  const memory = await MemoryVfs.fromTree({
    a: { 'x.txt': 'x-content', 'y.txt': 'y', sub: { 'deep.txt': 'deep' } },
    b: {},
  });
  const counter = new CountingVfs(memory);
  const cache = new CachedVfs(counter, { statTtlMs: 60_000, dirTtlMs: 60_000, negativeTtlMs: 60_000 });
  return { memory, counter, cache };
}

const names = (entries: { name: string }[]) => entries.map((e) => e.name).sort();

describe('CachedVfs mutations', () => {
  it('write then stat shows the new size at once, without asking the inner Vfs', async () => {
    const { counter, cache } = await setup();
    await cache.list('/a');
    expect((await cache.stat('/a/x.txt')).size).toBe(9);
    await cache.write('/a/x.txt', Buffer.from('a much longer content'));
    counter.reset();
    expect((await cache.stat('/a/x.txt')).size).toBe(21);
    expect((await cache.list('/a')).find((e) => e.name === 'x.txt')?.size).toBe(21);
    expect(counter.totalCalls).toBe(0);
  });

  it('a new file written into a listed folder appears in the listing and a remembered ENOENT is lifted', async () => {
    const { counter, cache } = await setup();
    await cache.list('/b');
    await expectCode(cache.stat('/b/new.txt'), 'ENOENT');
    await cache.write('/b/new.txt', Buffer.from('hello'));
    counter.reset();
    expect(names(await cache.list('/b'))).toEqual(['new.txt']);
    expect((await cache.stat('/b/new.txt')).size).toBe(5);
    expect(counter.totalCalls).toBe(0);
  });

  it('a write drops the file blocks: the next read returns the new bytes', async () => {
    const { counter, cache } = await setup();
    const v1 = pseudoRandomBytes(300_000, 1);
    const v2 = pseudoRandomBytes(200_000, 2);
    await cache.write('/a/blob.bin', v1);
    expect((await collect(await cache.read('/a/blob.bin'))).equals(v1)).toBe(true);
    expect((await collect(await cache.read('/a/blob.bin'))).equals(v1)).toBe(true);
    const readsBefore = counter.calls.read;
    await cache.write('/a/blob.bin', v2);
    expect(cache.stats().blockCacheBytes).toBe(0);
    expect((await collect(await cache.read('/a/blob.bin'))).equals(v2)).toBe(true);
    expect(counter.calls.read).toBe(readsBefore + 1);
  });

  it('rename then list shows the new state at once in both folders', async () => {
    const { counter, cache } = await setup();
    await cache.list('/a');
    await cache.list('/b');
    await cache.rename('/a/x.txt', '/b/moved.txt');
    counter.reset();
    expect(names(await cache.list('/a'))).toEqual(['sub', 'y.txt']);
    expect(names(await cache.list('/b'))).toEqual(['moved.txt']);
    expect((await cache.stat('/b/moved.txt')).size).toBe(9);
    await expectCode(cache.stat('/a/x.txt'), 'ENOENT');
    expect(counter.totalCalls).toBe(0);
  });

  it('renaming a directory moves its subtree: old paths vanish, new ones are read fresh', async () => {
    const { cache } = await setup();
    await cache.list('/a');
    await cache.list('/a/sub');
    expect((await cache.stat('/a/sub/deep.txt')).size).toBe(4);
    expect((await collect(await cache.read('/a/sub/deep.txt'))).toString()).toBe('deep');
    await cache.rename('/a', '/renamed');
    await expectCode(cache.stat('/a'), 'ENOENT');
    await expectCode(cache.stat('/a/sub/deep.txt'), 'ENOENT');
    await expectCode(cache.list('/a/sub'), 'ENOENT');
    expect(names(await cache.list('/'))).toEqual(['b', 'renamed']);
    expect(names(await cache.list('/renamed/sub'))).toEqual(['deep.txt']);
    expect((await collect(await cache.read('/renamed/sub/deep.txt'))).toString()).toBe('deep');
  });

  it('a directory renamed onto a path the cache knew as missing becomes visible', async () => {
    const { cache } = await setup();
    await expectCode(cache.list('/c'), 'ENOENT');
    await expectCode(cache.stat('/c/sub/deep.txt'), 'ENOENT');
    await cache.rename('/a', '/c');
    expect(names(await cache.list('/c'))).toEqual(['sub', 'x.txt', 'y.txt']);
    expect((await cache.stat('/c/sub/deep.txt')).size).toBe(4);
  });

  it('mkdir shows the directory in its parent and knows it is empty', async () => {
    const { counter, cache } = await setup();
    await cache.list('/b');
    await cache.mkdir('/b/fresh');
    counter.reset();
    expect(names(await cache.list('/b'))).toEqual(['fresh']);
    expect(await cache.list('/b/fresh')).toEqual([]);
    expect((await cache.stat('/b/fresh')).type).toBe('directory');
    expect(counter.totalCalls).toBe(0);
  });

  it('remove of a tree drops it and everything below from the cache', async () => {
    const { counter, cache } = await setup();
    await cache.list('/');
    await cache.list('/a');
    await cache.list('/a/sub');
    await cache.remove('/a', { recursive: true });
    counter.reset();
    expect(names(await cache.list('/'))).toEqual(['b']);
    await expectCode(cache.stat('/a/sub/deep.txt'), 'ENOENT');
    await expectCode(cache.list('/a/sub'), 'ENOENT');
    expect(counter.totalCalls).toBe(0);
  });

  it('copy shows the target at once and leaves the source as it was', async () => {
    const { counter, cache } = await setup();
    await cache.list('/a');
    await cache.list('/b');
    await cache.copy('/a/x.txt', '/b/copy.txt');
    counter.reset();
    expect(names(await cache.list('/b'))).toEqual(['copy.txt']);
    expect(names(await cache.list('/a'))).toEqual(['sub', 'x.txt', 'y.txt']);
    expect((await cache.stat('/b/copy.txt')).size).toBe(9);
    expect(counter.totalCalls).toBe(0);
    expect((await collect(await cache.read('/b/copy.txt'))).toString()).toBe('x-content');
  });

  it('copy over an existing, already-read file drops its old blocks', async () => {
    const { cache } = await setup();
    expect((await collect(await cache.read('/a/y.txt'))).toString()).toBe('y');
    await cache.copy('/a/x.txt', '/a/y.txt', { overwrite: true });
    expect((await collect(await cache.read('/a/y.txt'))).toString()).toBe('x-content');
  });

  it('a failed mutation leaves no stale belief: the state is asked again', async () => {
    const { memory, counter, cache } = await setup();
    await cache.list('/a');
    counter.failNext('write', new VfsError('EIO', 'upload failed after retries', { retryable: false }));
    await expectCode(cache.write('/a/x.txt', Buffer.from('never lands')), 'EIO');
    counter.reset();
    expect((await cache.stat('/a/x.txt')).size).toBe(9);
    expect(counter.calls.stat + counter.calls.list).toBe(1);
    expect((await memory.stat('/a/x.txt')).size).toBe(9);
  });

  it('a write hands the caller stream itself to the inner Vfs (the cache buffers nothing)', async () => {
    const { counter, memory, cache } = await setup();
    const size = 4 * 1024 * 1024;
    async function* source() {
      for (let i = 0; i < size / 65536; i++) yield pseudoRandomBytes(65536, i + 1);
    }
    const data = source();
    const entry = await cache.write('/b/stream.bin', data, { size });
    expect(counter.lastWrite?.data).toBe(data);
    expect(counter.lastWrite?.options?.size).toBe(size);
    expect(entry.size).toBe(size);
    expect((await memory.stat('/b/stream.bin')).size).toBe(size);
  });
});
