/**
 * The persistent disk cache of file content, below the memory block cache. One cached file is
 * two files in `<cacheDir>/v1/<xx>/`, named by a hash of scope + path:
 * - `<hash>.data`: a sparse file of the remote file's size; block i lives at i × blockSize.
 * - `<hash>.meta`: an append-only record: a JSON header line (path, version key, size, block size)
 *   then one line `i checksum` per block, appended only after the block's bytes were written.
 * A block is served only when its line is present and the bytes read back match the checksum
 * (CRC-32), so a write torn by kill -9 or a power cut, a truncated or corrupted data file, or a torn
 * last line is never served as data: the block counts as missing and is fetched again. No fsync is
 * needed for that. A file whose version (size:mtime:etag) differs from the header is discarded, so a
 * changed remote file is never served from old blocks. Nothing here ever fails a read: any error
 * of the local disk means "not cached" (a full disk turns the cache off for a while).
 *
 * Space: the index of every cached file (bytes, last use) is rebuilt at start from a scan of the
 * folder (the meta file's mtime is the last use, refreshed at most once a minute); least recently
 * used files are evicted beyond `maxBytes`, beyond `maxAgeMs`, or when the filesystem's free space
 * would drop below `minFreeBytes`. Files in use (pinned by a read in progress) are never evicted.
 * Memory: one small index entry per cached file, the block list of the files opened recently,
 * and at most `MAX_PENDING_WRITE_BYTES` of blocks waiting to be written.
 */
import { createHash } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { mkdir, open, readdir, readFile, stat, statfs, unlink, utimes } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import * as zlib from 'node:zlib';
import type { Logger } from '../log.js';
import { silentLogger } from '../log.js';
import { lockCacheDir } from './disk-lock.js';

/** Most bytes of fetched blocks waiting to be written to disk before readers wait for the disk. */
export const MAX_PENDING_WRITE_BYTES = 32 * 1024 * 1024;
/** Files whose block list and descriptors are kept open (a few hundred fds at most). */
export const MAX_OPEN_FILES = 128;
/** After ENOSPC/EDQUOT the cache keeps nothing new for this long, then tries again. */
export const FULL_DISK_PAUSE_MS = 30_000;
/** Last use is written to the meta file's mtime at most this often per file. */
const TOUCH_EVERY_MS = 60_000;
/** statfs is asked again after this long, or after this many bytes were written. */
const STATFS_EVERY_MS = 1_000;

export interface DiskCacheOptions {
  dir: string;
  blockSize: number;
  maxBytes: number;
  maxAgeMs: number;
  minFreeBytes: number;
  /** Prefix of every key: which account the files belong to. */
  scope: string;
  logger?: Logger;
}

/** The version of a file the cache is asked about (FileVersion of the block cache). */
export interface DiskFileVersion {
  path: string;
  /** Cache key of the path (case-folded where the provider ignores case). */
  id: string;
  size: number;
  /** size:mtime:etag */
  key: string;
}

/** One cached file in the index. */
interface IndexEntry {
  hash: string;
  /** Bytes on disk (allocated blocks). */
  bytes: number;
  lastUsed: number;
  lastTouched: number;
  /** Reads in progress that use this file. */
  pins: number;
  /** `bytes` is included in the total (false until the scan or an open has measured it). */
  counted: boolean;
  open?: Promise<OpenFile | undefined>;
}

/** A cached file whose block list is loaded. */
export interface OpenFile {
  readonly entry: IndexEntry;
  readonly version: DiskFileVersion;
  /** Block index → checksum, for blocks whose record is written. */
  readonly blocks: Map<number, number>;
  readonly data: FileHandle;
  readonly meta: FileHandle;
  /** Blocks being written now. */
  readonly writing: Set<number>;
  gone: boolean;
}

export interface DiskCacheStats {
  files: number;
  bytes: number;
  hits: number;
  misses: number;
  stored: number;
  corrupt: number;
  evicted: number;
  skipped: number;
}

export class DiskCache {
  readonly blockSize: number;
  private readonly root: string;
  private readonly index = new Map<string, IndexEntry>();
  private readonly opened = new Map<string, OpenFile>();
  private readonly log: Logger;
  private readonly release: () => void;
  private total = 0;
  private pendingBytes = 0;
  private drainWaiters: Array<() => void> = [];
  private readonly writes = new Set<Promise<void>>();
  private pausedUntil = 0;
  private free: { at: number; bytes: number } | undefined;
  private readonly ready: Promise<void>;
  private readonly sweeper: NodeJS.Timeout;
  private closed = false;
  readonly counters = { hits: 0, misses: 0, stored: 0, corrupt: 0, evicted: 0, skipped: 0 };

