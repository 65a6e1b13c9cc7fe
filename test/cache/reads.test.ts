/** Block cache and read-ahead: assertions about inner read calls, ranges and bytes moved. */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { MemoryVfs } from '../../adapters/memory/index.js';
import { CachedVfs } from '../../src/cache.js';
import type { CacheOptions } from '../../src/cache.js';
import { VfsError } from '../../src/errors.js';
import { collect, expectCode, pseudoRandomBytes, sha256 } from '../helpers.js';
import { CountingVfs } from './counting-vfs.js';
import type { CountingOptions } from './counting-vfs.js';

const KiB = 1024;
const MiB = 1024 * KiB;

async function setup(file: Buffer, options: CacheOptions = {}, counting: CountingOptions = {}) {
  const memory = new MemoryVfs();
  await memory.write('/file.bin', file);
  const counter = new CountingVfs(memory, counting);
  const cache = new CachedVfs(counter, options);
  return { memory, counter, cache };
}

/** Read like the kernel does through FUSE: one `read` call per piece, in order. */
async function readInPieces(cache: CachedVfs, path: string, size: number, piece: number): Promise<string> {
  const hash = createHash('sha256');
  for (let offset = 0; offset < size; offset += piece) {
    const got = await collect(await cache.read(path, { offset, length: piece }));
    expect(got.length).toBe(Math.min(piece, size - offset));
    hash.update(got);
  }
  return hash.digest('hex');
}

