/**
 * Where CachedVfs's content fetches go when a disk cache is on: a ranged read of one file version
 * is served block by block from the disk cache where the blocks are there (checked), and the runs
 * of missing blocks are fetched from the inner Vfs with one ranged read each, their bytes passed on
 * as they arrive and copied into blocks that are written to disk behind the reader.
 *
 * The memory block cache asks for reads by path only, so CachedVfs tells this layer the version it
 * is reading (`note`) just before; `asSource()` is the Vfs-shaped reader the block cache calls.
 */
import { Readable } from 'node:stream';
import type { Vfs, ReadOptions } from '../vfs.js';
import { LRUCache } from 'lru-cache';
import { DiskCache } from './disk-cache.js';
import type { DiskCacheOptions, DiskFileVersion, OpenFile } from './disk-cache.js';

/** Blocks read from disk are handed on in slices this big (the readers downstream buffer a few). */
const DISK_SLICE_BYTES = 64 * 1024;

/** An inner read of a run of blocks, and where it was asked to end. */
interface Fetch {
  stream: Readable;
  end: number;
}

export class DiskReads {
  readonly disk: DiskCache;
  private readonly blockSize: number;
  /** The version each path is being read at (set by CachedVfs.read before any fetch). */
  private readonly versions = new LRUCache<string, DiskFileVersion>({ max: 10_000 });

  constructor(private readonly inner: Vfs, options: DiskCacheOptions) {
    this.disk = new DiskCache(options);
    this.blockSize = options.blockSize;
  }

  /** The version of `file.path` that fetches by path stand for from now on. */
  note(file: DiskFileVersion): void {
    this.versions.set(file.path, file);
  }

  /** A reader with the inner Vfs's `read` signature, for the block cache (which only calls `read`). */
  asSource(): Vfs {
    return { read: (path: string, options: ReadOptions = {}) => this.readPath(path, options) } as unknown as Vfs;
  }

  /** `inner.read(path, options)` served through the disk cache when the version of `path` is known. */
  readPath(path: string, options: ReadOptions): Promise<Readable> {
    const version = this.versions.get(path);
    if (!version) return this.inner.read(path, options);
    return this.read(version, options.offset ?? 0, options.length, options.signal);
  }

  /** True when the block holding `offset` of `version` is on disk (recorded; checked as it is read). Creates nothing. */
  async startsOnDisk(version: DiskFileVersion, offset: number): Promise<boolean> {
    const file = await this.disk.openFile(version, false);
    return file !== undefined && this.disk.has(file, Math.floor(offset / this.blockSize));
  }

  /**
   * Bytes offset..offset+length of `version` (length may ask one byte past the end: the block
   * cache's probe for a grown file; it is asked of the provider only when the last block is).
   * Rejects before the first byte when the first fetch fails, like `Vfs.read`.
   */
  async read(version: DiskFileVersion, offset: number, length: number | undefined, signal: AbortSignal | undefined): Promise<Readable> {
    const bs = this.blockSize;
    const end = length === undefined ? version.size : offset + length;
    const passOn = (): Promise<Readable> => this.inner.read(version.path, { offset, ...(length !== undefined ? { length } : {}), ...(signal ? { signal } : {}) });
    if (offset >= version.size) return passOn();
    const file = await this.disk.openFile(version);
    if (!file) return passOn();
    const unpin = this.disk.pin(version);
    try {
      // The first fetch is opened here so that its failure (ENOENT…) rejects this call.
      let first: Fetch | undefined;
      // Whole blocks are read and fetched; the bytes before `offset` in the first one are dropped.
      const firstBlock = Math.floor(offset / bs);
      if (!this.disk.has(file, firstBlock)) first = await this.fetch(file, firstBlock, end, signal);
      const untaken = { fetch: first };
      const blocks = this.blocks(file, firstBlock * bs, end, untaken, signal, unpin);
      const source = Readable.from(offset % bs === 0 ? blocks : skip(blocks, offset % bs), { objectMode: false, highWaterMark: DISK_SLICE_BYTES });
      // Destroyed before its first read, the generator never runs: let go of the pin and the fetch here.
      source.once('close', () => {
        unpin();
        untaken.fetch?.stream.destroy();
      });
      return source;
    } catch (e) {
      unpin();
      throw e;
    }
  }

