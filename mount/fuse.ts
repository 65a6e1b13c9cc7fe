/**
 * mountFuse: any Vfs as a local folder through the kernel's FUSE (fuse-native over libfuse2).
 *
 * Reads go through CachedVfs (ranged block reads with read-ahead); writes go to a spool file per
 * open file and are uploaded on flush/fsync/close, the upload's error reported to close(); an upload
 * that fails after its retries keeps the spool file + a JSON sidecar, listed by `listPendingUploads`.
 * The pieces live in mount/fuse/: filesystem.ts (the operations over a Vfs), operations.ts (the
 * fuse-native callback table), open-file.ts/write-buffer.ts (write buffering; a write that failed locally
 * poisons the file: never uploaded), pending.ts (kept uploads), lookup-cache.ts (readdir-fed lookups),
 * preflight.ts (FUSE availability, stale mounts), utimens-bridge.ts (the real mtime past fuse-native's
 * bug), session-times.ts (mtimes a provider cannot store), cloexec.ts (/dev/fuse close-on-exec),
 * mount-watch.ts (an unmount from outside).
 */
import { realpath } from 'node:fs/promises';
import { observeFuseOperations } from './fuse-observe.js';
import type { FuseOperationObserver } from './fuse-observe.js';
import { resolve } from 'node:path';
import { CachedVfs } from '../src/cache.js';
import type { CacheOptions } from '../src/cache.js';
import { VfsError, toVfsError } from '../src/errors.js';
import { silentLogger } from '../src/log.js';
import type { Logger } from '../src/log.js';
import type { Vfs } from '../src/vfs.js';
import { readOnlyView } from '../src/readonly-vfs.js';
import { loadFuseNative, releaseNativeMount } from './fuse/binding.js';
import { closeFuseOnExec } from './fuse/cloexec.js';
import { isMounted, watchMount } from './fuse/mount-watch.js';
import type { FuseInstance, FuseNativeOptions, FuseTimeouts } from './fuse/binding.js';
import { installFastDispatch } from './fuse/fast-dispatch.js';
import { FuseFilesystem } from './fuse/filesystem.js';
import { fuseOperations } from './fuse/operations.js';
import { defaultSpoolDir } from './fuse/pending.js';
import { checkFuseAvailable, prepareMountpoint } from './fuse/preflight.js';
import { installUtimensFix } from './fuse/utimens-bridge.js';
import type { WriteBackOptions } from './fuse/write-back.js';

export { defaultSpoolDir, discardPendingUpload, listPendingUploads, retryPendingUpload } from './fuse/pending.js';
export type { PendingUpload, RetryOptions } from './fuse/pending.js';
export { conflictPath } from './fuse/write-back.js';
export type { WriteBackOptions } from './fuse/write-back.js';

