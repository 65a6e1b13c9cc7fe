/**
 * Block cache: file content in aligned blocks, keyed by path + the file's version (size, mtime,
 * etag), held in an lru-cache bounded in bytes. Missing blocks are fetched as spans — one ranged
 * inner `read` for a run of consecutive blocks — and every block of a span in flight is a pending
 * promise, so a second reader of the same block waits for the same bytes (single-flight).
 *
 * A span lives while someone holds it: a reader waiting for its blocks, or the sequential-access
 * state of the file that asked for it as read-ahead. When the last holder lets go before the span
 * finished, its inner read is aborted. A span whose file changed ("detached") still feeds the
 * readers already waiting for it but stores nothing.
 */
import { LRUCache } from 'lru-cache';
import { VfsError, isVfsError, toVfsError } from '../errors.js';
import { isSameOrInside } from '../path.js';
import type { Vfs } from '../vfs.js';
import type { CacheCounters } from './stats.js';

/** One version of one file: blocks of different versions never mix. */
export interface FileVersion {
  /** The path to read from the inner Vfs. */
  path: string;
  /** The cache key of the path (case-folded for case-insensitive providers). */
  id: string;
  size: number;
  /** size:mtime:etag — changes whenever the provider reports a change. */
  key: string;
}

/** Something that keeps spans alive: a reader stream or a file's read-ahead state. */
export interface Holder {
  held: Set<Span>;
}

/** One ranged inner read covering blocks first..last of one file version. */
export interface Span {
  file: FileVersion;
  first: number;
  last: number;
  controller: AbortController;
  holders: Set<Holder>;
  done: boolean;
  /** The file changed or was forgotten: serve current waiters, store nothing. */
  detached: boolean;
}

/** How far a reader at block i wants blocks fetched. */
export interface FetchPlan {
  /** Blocks to keep fetched ahead of the reader, counting its own (1 = only the block itself). */
  window: number;
  /** Highest block index that may be fetched (the end of the request, or of the file when sequential). */
  limit: number;
  /** Last block the request itself needs; spans reaching beyond it are read-ahead. */
  needLast: number;
  /** Keeps read-ahead alive after the reader's own stream is gone (the file's sequential state). */
  aheadHolder?: Holder;
  /** Called when a read-ahead span is started (the sequential state grows its window). */
  onReadAhead?: () => void;
}

interface PendingBlock {
  span: Span;
  promise: Promise<Buffer>;
  resolve: (b: Buffer) => void;
  reject: (e: unknown) => void;
}

export interface BlockCacheOptions {
  blockSize: number;
  maxBytes: number;
}

export class BlockCache {
  private readonly blocks: LRUCache<string, Buffer>;
  private readonly pending = new Map<string, PendingBlock>();
  private readonly spans = new Set<Span>();
  /** Last version key dropOtherVersions saw per file (bounded; forgetting one only costs a walk). */
  private readonly lastVersion = new LRUCache<string, string>({ max: 10_000 });
  readonly blockSize: number;

  constructor(
    private readonly inner: Vfs,
    options: BlockCacheOptions,
    private readonly counters: CacheCounters,
    /** Called when a fetch proves the cached metadata wrong (the file changed size remotely). */
    private readonly onStale: (path: string) => void,
  ) {
    this.blockSize = options.blockSize;
    this.blocks = new LRUCache<string, Buffer>({ maxSize: options.maxBytes, sizeCalculation: (b) => Math.max(1, b.length) });
  }

  /** Index of the last block of a file (−1 for an empty file). */
  lastBlock(file: FileVersion): number {
    return Math.ceil(file.size / this.blockSize) - 1;
  }

  /**
   * Block `i` of `file` for `holder`: from memory, from a fetch in flight, or by starting a fetch
   * of the missing run from `i` as far as `plan` allows. Also starts read-ahead when the reader is
   * getting close to the end of what is already fetched.
   */
  get(file: FileVersion, i: number, holder: Holder, plan: FetchPlan): { data: Promise<Buffer>; fromCache: boolean } {
    const key = this.key(file, i);
    const cached = this.blocks.get(key);
    if (cached) {
      this.counters.blockHits++;
      this.readAhead(file, i, holder, plan);
      return { data: Promise.resolve(cached), fromCache: true };
    }
    const waiting = this.pending.get(key);
    if (waiting) {
      this.counters.coalesced++;
      hold(holder, waiting.span);
      this.readAhead(file, i, holder, plan);
      return { data: waiting.promise, fromCache: true };
    }
    this.counters.blockMisses++;
    const end = this.missingRunEnd(file, i, Math.min(plan.limit, i + Math.max(1, plan.window) - 1));
    this.startSpan(file, i, end, holder, plan);
    if (end > plan.needLast) plan.onReadAhead?.();
    return { data: this.pending.get(key)!.promise, fromCache: false };
  }

