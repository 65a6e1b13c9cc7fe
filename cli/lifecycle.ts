/**
 * The life of a running share or mount, shared by `serve webdav` and `mount`: periodic stats, SIGHUP
 * clears the cache, SIGINT/SIGTERM stop it, and a last stats line reports the final figures.
 */
import { InvalidArgumentError } from 'commander';
import { CachedVfs } from '../src/cache.js';
import type { CacheOptions } from '../src/cache.js';
import { VfsError } from '../src/errors.js';
import { MeteredVfs } from '../src/metered-vfs.js';
import { SubtreeVfs } from '../src/subtree-vfs.js';
import type { Vfs } from '../src/vfs.js';
import type { CliContext } from './context.js';
import { startStats, statsLine } from './stats.js';
import type { StatsSources } from './stats.js';

/** What a share or mount serves: the remote's Vfs, the folder in it, and the byte-counting view the frontend gets. */
export interface ServedLocation {
  vfs: Vfs;
  path: string;
  remote?: string;
  /** `path` seen as "/" (a SubtreeVfs unless it is the root), counting bytes for --stats. */
  metered: MeteredVfs;
}

/** Open `location` for serving; it must be a directory. */
export async function openForServing(ctx: CliContext, location: string, spoolDir?: string): Promise<ServedLocation> {
  const { vfs, path, remote } = await ctx.open(location, spoolDir ? { spoolDir } : {});
  if ((await vfs.stat(path)).type !== 'directory') throw new VfsError('ENOTDIR', `${location} is not a directory`, { path });
  const metered = new MeteredVfs(path === '/' ? vfs : new SubtreeVfs(vfs, path));
  return { vfs, path, ...(remote ? { remote } : {}), metered };
}

/**
 * The frontends' `cache` option from --no-cache, --cache-ttl and --no-watch. Watching (the default)
 * follows changes made elsewhere; with a provider that pushes them the TTLs become minutes.
 */
export function cacheOption(cache: boolean, ttlSeconds: number | undefined, watch = true): CacheOptions | false {
  if (!cache) return false;
  return { ...(ttlSeconds !== undefined ? { statTtlMs: ttlSeconds * 1000, dirTtlMs: ttlSeconds * 1000 } : {}), watch };
}

export interface RunOptions {
  /** The Vfs the frontend serves (a CachedVfs when caching is on). */
  served: Vfs;
  /** Where the stats line's figures come from (the cache is added when `served` is one). */
  sources: Omit<StatsSources, 'cache'>;
  /** Print a stats line every 10 s and one at the end. */
  stats: boolean;
  /** Said when a stop signal arrives ("stopping…", "unmounting…"). */
  stopping: string;
  /** Stop the frontend. */
  stop: () => Promise<void>;
}

/** Run until SIGINT/SIGTERM, then stop. */
export async function runUntilSignal(ctx: CliContext, options: RunOptions): Promise<void> {
  const cache = options.served instanceof CachedVfs ? options.served : undefined;
  const sources: StatsSources = { ...options.sources, ...(cache ? { cache } : {}) };
  const stopStats = options.stats ? startStats(sources, ctx.out) : () => {};
  // SIGHUP: forget cached listings and blocks now (after changes made elsewhere), like rclone's vfs/forget.
  const forget = () => {
    cache?.forget('/');
    ctx.out('cache cleared');
  };
  if (cache) process.on('SIGHUP', forget);
  await waitForSignal();
  process.off('SIGHUP', forget);
  stopStats();
  ctx.out(options.stopping);
  await options.stop();
  // A last stats line with the final figures (the periodic one may be up to 10 s old).
  if (options.stats) ctx.out(await statsLine(sources).catch(() => 'stats: unavailable'));
}

/** Resolve on SIGINT or SIGTERM. */
export function waitForSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const done = (signal: NodeJS.Signals) => {
      process.off('SIGINT', done);
      process.off('SIGTERM', done);
      resolve(signal);
    };
    process.on('SIGINT', done);
    process.on('SIGTERM', done);
  });
}

