/**
 * CachedVfs: a Vfs that wraps any Vfs with a metadata + directory cache, single-flight request
 * coalescing and an aligned block cache with sequential read-ahead, so a remote drive answers the
 * stat storms of `ls -l`/Finder and the 128 KiB reads of FUSE with few, large requests.
 *
 * Consistency rules (what a user can rely on):
 * - Changes made through this CachedVfs are visible at once: every mutation patches or drops the
 *   entries it touches and their parents' listings, and drops the blocks of the files it touches.
 * - Changes made elsewhere show up once the entry's TTL has passed (`statTtlMs`, `dirTtlMs`,
 *   `negativeTtlMs`), or at once after `forget(path)`.
 * - File content is cached per version: blocks are keyed by path + size + mtime + etag as the
 *   metadata cache reports them, and every `read` takes the version from a `stat` (itself cached
 *   for at most `statTtlMs`). So once the cache learns that a file changed, its old blocks are never
 *   served again. Within one TTL a remote change can go unnoticed, exactly like the metadata; a
 *   change of size is caught even then, because every fetch checks the byte count it gets against
 *   the cached size (asking for one byte past the end): a mismatch drops the file's metadata and
 *   blocks, retries a `read` that has not started yet, and fails a stream mid-way with ESTALE.
 * - Errors are never cached as data; only ENOENT is remembered, for `negativeTtlMs`.
 * - Writes stream straight through to the inner Vfs; nothing is buffered here.
 */
import { Readable, Transform, pipeline } from 'node:stream';
import { VfsError, isVfsError, opError, throwIfAborted } from './errors.js';
import { isSameOrInside, moveConflict, normalizePath, parentPath } from './path.js';
import type { Logger } from './log.js';
import { silentLogger } from './log.js';
import type { Entry, MoveOptions, OpOptions, ReadOptions, RemoveOptions, SpaceInfo, Vfs, VfsChange, WriteData, WriteOptions } from './vfs.js';
import { ForwardingVfs } from './forward.js';
import { AccessTracker } from './cache/access-tracker.js';
import { BlockCache } from './cache/block-cache.js';
import type { FetchPlan, FileVersion } from './cache/block-cache.js';
import { BlockReadStream } from './cache/block-stream.js';
import { MetadataCache } from './cache/metadata-cache.js';
import { resolveCacheOptions } from './cache/options.js';
import type { CacheOptions, ResolvedCacheOptions } from './cache/options.js';
import { SingleFlight } from './cache/single-flight.js';
import { CacheCounters } from './cache/stats.js';
import { ChangeFollower, PUSH_TTLS, changeMode } from './cache/changes.js';
import { DiskReads } from './cache/disk-reads.js';
import type { CacheStats } from './cache/stats.js';

export type { CacheOptions, ResolvedCacheOptions } from './cache/options.js';
export { CACHE_DEFAULTS } from './cache/options.js';
export type { CacheStats } from './cache/stats.js';

/** A caching Vfs around `inner`; see the module comment for what it guarantees. */
export class CachedVfs extends ForwardingVfs {
  readonly options: ResolvedCacheOptions;
  private readonly meta: MetadataCache;
  private readonly blocks: BlockCache;
  private readonly access: AccessTracker;
  private readonly statFlights = new SingleFlight<Entry>();
  private readonly listFlights = new SingleFlight<Entry[]>();
  private readonly spaceFlights = new SingleFlight<SpaceInfo>();
  /** The last quota answer and the epoch it belongs to (any mutation makes it stale). */
  private spaceCache: { epoch: number; at: number; value: SpaceInfo } | undefined;
  private readonly counters = new CacheCounters();
  private readonly log: Logger;
  /** Bumped by every mutation and forget: results of calls started before it are not stored. */
  private epoch = 0;
  /** Reads from offset 0 at least this long, whose first block is not cached, stream straight through (see openPassThrough). */
  private readonly passThroughBytes: number;
  /** Cache key of a path: case-folded when the provider ignores case, so "/A" and "/a" share entries. */
  private readonly fold: (path: string) => string;
  /** Follows the inner Vfs's changes when `watch` is on and it has any (cache/changes.ts). */
  private readonly follower: ChangeFollower | undefined;
  /** The persistent disk cache under the block cache, when `cacheDir` is set (cache/disk-reads.ts). */
  private readonly disk: DiskReads | undefined;

