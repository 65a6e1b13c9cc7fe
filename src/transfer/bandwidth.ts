/**
 * `--bwlimit`: one byte budget shared by every stream of a run (like rclone's, the total rate and not
 * a per-file one). A virtual clock says when the budget is next free; a chunk waits until then, so
 * the work per chunk is O(1) whatever the rate.
 */
import { Transform } from 'node:stream';

/** At most this much (a quarter second of the budget) may go ahead of the pace: short bursts are not stalled, and a short run still keeps the limit. */
const BURST_MS = 250;

export class BandwidthLimit {
  readonly bytesPerSecond: number;
  #next = 0;

  constructor(bytesPerSecond: number) {
    if (!(bytesPerSecond > 0) || !Number.isFinite(bytesPerSecond)) throw new RangeError('bytesPerSecond must be a positive number');
    this.bytesPerSecond = bytesPerSecond;
  }

  /** Resolves when `n` more bytes may go. */
  async take(n: number, signal?: AbortSignal): Promise<void> {
    const now = Date.now();
    const start = Math.max(now - BURST_MS, this.#next);
    this.#next = start + (n * 1000) / this.bytesPerSecond;
    const wait = this.#next - now - BURST_MS;
    if (wait > 0) await sleep(wait, signal);
  }

  /** A pass-through stream held to the budget. */
  throttle(signal?: AbortSignal): Transform {
    return new Transform({
      transform: (chunk: Buffer, _enc, done) => {
        this.take(chunk.length, signal).then(() => done(null, chunk), done);
      },
    });
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
