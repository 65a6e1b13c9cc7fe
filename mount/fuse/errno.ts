/**
 * errno mapping for the FUSE frontend: the kernel wants a NEGATIVE errno number, taken from
 * `os.constants.errno` (fuse-native's `Fuse.E*` table is Linux-only and incomplete).
 */
import { constants } from 'node:os';
import { VfsError, isAbortError, toVfsError } from '../../src/errors.js';
import type { ErrnoCode } from '../../src/errors.js';

const ERRNO = constants.errno as Record<string, number>;

/**
 * What the kernel caller sees for each Vfs code, when it differs from the code itself.
 * EDQUOT → ENOSPC: tools print "No space left on device" for a full cloud quota, which is what users
 * expect from a drive (and what the issue asks); ENOTSUP → EOPNOTSUPP (same number on Linux, spelled
 * as the kernel knows it); ECANCELED → EINTR (the operation was interrupted, not failed).
 */
const KERNEL_CODE: Partial<Record<ErrnoCode, string>> = {
  EDQUOT: 'ENOSPC',
  ENOTSUP: 'EOPNOTSUPP',
  ECANCELED: 'EINTR',
  EPROTO: 'EIO',
  ECONNRESET: 'EIO',
  ESTALE: 'EIO',
};

/** Negative errno number for `code` (an errno name), EIO when unknown. */
export function negErrno(code: string): number {
  return -(ERRNO[code] ?? ERRNO.EIO!);
}

/** Negative errno for anything thrown by a Vfs call (VfsError → its code, the rest → EIO). */
export function toNegErrno(e: unknown): number {
  if (e instanceof VfsError) return negErrno(KERNEL_CODE[e.code] ?? e.code);
  if (isAbortError(e)) return negErrno('EINTR');
  return negErrno(KERNEL_CODE[toVfsError(e).code] ?? toVfsError(e).code);
}

/**
 * Negative errno for a failed upload reported to close()/fsync(): errors the user can act on keep
 * their meaning (quota, read-only, permission, too big, bad name…); transport failures (throttled,
 * timed out, reset) become EIO ("Input/output error"), since the spool file is kept for a retry.
 */
export function uploadErrno(e: unknown): number {
  const code = e instanceof VfsError ? e.code : toVfsError(e).code;
  const transport: ErrnoCode[] = ['EAGAIN', 'ETIMEDOUT', 'ECONNRESET', 'EPROTO', 'ECANCELED', 'ESTALE', 'EIO'];
  return transport.includes(code) ? negErrno('EIO') : toNegErrno(e);
}
