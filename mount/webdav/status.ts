/**
 * The WebDAV frontend's errno → HTTP status table (as mount/fuse/errno.ts is FUSE's): every errno the
 * core produces has one status here; handlers pick another where RFC 4918 asks (EEXIST is 405 for
 * MKCOL and 412 for COPY/MOVE with `Overwrite: F`).
 */
import { VfsError } from '../../src/errors.js';
import type { ErrnoCode } from '../../src/errors.js';

/** errno → the default HTTP status. */
export const HTTP_STATUS_BY_CODE: Readonly<Record<ErrnoCode, number>> = {
  ENOENT: 404,
  EEXIST: 405,
  ENOTDIR: 409,
  EISDIR: 405,
  ENOTEMPTY: 409,
  EINVAL: 400,
  ENAMETOOLONG: 414,
  EACCES: 403,
  EPERM: 403,
  EROFS: 403,
  ENOSPC: 507,
  EDQUOT: 507,
  EFBIG: 413,
  EBUSY: 423,
  ENOLCK: 423,
  EAGAIN: 503,
  ETIMEDOUT: 504,
  ECANCELED: 499,
  EIO: 502,
  EPROTO: 502,
  ENOTSUP: 501,
  ENOSYS: 501,
  EXDEV: 502,
  ECONNRESET: 502,
  EBADF: 400,
  EMFILE: 503,
  ESTALE: 412,
  ELOOP: 508,
  ERANGE: 416,
};

/** HTTP status a WebDAV client should see for `e` (500 for non-VfsErrors). */
export function httpStatusFor(e: unknown): number {
  return e instanceof VfsError ? HTTP_STATUS_BY_CODE[e.code] ?? 500 : 500;
}
