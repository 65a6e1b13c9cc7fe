/**
 * The life of a running share or mount, shared by `serve webdav` and `mount`: periodic stats, SIGHUP
 * clears the cache, SIGINT/SIGTERM stop it, and a last stats line reports the final figures.
 */
import { InvalidArgumentError } from 'commander';
import { CachedVfs } from '../src/cache.js';
import type { CacheOptions } from '../src/cache.js';
import { VfsError, isVfsError } from '../src/errors.js';
import { providerOf } from '../adapters/index.js';
import { resolveRemote } from './config.js';
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

/**
 * Open `location` for serving; it must be a directory. It is stat'ed and listed before the caller says
 * "ready", so a wrong password or an unreachable server stops the start with the reason (a root stat
 * alone may be answered without a request, as Cloudreve's is).
 */
export async function openForServing(ctx: CliContext, location: string, spoolDir?: string): Promise<ServedLocation> {
  const { vfs, path, remote } = await ctx.open(location, spoolDir ? { spoolDir } : {});
  try {
    if ((await vfs.stat(path)).type !== 'directory') throw new VfsError('ENOTDIR', `${location} is not a directory`, { path });
    await vfs.list(path);
  } catch (e) {
    if (remote && isVfsError(e, 'EACCES', 'EPERM')) {
      const account = await accountOf(ctx, remote);
      throw new VfsError(e.code, `remote "${remote}:" refused ${account}: ${e.reason}`, { ...e.details, cause: e });
    }
    throw e;
  }
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
  /** Resolves with a message when the frontend ended by itself (a mount unmounted from outside): stop then, without a signal. */
  ended?: Promise<string>;
}

/** SIGINT/SIGTERM (→ undefined) or `ended`'s message, whichever comes first; the signal listeners are removed either way. */
function signalOrEnd(ended: Promise<string>): Promise<string | undefined> {
  return new Promise((resolve) => {
    const finish = (value: string | undefined) => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      resolve(value);
    };
    const onSignal = () => finish(undefined);
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    ended.then(finish, () => undefined);
  });
}

/** Run until SIGINT/SIGTERM (or until `ended`), then stop. */
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
  const endedBy = options.ended ? await signalOrEnd(options.ended) : await waitForSignal().then(() => undefined);
  process.off('SIGHUP', forget);
  stopStats();
  ctx.out(endedBy ?? options.stopping);
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


/** "the login of user@example.com at drive.example.com": who we tried to be, never a secret. */
async function accountOf(ctx: CliContext, name: string): Promise<string> {
  try {
    const remote = resolveRemote(name, await ctx.config());
    const fields = providerOf(remote.type)?.fields ?? [];
    const who = fields.filter((f) => !f.secret && f.kind !== 'url' && f.kind !== 'object' && typeof remote[f.name] === 'string' && remote[f.name]);
    const secrets = fields.filter((f) => f.secret && typeof remote[f.name] === 'string' && remote[f.name]).map((f) => f.env ?? f.name);
    const where = fields.filter((f) => f.kind === 'url' && typeof remote[f.name] === 'string').map((f) => {
      try {
        return new URL(remote[f.name] as string).host;
      } catch {
        return '';
      }
    }).filter(Boolean);
    const account = who.length ? who.map((f) => String(remote[f.name])).join(' ') : `its ${secrets.join('/') || 'credentials'}`;
    return `the login of ${account}${where.length ? ` at ${[...new Set(where)].join(', ')}` : ''} (check ${secrets.join(', ') || 'the credentials'})`;
  } catch {
    return 'the login';
  }
}