  /**
   * Caching changes how fast, not what: capabilities, watch and the dead-property and share-link
   * stores are the inner Vfs's, forwarded as they are (properties are not cached).
   */
  constructor(inner: Vfs, options: CacheOptions = {}) {
    super(inner, `cached(${inner.name})`);
    const follows = options.watch === true ? changeMode(inner) : undefined;
    this.options = resolveCacheOptions(follows === 'push' ? { ...PUSH_TTLS, ...stripUndefined(options) } : options);
    this.log = (options.logger ?? silentLogger).child({ layer: 'cache' });
    this.fold = inner.capabilities.caseSensitive ? (p) => p : (p) => p.toLowerCase();
    this.meta = new MetadataCache({ ...this.options, fold: this.fold });
    this.passThroughBytes = Math.max(2 * this.options.readAheadBytes, Math.floor(this.options.blockCacheBytes / 2));
    this.disk = this.options.cacheDir === undefined ? undefined : new DiskReads(inner, {
      dir: this.options.cacheDir, blockSize: this.options.blockSize, maxBytes: this.options.cacheMaxSize, maxAgeMs: this.options.cacheMaxAge,
      minFreeBytes: this.options.cacheMinFreeSpace, scope: this.options.cacheScope ?? inner.name, logger: this.log,
    });
    this.blocks = new BlockCache(this.disk?.asSource() ?? inner, { blockSize: this.options.blockSize, maxBytes: this.options.blockCacheBytes }, this.counters,
      (path) => this.onStale(path));
    this.access = new AccessTracker({
      blockSize: this.options.blockSize,
      maxWindowBlocks: Math.max(1, Math.floor(this.options.readAheadBytes / this.options.blockSize)),
      maxFiles: this.options.maxTrackedFiles,
      release: (holder) => this.blocks.release(holder),
    });
    this.follower = follows ? new ChangeFollower(inner, (c) => this.applyChange(c), this.log) : undefined;
  }

  /** A change made elsewhere: forget what it touches (a rename: both ends). */
  private applyChange(change: VfsChange): void {
    this.log.debug('changed elsewhere', { type: change.type, path: change.path, ...(change.oldPath ? { oldPath: change.oldPath } : {}) });
    this.forget(change.path);
    if (change.oldPath !== undefined) this.forget(change.oldPath);
  }

  /** Resolves once the inner Vfs's change feed is live (immediately without one). */
  whenWatching(): Promise<void> {
    return this.follower?.whenReady() ?? Promise.resolve();
  }

  /** Resolves after a change matching `match` has been applied (for tests and benchmarks; no clock). */
  nextChange(match?: (c: VfsChange) => boolean): Promise<void> {
    return this.follower?.next(match) ?? Promise.resolve();
  }

  /** Metadata of one path, from a fresh parent listing or stat record when there is one. */
  override async stat(path: string, options: OpOptions = {}): Promise<Entry> {
    const p = normalizePath(path);
    throwIfAborted(options.signal, { path: p });
    if (this.unlisted(p)) return this.inner.stat(p, options);
    const known = this.meta.lookup(p);
    if (known.kind === 'entry') {
      this.counters.statHits++;
      return cloneEntry(known.entry);
    }
    if (known.kind === 'missing') {
      this.counters.statHits++;
      this.counters.negativeHits++;
      throw notFound('stat', p);
    }
    const before = this.statFlights.joined;
    const result = this.statFlights.run(`${this.epoch}\0${p}`, options.signal, async (signal) => {
      const started = this.epoch;
      try {
        const entry = await this.inner.stat(p, { signal });
        if (this.epoch === started) this.meta.putEntry(p, entry);
        return entry;
      } catch (e) {
        if (this.epoch === started && isVfsError(e, 'ENOENT')) this.meta.putMissing(p);
        throw e;
      }
    });
    if (this.statFlights.joined > before) this.counters.coalesced++;
    else this.counters.statMisses++;
    return cloneEntry(await result);
  }