  constructor(private readonly options: DiskCacheOptions) {
    this.blockSize = options.blockSize;
    this.log = (options.logger ?? silentLogger).child({ layer: 'disk-cache' });
    this.root = join(options.dir, 'v1');
    let release = () => {};
    try {
      release = lockCacheDir(options.dir);
      mkdirSync(this.root, { recursive: true, mode: 0o700 });
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'ENOSPC' && code !== 'EDQUOT') throw e;
      // A disk too full for the lock file: this process caches in memory only.
      release();
      this.log.warn('disk cache: the disk is full; not caching on disk in this run', { dir: options.dir });
      this.closed = true;
    }
    this.release = release;
    this.ready = this.closed ? Promise.resolve() : this.scan().catch((e) => this.log.warn('disk cache scan failed; starting empty', { error: String(e) }));
    const every = Math.max(1_000, Math.min(options.maxAgeMs / 4, 10 * 60_000));
    this.sweeper = setInterval(() => void this.sweep(), every);
    this.sweeper.unref();
  }

  /** Resolves once the folder has been scanned (sizes and ages known). */
  whenReady(): Promise<void> {
    return this.ready;
  }

  stats(): DiskCacheStats {
    return { files: this.index.size, bytes: this.total, ...this.counters };
  }

  /** Keep `version` from being evicted until the returned function is called. */
  pin(version: DiskFileVersion): () => void {
    const entry = this.entryFor(this.hashOf(version.id));
    entry.pins++;
    let done = false;
    return () => {
      if (done) return;
      done = true;
      entry.pins--;
      // Nothing on disk for it: no index entry either (one per file ever read would add up).
      if (entry.pins === 0 && !entry.open && !entry.counted && this.index.get(entry.hash) === entry) this.index.delete(entry.hash);
    };
  }

  /**
   * The cached file for `version`, creating it when absent; undefined when the disk cannot be
   * used (closed, full, an error). A file cached for another version is discarded first.
   */
  async openFile(version: DiskFileVersion, create = true): Promise<OpenFile | undefined> {
    if (this.closed) return undefined;
    const hash = this.hashOf(version.id);
    const entry = this.entryFor(hash);
    for (;;) {
      const pending = entry.open;
      const file = pending ? await pending : undefined;
      if (entry.open !== pending) continue;
      if (file && !file.gone && file.version.key === version.key && file.version.size === version.size) {
        this.used(entry);
        return file;
      }
      if (!create && !file && !(await this.recorded(entry))) {
        if (entry.pins === 0 && !entry.open && !entry.counted && this.index.get(hash) === entry) this.index.delete(hash);
        return undefined;
      }
      if (entry.open !== pending) continue;
      const next = (async () => {
        if (file && !file.gone) await this.discard(file, 'a new version');
        return this.load(entry, version, create);
      })();
      entry.open = next;
      const got = await next;
      if (got) this.used(entry);
      return got;
    }
  }

  /** True when block i of `file` is recorded as present (not yet checked). */
  has(file: OpenFile, i: number): boolean {
    return !file.gone && file.blocks.has(i);
  }

  /** Block i, checked against its checksum; undefined when absent, short or corrupt (then forgotten). */
  async readBlock(file: OpenFile, i: number): Promise<Buffer | undefined> {
    const sum = file.blocks.get(i);
    if (sum === undefined || file.gone) {
      this.counters.misses++;
      return undefined;
    }
    const length = this.blockLength(file.version, i);
    const buffer = Buffer.allocUnsafe(length);
    try {
      let filled = 0;
      while (filled < length) {
        const { bytesRead } = await file.data.read(buffer, filled, length - filled, i * this.blockSize + filled);
        if (bytesRead === 0) break;
        filled += bytesRead;
      }
      if (filled === length && checksum(buffer) === sum) {
        this.counters.hits++;
        return buffer;
      }
    } catch (e) {
      this.log.debug('disk cache read failed', { path: file.version.path, block: i, error: String(e) });
    }
    // Torn, truncated or corrupted: never served; the block is fetched again and rewritten.
    if (file.blocks.get(i) === sum) file.blocks.delete(i);
    this.counters.corrupt++;
    this.counters.misses++;
    this.log.warn('disk cache block failed its checksum; fetching it again', { path: file.version.path, block: i });
    return undefined;
  }

  /**
   * Keep block i of `file` (a complete block of that version). Returns at once; the write runs in
   * the background. Callers that produce blocks faster than the disk takes them await `drained()`.
   */
  store(file: OpenFile, i: number, block: Buffer): void {
    if (this.closed || file.gone || file.blocks.has(i) || file.writing.has(i)) return;
    if (block.length !== this.blockLength(file.version, i)) return;
    if (Date.now() < this.pausedUntil) {
      this.counters.skipped++;
      return;
    }
    file.writing.add(i);
    this.pendingBytes += block.length;
    const job = this.write(file, i, block).finally(() => {
      file.writing.delete(i);
      this.pendingBytes -= block.length;
      this.writes.delete(job);
      if (this.pendingBytes < MAX_PENDING_WRITE_BYTES) for (const wake of this.drainWaiters.splice(0)) wake();
    });
    this.writes.add(job);
  }

  /** Resolves when the blocks waiting to be written are below the bound. */
  drained(): Promise<void> {
    if (this.pendingBytes < MAX_PENDING_WRITE_BYTES) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  /** Forget the cached content of the path with cache key `id` (it changed or is gone). */
  async drop(id: string): Promise<void> {
    const entry = this.index.get(this.hashOf(id));
    if (!entry) return;
    const file = await entry.open;
    if (file && !file.gone) await this.discard(file, 'dropped');
    else if (entry.pins === 0 && !entry.open) await this.evict(entry);
  }

  /** Wait for writes in flight, close every file, release the folder. */
  async close(): Promise<void> {
    clearInterval(this.sweeper);
    if (this.closed) return;
    this.closed = true;
    for (const wake of this.drainWaiters.splice(0)) wake();
    await Promise.allSettled([...this.writes]);
    await this.ready;
    for (const file of [...this.opened.values()]) await this.closeFile(file);
    this.release();
  }

  // ---- internals -------------------------------------------------------------------------

  private hashOf(id: string): string {
    return createHash('sha256').update(this.options.scope).update('\0').update(id).digest('hex');
  }

  private paths(hash: string): { dir: string; data: string; meta: string } {
    const dir = join(this.root, hash.slice(0, 2));
    return { dir, data: join(dir, `${hash}.data`), meta: join(dir, `${hash}.meta`) };
  }

  private entryFor(hash: string): IndexEntry {
    let entry = this.index.get(hash);
    if (!entry) {
      entry = { hash, bytes: 0, lastUsed: Date.now(), lastTouched: 0, pins: 0, counted: false };
      this.index.set(hash, entry);
    }
    return entry;
  }

  private blockLength(version: DiskFileVersion, i: number): number {
    return Math.max(0, Math.min(this.blockSize, version.size - i * this.blockSize));
  }

  private used(entry: IndexEntry): void {
    const now = Date.now();
    entry.lastUsed = now;
    if (now - entry.lastTouched < TOUCH_EVERY_MS) return;
    entry.lastTouched = now;
    const at = new Date(now);
    void utimes(this.paths(entry.hash).meta, at, at).catch(() => undefined);
  }

  /** Open (or create) the files of `version`; a record of another version is discarded. */
  /** True when a record of some version of this file is on disk (a cheap look before a load). */
  private async recorded(entry: IndexEntry): Promise<boolean> {
    if (entry.counted && entry.bytes > 0) return true;
    return stat(this.paths(entry.hash).meta).then(() => true, () => false);
  }

  private async load(entry: IndexEntry, version: DiskFileVersion, create = true): Promise<OpenFile | undefined> {
    const p = this.paths(entry.hash);
    try {
      const blocks = await this.readRecord(p.meta, version);
      // Older than maxAge (not yet swept): as good as gone.
      const expired = blocks && (await stat(p.meta)).mtimeMs < Date.now() - this.options.maxAgeMs;
      if (blocks && !expired) {
        try {
          const data = await open(p.data, 'r+');
          const meta = await open(p.meta, 'a');
          if (!entry.counted) this.count(entry, await data.stat());
          return this.remember({ entry, version, blocks, data, meta, writing: new Set(), gone: false });
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
        }
      }
      if (!create || Date.now() < this.pausedUntil) return undefined;
      // New (or another version, or unreadable): start an empty sparse file and a fresh record.
      if (entry.counted) this.total -= entry.bytes;
      entry.bytes = 0;
      entry.counted = true;
      await mkdir(p.dir, { recursive: true, mode: 0o700 });
      const data = await open(p.data, 'w+', 0o600);
      await data.truncate(version.size);
      const meta = await open(p.meta, 'w', 0o600);
      await meta.write(JSON.stringify({ v: 1, path: version.path, id: version.id, key: version.key, size: version.size, blockSize: this.blockSize }) + '\n');
      entry.lastTouched = Date.now();
      return this.remember({ entry, version, blocks: new Map(), data, meta, writing: new Set(), gone: false });
    } catch (e) {
      this.failed(e, 'open');
      return undefined;
    }
  }

  /** The blocks recorded for `version`, or undefined when the record is missing, torn or of another version. */
  private async readRecord(path: string, version: DiskFileVersion): Promise<Map<number, number> | undefined> {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
    const lines = text.split('\n');
    let header: { v?: unknown; id?: unknown; key?: unknown; size?: unknown; blockSize?: unknown };
    try {
      header = JSON.parse(lines[0] ?? '');
    } catch {
      return undefined;
    }
    if (header.v !== 1 || header.id !== version.id || header.key !== version.key || header.size !== version.size || header.blockSize !== this.blockSize) {
      return undefined;
    }
    const blocks = new Map<number, number>();
    const last = Math.ceil(version.size / this.blockSize) - 1;
    // Only whole lines count: the last one may be torn (it then has no newline after it).
    for (const line of lines.slice(1, -1)) {
      const m = /^(\d{1,12}) (\d{1,10})$/.exec(line);
      if (!m) continue;
      const i = Number(m[1]);
      if (i <= last) blocks.set(i, Number(m[2]));
    }
    return blocks;
  }

  private remember(file: OpenFile): OpenFile {
    this.opened.delete(file.entry.hash);
    this.opened.set(file.entry.hash, file);
    if (this.opened.size > MAX_OPEN_FILES) {
      for (const [, other] of this.opened) {
        if (this.opened.size <= MAX_OPEN_FILES) break;
        if (other.entry.pins === 0 && other.writing.size === 0 && other !== file) void this.closeFile(other);
      }
    }
    return file;
  }

  private async closeFile(file: OpenFile): Promise<void> {
    // The index entry's `open` keeps pointing at it: `gone` makes the next openFile load it again.
    if (this.opened.get(file.entry.hash) === file) this.opened.delete(file.entry.hash);
    file.gone = true;
    file.blocks.clear();
    await Promise.allSettled([file.data.close(), file.meta.close()]);
  }

  private async write(file: OpenFile, i: number, block: Buffer): Promise<void> {
    try {
      await this.ready;
      if (!(await this.makeRoom(block.length, file.entry))) {
        this.counters.skipped++;
        return;
      }
      if (file.gone) return;
      const sum = checksum(block);
      await file.data.write(block, 0, block.length, i * this.blockSize);
      // The record line only after the bytes: a torn write has no line, or a line whose checksum fails.
      await file.meta.write(`${i} ${sum}\n`);
      if (file.gone) return;
      file.blocks.set(i, sum);
      file.entry.bytes += block.length;
      if (file.entry.counted) this.total += block.length;
      if (this.free) this.free.bytes -= block.length;
      this.counters.stored++;
    } catch (e) {
      this.failed(e, 'write');
    }
  }

  /** Make room for `bytes` more: evict least recently used files (never `keep` nor pinned ones). */
  private async makeRoom(bytes: number, keep?: IndexEntry): Promise<boolean> {
    const free = await this.freeBytes();
    let overSize = this.total + bytes - this.options.maxBytes;
    let overFree = free === undefined ? 0 : this.options.minFreeBytes + bytes - free;
    if (overSize <= 0 && overFree <= 0) return true;
    const candidates = [...this.index.values()]
      .filter((e) => e !== keep && e.pins === 0 && e.bytes > 0)
      .sort((a, b) => a.lastUsed - b.lastUsed);
    for (const victim of candidates) {
      if (overSize <= 0 && overFree <= 0) break;
      const file = victim.open ? await victim.open : undefined;
      if (victim.pins > 0 || (file && file.writing.size > 0)) continue;
      const freed = victim.bytes;
      await this.evict(victim);
      overSize -= freed;
      overFree -= freed;
    }
    return overSize <= 0 && overFree <= 0;
  }

  /** Delete a cached file and its index entry. */
  private async evict(entry: IndexEntry): Promise<void> {
    const file = entry.open ? await entry.open.catch(() => undefined) : undefined;
    if (file) await this.closeFile(file);
    if (this.index.get(entry.hash) === entry) this.index.delete(entry.hash);
    if (entry.counted) this.total -= entry.bytes;
    if (this.free) this.free.bytes += entry.bytes;
    entry.bytes = 0;
    const p = this.paths(entry.hash);
    await Promise.allSettled([unlink(p.meta), unlink(p.data)]);
    this.counters.evicted++;
  }

  /** An open file that must not be used any more (a new version, a drop): delete it now unless in use. */
  private async discard(file: OpenFile, why: string): Promise<void> {
    this.log.debug('disk cache discards a file', { path: file.version.path, why });
    await this.closeFile(file);
    const entry = file.entry;
    if (entry.counted) this.total -= entry.bytes;
    entry.bytes = 0;
    const p = this.paths(entry.hash);
    await Promise.allSettled([unlink(p.meta), unlink(p.data)]);
  }

  private async freeBytes(): Promise<number | undefined> {
    const now = Date.now();
    if (this.free && now - this.free.at < STATFS_EVERY_MS) return this.free.bytes;
    try {
      const s = await statfs(this.root);
      this.free = { at: now, bytes: s.bavail * s.bsize };
      return this.free.bytes;
    } catch {
      return undefined;
    }
  }

  /** Drop files unused for longer than maxAge. */
  private async sweep(): Promise<void> {
    if (this.closed) return;
    const before = Date.now() - this.options.maxAgeMs;
    for (const entry of [...this.index.values()]) {
      if (entry.lastUsed < before && entry.pins === 0) {
        const file = entry.open ? await entry.open.catch(() => undefined) : undefined;
        if (!file || file.writing.size === 0) await this.evict(entry);
      }
    }
  }

  /** Rebuild the index from the folder: bytes from the data files' allocation, last use from the meta files' mtime. */
  private async scan(): Promise<void> {
    const shards = await readdir(this.root).catch(() => [] as string[]);
    for (const shard of shards) {
      if (!/^[0-9a-f]{2}$/.test(shard)) continue;
      const names = await readdir(join(this.root, shard)).catch(() => [] as string[]);
      const hashes = new Set(names.map((n) => n.replace(/\.(data|meta)$/, '')).filter((h) => /^[0-9a-f]{64}$/.test(h)));
      for (const hash of hashes) {
        const p = this.paths(hash);
        const [data, meta] = await Promise.all([stat(p.data).catch(() => undefined), stat(p.meta).catch(() => undefined)]);
        const known = this.index.get(hash);
        if (known) {
          // Opened before the scan reached it.
          if (!known.counted && data) this.count(known, data);
          continue;
        }
        if (!data || !meta) {
          await Promise.allSettled([unlink(p.data), unlink(p.meta)]);
          continue;
        }
        const entry: IndexEntry = { hash, bytes: 0, lastUsed: meta.mtimeMs, lastTouched: meta.mtimeMs, pins: 0, counted: false };
        this.index.set(hash, entry);
        this.count(entry, data);
      }
    }
    await this.sweep();
    await this.makeRoom(0);
  }

  /** Count a file's allocated bytes (a sparse file takes only the blocks written). */
  private count(entry: IndexEntry, s: { blocks: number; size: number }): void {
    entry.bytes = Math.min(s.blocks * 512, Math.max(s.size, this.blockSize));
    entry.counted = true;
    this.total += entry.bytes;
  }

  private failed(e: unknown, what: string): void {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOSPC' || code === 'EDQUOT') {
      if (Date.now() >= this.pausedUntil) this.log.warn(`disk cache: the disk is full; keeping nothing new for ${FULL_DISK_PAUSE_MS / 1000} s`, { dir: this.options.dir });
      this.pausedUntil = Date.now() + FULL_DISK_PAUSE_MS;
      this.free = undefined;
      return;
    }
    this.log.debug(`disk cache ${what} failed`, { error: String(e) });
  }
}

/** CRC-32 of a block (zlib's, where this Node has it; else the first 32 bits of SHA-1). */
export const checksum: (data: Buffer) => number = typeof (zlib as { crc32?: unknown }).crc32 === 'function'
  ? (data) => (zlib as unknown as { crc32(d: Buffer): number }).crc32(data)
  : (data) => createHash('sha1').update(data).digest().readUInt32BE(0);
