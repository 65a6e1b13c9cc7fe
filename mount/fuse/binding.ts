/**
 * Loads fuse-native (a CommonJS addon with a prebuilt binary that needs libfuse2) and describes the
 * small part of its API cloudmount uses. Loading is lazy so that importing cloudmount never fails on a
 * machine without FUSE; `mountFuse` turns a load failure into a one-line VfsError.
 */
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { VfsError } from '../../src/errors.js';

/** Callback of a fuse-native operation: 0 or a negative errno first, then the result. */
export type FuseCallback = (code: number, ...result: unknown[]) => void;

/** Stat fields fuse-native turns into a `struct stat` (times in ms or Date). */
export interface FuseStat {
  mode: number;
  size: number;
  uid: number;
  gid: number;
  nlink: number;
  mtime: Date;
  atime: Date;
  ctime: Date;
  blocks?: number;
  blksize?: number;
  ino?: number;
}

/** Statfs fields fuse-native turns into a `struct statvfs` (each a uint32). */
export interface FuseStatfs {
  bsize: number;
  frsize: number;
  blocks: number;
  bfree: number;
  bavail: number;
  files: number;
  ffree: number;
  favail: number;
  fsid: number;
  flag: number;
  namemax: number;
}

/** The operations table fuse-native calls (only the ones cloudmount implements). */
export type FuseOperations = Record<string, (...args: any[]) => void>;

/** Per-operation timeouts in ms (`false` = none), fuse-native's `timeout` option. */
export type FuseTimeouts = { default: number } & Record<string, number | false>;

/** Options fuse-native turns into `-o` mount options. */
export interface FuseNativeOptions {
  timeout?: number | false | FuseTimeouts;
  mkdir?: boolean;
  force?: boolean;
  debug?: boolean;
  allowOther?: boolean;
  uid?: number;
  gid?: number;
  fsname?: string;
  entryTimeout?: number;
  attrTimeout?: number;
  maxRead?: number;
  autoCache?: boolean;
  displayFolder?: boolean;
}

export interface FuseInstance {
  mount(cb: (err: Error | null) => void): void;
  unmount(cb: (err: Error | null) => void): void;
}

/**
 * After the kernel mount went away without fuse-native (fusermount -u from outside), its own
 * unmount fails (its `fusermount -uz` finds nothing) and never releases the libuv handle that holds
 * the event loop, so the process could never end. This does that release (fuse-native 2.2.x's
 * `fuse_native_unmount`, which only unrefs the handle). Returns false when internals differ.
 */
export function releaseNativeMount(fuse: FuseInstance): boolean {
  const inner = fuse as unknown as { mnt?: unknown; _thread?: unknown };
  if (typeof inner.mnt !== 'string' || !Buffer.isBuffer(inner._thread)) return false;
  try {
    const req = createRequire(import.meta.url);
    const dir = dirname(req.resolve('fuse-native/package.json'));
    const gyp = createRequire(req.resolve('fuse-native'))('node-gyp-build') as (dir: string) => Record<string, unknown>;
    const unmount = gyp(dir).fuse_native_unmount;
    if (typeof unmount !== 'function') return false;
    unmount(inner.mnt, inner._thread);
    return true;
  } catch {
    return false;
  }
}

export interface FuseClass {
  new (mountpoint: string, ops: FuseOperations, options: FuseNativeOptions): FuseInstance;
  unmount(mountpoint: string, cb: (err: Error | null) => void): void;
}

let cached: FuseClass | undefined;

/** The fuse-native class, or an ENOSYS VfsError explaining why it cannot load. */
export function loadFuseNative(): FuseClass {
  if (cached) return cached;
  try {
    cached = createRequire(import.meta.url)('fuse-native') as FuseClass;
    return cached;
  } catch (e) {
    const why = e instanceof Error ? e.message.split('\n')[0] : String(e);
    throw new VfsError('ENOSYS', `cannot load fuse-native (install libfuse2: apt-get install fuse libfuse2): ${why}`, {
      provider: 'fuse', operation: 'mount', cause: e,
    });
  }
}