  /** Children of a directory, from a fresh cached listing when there is one. */
  override async list(dir: string, options: OpOptions = {}): Promise<Entry[]> {
    const p = normalizePath(dir);
    throwIfAborted(options.signal, { path: p });
    if (this.unlisted(p)) return this.inner.list(p, options);
    const cached = this.meta.listing(p);
    if (cached) {
      this.counters.listHits++;
      return cached.map(cloneEntry);
    }
    const known = this.meta.lookup(p);
    if (known.kind === 'missing') {
      this.counters.listHits++;
      this.counters.negativeHits++;
      throw notFound('list', p);
    }
    if (known.kind === 'entry' && known.entry.type === 'file') {
      this.counters.listHits++;
      throw opError('ENOTDIR', 'not a directory', 'list', p, { provider: this.name });
    }
    const before = this.listFlights.joined;
    const result = this.listFlights.run(`${this.epoch}\0${p}`, options.signal, async (signal) => {
      const started = this.epoch;
      try {
        const entries = await this.inner.list(p, { signal });
        if (this.epoch === started) this.meta.putListing(p, entries);
        return entries;
      } catch (e) {
        if (this.epoch === started && isVfsError(e, 'ENOENT')) this.meta.putMissing(p);
        throw e;
      }
    });
    if (this.listFlights.joined > before) this.counters.coalesced++;
    else this.counters.listMisses++;
    return (await result).map(cloneEntry);
  }

  /**
   * A byte stream of a file or a range of it, served from aligned blocks. Rejects before the first
   * byte on ENOENT/EISDIR and when the first block cannot be fetched.
   */
  override async read(path: string, options: ReadOptions = {}): Promise<Readable> {
    const p = normalizePath(path);
    throwIfAborted(options.signal, { path: p });
    const { offset = 0, length } = options;
    if (!Number.isInteger(offset) || offset < 0) throw this.invalid('read', p, `bad offset ${offset}`);
    if (length !== undefined && (!Number.isInteger(length) || length < 0)) throw this.invalid('read', p, `bad length ${length}`);
    // Without ranged reads every block fetch would download from the start: pass reads through.
    if (!this.inner.capabilities.rangedReads || this.unlisted(p)) return this.inner.read(p, options);

    for (let attempt = 0; ; attempt++) {
      const entry = await this.stat(p, { signal: options.signal });
      if (entry.type !== 'file') {
        throw opError('EISDIR', 'is a directory', 'read', p, { provider: this.name });
      }
      const file: FileVersion = { path: p, id: this.fold(p), size: entry.size, key: versionKey(entry) };
      this.disk?.note(file);
      const end = Math.min(file.size, length === undefined ? file.size : offset + length);
      if (offset >= end) return Readable.from([], { objectMode: false });
      try {
        // A long read that starts in content the disk cache holds streams from disk (no copy into
        // memory blocks, and a block not on disk is fetched only when the reader gets there).
        if (this.disk && end - offset > this.options.blockSize && !this.blocks.holds(file, Math.floor(offset / this.options.blockSize))
          && await this.disk.startsOnDisk(file, offset)) {
          return this.pinned(file, await this.openPassThrough(file, offset, end, options.signal));
        }
        if (offset === 0 && end >= this.passThroughBytes && !this.blocks.holds(file, 0)) {
          return this.pinned(file, await this.openPassThrough(file, offset, end, options.signal));
        }
        return this.pinned(file, await this.openBlocks(file, offset, end, options.signal));
      } catch (e) {
        // The file changed size behind our back: the metadata is dropped now, so one retry sees the new version.
        if (attempt === 0 && isVfsError(e, 'ESTALE')) continue;
        throw e;
      }
    }
  }

  /**
   * Under a root name the inner Vfs does not list (capabilities.unlistedNames): not cached at all,
   * since the root listing would call it missing and a cached entry would be patched into that listing.
   */
  private unlisted(p: string): boolean {
    const names = this.inner.capabilities.unlistedNames;
    if (!names || names.length === 0 || p === '/') return false;
    const slash = p.indexOf('/', 1);
    const first = slash < 0 ? p.slice(1) : p.slice(1, slash);
    return names.includes(first);
  }

  /** Create or replace a file; the data streams straight to the inner Vfs. */
  override async write(path: string, data: WriteData, options: WriteOptions = {}): Promise<Entry> {
    const p = normalizePath(path);
    this.dropContent(p, false);
    let entry: Entry;
    try {
      entry = await this.inner.write(p, data, options);
    } catch (e) {
      this.afterFailure(p);
      throw e;
    }
    this.mutated();
    this.dropContent(p, false);
    this.meta.putEntry(p, entry);
    return cloneEntry(entry);
  }

