/**
 * One sequential read fed from several concurrent ranged requests (for links where one TCP stream is
 * window-limited: the bandwidth-delay product of a far server). Ranges are fetched ahead, at most
 * `streams` at once, each collected in memory and handed out strictly in order, so at most
 * `streams` ranges (each ≤ `maxChunkBytes`) plus the one being consumed are held. The range size
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
  /** Range size bounds (defaults 1 MiB and 16 MiB); the first ranges are `minChunkBytes`. */
  minChunkBytes?: number;
  maxChunkBytes?: number;
  /** Aim for ranges that take about this long at the measured speed (default 1000 ms). */
  targetMs?: number;
  /** Re-opens of one range after a retryable failure (default 3). */
  maxRetries?: number;
  signal?: AbortSignal | undefined;
  /** A range already opened by the caller (it learned the size from it): used as the first range. */
  first?: { length: number; stream: Readable };
}

export const DEFAULT_MIN_CHUNK_BYTES = 1024 * 1024;
export const DEFAULT_MAX_CHUNK_BYTES = 16 * 1024 * 1024;

/** The bytes [start, end) as one byte stream, fetched over up to `streams` concurrent ranges. */
export function parallelRanges(options: ParallelRangesOptions): Readable {
  return Readable.from(generate(options), { objectMode: false, highWaterMark: 64 * 1024 });
}

async function* generate(o: ParallelRangesOptions): AsyncGenerator<Buffer> {
  const minChunk = o.minChunkBytes ?? DEFAULT_MIN_CHUNK_BYTES;
  const maxChunk = Math.max(minChunk, o.maxChunkBytes ?? DEFAULT_MAX_CHUNK_BYTES);
  const targetMs = o.targetMs ?? 1000;
  const maxRetries = o.maxRetries ?? 3;
  const streams = Math.max(1, Math.floor(o.streams));
  const controller = new AbortController();
  const onAbort = () => controller.abort(o.signal!.reason);
  if (o.signal?.aborted) onAbort();
  else o.signal?.addEventListener('abort', onAbort, { once: true });
  const signal = controller.signal;

  let chunk = minChunk;
  let next = o.start;
  const inflight: Array<Promise<Buffer[]>> = [];

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
    const p = fetchRange(next, length, opened?.stream);
    // Rejections are seen when the range's turn comes; until then (or if never) do not leak them.
    p.catch(() => undefined);
    inflight.push(p);
    next += length;
  };

  try {
    if (o.first) launch(o.first);
    while (inflight.length < streams && next < o.end) launch();
    while (inflight.length > 0) {
      const parts = await inflight.shift()!;
      while (inflight.length < streams && next < o.end) launch();
      for (const part of parts) yield part;
    }
  } finally {
    o.signal?.removeEventListener('abort', onAbort);
    // The reader stopped early, failed or aborted: cancel the ranges still in flight.
    if (inflight.length > 0 || !signal.aborted) controller.abort(new VfsError('ECANCELED', 'read stopped', { operation: 'read' }));
  }
}
