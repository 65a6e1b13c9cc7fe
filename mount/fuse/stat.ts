/** Vfs metadata → the stat/statfs shapes fuse-native hands to the kernel. */
import type { Entry, SpaceInfo } from '../../src/vfs.js';
import type { FuseStat, FuseStatfs } from './binding.js';

export interface StatOwner {
  uid: number;
  gid: number;
  readOnly: boolean;
}

/** Preferred I/O size told to programs (cp and friends size their buffers by it). */
const IO_BLOCK = 128 * 1024;

/** A stat for an entry: the store has no modes, so files are 0644 and folders 0755 (0444/0555 read-only). */
export function entryStat(entry: Pick<Entry, 'type' | 'size' | 'mtime'>, owner: StatOwner): FuseStat {
  const dir = entry.type === 'directory';
  const perm = dir ? (owner.readOnly ? 0o555 : 0o755) : owner.readOnly ? 0o444 : 0o644;
  const size = dir ? 0 : entry.size;
  return {
    mode: (dir ? 0o040000 : 0o100000) | perm,
    size,
    uid: owner.uid,
    gid: owner.gid,
    nlink: dir ? 2 : 1,
    mtime: entry.mtime,
    atime: entry.mtime,
    ctime: entry.mtime,
    blocks: Math.ceil(size / 512),
    blksize: IO_BLOCK,
  };
}

/** What statfs reports when the provider tells no quota: 1 PiB, so no program refuses to write. */
export const UNKNOWN_QUOTA_BYTES = 2 ** 50;

/**
 * A statfs from `space()`. fuse-native passes each field as a uint32, so the fragment size grows in
 * powers of two until the block count fits (4 KiB blocks cover 16 TiB; 1 PiB needs 256 KiB fragments).
 */
export function spaceStatfs(space: SpaceInfo | undefined): FuseStatfs {
  const used = space?.used ?? 0;
  const total = space?.total ?? Math.max(UNKNOWN_QUOTA_BYTES, used * 2);
  const free = Math.max(0, space?.free ?? total - used);
  let frsize = 4096;
  while (total / frsize >= 2 ** 32 - 1) frsize *= 2;
  const blocks = Math.floor(total / frsize);
  const bfree = Math.min(blocks, Math.floor(free / frsize));
  return {
    bsize: IO_BLOCK, frsize, blocks, bfree, bavail: bfree,
    files: 1_000_000, ffree: 1_000_000, favail: 1_000_000, fsid: 0, flag: 0, namemax: 255,
  };
}