  /** Create a directory; its (empty) listing is known at once. */
  override async mkdir(path: string, options: OpOptions = {}): Promise<Entry> {
    const p = normalizePath(path);
    let entry: Entry;
    try {
      entry = await this.inner.mkdir(p, options);
    } catch (e) {
      this.afterFailure(p);
      throw e;
    }
    this.mutated();
    this.meta.forgetSubtree(p);
    this.meta.putEntry(p, entry);
    this.meta.putListing(p, []);
    return cloneEntry(entry);
  }

  /** Remove a file or directory; it is remembered as missing. */
  override async remove(path: string, options: RemoveOptions = {}): Promise<void> {
    const p = normalizePath(path);
    try {
      await this.inner.remove(p, options);
    } catch (e) {
      this.afterFailure(p);
      throw e;
    }
    this.mutated();
    this.dropContent(p, true);
    this.meta.forgetSubtree(p);
    this.meta.putMissing(p);
  }

  /** Move/rename; both subtrees are dropped and both parents' listings patched. */
  override async rename(from: string, to: string, options: MoveOptions = {}): Promise<Entry> {
    const [src, dst] = [normalizePath(from), normalizePath(to)];
    this.refuseAncestorMove('rename', src, dst);
    let entry: Entry;
    try {
      entry = await this.inner.rename(src, dst, options);
    } catch (e) {
      this.afterFailure(src, dst);
      throw e;
    }
    this.mutated();
    this.dropContent(src, true);
    this.dropContent(dst, true);
    this.meta.forgetSubtree(src);
    this.meta.forgetSubtree(dst);
    if (this.fold(src) !== this.fold(dst)) this.meta.putMissing(src);
    this.meta.putEntry(dst, entry);
    return cloneEntry(entry);
  }

  /** Copy a file or tree; the target subtree is dropped and its parent listing patched. */
  override async copy(from: string, to: string, options: MoveOptions = {}): Promise<Entry> {
    const [src, dst] = [normalizePath(from), normalizePath(to)];
    this.refuseAncestorMove('copy', src, dst);
    let entry: Entry;
    try {
      entry = await this.inner.copy(src, dst, options);
    } catch (e) {
      this.afterFailure(dst);
      throw e;
    }
    this.mutated();
    this.dropContent(dst, true);
    this.meta.forgetSubtree(dst);
    this.meta.putEntry(dst, entry);
    return cloneEntry(entry);
  }

  /** Set an mtime through the inner Vfs and refresh the cached entry. */
  override async setMtime(path: string, mtime: Date, options?: OpOptions): Promise<Entry> {
    const p = normalizePath(path);
    let entry: Entry;
    try {
      entry = await this.inner.setMtime!(p, mtime, options);
    } catch (e) {
      this.afterFailure(p);
      throw e;
    }
    this.mutated();
    this.meta.putEntry(p, entry);
    return cloneEntry(entry);
  }

  /**
   * Quota, cached like metadata: for `statTtlMs`, and dropped by every change made through this
   * cache (uploads change it). WebDAV clients ask for it with every PROPFIND; without this, a warm
   * folder listing still cost one request.
   */
  override async space(options: OpOptions = {}): Promise<SpaceInfo> {
    throwIfAborted(options.signal);
    const known = this.spaceCache;
    if (known && known.epoch === this.epoch && Date.now() - known.at < this.options.statTtlMs) return { ...known.value };
    const epoch = this.epoch;
    const value = await this.spaceFlights.run(`${epoch}`, options.signal, (signal) => this.inner.space({ ...options, signal }));
    if (epoch === this.epoch) this.spaceCache = { epoch, at: Date.now(), value };
    return { ...value };
  }

  /** Refuse (EINVAL) before the provider sees it: a replacing move onto an ancestor would delete the source. */
  private refuseAncestorMove(op: string, src: string, dst: string): void {
    const conflict = moveConflict(src, dst, this.fold);
    if (conflict) throw new VfsError('EINVAL', conflict, { operation: op, path: dst });
  }