/** Options of `mountFuse`. Every field is optional. */
export interface FuseMountOptions {
  /**
   * Refuse every change with EROFS ("Read-only file system"): the Vfs is served through a ReadonlyVfs
   * and mounted `ro`. A Vfs whose capabilities say read-only is mounted so anyway.
   */
  readOnly?: boolean;
  /** Let other users (and root) see the mount (needs `user_allow_other` in /etc/fuse.conf for non-root). */
  allowOther?: boolean;
  /** Mount over a folder that has files in it (they are hidden while mounted). Default false. */
  allowNonEmpty?: boolean;
  /** Owner shown for every file (default: this process's uid/gid). */
  uid?: number;
  gid?: number;
  /** Where spool files and their sidecars live (default: `defaultSpoolDir()`, under $XDG_CACHE_HOME). */
  spoolDir?: string;
  /**
   * Files up to this size are spooled in memory while written (default 1 MiB; 0 = always a spool file),
   * at most `spoolMemoryTotalBytes` in all (default 32 MiB). A failed upload always moves them to a kept spool file.
   */
  spoolMemoryBytes?: number;
  spoolMemoryTotalBytes?: number;
  /** Wrap the Vfs in CachedVfs (default true); an object passes CachedVfs options. `false` also turns off the frontend's lookup cache. */
  cache?: boolean | CacheOptions;
  /** Seconds the kernel keeps attributes and name lookups (default 1, libfuse's own default). */
  attrTimeoutSec?: number;
  entryTimeoutSec?: number;
  /** How long a listing answers the lookups that follow it, in ms (default 2000). */
  metadataTtlMs?: number;
  /**
   * Longest a kernel request may wait for a metadata or read operation, in ms (default 300 000).
   * fuse-native's own default is 15 s, after which the caller gets ETIMEDOUT although the provider may
   * only be slow; the Scheduler's retries and timeouts bound each request below this.
   */
  operationTimeoutMs?: number;
  /** The same for operations that upload or download whole files (flush, fsync, release, write, truncate, rename); 0 = none (default). */
  transferTimeoutMs?: number;
  /** Install SIGINT/SIGTERM handlers that unmount cleanly, then exit (default false; the CLI turns it on). */
  handleSignals?: boolean;
  /** Label stored in spool sidecars so `cloudmount` knows where to retry (e.g. the remote's name). Never a secret. */
  remote?: string;
  /**
   * Keep file pages in the kernel's page cache across opens while the file's size and mtime are
   * unchanged (libfuse `auto_cache`; default true): re-reading a file costs no request at all.
   * Changes made elsewhere are seen once the metadata caches notice them (seconds).
   */
  kernelCache?: boolean;
  /** Name shown by `mount`/`df` (default "cloudmount"). */
  fsname?: string;
  /**
   * Answer the hot operations (getattr, readdir, open/create, read/write, flush/release) through
   * cloudmount's own lean handlers instead of fuse-native's generic JS layer (default true; see
   * mount/fuse/fast-dispatch.ts). `false` is the plain fuse-native path, for comparison.
   */
  fastDispatch?: boolean;
  /**
   * Write-back: close() returns once the bytes and a queue record are fsynced in the spool folder;
   * uploads run in the background after a delay (write-back.ts). `true` uses the defaults. A queue
   * a crashed mount of the same remote left is resumed before the mount serves. Default off:
   * close() waits for the upload and reports its error.
   */
  writeBack?: boolean | WriteBackOptions;
  /** libfuse debug output on stderr. */
  debug?: boolean;
  logger?: Logger;
  /** Called once per finished FUSE operation (for metrics): operation, outcome ("ok" or an errno name), seconds. */
  onOperation?: FuseOperationObserver;
}

/** A live mount. */
export interface FuseMount {
  /** Absolute path of the mounted folder. */
  mountpoint: string;
  /** The Vfs the mount serves (the CachedVfs wrapper when caching is on). */
  vfs: Vfs;
  /** Unmount (lazily, so busy files keep working until closed), then upload what open files still hold. */
  unmount(): Promise<void>;
  /**
   * Settles once the mount is gone and its open files are finished: 'unmounted' after `unmount()`,
   * 'external' when it was unmounted from outside (`fusermount -u`, `umount`), noticed within about
   * a second. Never rejects.
   */
  ended: Promise<'unmounted' | 'external'>;
}

