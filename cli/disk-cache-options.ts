/**
 * `--cache-dir`, `--cache-max-size`, `--cache-max-age`, `--cache-min-free-space` of `mount` and
 * `serve webdav`: the persistent disk cache of file content (src/cache/disk-cache.ts).
 */
import { InvalidArgumentError, Option } from 'commander';
import type { Command } from 'commander';
import type { CacheOptions } from '../src/cache.js';
import { parseDurationMs, parseSize } from './units.js';

export interface DiskCacheFlags {
  cache: boolean;
  cacheDir?: string;
  cacheMaxSize?: number;
  cacheMaxAge?: number;
  cacheMinFreeSpace?: number;
}

/** Add the disk cache flags to `cmd`. */
export function addDiskCacheOptions(cmd: Command): Command {
  return cmd
    .option('--cache-dir <dir>', 'keep read blocks in this folder across restarts (one process per folder)')
    .addOption(new Option('--cache-max-size <size>', 'most bytes kept in --cache-dir, least recently used evicted first (default 10G)').argParser(parseSize))
    .addOption(new Option('--cache-max-age <duration>', 'evict files from --cache-dir not read for this long (default 7d)').argParser(parseDurationMs))
    .addOption(new Option('--cache-min-free-space <size>', 'free space to leave on the disk of --cache-dir (default 1G)').argParser(parseSize));
}

/**
 * The frontends' cache option with the disk cache flags added. `scope` names what the mount serves
 * (remote:path), so two remotes cached one after the other in one folder never share files.
 */
export function withDiskCache(cache: CacheOptions | false, flags: DiskCacheFlags, scope: string): CacheOptions | false {
  const given = flags.cacheMaxSize !== undefined || flags.cacheMaxAge !== undefined || flags.cacheMinFreeSpace !== undefined;
  if (flags.cacheDir === undefined) {
    if (given) throw new InvalidArgumentError('--cache-max-size, --cache-max-age and --cache-min-free-space need --cache-dir');
    return cache;
  }
  if (cache === false) throw new InvalidArgumentError('--cache-dir needs the cache: drop --no-cache');
  return {
    ...cache,
    cacheDir: flags.cacheDir,
    cacheScope: scope,
    ...(flags.cacheMaxSize !== undefined ? { cacheMaxSize: flags.cacheMaxSize } : {}),
    ...(flags.cacheMaxAge !== undefined ? { cacheMaxAge: flags.cacheMaxAge } : {}),
    ...(flags.cacheMinFreeSpace !== undefined ? { cacheMinFreeSpace: flags.cacheMinFreeSpace } : {}),
  };
}