  /** Drop everything known about `path` and below it now (metadata, listings, blocks, read-ahead). */
  forget(path: string): void {
    const p = normalizePath(path);
    this.mutated();
    this.dropContent(p, true);
    this.meta.forgetSubtree(p);
    if (p !== '/') this.meta.dropListing(parentPath(p));
    this.log.debug('forgot subtree', { path: p });
  }

  /** What the cache has saved so far, and what it holds now. */
  stats(): CacheStats {
    const c = this.counters;
    const blocks = this.blocks.sizes();
    const meta = this.meta.sizes();
    const hits = c.statHits + c.listHits + c.blockHits;
    const misses = c.statMisses + c.listMisses + c.blockMisses;
    return {
      hits,
      misses,
      coalesced: c.coalesced,
      requestsSaved: hits + c.coalesced,
      statHits: c.statHits,
      statMisses: c.statMisses,
      listHits: c.listHits,
      listMisses: c.listMisses,
      negativeHits: c.negativeHits,
      blockHits: c.blockHits,
      blockMisses: c.blockMisses,
      innerReads: c.innerReads,
      bytesFromCache: c.bytesFromCache,
      bytesFetched: c.bytesFetched,
      fetchesAborted: c.fetchesAborted,
      staleDetected: c.staleDetected,
      invalidations: c.invalidations,
      blockCacheBytes: blocks.bytes,
      blockCacheMaxBytes: this.options.blockCacheBytes,
      blockCacheBlocks: blocks.blocks,
      metadataEntries: meta.entries,
      listings: meta.listings,
    };
  }

  /**
   * Finish the disk cache's writes and release its folder, leaving everything else (and the inner
   * Vfs) open: for frontends that wrap a Vfs they do not own. `close()` does it too.
   */
  async closeDiskCache(): Promise<void> {
    await this.disk?.disk.close();
  }

  /** Abort read-ahead, drop every cache, and close the inner Vfs. */
  override async close(): Promise<void> {
    this.follower?.stop();
    this.mutated();
    this.access.clear();
    this.blocks.clear();
    this.meta.clear();
    await this.disk?.disk.close();
    await super.close();
  }

  // ---- internals -------------------------------------------------------------------------

  /**
   * A long read from the start of a file, too big for the block cache to hold anyway (`cat`/`cp`
   * through FUSE, a WebDAV GET without Range): ONE inner read streamed straight through, without
   * cutting it into blocks. Reads that start elsewhere (seeks, Range requests) keep the block
   * path, so a small read in the middle of a huge file still fetches one block, not the rest of it.
   * Cutting it into read-ahead spans cost one request (one round trip) per span and a copy per
   * byte, and halved the end-to-end speed over a 20 ms link. The version check is the block
   * cache's: ask for one byte past the end we know; getting it, or getting too few bytes, means
   * the file changed (ESTALE mid-stream, metadata and blocks dropped).
   */
  private async openPassThrough(file: FileVersion, offset: number, end: number, signal: AbortSignal | undefined): Promise<Readable> {
    const probe = end === file.size ? 1 : 0;
    this.counters.innerReads++;
    const source = this.disk
      ? await this.disk.read(file, offset, end - offset + probe, signal)
      : await this.inner.read(file.path, { offset, length: end - offset + probe, ...(signal ? { signal } : {}) });
    const expected = end - offset;
    const counters = this.counters;
    const stale = (why: string) => {
      counters.staleDetected++;
      this.onStale(file.path);
      return opError('ESTALE', `${why}; it changed on the server, read it again`, 'read', file.path, { provider: 'cache', retryable: true });
    };
    let seen = 0;
    // Chunk by chunk through a Transform: flowing mode hands each chunk on as it came, whereas async
    // iteration of a Readable concatenates whatever is buffered (a copy and a fresh allocation of
    // every byte: 2 MiB chunks out of a MemoryVfs, ~30% of a 200 MiB FUSE read's CPU in GC and memcpy).
    const out = new Transform({
      readableHighWaterMark: 256 * 1024,
      transform(chunk: Buffer, _encoding, callback) {
        counters.bytesFetched += chunk.length;
        if (seen + chunk.length > expected) return callback(stale('the file is longer than its cached size'));
        seen += chunk.length;
        callback(null, chunk);
      },
      flush(callback) {
        callback(seen < expected ? stale('the file is shorter than its cached size') : null);
      },
    });
    // pipeline destroys the source when the reader goes away (or fails), and the reader when the source fails.
    pipeline(source, out, () => undefined);
    return out;
  }

