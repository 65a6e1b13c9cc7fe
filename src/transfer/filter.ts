/**
 * Which files a transfer or check considers: rclone-style `--include`/`--exclude` globs (picomatch,
 * matched against the path relative to the transfer's root) and size/age bounds. Filters apply to
 * files; directories are always walked. A file the filter rejects is neither copied nor, by `sync`,
 * deleted on the destination.
 */
import picomatch from 'picomatch';
import { VfsError } from '../errors.js';
import type { Entry } from '../vfs.js';

export interface FilterOptions {
  /** Only files matching one of these globs (default: every file). */
  include?: readonly string[];
  /** Never files matching one of these globs (checked before `include`). */
  exclude?: readonly string[];
  /** Files smaller than this many bytes are skipped. */
  minSize?: number;
  /** Files larger than this many bytes are skipped. */
  maxSize?: number;
  /** Files modified longer ago than this (ms) are skipped. */
  maxAgeMs?: number;
  /** Files modified more recently than this (ms) are skipped. */
  minAgeMs?: number;
  /** "Now" for the age bounds (default: when the filter is made). */
  now?: number;
}

/** A compiled filter: `matches(rel, entry)` for a file at `rel` ("a/b.txt", no leading slash). */
export interface Filter {
  readonly active: boolean;
  matches(rel: string, entry: Entry): boolean;
}

/** Longest glob accepted: globs come from the command line, but picomatch compiles them to regexps. */
export const MAX_GLOB_LENGTH = 1024;

/**
 * A glob with no "/" matches the file name in any folder ("*.tmp"); one with a "/" matches the whole
 * relative path, and a leading "/" anchors it at the root ("/docs/**"), as in rclone.
 */
function compile(glob: string): (rel: string) => boolean {
  if (glob.length === 0 || glob.length > MAX_GLOB_LENGTH) {
    throw new VfsError('EINVAL', `a filter glob must be 1..${MAX_GLOB_LENGTH} characters, got ${glob.length}`);
  }
  const anchored = glob.startsWith('/') ? glob.slice(1) : glob;
  const byName = !glob.includes('/');
  const test = picomatch(anchored, { dot: true, basename: byName });
  return (rel) => test(rel);
}

export function createFilter(options: FilterOptions = {}): Filter {
  const include = (options.include ?? []).map(compile);
  const exclude = (options.exclude ?? []).map(compile);
  const now = options.now ?? Date.now();
  const { minSize, maxSize, maxAgeMs, minAgeMs } = options;
  const active = include.length > 0 || exclude.length > 0 || [minSize, maxSize, maxAgeMs, minAgeMs].some((v) => v !== undefined);
  return {
    active,
    matches(rel, entry) {
      if (exclude.some((m) => m(rel))) return false;
      if (include.length > 0 && !include.some((m) => m(rel))) return false;
      if (minSize !== undefined && entry.size < minSize) return false;
      if (maxSize !== undefined && entry.size > maxSize) return false;
      const age = now - entry.mtime.getTime();
      if (maxAgeMs !== undefined && age > maxAgeMs) return false;
      if (minAgeMs !== undefined && age < minAgeMs) return false;
      return true;
    },
  };
}
