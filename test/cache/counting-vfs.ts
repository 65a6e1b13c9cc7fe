/**
 * CountingVfs: a real Vfs wrapper that forwards every call to an inner Vfs and records what went
 * through it — calls per method, every ranged read with the bytes it delivered — so the cache
 * tests can assert on requests and bytes. It can also add latency, slow down read streams, and
 * fail the next call of a method (fault injection for "errors are not cached").
 */
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import type {
  Entry, MoveOptions, OpOptions, ReadOptions, RemoveOptions, SpaceInfo, Vfs, VfsCapabilities, WriteData, WriteOptions,
} from '../../src/vfs.js';

export type Method = 'stat' | 'list' | 'read' | 'write' | 'mkdir' | 'remove' | 'rename' | 'copy' | 'space';

/** One inner `read` as the cache issued it, and how it ended. */
export interface ReadRecord {
  path: string;
  offset: number;
  length: number | undefined;
  /** Bytes the stream actually delivered. */
  delivered: number;
  /** 'open' while streaming, 'ended' after the last byte, 'destroyed' when the consumer stopped early. */
  state: 'open' | 'ended' | 'destroyed';
}

export interface CountingOptions {
  /** Delay before each call reaches the inner Vfs, in ms. */
  latencyMs?: number;
  /** Delay between chunks of a read stream, in ms (makes read-ahead observable). */
  chunkDelayMs?: number;
  /** Chunk size of read streams (default 64 KiB). */
  chunkBytes?: number;
  /** Capabilities to report instead of the inner ones (e.g. a case-insensitive provider). */
  capabilities?: Partial<VfsCapabilities>;
}

export class CountingVfs implements Vfs {
  readonly name: string;
  calls: Record<Method, number> = zero();
  reads: ReadRecord[] = [];
  /** The arguments of the last write, to check that data reaches the inner Vfs untouched. */
  lastWrite?: { path: string; data: WriteData; options?: WriteOptions };
  private faults: Array<{ method: Method; error: Error }> = [];
  private readBreak?: { afterBytes: number; error: Error };

  constructor(readonly inner: Vfs, public options: CountingOptions = {}) {
    this.name = `counting(${inner.name})`;
  }

  get capabilities(): VfsCapabilities {
    return { ...this.inner.capabilities, ...this.options.capabilities };
  }

  /** Bytes delivered by every inner read so far. */
  get bytesRead(): number {
    return this.reads.reduce((n, r) => n + r.delivered, 0);
  }

  /** Total calls of every method. */
  get totalCalls(): number {
    return Object.values(this.calls).reduce((a, b) => a + b, 0);
  }

  /** Forget the counts (not the faults). */
  reset(): void {
    this.calls = zero();
    this.reads = [];
  }

  /** Make the next read stream fail with `error` after delivering `afterBytes` bytes (a connection cut mid-body). */
  breakNextRead(afterBytes: number, error: Error): void {
    this.readBreak = { afterBytes, error };
  }

  /** Make the next call of `method` fail with `error` before it reaches the inner Vfs. */
  failNext(method: Method, error: Error): void {
    this.faults.push({ method, error });
  }

  async stat(path: string, options?: OpOptions): Promise<Entry> {
    await this.enter('stat');
    return this.inner.stat(path, options);
  }

  async list(dir: string, options?: OpOptions): Promise<Entry[]> {
    await this.enter('list');
    return this.inner.list(dir, options);
  }

  async read(path: string, options: ReadOptions = {}): Promise<Readable> {
    await this.enter('read');
    const source = await this.inner.read(path, options);
    const record: ReadRecord = { path, offset: options.offset ?? 0, length: options.length, delivered: 0, state: 'open' };
    this.reads.push(record);
    const { chunkDelayMs = 0, chunkBytes = 64 * 1024 } = this.options;
    const cut = this.readBreak;
    this.readBreak = undefined;
    async function* relay(): AsyncGenerator<Buffer> {
      try {
        for await (const chunk of source as AsyncIterable<Buffer>) {
          for (let at = 0; at < chunk.length; at += chunkBytes) {
            if (chunkDelayMs > 0) await sleep(chunkDelayMs);
            let piece = chunk.subarray(at, at + chunkBytes);
            if (cut && record.delivered + piece.length > cut.afterBytes) {
              piece = piece.subarray(0, cut.afterBytes - record.delivered);
              record.delivered += piece.length;
              if (piece.length > 0) yield piece;
              throw cut.error;
            }
            record.delivered += piece.length;
            yield piece;
          }
        }
        record.state = 'ended';
      } finally {
        if (record.state === 'open') record.state = 'destroyed';
        source.destroy();
      }
    }
    return Readable.from(relay(), { objectMode: false });
  }

  async write(path: string, data: WriteData, options?: WriteOptions): Promise<Entry> {
    await this.enter('write');
    this.lastWrite = { path, data, options };
    return this.inner.write(path, data, options);
  }

  async mkdir(path: string, options?: OpOptions): Promise<Entry> {
    await this.enter('mkdir');
    return this.inner.mkdir(path, options);
  }

  async remove(path: string, options?: RemoveOptions): Promise<void> {
    await this.enter('remove');
    return this.inner.remove(path, options);
  }

  async rename(from: string, to: string, options?: MoveOptions): Promise<Entry> {
    await this.enter('rename');
    return this.inner.rename(from, to, options);
  }

  async copy(from: string, to: string, options?: MoveOptions): Promise<Entry> {
    await this.enter('copy');
    return this.inner.copy(from, to, options);
  }

  async space(options?: OpOptions): Promise<SpaceInfo> {
    await this.enter('space');
    return this.inner.space(options);
  }

  async close(): Promise<void> {
    await this.inner.close?.();
  }

  private async enter(method: Method): Promise<void> {
    this.calls[method]++;
    const { latencyMs = 0 } = this.options;
    if (latencyMs > 0) await sleep(latencyMs);
    const i = this.faults.findIndex((f) => f.method === method);
    if (i >= 0) throw this.faults.splice(i, 1)[0]!.error;
  }
}

function zero(): Record<Method, number> {
  return { stat: 0, list: 0, read: 0, write: 0, mkdir: 0, remove: 0, rename: 0, copy: 0, space: 0 };
}