  /** The inner read of the run of missing blocks from block i (to `end` when the run reaches it). */
  private async fetch(file: OpenFile, i: number, end: number, signal: AbortSignal | undefined): Promise<Fetch> {
    const bs = this.blockSize;
    const dataEnd = Math.min(end, file.version.size);
    let j = i;
    while ((j + 1) * bs < dataEnd && !this.disk.has(file, j + 1)) j++;
    const runEnd = Math.min((j + 1) * bs, file.version.size);
    const fetchEnd = runEnd >= dataEnd ? end : runEnd;
    // Not the caller's signal: a reader that goes away mid-block still gets that block finished
    // and kept (see blocks()); the stream is destroyed right after.
    signal?.throwIfAborted();
    const stream = await this.inner.read(file.version.path, { offset: i * bs, length: fetchEnd - i * bs });
    return { stream, end: fetchEnd };
  }

  private async *blocks(file: OpenFile, offset: number, end: number, untaken: { fetch: Fetch | undefined }, signal: AbortSignal | undefined, unpin: () => void): AsyncGenerator<Buffer> {
    const bs = this.blockSize;
    const size = file.version.size;
    const dataEnd = Math.min(end, size);
    let pos = offset;
    let first = untaken.fetch;
    untaken.fetch = undefined;
    try {
      while (pos < dataEnd) {
        if (signal?.aborted) throw signal.reason ?? new Error('aborted');
        const i = pos / bs;
        if (!first) {
          const block = this.disk.has(file, i) ? await this.disk.readBlock(file, i) : undefined;
          if (block) {
            // In slices: a reader that stops early (a prober's head read) has not pulled the next
            // block yet, so a block that is not on disk is fetched only when it is really read.
            const usable = Math.min(block.length, dataEnd - pos);
            for (let at = 0; at < usable; at += DISK_SLICE_BYTES) yield block.subarray(at, Math.min(usable, at + DISK_SLICE_BYTES));
            pos += block.length;
            continue;
          }
        }
        const { stream, end: fetchEnd } = first ?? (await this.fetch(file, i, end, signal));
        first = undefined;
        // Copy the arriving bytes into whole blocks for the disk; hand the chunks on as they are.
        let index = i;
        let block = Buffer.allocUnsafe(Math.min(bs, size - index * bs));
        let filled = 0;
        let got = 0;
        let last: { index: number; block: Buffer } | undefined;
        const chunks = (stream as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
        /** Copy a chunk into the blocks being filled; keep each one completed. */
        const take = (chunk: Buffer) => {
          let at = 0;
          while (at < chunk.length && index * bs < size) {
            const n = Math.min(chunk.length - at, block.length - filled);
            chunk.copy(block, filled, at, at + n);
            filled += n;
            at += n;
            if (filled === block.length) {
              // The file's last block is kept only once the stream has ended where the version says.
              if ((index + 1) * bs >= size) last = { index, block };
              else this.disk.store(file, index, block);
              index++;
              if (index * bs < size) {
                block = Buffer.allocUnsafe(Math.min(bs, size - index * bs));
                filled = 0;
              }
            }
          }
        };
        let ended = false;
        try {
          for (;;) {
            const next = await chunks.next();
            if (next.done) break;
            got += next.value.length;
            take(next.value);
            yield next.value;
            await this.disk.drained();
          }
          ended = true;
        } finally {
          // The reader went away (a prober read the head and closed): finish the block it was in and
          // one more (at most two blocks' bytes) and keep them, so the next read of the same part,
          // whose kernel and stream buffers may read a little further ahead than this time did,
          // still finds what it reads on disk.
          const until = index + (filled > 0 ? 1 : 0) + 1;
          if (!ended && index * bs < size) {
            void (async () => {
              try {
                while (index < until && index * bs < size) {
                  const next = await chunks.next();
                  if (next.done) break;
                  take(next.value);
                }
              } catch {
                // nothing more kept
              } finally {
                stream.destroy();
              }
            })();
          } else if (!ended) {
            stream.destroy();
          }
        }
        const reached = pos + got;
        // One byte past the known size (the probe) means the file grew: its last block is not kept.
        if (last && reached === size) this.disk.store(file, last.index, last.block);
        // A short or long answer means the file changed: the reader downstream says ESTALE.
        if (reached !== Math.min(fetchEnd, size)) return;
        pos = reached;
      }
    } finally {
      unpin();
    }
  }
}

/** The chunks of `source` without their first `bytes` bytes. */
async function* skip(source: AsyncGenerator<Buffer>, bytes: number): AsyncGenerator<Buffer> {
  let left = bytes;
  for await (const chunk of source) {
    if (left >= chunk.length) {
      left -= chunk.length;
      continue;
    }
    yield left > 0 ? chunk.subarray(left) : chunk;
    left = 0;
  }
}