/** Mount `vfs` at `mountpoint`; resolves once the kernel serves it. Rejects with a one-line VfsError. */
export async function mountFuse(vfs: Vfs, mountpoint: string, options: FuseMountOptions = {}): Promise<FuseMount> {
  const logger = (options.logger ?? silentLogger).child({ layer: 'fuse' });
  const mnt = resolve(mountpoint);
  const Fuse = loadFuseNative();
  await checkFuseAvailable();
  await prepareMountpoint(mnt, options.allowNonEmpty ?? false);
  // The mount table spells the mountpoint resolved through symlinks: watch that spelling (mount-watch.ts).
  const tablePath = await realpath(mnt).catch(() => mnt);

  // The kernel's page cache keeps what was read (auto_cache), so the block cache mainly carries
  // read-ahead: 32 MiB (8 MiB windows) keeps the mount near 150 MB while copying 1 GiB in and out.
  const cacheOptions: CacheOptions = { logger, blockCacheBytes: 32 * 1024 * 1024, ...(typeof options.cache === 'object' ? options.cache : {}) };
  const base = options.readOnly ? readOnlyView(vfs) : vfs;
  const served = options.cache === false ? base : new CachedVfs(base, cacheOptions);
  const readOnly = served.capabilities.readOnly;
  const fs = new FuseFilesystem(served, {
    uid: options.uid ?? process.getuid?.() ?? 0,
    gid: options.gid ?? process.getgid?.() ?? 0,
    spoolDir: resolve(options.spoolDir ?? defaultSpoolDir()),
    // Following changes made elsewhere: the frontend's own lookup cache must not hide them long.
    metadataTtlMs: options.cache === false ? 0 : options.metadataTtlMs ?? (cacheOptions.watch ? 500 : 2000),
    spaceTtlMs: 10_000,
    spoolMemoryBytes: options.spoolMemoryBytes ?? 1024 * 1024,
    spoolMemoryTotalBytes: options.spoolMemoryTotalBytes ?? 32 * 1024 * 1024,
    logger,
    ...(options.remote !== undefined ? { remote: options.remote } : {}),
    ...(options.writeBack ? { writeBack: options.writeBack === true ? {} : options.writeBack } : {}),
  });
  await fs.resumeWriteBack();

  if (options.onOperation) observeFuseOperations(fs, options.onOperation);
  const nativeOptions = fuseNativeOptions(options, readOnly);
  const fuse = new Fuse(mnt, fuseOperations(fs, logger), nativeOptions);
  // fuse-native 2.2.6 hands utimens the access time as the mtime; read the real one (utimens-bridge.ts).
  if (!installUtimensFix(fuse)) logger.debug('fuse-native internals differ from 2.2.x: utimens arguments used as given');
  const timeouts = nativeOptions.timeout as FuseTimeouts;
  const stopDispatch = options.fastDispatch === false ? undefined : installFastDispatch(fuse, fs, logger, {
    metadata: timeouts.default, transfer: timeouts.write ?? false,
  });
  if (options.fastDispatch !== false && !stopDispatch) logger.debug('fuse-native internals differ from 2.2.x: using its plain dispatch');
  try {
    await new Promise<void>((ok, fail) => fuse.mount((err) => (err ? fail(err) : ok())));
  } catch (e) {
    stopDispatch?.();
    throw new VfsError('EIO', `cannot mount ${mnt}: ${toVfsError(e).reason}`, {
      provider: 'fuse', operation: 'mount', path: mnt, cause: e,
    });
  }
  logger.info('mounted', { mountpoint: mnt, vfs: served.name, readOnly });
  // libfuse opened /dev/fuse without close-on-exec: every child process would inherit it (cloexec.ts).
  try {
    closeFuseOnExec();
  } catch (e) {
    logger.warn('child processes of this program will inherit the FUSE descriptor', { reason: (e as Error).message });
  }

  let how: 'unmounted' | 'external' = 'unmounted';
  let resolveEnded: (how: 'unmounted' | 'external') => void = () => {};
  const ended = new Promise<'unmounted' | 'external'>((r) => (resolveEnded = r));
  let unmounting: Promise<void> | undefined;
  const unmount = (): Promise<void> => (unmounting ??= (async () => {
    stopWatch();
    try {
      await doUnmount(fuse, fs, mnt, tablePath, logger, () => removeSignals(), how === 'external');
      if (served instanceof CachedVfs) await served.closeDiskCache();
    } finally {
      stopDispatch?.();
      resolveEnded(how);
    }
  })());
  // Unmounted from outside (fusermount -u): finish open files and release the process.
  const stopWatch = watchMount(tablePath, () => {
    if (unmounting) return;
    how = 'external';
    logger.warn('the mount was unmounted from outside; finishing open files', { mountpoint: mnt });
    unmount().catch(() => undefined);
  });
  let removeSignals = () => {};
  if (options.handleSignals) removeSignals = installSignalHandlers(unmount, logger);
  return { mountpoint: mnt, vfs: served, unmount, ended };
}

