/**
 * Vfs paths: absolute POSIX strings ("/", "/a/b.txt"). Every layer calls `normalizePath` before it
 * does anything else, so a malformed path is rejected before any request is made.
 */
import { VfsError } from './errors.js';

/** Longest name of one path segment, in UTF-8 bytes (the POSIX NAME_MAX). */
export const MAX_NAME_BYTES = 255;
/** Longest whole path, in UTF-8 bytes (the Linux PATH_MAX). */
export const MAX_PATH_BYTES = 4096;

/**
 * Normalise an absolute path: collapse `//`, drop `.` and trailing `/`, resolve `..`.
 * EINVAL for a non-string, empty or relative path, a NUL byte, or a `..` above the root;
 * ENAMETOOLONG for a segment over 255 bytes or a path over 4096 bytes.
 */
export function normalizePath(path: unknown): string {
  if (typeof path !== 'string') throw invalid('path must be a string', String(path));
  if (path === '') throw invalid('path is empty', path);
  if (path.includes('\0')) throw invalid('path contains a NUL byte', path.replace(/\0/g, '\\0'));
  if (!path.startsWith('/')) throw invalid('path must be absolute (start with "/")', path);
  if (Buffer.byteLength(path) > MAX_PATH_BYTES) {
    throw new VfsError('ENAMETOOLONG', `path is longer than ${MAX_PATH_BYTES} bytes`, { path: path.slice(0, 64) + '…' });
  }
  const out: string[] = [];
  for (const segment of path.split('/')) {
    if (segment === '' || segment === '.') continue;
    if (segment === '..') {
      if (out.length === 0) throw invalid('".." would leave the root', path);
      out.pop();
      continue;
    }
    if (Buffer.byteLength(segment) > MAX_NAME_BYTES) {
      throw new VfsError('ENAMETOOLONG', `a name is longer than ${MAX_NAME_BYTES} bytes`, { path: path.slice(0, 64) + '…' });
    }
    out.push(segment);
  }
  return '/' + out.join('/');
}

function invalid(message: string, path: string): VfsError {
  return new VfsError('EINVAL', `${message}: ${JSON.stringify(path.slice(0, 200))}`, { path: path.slice(0, 200) });
}

/** Segments of a normalised path: "/a/b" → ["a", "b"], "/" → []. */
export function splitPath(path: string): string[] {
  return path === '/' ? [] : path.slice(1).split('/');
}

/** Parent of a normalised path; the parent of "/" is "/". */
export function parentPath(path: string): string {
  const i = path.lastIndexOf('/');
  return i <= 0 ? '/' : path.slice(0, i);
}

/** Last segment of a normalised path; "" for "/". */
export function baseName(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

/** Join a normalised directory and a single name (no validation of `name`). */
export function joinPath(dir: string, name: string): string {
  return dir === '/' ? `/${name}` : `${dir}/${name}`;
}

/** True when `inner` is `outer` or lies below it ("/a" contains "/a/b", not "/ab"). */
export function isSameOrInside(outer: string, inner: string): boolean {
  if (outer === '/') return true;
  return inner === outer || inner.startsWith(outer + '/');
}

/**
 * Why a move or copy from `src` to `dst` (both normalised) can never be allowed, or undefined:
 * a directory into itself, or onto an ancestor of the source (replacing the ancestor would delete
 * the source first). `fold` compares names the way the provider does (lower-case when it ignores
 * case). Every Vfs and the WebDAV COPY/MOVE check this before touching anything.
 */
export function moveConflict(src: string, dst: string, fold: (p: string) => string = (p) => p): string | undefined {
  const [s, d] = [fold(src), fold(dst)];
  if (s === d) return undefined;
  if (isSameOrInside(s, d)) return 'cannot move or copy a directory into itself';
  if (isSameOrInside(d, s)) return 'cannot move or copy onto an ancestor of the source';
  return undefined;
}

/** Check one name (a single segment) for create/rename: non-empty, no "/", no NUL, not "." or "..", ≤ 255 bytes. */
export function validateName(name: string): string {
  if (name === '' || name === '.' || name === '..' || name.includes('/') || name.includes('\0')) {
    throw invalid('not a valid file name', name);
  }
  if (Buffer.byteLength(name) > MAX_NAME_BYTES) {
    throw new VfsError('ENAMETOOLONG', `a name is longer than ${MAX_NAME_BYTES} bytes`);
  }
  return name;
}
