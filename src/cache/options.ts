/** CachedVfs options, their defaults and the reasons for them. */
import type { Logger } from '../log.js';

const MiB = 1024 * 1024;

/** How much CachedVfs remembers and for how long. Every field is optional. */
export interface CacheOptions {
  /**
   * How long a `stat` result stays fresh, in ms (default 10 000). Long enough that the burst of
   * stat calls behind one `ls -l`, a Finder window or an editor's save is answered from memory;
   * short enough that a change made elsewhere (the web UI, another client) shows up within seconds.
   */
  statTtlMs?: number;
  /** How long a directory listing stays fresh, in ms (default 10 000, the same reasoning as `statTtlMs`). */
  dirTtlMs?: number;
  /**
   * How long "does not exist" is remembered, in ms (default 2 000). Shorter, because a file that
   * appears remotely should show up quickly, yet long enough to absorb the repeated probes
   * (`._x`, `.DS_Store`, `desktop.ini`, editor swap files) that desktop clients fire in bursts.
   */
  negativeTtlMs?: number;
  /** Most metadata entries kept: stat results plus every child of every cached listing (default 100 000). */
  maxEntries?: number;
  /**
   * Size of an aligned read block, in bytes (default 1 MiB). At 50–100 ms per request the round
   * trip, not the transfer, dominates a 1 MiB fetch, while a random 4 KiB read wastes at most 1 MiB.
   */
  blockSize?: number;
  /**
   * Most bytes fetched ahead of a sequential reader, and the largest span fetched by one request
   * (default 8 MiB). The window starts at 2 blocks and doubles while the reader stays sequential.
   * Clamped to a quarter of `blockCacheBytes` so read-ahead never evicts what it just fetched.
   */
  readAheadBytes?: number;
  /** Bytes of file content kept in memory (default 64 MiB): enough for several sequential readers' windows. */
  blockCacheBytes?: number;
  /** Files whose access pattern is tracked for read-ahead (default 64). */
  maxTrackedFiles?: number;
  /**
   * Follow the inner Vfs's changes (`Vfs.watch`) when it has them (default false). With a push feed
   * the TTLs not given here become minutes (cache/changes.ts PUSH_TTLS): changes arrive by the feed.
   */
  watch?: boolean;
  /**
   * A folder for the persistent disk cache of file content (default: none, content is cached in
   * memory only). A library should not write to its user's disk unasked; the CLI passes --cache-dir.
   * Blocks fetched for reads are kept there across restarts (cache/disk-cache.ts); one process
   * at a time owns the folder (a lock file naming its pid; a second process is refused).
   */
  cacheDir?: string;
  /**
   * Most bytes of file content kept in `cacheDir` (default 10 GiB): room for the probed heads and
   * tails of tens of thousands of media files, or a few whole films, and still a small share of a
   * disk. Least recently used files are evicted first; beyond it blocks are simply not kept.
   */
  cacheMaxSize?: number;
  /**
   * A cached file not read for this long is evicted, in ms (default 7 days): a library scanned once
   * a week stays warm, and content nobody reads does not sit on the disk for ever.
   */
  cacheMaxAge?: number;
  /**
   * Free space the disk cache leaves on its filesystem, in bytes (default 1 GiB): below it the
   * cache evicts its own least recently used files, and keeps nothing new when that is not enough,
   * so the cache never fills the disk other programs need.
   */
  cacheMinFreeSpace?: number;
  /**
   * What the files in `cacheDir` belong to (default: the inner Vfs's name). Cache files are keyed
   * by scope + path + version, so two accounts cached in one folder (one after the other) never
   * see each other's files; the CLI passes the remote's name and address.
   */
  cacheScope?: string;
  /** Where debug lines go (default: silent). */
  logger?: Logger;
}

/** Options that stay absent unless given. */
type Unset = 'logger' | 'cacheDir' | 'cacheScope';

/** Options with every default filled in and checked. */
export type ResolvedCacheOptions = Required<Omit<CacheOptions, Unset>> & Pick<CacheOptions, Unset>;

export const CACHE_DEFAULTS: Readonly<Required<Omit<CacheOptions, Unset>>> = {
  statTtlMs: 10_000,
  dirTtlMs: 10_000,
  negativeTtlMs: 2_000,
  maxEntries: 100_000,
  blockSize: 1 * MiB,
  readAheadBytes: 8 * MiB,
  blockCacheBytes: 64 * MiB,
  maxTrackedFiles: 64,
  watch: false,
  cacheMaxSize: 10 * 1024 * MiB,
  cacheMaxAge: 7 * 24 * 3600_000,
  cacheMinFreeSpace: 1024 * MiB,
};

/** Fill in defaults; reject nonsense (a zero block size would loop forever). */
export function resolveCacheOptions(options: CacheOptions = {}): ResolvedCacheOptions {
  const merged = { ...CACHE_DEFAULTS, ...stripUndefined(options) };
  merged.watch = merged.watch === true;
  for (const key of ['statTtlMs', 'dirTtlMs', 'negativeTtlMs', 'cacheMaxSize', 'cacheMaxAge', 'cacheMinFreeSpace'] as const) {
    if (!(merged[key] >= 0)) throw new RangeError(`cache option ${key} must be ≥ 0`);
  }
  for (const key of ['maxEntries', 'blockSize', 'blockCacheBytes', 'maxTrackedFiles'] as const) {
    if (!Number.isInteger(merged[key]) || merged[key] < 1) throw new RangeError(`cache option ${key} must be a positive integer`);
  }
  if (merged.blockCacheBytes < merged.blockSize) merged.blockCacheBytes = merged.blockSize;
  const maxAhead = Math.max(merged.blockSize, Math.floor(merged.blockCacheBytes / 4));
  merged.readAheadBytes = Math.min(Math.max(merged.blockSize, merged.readAheadBytes), maxAhead);
  return merged;
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
