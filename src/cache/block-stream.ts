/**
 * The Readable a cached `read` returns: it walks the blocks of the requested range, asking the
 * block cache for each in turn (which fetches and reads ahead as needed), and hands out slices of
 * them without copying. Destroying it mid-way releases the fetches it was keeping alive.
 */
import { Readable } from 'node:stream';
import { toVfsError } from '../errors.js';
import type { BlockCache, FetchPlan, FileVersion, Holder, Span } from './block-cache.js';
import type { CacheCounters } from './stats.js';

export class BlockReadStream extends Readable implements Holder {
  readonly held = new Set<Span>();
  private position: number;
  private pumping = false;
  private first?: { index: number; data: Buffer; fromCache: boolean };

  constructor(
    private readonly cache: BlockCache,
    private readonly file: FileVersion,
    offset: number,
    private readonly end: number,
    private readonly planFor: (block: number) => FetchPlan,
    private readonly counters: CacheCounters,
  ) {
    super({ highWaterMark: 256 * 1024 });
    this.position = offset;
  }

  /** Fetch the first block now, so a failure rejects the `read` call before any byte. */
  async prime(): Promise<void> {
    const index = Math.floor(this.position / this.cache.blockSize);
    this.first = { index, ...(await this.block(index)) };
  }

  override _read(): void {
    if (!this.pumping) void this.pump();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.cache.release(this);
    callback(error);
  }

  private async block(index: number): Promise<{ data: Buffer; fromCache: boolean }> {
    const { data, fromCache } = this.cache.get(this.file, index, this, this.planFor(index));
    return { data: await data, fromCache };
  }

  private async pump(): Promise<void> {
    this.pumping = true;
    try {
      const bs = this.cache.blockSize;
      while (this.position < this.end) {
        const index = Math.floor(this.position / bs);
        let got: { data: Buffer; fromCache: boolean };
        if (this.first?.index === index) {
          got = this.first;
          this.first = undefined;
        } else {
          got = await this.block(index);
        }
        if (this.destroyed) return;
        const { data, fromCache } = got;
        const slice = data.subarray(this.position - index * bs, Math.min(data.length, this.end - index * bs));
        if (slice.length === 0) throw new Error(`block ${index} of ${this.file.path} is shorter than expected`);
        this.position += slice.length;
        if (fromCache) this.counters.bytesFromCache += slice.length;
        if (!this.push(slice)) return;
      }
      this.cache.release(this);
      this.push(null);
    } catch (e) {
      this.destroy(toVfsError(e, { operation: 'read', path: this.file.path }));
    } finally {
      this.pumping = false;
    }
  }
}
