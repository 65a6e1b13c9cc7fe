/**
 * One sequential read fed from several concurrent ranged requests (for links where one TCP stream is
 * window-limited: the bandwidth-delay product of a far server). Ranges are fetched ahead, at most
 * `streams` at once, each collected in memory and handed out strictly in order; at most
 * 2 × `streams` ranges (each ≤ `maxChunkBytes`, and together ≤ `maxBufferedBytes`) plus the one
 * being consumed are held. The range size
 * adapts to the measured throughput (about `targetMs` of transfer per range). Every range is its own
 * provider request, so the adapter's Scheduler counts and paces each one. A range that fails mid-way
 * with a retryable error is re-opened from where it stopped (`maxRetries` times); abort, the reader
 * closing early, or a fatal error cancels every range in flight.
 */
import { Readable } from 'node:stream';
import { VfsError } from './errors.js';
import { isNetworkError } from './scheduler/classify.js';

export interface ParallelRangesOptions {
  /** Open the bytes [offset, offset+length): a stream of exactly that many bytes. */
  open: (offset: number, length: number, signal: AbortSignal) => Promise<Readable>;
  /** First byte to read and the byte after the last one. */
  start: number;
  end: number;
  /** Ranges in flight at once (≥ 2 to be useful). */
  streams: number;
  /** Range size bounds (defaults 1 MiB and 8 MiB); the first ranges are `minChunkBytes`. */
  minChunkBytes?: number;
  maxChunkBytes?: number;
  /** Bytes held at most across the 2 × streams ranges (default 64 MiB): caps the range size. */
  maxBufferedBytes?: number;
  /** Aim for ranges that take about this long at the measured speed (default 1000 ms). */
  targetMs?: number;
  /** Re-opens of one range after a retryable failure (default 3). */
  maxRetries?: number;
  signal?: AbortSignal | undefined;
  /** A range already opened by the caller (it learned the size from it): used as the first range. */
  first?: { length: number; stream: Readable };
}

export const DEFAULT_MIN_CHUNK_BYTES = 1024 * 1024;
export const DEFAULT_MAX_CHUNK_BYTES = 8 * 1024 * 1024;
export const DEFAULT_MAX_BUFFERED_BYTES = 64 * 1024 * 1024;

/** The bytes [start, end) as one byte stream, fetched over up to `streams` concurrent ranges. */
export function parallelRanges(options: ParallelRangesOptions): Readable {
  return Readable.from(generate(options), { objectMode: false, highWaterMark: 64 * 1024 });
}

async function* generate(o: ParallelRangesOptions): AsyncGenerator<Buffer> {
  const targetMs = o.targetMs ?? 1000;
  const maxRetries = o.maxRetries ?? 3;
  const streams = Math.max(1, Math.floor(o.streams));
  const minChunk = o.minChunkBytes ?? DEFAULT_MIN_CHUNK_BYTES;
  const budget = Math.floor((o.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED_BYTES) / (2 * streams));
  const maxChunk = Math.max(minChunk, Math.min(o.maxChunkBytes ?? DEFAULT_MAX_CHUNK_BYTES, budget));
  const controller = new AbortController();
  const onAbort = () => controller.abort(o.signal!.reason);
  if (o.signal?.aborted) onAbort();
  else o.signal?.addEventListener('abort', onAbort, { once: true });
  const signal = controller.signal;

  let chunk = minChunk;
  let next = o.start;
  /** Ranges not yet handed out, in order: running or finished and waiting for their turn. */
  const inflight: Array<Promise<Buffer[]>> = [];
  let running = 0;
  // A finished range frees its connection at once (the next range starts while earlier ones are
  // still being consumed), but no more than 2 × streams ranges are held in all.
  const held = 2 * streams;
  const fill = () => {
    while (running < streams && inflight.length < held && next < o.end && !signal.aborted) launch();
  };

  const fetchRange = async (offset: number, length: number, opened?: Readable): Promise<Buffer[]> => {
    const parts: Buffer[] = [];
    let got = 0;
    const began = performance.now();
    for (let retries = 0; ; retries++) {
      const stream = opened ?? (await o.open(offset + got, length - got, signal));
      opened = undefined;
      try {
        for await (const part of stream as AsyncIterable<Buffer>) {
          parts.push(part);
          got += part.length;
        }
        if (got !== length) throw new VfsError('EIO', `range at ${offset} ended after ${got} of ${length} bytes`, { operation: 'read', retryable: true });
        break;
      } catch (e) {
        stream.destroy();
        const retryable = isNetworkError(e) || (e instanceof VfsError && e.retryable);
        if (signal.aborted || !retryable || retries >= maxRetries) throw e;
      }
    }
    // Size the next ranges to take about targetMs at the speed this one saw (per stream).
    const ms = Math.max(1, performance.now() - began);
    const wanted = (length / ms) * targetMs;
    chunk = Math.min(maxChunk, Math.max(minChunk, Math.round(wanted / minChunk) * minChunk));
    return parts;
  };

  const launch = (opened?: { length: number; stream: Readable }) => {
    const length = opened ? opened.length : Math.min(chunk, o.end - next);
    running++;
    const p = fetchRange(next, length, opened?.stream).finally(() => {
      running--;
      fill();
    });
    // Rejections are seen when the range's turn comes; until then (or if never) do not leak them.
    p.catch(() => undefined);
    inflight.push(p);
    next += length;
  };

  try {
    if (o.first) launch(o.first);
    fill();
    while (inflight.length > 0) {
      const parts = await inflight.shift()!;
      fill();
      for (const part of parts) yield part;
    }
  } finally {
    o.signal?.removeEventListener('abort', onAbort);
    // The reader stopped early, failed or aborted: cancel the ranges still in flight.
    if (inflight.length > 0 || !signal.aborted) controller.abort(new VfsError('ECANCELED', 'read stopped', { operation: 'read' }));
  }
}
