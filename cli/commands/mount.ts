/**
 * `cloudmount mount <remote:path> <dir>`: mount a remote as a local folder (FUSE). Runs in the
 * foreground until Ctrl-C/SIGTERM (then unmounts cleanly) or until it is unmounted from outside
 * (`fusermount -u <dir>`: it notices within a second, finishes open files and exits with status 0).
 */
import { InvalidArgumentError, Option } from 'commander';
import type { Command } from 'commander';
import { defaultSpoolDir, listPendingUploads, mountFuse } from '../../mount/fuse.js';
import type { CliContext } from '../context.js';
import { parseSeconds } from '../args.js';
import { cacheOption, openForServing, runUntilSignal } from '../lifecycle.js';
import { addDiskCacheOptions, withDiskCache } from '../disk-cache-options.js';
import type { DiskCacheFlags } from '../disk-cache-options.js';
import { daemonize, isDaemonChild, notifyReady, prepareDaemonChild } from '../daemon.js';
import { metricsOption } from '../gateway-options.js';
import { startMetrics } from '../metrics.js';
import { addRedisOptions, coordinate } from '../redis.js';
import type { RedisFlags } from '../redis.js';

interface MountOptions extends RedisFlags, DiskCacheFlags {
  readOnly?: boolean;
  allowNonEmpty?: boolean;
  allowOther?: boolean;
  cache: boolean;
  cacheTtl?: number;
  watch: boolean;
  spoolDir?: string;
  uid?: number;
  gid?: number;
  stats?: boolean;
  debugFuse?: boolean;
  daemon?: boolean;
  metricsAddr?: string;
  writeBack?: boolean | number;
}

/** Register `mount`. */
export function registerMountCommand(program: Command, ctx: CliContext): void {
  const command = program
    .command('mount')
    .description('mount a remote (or a folder of it) as a local directory with FUSE')
    .argument('<location>', 'remote:path to mount')
    .argument('<dir>', 'local mountpoint (created if missing; a stale mount there is cleared)')
    .option('--read-only', 'mount read-only')
    .option('--allow-non-empty', 'mount over a folder that has files in it (they are hidden while mounted)')
    .option('--allow-other', 'let other users access the mount (needs user_allow_other in /etc/fuse.conf)')
    .option('--no-cache', 'do not cache metadata and blocks')
    .addOption(new Option('--cache-ttl <seconds>', 'how long listings and attributes stay fresh').argParser(parseSeconds))
    .option('--no-watch', 'do not follow changes made elsewhere (then only --cache-ttl expiry shows them)')
    .option('--spool-dir <dir>', `where open files are spooled until uploaded (default ${defaultSpoolDir()})`)
    .option('--uid <uid>', 'owner of every file', parseId)
    .option('--gid <gid>', 'group of every file', parseId)
    .option('--stats', 'print a stats line every 10 s')
    .addOption(new Option('--write-back [delay]', 'close() returns once the file is safe on local disk; upload in the background after delay seconds (default 5)').argParser(parseSeconds))
    .option('--debug-fuse', 'libfuse debug output')
    .option('--daemon', 'run in the background; return once the mount is ready (non-zero with the reason if it is not)')
    .addOption(metricsOption());
  // Several instances of one remote share the provider budget (locks, properties and cache
  // coherence are WebDAV's: see serve webdav).
  addRedisOptions(addDiskCacheOptions(command))
    .action(async (location: string, dir: string, opts: MountOptions) => {
      if (opts.daemon && !isDaemonChild()) {
        process.exitCode = await daemonize(ctx.out, ctx.warn);
        return;
      }
      prepareDaemonChild();
      const { vfs, path, remote, metered } = await openForServing(ctx, location, opts.spoolDir);
      const spoolDir = opts.spoolDir ?? defaultSpoolDir();
      const pendingCount = async () => (await listPendingUploads(spoolDir)).length;
      const metrics = opts.metricsAddr ? await startMetrics(ctx, opts.metricsAddr, { scheduler: vfs.scheduler, metered, pending: pendingCount }) : undefined;
      const shared = await coordinate(opts, location, vfs, ctx.logger, false);
      const mount = await mountFuse(metered, dir, {
        readOnly: opts.readOnly ?? false,
        allowOther: opts.allowOther ?? false,
        allowNonEmpty: opts.allowNonEmpty ?? false,
        cache: withDiskCache(cacheOption(opts.cache, opts.cacheTtl, opts.watch), opts, location),
        spoolDir,
        ...(opts.uid !== undefined ? { uid: opts.uid } : {}),
        ...(opts.gid !== undefined ? { gid: opts.gid } : {}),
        // The sidecar label says where the mount's root is, so `pending retry` of a mounted folder
        // uploads to remote:/folder/file and not to remote:/file (kept-upload paths are mount-relative).
        ...(remote ? { remote: path === '/' ? remote : `${remote}:${path}` } : {}),
        fsname: `cloudmount:${location}`,
        debug: opts.debugFuse ?? false,
        ...(opts.writeBack !== undefined && opts.writeBack !== false ? { writeBack: typeof opts.writeBack === 'number' ? { delayMs: Math.round(opts.writeBack * 1000) } : true } : {}),
        handleSignals: false,
        logger: ctx.logger,
        ...(metrics ? { onOperation: metrics.fuseOperation } : {}),
      });
      metrics?.watchCache(mount.vfs);
      ctx.out(`mounted ${location} at ${mount.mountpoint}${opts.readOnly ? ' (read-only)' : ''}`);
      ctx.out('press Ctrl-C to unmount');
      notifyReady(`mounted ${location} at ${mount.mountpoint}`);
      const pending = await listPendingUploads(spoolDir);
      if (pending.length) ctx.warn(`note: ${pending.length} upload(s) from earlier runs are kept in ${spoolDir}; see "cloudmount pending list"`);
      await runUntilSignal(ctx, {
        served: mount.vfs,
        sources: { scheduler: vfs.scheduler, metered, pending: async () => (await listPendingUploads(spoolDir)).length },
        stats: opts.stats ?? false,
        stopping: 'unmounting…',
        stop: async () => {
          await mount.unmount();
          await metrics?.close();
          await shared?.close();
        },
        ended: mount.ended.then((how) => (how === 'external' ? `${mount.mountpoint} was unmounted from outside; exiting` : new Promise<never>(() => {}))),
      });
      const left = await listPendingUploads(spoolDir);
      if (left.length) ctx.warn(`${left.length} upload(s) could not be completed and are kept; see "cloudmount pending list"`);
    });
}

function parseId(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('expected a numeric id');
  return n;
}