  /** True when block `i` of `file` is cached or on its way. */
  holds(file: FileVersion, i: number): boolean {
    return this.has(file, i);
  }

  /** Let go of every span `holder` keeps alive; spans nobody holds any more are aborted. */
  release(holder: Holder): void {
    for (const span of holder.held) {
      span.holders.delete(holder);
      if (span.holders.size === 0 && !span.done) this.abort(span);
    }
    holder.held.clear();
  }

  /** Drop the blocks of `path` (a cache key: FileVersion.id; every version) and detach its fetches in flight. */
  dropPath(path: string): void {
    this.dropWhere((p) => p === path);
  }

  /** Drop the blocks of `path` and of everything below it. */
  dropSubtree(path: string): void {
    this.dropWhere((p) => isSameOrInside(path, p));
  }

  /**
   * Drop blocks of other versions of the same file (it changed; they can never be served again).
   * Walking every key costs O(blocks held), and every non-sequential read asks (a WebDAV server
   * answering small GETs asks thousands of times a second): so only when the version differs from
   * the last one seen for this file.
   */
  dropOtherVersions(file: FileVersion): void {
    if (this.lastVersion.get(file.id) === file.key) return;
    this.lastVersion.set(file.id, file.key);
    const prefix = file.id + '\0';
    const keep = this.key(file, 0).replace(/\d+$/, '');
    for (const key of [...this.blocks.keys()]) if (key.startsWith(prefix) && !key.startsWith(keep)) this.blocks.delete(key);
    for (const span of [...this.spans]) if (span.file.id === file.id && span.file.key !== file.key) this.detach(span);
  }

  /** Abort everything and forget every block. */
  clear(): void {
    for (const span of [...this.spans]) this.abort(span);
    this.blocks.clear();
  }

  /** Bytes and blocks held now. */
  sizes(): { bytes: number; blocks: number } {
    return { bytes: this.blocks.calculatedSize, blocks: this.blocks.size };
  }

  // ---- internals -------------------------------------------------------------------------

  private key(file: FileVersion, i: number): string {
    return `${file.id}\0${file.key}\0${i}`;
  }

  private blockLength(file: FileVersion, i: number): number {
    return Math.min(this.blockSize, file.size - i * this.blockSize);
  }

  private has(file: FileVersion, i: number): boolean {
    const key = this.key(file, i);
    return this.pending.has(key) || this.blocks.has(key);
  }

  /** Last index of the run of blocks from `i` that are neither cached nor in flight, up to `max`. */
  private missingRunEnd(file: FileVersion, i: number, max: number): number {
    let end = i;
    while (end < max && !this.has(file, end + 1)) end++;
    return end;
  }

  /**
   * Linux-style asynchronous read-ahead: when fewer than half a window of blocks lies fetched or in
   * flight ahead of the reader, fetch the next whole window as one span. Few, large requests.
   */
  private readAhead(file: FileVersion, i: number, holder: Holder, plan: FetchPlan): void {
    if (plan.window <= 1) return;
    const horizon = Math.min(plan.limit, i + plan.window - 1);
    let next = i + 1;
    while (next <= horizon && this.has(file, next)) next++;
    if (next > horizon) return;
    if (next - i - 1 >= plan.window / 2) return;
    const end = this.missingRunEnd(file, next, Math.min(plan.limit, next + plan.window - 1));
    this.startSpan(file, next, end, holder, plan);
    if (end > plan.needLast) plan.onReadAhead?.();
  }

  private startSpan(file: FileVersion, first: number, last: number, holder: Holder, plan: FetchPlan): void {
    const span: Span = { file, first, last, controller: new AbortController(), holders: new Set(), done: false, detached: false };
    const waits: PendingBlock[] = [];
    for (let i = first; i <= last; i++) {
      let resolve!: (b: Buffer) => void;
      let reject!: (e: unknown) => void;
      const promise = new Promise<Buffer>((res, rej) => { resolve = res; reject = rej; });
      promise.catch(() => undefined); // read-ahead blocks may fail with nobody waiting
      const wait = { span, promise, resolve, reject };
      waits.push(wait);
      this.pending.set(this.key(file, i), wait);
    }
    this.spans.add(span);
    // The reader holds the part it needs; read-ahead beyond the request is held by the file's sequential state.
    if (first <= plan.needLast || !plan.aheadHolder) hold(holder, span);
    if (last > plan.needLast && plan.aheadHolder) hold(plan.aheadHolder, span);
    void this.runSpan(span, waits);
  }