/**
 * fuse-native's options. Notes:
 * - `timeout` is per operation; uploads get their own (default none) so a big file's close() is not cut off.
 * - fuse-native has no option for big_writes, max_write, max_readahead or atomic_o_trunc, yet it joins every option into
 *   one `-o` list, so they ride in after `fsname`. Without big_writes libfuse2 delivers writes 4 KiB at a
 *   time (25 600 calls for 100 MiB); with it, 128 KiB (the kernel's limit for libfuse2).
 */
function fuseNativeOptions(options: FuseMountOptions, readOnly: boolean): FuseNativeOptions {
  const opTimeout = options.operationTimeoutMs ?? 300_000;
  const transfer: number | false = options.transferTimeoutMs ? options.transferTimeoutMs : false;
  const timeout: FuseTimeouts = { default: opTimeout };
  for (const op of ['flush', 'fsync', 'release', 'write', 'truncate', 'ftruncate', 'rename', 'read']) timeout[op] = transfer;
  // Reads wait for the remote stream; bound them like metadata, unless a transfer limit is longer.
  timeout.read = opTimeout;
  const fsname = (options.fsname ?? 'cloudmount').replace(/[,\s\\]/g, '_');
  // atomic_o_trunc: open(O_TRUNC) arrives as one open with the flag, which truncates only the spool.
  // Without it the kernel first sends truncate(path, 0), which uploads an empty file at once: a crash
  // or a failed upload before close() then left the provider with nothing instead of the old version.
  const extra = ['big_writes', 'max_write=131072', 'max_readahead=1048576', 'atomic_o_trunc', ...(readOnly ? ['ro'] : [])];
  const out: FuseNativeOptions = {
    timeout,
    mkdir: true,
    force: false,
    fsname: `${fsname},subtype=cloudmount,${extra.join(',')}`,
    // Watching: half a second each, so a change the cache learned shows within a second.
    attrTimeout: options.attrTimeoutSec ?? (watching(options) ? 0.5 : 1),
    entryTimeout: options.entryTimeoutSec ?? (watching(options) ? 0.5 : 1),
    maxRead: 131072,
  };
  if (options.kernelCache ?? true) out.autoCache = true;
  if (options.allowOther) out.allowOther = true;
  if (options.allowNonEmpty) out.fsname += ',nonempty';
  if (options.debug) out.debug = true;
  return out;
}

async function doUnmount(fuse: FuseInstance, fs: FuseFilesystem, mnt: string, tablePath: string, logger: Logger, removeSignals: () => void, gone: boolean): Promise<void> {
  removeSignals();
  let released = false;
  if (!gone) {
    await new Promise<void>((ok) => fuse.unmount((err) => {
      released = !err;
      if (err) logger.warn('unmount reported an error', { mountpoint: mnt, error: err });
      ok();
    }));
  }
  // fuse-native's unmount fails once the kernel mount is gone, and then keeps the event loop alive.
  if (!released && (gone || (await isMounted(tablePath)) === false) && !releaseNativeMount(fuse)) {
    logger.debug('fuse-native internals differ from 2.2.x: its handle may keep the process alive');
  }
  const kept = await fs.shutdown();
  if (kept > 0) logger.error('some files could not be uploaded; they are kept as pending uploads', { count: kept });
  logger.info('unmounted', { mountpoint: mnt });
}

/** SIGINT/SIGTERM → unmount, then exit with the signal's conventional status. Returns the remover. */
function installSignalHandlers(unmount: () => Promise<void>, logger: Logger): () => void {
  const onSignal = (signal: NodeJS.Signals) => {
    logger.info('signal received; unmounting', { signal });
    const code = signal === 'SIGINT' ? 130 : 143;
    unmount().then(() => process.exit(code), () => process.exit(code));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  return () => {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  };
}

function watching(options: FuseMountOptions): boolean {
  return typeof options.cache === 'object' && options.cache.watch === true;
}