  private async openBlocks(file: FileVersion, offset: number, end: number, signal: AbortSignal | undefined): Promise<Readable> {
    const { sequential, state } = this.access.observe(file.id, file.key, offset, end - offset);
    if (!sequential) this.blocks.dropOtherVersions(file);
    const bs = this.options.blockSize;
    const maxSpan = Math.max(1, Math.floor(this.options.readAheadBytes / bs));
    const needLast = Math.floor((end - 1) / bs);
    const fileLast = this.blocks.lastBlock(file);
    const planFor = (block: number): FetchPlan => {
      // Blocks the request itself needs are fetched in spans of up to the read-ahead size;
      // a sequential reader also gets its window beyond the request, held by its access state.
      const own = Math.min(needLast - block + 1, maxSpan);
      if (!sequential) return { window: own, limit: needLast, needLast };
      return {
        window: Math.max(own, state.window),
        limit: fileLast,
        needLast,
        aheadHolder: state,
        onReadAhead: () => this.access.grow(state),
      };
    };
    const stream = new BlockReadStream(this.blocks, file, offset, end, planFor, this.counters);
    try {
      await stream.prime();
    } catch (e) {
      stream.destroy();
      throw e;
    }
    if (signal) {
      const onAbort = () => stream.destroy(new VfsError('ECANCELED', 'read aborted', { provider: this.name, operation: 'read', path: file.path }));
      if (signal.aborted) onAbort();
      signal.addEventListener('abort', onAbort, { once: true });
      stream.once('close', () => signal.removeEventListener('abort', onAbort));
    }
    return stream;
  }

  /** While `stream` is open, the disk cache does not evict `file`. */
  private pinned(file: FileVersion, stream: Readable): Readable {
    if (this.disk) stream.once('close', this.disk.disk.pin(file));
    return stream;
  }

  /** A fetch found the file's size changed remotely: drop what we believed about it. */
  private onStale(path: string): void {
    this.log.debug('file changed remotely; dropping its cached metadata and blocks', { path });
    this.mutated();
    this.meta.forgetSubtree(path);
    if (path !== '/') this.meta.dropListing(parentPath(path));
    const id = this.fold(path);
    this.blocks.dropPath(id);
    this.access.forget((p) => p === id);
  }

  /** Drop the blocks and access state of `path` (and below it for `subtree`). */
  private dropContent(path: string, subtree: boolean): void {
    const id = this.fold(path);
    // On disk only the path itself: versions already keep stale blocks from being served.
    void this.disk?.disk.drop(id);
    if (subtree) {
      this.blocks.dropSubtree(id);
      this.access.forget((p) => isSameOrInside(id, p));
    } else {
      this.blocks.dropPath(id);
      this.access.forget((p) => p === id);
    }
  }

  /** A mutation failed: we no longer know what state the paths are in, so forget them and their parents' listings. */
  private afterFailure(...paths: string[]): void {
    this.mutated();
    for (const p of paths) {
      this.dropContent(p, true);
      this.meta.forgetSubtree(p);
      if (p !== '/') this.meta.dropListing(parentPath(p));
    }
  }

  /** Something changed: calls already in flight must not store their (older) answers. */
  private mutated(): void {
    this.epoch++;
    this.counters.invalidations++;
  }

  private invalid(operation: string, path: string, message: string): VfsError {
    return opError('EINVAL', message, operation, path, { provider: this.name });
  }
}

/** Content version of an entry: any change of size, mtime or etag makes old blocks unreachable. */
export function versionKey(entry: Entry): string {
  return `${entry.size}:${entry.mtime.getTime()}:${entry.etag ?? ''}`;
}

function notFound(operation: string, path: string): VfsError {
  return opError('ENOENT', 'no such file or directory', operation, path, { provider: 'cache' });
}

/** Callers may mutate what they get; the cached copy must not change with it. */
function cloneEntry(entry: Entry): Entry {
  return { ...entry, mtime: new Date(entry.mtime.getTime()) };
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
