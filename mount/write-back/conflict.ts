/**
 * The no-lost-update rule of write-back, shared by every frontend: a queued change remembers the
 * remote version it replaces (its base); at upload time the remote's current version is compared
 * with it (etag, else size + mtime) and, when they differ, our bytes go to a conflict name beside the
 * file (`name.conflict-YYYYMMDDTHHMMSSZ.ext`) so both versions exist.
 */
import { parentPath } from '../../src/path.js';
import type { Entry } from '../../src/vfs.js';

/** The remote version a queued change replaces; null: the file did not exist. */
import type { BaseVersion } from '../../src/write-back-store.js';
export type { BaseVersion };

/** The base recorded for a remote entry (or its absence). */
export function baseOf(entry: Entry | undefined): BaseVersion {
  return entry ? { size: entry.size, mtime: entry.mtime.toISOString(), ...(entry.etag ? { etag: entry.etag } : {}) } : null;
}

/** `name.conflict-20260102T030405Z.ext` beside `path` (the extension kept, so the file still opens). */
export function conflictPath(path: string, at: Date): string {
  const parent = parentPath(path);
  const name = path.slice(parent === '/' ? 1 : parent.length + 1);
  const stamp = at.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  const dot = name.lastIndexOf('.');
  const [stem, ext] = dot > 0 ? [name.slice(0, dot), name.slice(dot)] : [name, ''];
  return `${parent === '/' ? '' : parent}/${stem}.conflict-${stamp}${ext}`;
}

/** True when the remote entry is not the version the change was made against (undefined base: unknown, never a conflict). */
export function changedSince(base: BaseVersion | undefined, now: Entry | undefined): boolean {
  if (base === undefined) return false;
  if (base === null) return now !== undefined;
  if (!now) return false; // deleted remotely meanwhile: writing our version loses nothing
  if (base.etag && now.etag) return base.etag !== now.etag;
  return base.size !== now.size || Math.abs(new Date(base.mtime).getTime() - now.mtime.getTime()) >= 1000;
}
