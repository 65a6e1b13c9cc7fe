/**
 * `cloudmount serve webdav <remote:path>`: share a remote (or a folder of it) over WebDAV.
 */
import { InvalidArgumentError, Option } from 'commander';
import type { Command } from 'commander';
import { serveWebdav } from '../../mount/webdav.js';
import { RedisLockStore } from '../../mount/webdav/redis-locks.js';
import { RedisPropStore } from '../../mount/webdav/redis-props.js';
import { VfsError } from '../../src/errors.js';
import type { CliContext } from '../context.js';
import { parseAddr, parseSeconds } from '../args.js';
import { cacheOption, openForServing, runUntilSignal } from '../lifecycle.js';
import { addDiskCacheOptions, withDiskCache } from '../disk-cache-options.js';
import type { DiskCacheFlags } from '../disk-cache-options.js';
import { addGatewayServeOptions, authProxyOf, loadTls, loadUsers, reloadTlsOnHup } from '../gateway-options.js';
import type { GatewayServeOptions } from '../gateway-options.js';
import { startMetrics } from '../metrics.js';
import { defaultSpoolDir, listPendingUploads } from '../../mount/fuse.js';


import { RedisUploadJobs } from '../../src/coordinator/upload-jobs.js';
import { addRedisOptions, coordinate } from '../redis.js';
import type { RedisFlags } from '../redis.js';

interface ServeOptions extends GatewayServeOptions, RedisFlags, DiskCacheFlags {
  addr: string;
  user: string[];
  readOnly?: boolean;
  cache: boolean;
  cacheTtl?: number;
  watch: boolean;
  junk: boolean;
  stats?: boolean;
  spoolDir?: string;
  allowRemoteWithoutAuth?: boolean;
  maxConnections?: number;
  maxConnectionsPerAddress?: number;
  headersTimeout?: number;
  bodyIdleTimeout?: number;
  writeBack?: boolean | number;
}