describe('CachedVfs reads', { timeout: 60_000 }, () => {
  for (const blockSize of [1 * MiB, 256 * KiB]) {
    it(`sequential 128 KiB reads of a 50 MiB file take ≤ 50 MiB ÷ ${blockSize / KiB} KiB + 2 inner reads and return the same bytes`, async () => {
      const size = 50 * MiB;
      const data = pseudoRandomBytes(size, 50);
      const { counter, cache } = await setup(data, { blockSize, blockCacheBytes: 16 * MiB });
      const digest = await readInPieces(cache, '/file.bin', size, 128 * KiB);
      expect(digest).toBe(sha256(data));
      expect(counter.calls.read).toBeLessThanOrEqual(size / blockSize + 2);
      // Read-ahead came in spans of the full window (4 MiB here: a quarter of the block cache),
      // well under the bound, and no byte was fetched twice.
      expect(counter.calls.read).toBeLessThanOrEqual(size / (4 * MiB) + 5);
      expect(counter.bytesRead).toBe(size);
      expect(cache.stats().blockCacheBytes).toBeLessThanOrEqual(16 * MiB);
    });
  }

  it('one whole-file read streams in a few large ranged requests', async () => {
    const size = 20 * MiB + 12345;
    const data = pseudoRandomBytes(size, 20);
    const { counter, cache } = await setup(data);
    const got = await collect(await cache.read('/file.bin'));
    expect(sha256(got)).toBe(sha256(data));
    expect(counter.calls.read).toBeLessThanOrEqual(Math.ceil(size / (8 * MiB)) + 1);
    expect(counter.bytesRead).toBe(size);
  });

  it('a whole-file read longer than half the block cache is one inner read streamed straight through; a read further in keeps to blocks', async () => {
    const size = 40 * MiB + 777;
    const data = pseudoRandomBytes(size, 40);
    const { counter, cache } = await setup(data);
    const got = await collect(await cache.read('/file.bin'));
    expect(sha256(got)).toBe(sha256(data));
    expect(counter.calls.read).toBe(1);
    expect(counter.bytesRead).toBe(size);
    expect(cache.stats().blockCacheBytes).toBe(0);
    counter.reset();
    const middle = await collect(await cache.read('/file.bin', { offset: 20 * MiB + 5, length: 1024 }));
    expect(middle.equals(data.subarray(20 * MiB + 5, 20 * MiB + 5 + 1024))).toBe(true);
    expect(counter.calls.read).toBe(1);
    expect(counter.bytesRead).toBeLessThanOrEqual(8 * MiB);
  });

  it('a pass-through read of a file that grew or shrank behind the cache fails ESTALE, and the next read is right', async () => {
    const small = { blockSize: 64 * KiB, readAheadBytes: 128 * KiB, blockCacheBytes: 512 * KiB, statTtlMs: 60_000 };
    for (const [seed, nextSize] of [[61, 2 * MiB], [62, MiB / 2]] as const) {
      const v1 = pseudoRandomBytes(MiB, seed);
      const v2 = pseudoRandomBytes(nextSize, seed + 100);
      const { memory, cache } = await setup(v1, small);
      await cache.stat('/file.bin');
      await memory.write('/file.bin', v2);
      await expectCode(collect(await cache.read('/file.bin')), 'ESTALE');
      expect(cache.stats().staleDetected).toBe(1);
      expect((await collect(await cache.read('/file.bin'))).equals(v2)).toBe(true);
    }
  });

  it('random reads fetch only the aligned blocks they touch', async () => {
    const size = 16 * MiB;
    const data = pseudoRandomBytes(size, 16);
    const { counter, cache } = await setup(data, { blockSize: MiB });
    const probes = [
      { offset: 3 * MiB + 100, length: 4 * KiB },
      { offset: 14 * MiB + 5, length: 100 },
      { offset: 9 * MiB + 777, length: 64 * KiB },
      { offset: 6 * MiB - 100, length: 200 }, // straddles blocks 5 and 6: one request for both
    ];
    for (const { offset, length } of probes) {
      const got = await collect(await cache.read('/file.bin', { offset, length }));
      expect(got.equals(data.subarray(offset, offset + length))).toBe(true);
    }
    expect(counter.reads.map((r) => [r.offset / MiB, r.length! / MiB])).toEqual([[3, 1], [14, 1], [9, 1], [5, 2]]);
    expect(counter.bytesRead).toBe(5 * MiB);
    // The same spots again come from memory.
    counter.reset();
    for (const { offset, length } of probes) {
      const got = await collect(await cache.read('/file.bin', { offset, length }));
      expect(got.equals(data.subarray(offset, offset + length))).toBe(true);
    }
    expect(counter.totalCalls).toBe(0);
  });

  it('the last block asks for one byte past the end (to notice growth) and never more', async () => {
    const size = 2 * MiB + 10;
    const { counter, cache } = await setup(pseudoRandomBytes(size, 3), { blockSize: MiB });
    await collect(await cache.read('/file.bin', { offset: size - 5, length: 5 }));
    expect(counter.reads).toHaveLength(1);
    expect(counter.reads[0]).toMatchObject({ offset: 2 * MiB, length: 11, delivered: 10 });
  });

  it('the block cache never holds more than its byte bound', async () => {
    const size = 20 * MiB;
    const data = pseudoRandomBytes(size, 7);
    const bound = 3 * MiB;
    const { cache } = await setup(data, { blockSize: 256 * KiB, blockCacheBytes: bound });
    let seed = 12345;
    const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31);
    for (let i = 0; i < 60; i++) {
      const offset = next() % size;
      const length = 1 + (next() % (700 * KiB));
      const got = await collect(await cache.read('/file.bin', { offset, length }));
      expect(got.equals(data.subarray(offset, offset + length))).toBe(true);
      expect(cache.stats().blockCacheBytes).toBeLessThanOrEqual(bound);
    }
    const digest = await readInPieces(cache, '/file.bin', size, 128 * KiB);
    expect(digest).toBe(sha256(data));
    expect(cache.stats().blockCacheBytes).toBeLessThanOrEqual(bound);
    expect(cache.stats().blockCacheBytes).toBeGreaterThan(0);
  });

  it('a second full read is served from memory and counted as such', async () => {
    const size = 6 * MiB;
    const data = pseudoRandomBytes(size, 8);
    const { counter, cache } = await setup(data);
    await collect(await cache.read('/file.bin'));
    counter.reset();
    const before = cache.stats();
    const got = await collect(await cache.read('/file.bin'));
    expect(got.equals(data)).toBe(true);
    expect(counter.totalCalls).toBe(0);
    const after = cache.stats();
    expect(after.bytesFromCache - before.bytesFromCache).toBe(size);
    expect(after.requestsSaved).toBeGreaterThan(before.requestsSaved);
  });

  it('concurrent reads of the same block share one inner read', async () => {
    const data = pseudoRandomBytes(3 * MiB, 9);
    const { counter, cache } = await setup(data, { blockSize: MiB }, { latencyMs: 30 });
    const streams = await Promise.all(Array.from({ length: 10 }, () => cache.read('/file.bin', { offset: MiB + 10, length: 1000 })));
    const results = await Promise.all(streams.map((s) => collect(s)));
    for (const got of results) expect(got.equals(data.subarray(MiB + 10, MiB + 1010))).toBe(true);
    expect(counter.calls.read).toBe(1);
    expect(counter.calls.stat).toBe(1);
  });

  it('a reader that stops mid-stream does not poison the cache', async () => {
    const size = 8 * MiB;
    const data = pseudoRandomBytes(size, 10);
    const { counter, cache } = await setup(data, { blockSize: MiB }, { chunkDelayMs: 2 });
    const stream = await cache.read('/file.bin');
    let got = 0;
    for await (const chunk of stream) {
      got += (chunk as Buffer).length;
      if (got >= MiB + 300 * KiB) break; // leaves the loop: destroys the stream
    }
    expect(stream.destroyed).toBe(true);
    // The fetch nobody wants any more was cut short rather than downloaded to the end.
    await waitFor(() => counter.reads.every((r) => r.state !== 'open'));
    expect(counter.reads.some((r) => r.state === 'destroyed')).toBe(true);
    expect(counter.bytesRead).toBeLessThan(size);
    expect(cache.stats().fetchesAborted).toBeGreaterThanOrEqual(1);
    // Everything read afterwards is whole and right.
    expect(sha256(await collect(await cache.read('/file.bin')))).toBe(sha256(data));
    expect(sha256(await collect(await cache.read('/file.bin', { offset: 3 * MiB + 1, length: 2 * MiB })))).toBe(
      sha256(data.subarray(3 * MiB + 1, 5 * MiB + 1)),
    );
  });

  it('read-ahead is aborted when the sequential pattern breaks', async () => {
    const size = 32 * MiB;
    const data = pseudoRandomBytes(size, 11);
    const { counter, cache } = await setup(data, { blockSize: MiB }, { chunkDelayMs: 3 });
    // Sequential 128 KiB reads through the first 4 MiB: read-ahead windows grow and run ahead.
    for (let offset = 0; offset < 4 * MiB; offset += 128 * KiB) await collect(await cache.read('/file.bin', { offset, length: 128 * KiB }));
    expect(counter.reads.some((r) => r.state === 'open' && r.offset >= 5 * MiB)).toBe(true);
    // A jump far away: the read-ahead in flight is not needed any more.
    const far = await collect(await cache.read('/file.bin', { offset: 30 * MiB, length: 4096 }));
    expect(far.equals(data.subarray(30 * MiB, 30 * MiB + 4096))).toBe(true);
    await waitFor(() => counter.reads.every((r) => r.state !== 'open'));
    expect(counter.reads.filter((r) => r.state === 'destroyed').length).toBeGreaterThanOrEqual(1);
    expect(cache.stats().fetchesAborted).toBeGreaterThanOrEqual(1);
    expect(counter.bytesRead).toBeLessThan(16 * MiB);
    // Nothing half-fetched is served later.
    counter.options.chunkDelayMs = 0;
    expect(sha256(await collect(await cache.read('/file.bin')))).toBe(sha256(data));
  });

  it('an inner read failure is not cached: the next read fetches again and gets the right bytes', async () => {
    const data = pseudoRandomBytes(2 * MiB + 100, 12);
    const { counter, cache } = await setup(data, { blockSize: MiB });
    counter.failNext('read', new VfsError('EIO', 'download failed', { retryable: true }));
    await expectCode(cache.read('/file.bin'), 'EIO');
    const got = await collect(await cache.read('/file.bin'));
    expect(got.equals(data)).toBe(true);
  });

  it('a download cut mid-body fails the reader, keeps only whole blocks, and the next read is right', async () => {
    const data = pseudoRandomBytes(3 * MiB, 13);
    const { counter, cache } = await setup(data, { blockSize: MiB });
    counter.breakNextRead(MiB + MiB / 2, new VfsError('ECONNRESET', 'connection reset', { retryable: true }));
    const stream = await cache.read('/file.bin');
    await expectCode(collect(stream), 'ECONNRESET');
    expect(cache.stats().blockCacheBytes).toBe(MiB); // block 0 arrived whole; block 1 was cut and is not kept
    counter.reset();
    const got = await collect(await cache.read('/file.bin'));
    expect(got.equals(data)).toBe(true);
    expect(counter.reads.map((r) => r.offset)).toEqual([MiB]);
  });

  it('a read with an aborted signal is ECANCELED; aborting mid-stream ends the stream with ECANCELED', async () => {
    const data = pseudoRandomBytes(4 * MiB, 14);
    const { cache } = await setup(data, { blockSize: MiB }, { chunkDelayMs: 2 });
    const gone = new AbortController();
    gone.abort();
    await expectCode(cache.read('/file.bin', { signal: gone.signal }), 'ECANCELED');
    const later = new AbortController();
    const stream = await cache.read('/file.bin', { signal: later.signal });
    later.abort();
    await expectCode(collect(stream), 'ECANCELED');
    expect((await collect(await cache.read('/file.bin'))).equals(data)).toBe(true);
  });

  it('a read of a directory is EISDIR and of a missing file ENOENT, before any byte', async () => {
    const { memory, counter, cache } = await setup(Buffer.from('x'));
    await memory.mkdir('/dir');
    await expectCode(cache.read('/dir'), 'EISDIR');
    await expectCode(cache.read('/none'), 'ENOENT');
    expect(counter.calls.read).toBe(0);
  });

  it('without ranged reads in the inner Vfs, reads pass straight through (a block fetch would download from the start)', async () => {
    const data = pseudoRandomBytes(3 * MiB, 15);
    const { counter, cache } = await setup(data, {}, { capabilities: { rangedReads: false } });
    const got = await collect(await cache.read('/file.bin', { offset: MiB + 3, length: 1000 }));
    expect(got.equals(data.subarray(MiB + 3, MiB + 1003))).toBe(true);
    expect(counter.reads).toEqual([expect.objectContaining({ offset: MiB + 3, length: 1000, delivered: 1000 })]);
    expect(cache.stats().blockCacheBytes).toBe(0);
    counter.reset();
    const middle = await collect(await cache.read('/file.bin', { offset: 20 * MiB + 5, length: 1024 }));
    expect(middle.equals(data.subarray(20 * MiB + 5, 20 * MiB + 5 + 1024))).toBe(true);
    expect(counter.calls.read).toBe(1);
    expect(counter.bytesRead).toBeLessThanOrEqual(8 * MiB);
  });

  describe('a file changed behind the cache is never served from old blocks', () => {
    it('after the TTL, a same-size change (new mtime/etag) is read fresh', async () => {
      const v1 = pseudoRandomBytes(MiB + 5, 21);
      const v2 = pseudoRandomBytes(MiB + 5, 22);
      const { memory, cache } = await setup(v1, { statTtlMs: 100, dirTtlMs: 100 });
      expect((await collect(await cache.read('/file.bin'))).equals(v1)).toBe(true);
      await memory.write('/file.bin', v2);
      await new Promise((r) => setTimeout(r, 200));
      expect((await collect(await cache.read('/file.bin'))).equals(v2)).toBe(true);
    });

    it('within the TTL, a file that shrank is noticed by the fetch and read fresh', async () => {
      const v1 = pseudoRandomBytes(3 * MiB, 23);
      const v2 = pseudoRandomBytes(2 * MiB - 7, 24);
      const { memory, cache } = await setup(v1, { blockSize: MiB, statTtlMs: 60_000 });
      expect((await collect(await cache.read('/file.bin', { offset: 0, length: 100 }))).equals(v1.subarray(0, 100))).toBe(true);
      await memory.write('/file.bin', v2);
      // Block 2 is not cached: its fetch comes back short, so the cache re-reads the metadata.
      expect((await collect(await cache.read('/file.bin', { offset: 2 * MiB + 10, length: 100 }))).length).toBe(0);
      expect(cache.stats().staleDetected).toBe(1);
      expect((await cache.stat('/file.bin')).size).toBe(v2.length);
      expect((await collect(await cache.read('/file.bin'))).equals(v2)).toBe(true);
    });

    it('within the TTL, a file that grew is noticed by the one-byte probe and read fresh', async () => {
      const v1 = pseudoRandomBytes(MiB + MiB / 2, 25);
      const v2 = pseudoRandomBytes(3 * MiB, 26);
      const { memory, cache } = await setup(v1, { blockSize: MiB, statTtlMs: 60_000 });
      await cache.stat('/file.bin');
      await memory.write('/file.bin', v2);
      const got = await collect(await cache.read('/file.bin', { offset: MiB, length: 2 * MiB }));
      expect(got.equals(v2.subarray(MiB, 3 * MiB))).toBe(true);
      expect(cache.stats().staleDetected).toBe(1);
    });
  });
});

/** Poll until `done()` holds (for background fetches to settle); fails after 10 s. */
async function waitFor(done: () => boolean): Promise<void> {
  for (let i = 0; i < 1000 && !done(); i++) await new Promise((r) => setTimeout(r, 10));
  expect(done()).toBe(true);
}
