// Parallel ranged reads reassembled in order: out-of-order completion, a range failing mid-way and
// re-opened from where it stopped, abort, and the bound on ranges held at once.
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { VfsError } from '../src/errors.js';
import { parallelRanges } from '../src/parallel-ranges.js';
import { readAll } from '../src/streams.js';

const KiB = 1024;
const data = Buffer.alloc(1024 * KiB);
const SMALL = 40 * KiB;
for (let i = 0; i < data.length; i++) data[i] = (i * 7 + (i >> 8)) & 0xff;

interface Opened { offset: number; length: number; signal: AbortSignal; release: () => void; stream: Readable }

/** An `open` whose ranges deliver only when released, so the test decides the completion order. */
function gatedSource() {
  const opened: Opened[] = [];
  const open = async (offset: number, length: number, signal: AbortSignal) => {
    const stream = new Readable({ read() {} });
    const rec: Opened = {
      offset, length, signal, stream,
      release: () => {
        stream.push(data.subarray(offset, offset + length / 2));
        stream.push(data.subarray(offset + length / 2, offset + length));
        stream.push(null);
      },
    };
    signal.addEventListener('abort', () => stream.destroy(new Error('aborted')), { once: true });
    opened.push(rec);
    return stream;
  };
  return { opened, open };
}

const settle = () => new Promise((r) => setTimeout(r, 20));

describe('parallelRanges', () => {
  it('reassembles ranges completing in reverse order, never more than `streams` at once', async () => {
    const src = gatedSource();
    const out = parallelRanges({ open: src.open, start: 0, end: SMALL, streams: 4, minChunkBytes: 4 * KiB, maxChunkBytes: 4 * KiB });
    const all = readAll(out);
    const released = new Set<Opened>();
    // Release whatever is open, newest first, until the file is done.
    for (let round = 0; round < 50 && released.size < 10; round++) {
      await settle();
      const open = src.opened.filter((r) => !released.has(r));
      expect(open.length).toBeLessThanOrEqual(4);
      for (const r of open.reverse()) {
        released.add(r);
        r.release();
      }
    }
    expect((await all).equals(data.subarray(0, SMALL))).toBe(true);
    expect(src.opened.map((r) => r.offset)).toEqual(Array.from({ length: 10 }, (_, i) => i * 4 * KiB));
  });

  it('re-opens a range that failed mid-way from where it stopped', async () => {
    const calls: Array<[number, number]> = [];
    let failed = false;
    const open = async (offset: number, length: number) => {
      calls.push([offset, length]);
      if (offset === 8 * KiB && !failed) {
        failed = true;
        // Half the range, then the connection breaks.
        return Readable.from((async function* () {
          yield data.subarray(offset, offset + KiB);
          throw new VfsError('EIO', 'connection reset', { retryable: true });
        })());
      }
      return Readable.from([data.subarray(offset, offset + length)]);
    };
    const out = await readAll(parallelRanges({ open, start: 0, end: SMALL, streams: 3, minChunkBytes: 4 * KiB, maxChunkBytes: 4 * KiB }));
    expect(out.equals(data.subarray(0, SMALL))).toBe(true);
    expect(calls).toContainEqual([9 * KiB, 3 * KiB]);
  });

  it('a fatal error in one range fails the read and cancels the others', async () => {
    const src = gatedSource();
    const open = async (offset: number, length: number, signal: AbortSignal) => {
      if (offset === 4 * KiB) throw new VfsError('EACCES', 'no', {});
      return src.open(offset, length, signal);
    };
    const out = parallelRanges({ open, start: 0, end: SMALL, streams: 3, minChunkBytes: 4 * KiB, maxChunkBytes: 4 * KiB });
    const all = readAll(out);
    await settle();
    src.opened[0]!.release();
    await expect(all).rejects.toMatchObject({ code: 'EACCES' });
    await settle();
    expect(src.opened.every((r) => r.signal.aborted)).toBe(true);
  });

  it('abort cancels every range in flight and fails the reader', async () => {
    const src = gatedSource();
    const ac = new AbortController();
    const out = parallelRanges({ open: src.open, start: 0, end: SMALL, streams: 3, minChunkBytes: 4 * KiB, maxChunkBytes: 4 * KiB, signal: ac.signal });
    const all = readAll(out);
    await settle();
    expect(src.opened.length).toBe(3);
    ac.abort(new Error('user aborted'));
    await expect(all).rejects.toThrow();
    expect(src.opened.every((r) => r.signal.aborted)).toBe(true);
  });

  it('a reader that stops reading holds at most 2 × `streams` ranges plus the one it is consuming (and the stream buffer)', async () => {
    const src = gatedSource();
    const out = parallelRanges({ open: src.open, start: 0, end: data.length, streams: 2, minChunkBytes: 64 * KiB, maxChunkBytes: 64 * KiB });
    out.pause();
    out.once('readable', () => undefined);
    for (let i = 0; i < 10; i++) {
      await settle();
      for (const r of src.opened) if (!r.stream.readableEnded && r.stream.readableLength === 0) r.release();
    }
    // 2 × 2 held, 1 being consumed, 1 in the Readable's 64 KiB buffer: never the whole 16.
    expect(src.opened.length).toBeLessThanOrEqual(2 * 2 + 2);
    out.destroy();
    await settle();
    expect(src.opened.filter((r) => !r.stream.readableEnded).every((r) => r.signal.aborted)).toBe(true);
  });
});