/** Register `serve webdav`. */
export function registerServeCommand(program: Command, ctx: CliContext): void {
  const serve = program.command('serve').description('serve a remote over a network protocol');
  const webdav = serve
    .command('webdav')
    .description('serve a remote (or a folder of it) as a WebDAV share')
    .argument('<location>', 'remote:path to serve')
    .option('--addr <[host:]port>', 'address to listen on (a bare PORT means 127.0.0.1:PORT)', '127.0.0.1:8080')
    .option('--user <name:password[:root[:ro]]>', 'require Basic auth with this user, optionally confined to a folder and read-only (repeatable)', collectUser, [])
    .option('--read-only', 'refuse every change')
    .option('--no-cache', 'do not cache metadata and blocks (every request goes to the provider)')
    .addOption(new Option('--cache-ttl <seconds>', 'how long listings and stats stay fresh').argParser(parseSeconds))
    .option('--no-watch', 'do not follow changes made elsewhere (then only --cache-ttl expiry shows them)')
    .option('--no-junk', 'do not hide OS junk files (.DS_Store, ._*, Thumbs.db, desktop.ini)')
    .option('--spool-dir <dir>', `where uploads of unknown size are spooled, and the write-back queue kept (default ${defaultSpoolDir()} with --write-back); with --redis and several instances, a folder every instance reads (a shared volume), so any instance serves and uploads what another queued`)
    .addOption(new Option('--write-back [delay]', 'answer a PUT once the body is safe on local disk; upload in the background after delay seconds (default 5)').argParser(parseSeconds))
    .option('--allow-remote-without-auth', 'allow a non-loopback --addr without --user')
    .option('--stats', 'print a stats line every 10 s')
    .addOption(new Option('--max-connections <n>', 'open connections in total (default 512)').argParser(parseCount))
    .addOption(new Option('--max-connections-per-address <n>', 'open connections per client address or IPv6 /64 (default 128)').argParser(parseCount))
    .addOption(new Option('--headers-timeout <seconds>', 'time for request headers to arrive (default 20)').argParser(parseSeconds))
    .addOption(new Option('--body-idle-timeout <seconds>', 'fail an upload that receives nothing for this long (default 60)').argParser(parseSeconds));
  addRedisOptions(addGatewayServeOptions(addDiskCacheOptions(webdav)))
    .action(async (location: string, opts: ServeOptions) => {
      // Files first: a bad certificate or user list fails before anything is opened.
      const tls = await loadTls(opts);
      const users = await loadUsers(ctx, opts);
      const authProxy = authProxyOf(opts);
      const { host, port } = parseAddr(opts.addr);
      if (!isLoopback(host) && !users && !authProxy && !opts.allowRemoteWithoutAuth) {
        throw new VfsError('EACCES', `refusing to serve ${host} with no login required: add --user NAME:PASSWORD (or --htpasswd FILE), or --allow-remote-without-auth on a trusted network`);
      }
      const { vfs, metered, path, remote } = await openForServing(ctx, location, opts.spoolDir);
      // The write-back queue lives where `cloudmount pending list` looks by default (it must survive a reboot).
      const queueDir = opts.spoolDir ?? defaultSpoolDir();
      const writeBack = opts.writeBack !== undefined && opts.writeBack !== false;
      // With Redis the queue's records are jobs there (src/coordinator/upload-jobs.ts), set below.
      let jobs: RedisUploadJobs | undefined;
      const pending = writeBack ? async () => (jobs ? (await jobs.list()).length : (await listPendingUploads(queueDir)).length) : undefined;
      const metrics = opts.metricsAddr ? await startMetrics(ctx, opts.metricsAddr, { scheduler: vfs.scheduler, metered, ...(pending ? { pending } : {}) }) : undefined;
      const shared = await coordinate(opts, `${location}`, vfs, ctx.logger, opts.cache, opts.watch ? metered : undefined);
      let server;
      try {
        // Every instance of the account sees the queue and takes over a dead instance's uploads.
        if (writeBack && shared) jobs = await RedisUploadJobs.open(shared.coordinator, { dir: queueDir, logger: ctx.logger });
        server = await serveWebdav(metered, {
        protectProcess: true,
        host,
        port,
        ...(users ? { users } : {}),
        ...(tls ? { tls } : {}),
        ...(authProxy ? { authProxy } : {}),
        ...(metrics ? { onRequest: metrics.webdavRequest } : {}),
        readOnly: opts.readOnly ?? false,
        // With Redis one elected instance follows the provider's feed for all (coordinate above).
        cache: withDiskCache(cacheOption(opts.cache, opts.cacheTtl, opts.watch && !shared?.feed), opts, location),
        junkFilter: opts.junk,
        ...(opts.spoolDir ? { spoolDir: opts.spoolDir } : {}),
        allowUnauthenticatedRemote: opts.allowRemoteWithoutAuth ?? false,
        ...(opts.maxConnections !== undefined ? { maxConnections: opts.maxConnections } : {}),
        ...(opts.maxConnectionsPerAddress !== undefined ? { maxConnectionsPerAddress: opts.maxConnectionsPerAddress } : {}),
        ...(opts.headersTimeout !== undefined ? { headersTimeout: opts.headersTimeout * 1000 } : {}),
        ...(opts.bodyIdleTimeout !== undefined ? { bodyIdleTimeout: opts.bodyIdleTimeout * 1000 } : {}),
        logger: ctx.logger,
        ...(shared ? { lockStore: new RedisLockStore(shared.coordinator), propStore: new RedisPropStore(shared.coordinator) } : {}),
        ...(shared?.coherence ? { coherence: shared.coherence } : {}),
        ...(writeBack ? {
          writeBack: {
            dir: queueDir,
            // The label `pending retry` resolves (remote:folder), and what the next serve of it resumes.
            ...(remote ? { remote: path === '/' ? remote : `${remote}:${path}` } : {}),
            ...(typeof opts.writeBack === 'number' ? { delayMs: Math.round(opts.writeBack * 1000) } : {}),
            ...(jobs ? { store: jobs } : {}),
          },
        } : {}),
      });
      } catch (e) {
        jobs?.close();
        await shared?.close();
        await metrics?.close();
        throw e;
      }
      for (const w of server.warnings) ctx.warn(w);
      metrics?.watchCache(server.vfs);
      const stopHup = reloadTlsOnHup(ctx, opts, server);
      ctx.out(`serving ${location} over WebDAV at ${server.url}${opts.readOnly ? ' (read-only)' : ''}`);
      ctx.out('press Ctrl-C to stop');
      await runUntilSignal(ctx, {
        served: server.vfs,
        sources: { scheduler: vfs.scheduler, metered },
        stats: opts.stats ?? false,
        stopping: 'stopping…',
        stop: async () => {
          stopHup();
          await server.close();
          // One more try for what is queued (no waiting out backoffs); what still fails stays for the next run.
          await server.writeBack?.drain();
          // What still failed stays queued in Redis: a survivor takes it once this owner's lease lapses.
          jobs?.close();
          await metrics?.close();
          await shared?.close();
        },
      });
    });
}

function parseCount(value: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError('expected a whole number ≥ 1');
  return n;
}

/** 127.0.0.0/8, ::1 and localhost: addresses only this machine reaches. */
function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

function collectUser(value: string, previous: string[]): string[] {
  if (!value.includes(':') || value.startsWith(':')) throw new InvalidArgumentError('expected name:password');
  return [...previous, value];
}