  /** Fetch a span with one ranged read, cutting the bytes into blocks as they arrive. */
  private async runSpan(span: Span, waits: PendingBlock[]): Promise<void> {
    const { file, first, last } = span;
    const start = first * this.blockSize;
    const end = Math.min((last + 1) * this.blockSize, file.size);
    // When the span reaches the end we know of, ask for one byte more: getting it proves the file grew.
    const probe = end === file.size ? 1 : 0;
    let index = first;
    let failure: unknown;
    this.counters.innerReads++;
    try {
      const stream = await this.inner.read(file.path, { offset: start, length: end - start + probe, signal: span.controller.signal });
      const onAbort = () => stream.destroy(new VfsError('ECANCELED', 'block fetch aborted', { provider: 'cache', path: file.path }));
      if (span.controller.signal.aborted) onAbort();
      span.controller.signal.addEventListener('abort', onAbort, { once: true });
      try {
        let block = Buffer.allocUnsafe(this.blockLength(file, index));
        let filled = 0;
        for await (const chunk of stream as AsyncIterable<Buffer>) {
          this.counters.bytesFetched += chunk.length;
          let at = 0;
          while (at < chunk.length) {
            const n = Math.min(chunk.length - at, block.length - filled);
            chunk.copy(block, filled, at, at + n);
            filled += n;
            at += n;
            if (filled === block.length) {
              // The final block of a probing span is handed out only once the stream ended
              // without the probe byte: a file that grew must not pass as the old version.
              if (index === last && probe) break;
              this.complete(span, waits[index - first]!, index, block);
              index++;
              if (index <= last) {
                block = Buffer.allocUnsafe(this.blockLength(file, index));
                filled = 0;
              }
            }
          }
          if (at < chunk.length) throw this.stale(file, 'the file is longer than its cached size');
        }
        if (index === last && probe && filled === block.length) {
          this.complete(span, waits[index - first]!, index, block);
          index++;
        }
        if (index <= last) throw this.stale(file, 'the file is shorter than its cached size');
      } finally {
        span.controller.signal.removeEventListener('abort', onAbort);
        if (!stream.destroyed) stream.destroy();
      }
    } catch (e) {
      failure = span.controller.signal.aborted && !isVfsError(e, 'ESTALE')
        ? new VfsError('ECANCELED', 'block fetch aborted', { provider: 'cache', path: file.path })
        : toVfsError(e, { operation: 'read', path: file.path });
    } finally {
      span.done = true;
      this.spans.delete(span);
      for (let i = index; i <= last; i++) {
        const wait = waits[i - first]!;
        const key = this.key(file, i);
        if (this.pending.get(key) === wait) this.pending.delete(key);
        wait.reject(failure ?? new VfsError('EIO', 'block fetch ended early', { provider: 'cache', path: file.path }));
      }
      for (const holder of span.holders) holder.held.delete(span);
      span.holders.clear();
    }
  }

  private complete(span: Span, wait: PendingBlock, i: number, block: Buffer): void {
    const key = this.key(span.file, i);
    if (!span.detached) this.blocks.set(key, block);
    if (this.pending.get(key) === wait) this.pending.delete(key);
    wait.resolve(block);
  }

  private stale(file: FileVersion, why: string): VfsError {
    this.counters.staleDetected++;
    this.onStale(file.path);
    return new VfsError('ESTALE', `${file.path}: ${why}; it changed on the server, read it again`, {
      provider: 'cache', operation: 'read', path: file.path, retryable: true,
    });
  }

  private dropWhere(test: (path: string) => boolean): void {
    for (const key of [...this.blocks.keys()]) if (test(key.slice(0, key.indexOf('\0')))) this.blocks.delete(key);
    for (const span of [...this.spans]) if (test(span.file.id)) this.detach(span);
  }

  /** Stop the span from storing or being joined; abort it when nobody is waiting for it. */
  private detach(span: Span): void {
    span.detached = true;
    this.unpend(span);
    if (span.holders.size === 0) this.abort(span);
  }

  private abort(span: Span): void {
    if (span.done || span.controller.signal.aborted) return;
    this.counters.fetchesAborted++;
    span.controller.abort();
    span.detached = true;
    this.unpend(span);
  }

  /** New readers must not join a span that is going away: they start a fresh fetch instead. */
  private unpend(span: Span): void {
    for (let i = span.first; i <= span.last; i++) {
      const key = this.key(span.file, i);
      if (this.pending.get(key)?.span === span) this.pending.delete(key);
    }
  }
}

function hold(holder: Holder, span: Span): void {
  if (span.done) return;
  span.holders.add(holder);
  holder.held.add(span);
}
