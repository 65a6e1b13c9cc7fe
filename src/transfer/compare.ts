/**
 * When is a destination file "the same" as its source? By size and modification time where the
 * destination keeps the mtime it is given (local disk, memory, Couchdrop, Cloudreve uploads), by
 * size alone where it does not (and within one Cloudreve, whose server-side copies are stamped now),
 * or by content with `checksum` (both files read and hashed: no provider here exposes a content hash
 * in its listings).
 */
import { createHash } from 'node:crypto';
import { mtimeSupportOf } from '../vfs.js';
import type { Entry, Vfs } from '../vfs.js';

export type CompareMode = 'size-mtime' | 'size' | 'checksum';

/**
 * How `src`→`dst` files are compared unless `checksum` is asked for. Within one Vfs that copies on
 * the server, a copy keeps the source's mtime only where the Vfs can set one (Cloudreve's copy is
 * stamped now), so there size alone decides, or every sync would copy everything again.
 */
export function compareModeOf(dst: Vfs, checksum = false, src?: Vfs): CompareMode {
  if (checksum) return 'checksum';
  if (src === dst && dst.capabilities.serverSideCopy && mtimeSupportOf(dst) !== 'set') return 'size';
  return dst.capabilities.preservesMtime ? 'size-mtime' : 'size';
}

/** The mtime tolerance: the coarser of the two sides' resolutions. */
export function mtimeWindowMs(src: Vfs, dst: Vfs): number {
  return Math.max(1, src.capabilities.mtimeResolutionMs, dst.capabilities.mtimeResolutionMs);
}

/**
 * Same by metadata? `undefined` in checksum mode when the sizes agree (then the content decides).
 * Mtimes within the coarser resolution are equal: a Unix-seconds provider stores 12.9 s as 12 s (or 13 s).
 */
export function sameByMetadata(a: Entry, b: Entry, mode: CompareMode, windowMs: number): boolean | undefined {
  if (a.size !== b.size) return false;
  if (mode === 'size') return true;
  if (mode === 'checksum') return undefined;
  return Math.abs(a.mtime.getTime() - b.mtime.getTime()) < windowMs;
}

/** SHA-256 of a file's content, read as a stream. */
export async function hashOf(vfs: Vfs, path: string, signal?: AbortSignal): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of await vfs.read(path, { signal })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}
