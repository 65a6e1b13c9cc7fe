/**
 * `copy` and `sync` between any two locations: walk both sides, plan (new, changed, unchanged, extra),
 * then copy with `transfers` files in flight and, for `sync`, delete the extras only after every copy
 * succeeded ("delete after": a failed run never loses a destination file the source still needs, and
 * never deletes before the replacement is in place). `dryRun` plans and reports without changing anything.
 */
import { VfsError, isVfsError } from '../errors.js';
import { joinPath } from '../path.js';
import type { Entry, Vfs } from '../vfs.js';
import type { BandwidthLimit } from './bandwidth.js';
import { compareModeOf, hashOf, mtimeWindowMs, sameByMetadata } from './compare.js';
import type { CompareMode } from './compare.js';
import { createFilter } from './filter.js';
import type { Filter } from './filter.js';
import { assertDirectory, walkTree } from './tree.js';
import { transferFile } from './file.js';
import type { TransferObserver } from './file.js';

export interface Endpoint {
  vfs: Vfs;
  path: string;
}

export interface SyncOptions {
  /** "copy" leaves extra destination files alone; "sync" deletes them (after all copies succeeded). */
  mode: 'copy' | 'sync';
  /** Copy files that look unchanged too (plain `cp -r`; default false). */
  all?: boolean;
  /** Compare content (read both sides) instead of size and mtime. */
  checksum?: boolean;
  filter?: Filter | undefined;
  /** Files in flight at once (default 4). */
  transfers?: number;
  /** Plan and report, change nothing. */
  dryRun?: boolean;
  bandwidth?: BandwidthLimit | undefined;
  observer?: TransferObserver | undefined;
  signal?: AbortSignal | undefined;
}

export type PlannedAction =
  | { kind: 'copy'; rel: string; size: number; reason: 'new' | 'changed' | 'all' }
  | { kind: 'delete'; rel: string; type: 'file' | 'directory' }
  | { kind: 'mkdir'; rel: string };

export interface FileFailure {
  rel: string;
  error: unknown;
}

export interface SyncResult {
  compare: CompareMode;
  actions: PlannedAction[];
  /** Files (and bytes) the plan copies. */
  toCopy: number;
  toCopyBytes: number;
  copied: number;
  copiedBytes: number;
  unchanged: number;
  deleted: number;
  /** Deletions not done because some copy failed. */
  deletesSkipped: number;
  failed: FileFailure[];
}

/** Most files copied at once (a typo like --transfers 100000 should not open 100 000 sockets). */
export const MAX_TRANSFERS = 64;

/** Make `dst` like `src` (mode "sync") or add to it (mode "copy"). */
export async function syncTrees(src: Endpoint, dst: Endpoint, options: SyncOptions): Promise<SyncResult> {
  assertNotNested(src, dst, options.mode);
  const transfers = Math.max(1, Math.min(MAX_TRANSFERS, Math.floor(options.transfers ?? 4)));
  const filter = options.filter ?? createFilter();
  const signal = options.signal;
  const [from, to] = await Promise.all([
    walkTree(src.vfs, src.path, { signal }),
    walkTree(dst.vfs, dst.path, { missingOk: true, signal }),
  ]);
  assertDirectory(to, dst.path);
  const mode = compareModeOf(dst.vfs, options.checksum, src.vfs);
  const windowMs = mtimeWindowMs(src.vfs, dst.vfs);
  const result: SyncResult = {
    compare: mode, actions: [], toCopy: 0, toCopyBytes: 0, copied: 0, copiedBytes: 0,
    unchanged: 0, deleted: 0, deletesSkipped: 0, failed: [],
  };
  const srcPath = (rel: string) => (from.root!.type === 'file' ? src.path : joinPath(src.path, rel));
  const dstPath = (rel: string) => (rel === '' ? dst.path : joinPath(dst.path, rel));

  // Plan. Content comparisons (checksum) are deferred to the copy pool: they read whole files.
  const candidates: Array<{ rel: string; entry: Entry; reason: 'new' | 'changed' | 'all' | 'maybe' }> = [];
  for (const [rel, entry] of from.files) {
    if (!filter.matches(rel, entry)) continue;
    const there = to.files.get(rel);
    if (to.dirs.has(rel)) {
      result.failed.push({ rel, error: new VfsError('EISDIR', `${rel}: the destination has a directory where the source has a file`, { path: dstPath(rel) }) });
      continue;
    }
    if (!there) candidates.push({ rel, entry, reason: options.all ? 'all' : 'new' });
    else if (options.all) candidates.push({ rel, entry, reason: 'all' });
    else {
      const same = sameByMetadata(entry, there, mode, windowMs);
      if (same === true) result.unchanged++;
      else candidates.push({ rel, entry, reason: same === false ? 'changed' : 'maybe' });
    }
  }
  // Directories: the source's own (cp -r copies empty ones too) unless a filter narrows the run,
  // then only those that receive a file.
  const needDirs = new Set<string>();
  const addParents = (rel: string) => {
    for (let i = rel.indexOf('/'); i >= 0; i = rel.indexOf('/', i + 1)) needDirs.add(rel.slice(0, i));
  };
  if (!filter.active) for (const rel of from.dirs.keys()) needDirs.add(rel);
  for (const c of candidates) addParents(c.rel);
  const mkdirs = [...needDirs].filter((rel) => !to.dirs.has(rel)).sort();
  for (const rel of mkdirs) {
    if (to.files.has(rel)) {
      result.failed.push({ rel, error: new VfsError('ENOTDIR', `${rel}: the destination has a file where the source has a directory`, { path: dstPath(rel) }) });
    }
  }

  // Extras (sync only): files the filter would consider, then directories the source does not have.
  const deletes: Array<{ rel: string; type: 'file' | 'directory' }> = [];
  if (options.mode === 'sync') {
    for (const [rel, entry] of to.files) {
      if (!from.files.has(rel) && !from.dirs.has(rel) && filter.matches(rel, entry)) deletes.push({ rel, type: 'file' });
    }
    // Deepest first, and never recursive: a folder still holding excluded files stays.
    const extraDirs = [...to.dirs.keys()].filter((rel) => !from.dirs.has(rel) && !from.files.has(rel));
    extraDirs.sort((a, b) => b.split('/').length - a.split('/').length || b.localeCompare(a));
    for (const rel of extraDirs) deletes.push({ rel, type: 'directory' });
  }

  // Dry run: content checks still need reading, but nothing is written.
  const observer = options.observer;
  const mkdirPromises = new Map<string, Promise<void>>();
  const ensureDir = (rel: string): Promise<void> => {
    if (rel === '' || to.dirs.has(rel)) return Promise.resolve();
    let p = mkdirPromises.get(rel);
    if (!p) {
      const parent = rel.includes('/') ? rel.slice(0, rel.lastIndexOf('/')) : '';
      p = ensureDir(parent).then(async () => {
        if (options.dryRun) return;
        try {
          await dst.vfs.mkdir(dstPath(rel), { signal });
        } catch (e) {
          if (!isVfsError(e, 'EEXIST')) throw e;
        }
      });
      mkdirPromises.set(rel, p);
    }
    return p;
  };
  if (!options.dryRun && !to.root) {
    // The destination root itself (its parent must exist, like cp -r).
    await mkdirRoot(dst);
  }
  for (const rel of mkdirs) result.actions.push({ kind: 'mkdir', rel });

  const sizeOf = (c: { entry: Entry }) => c.entry.size;
  const sure = candidates.filter((c) => c.reason !== 'maybe');
  result.toCopy = sure.length;
  result.toCopyBytes = sure.reduce((n, c) => n + sizeOf(c), 0);
  observer?.planned?.({ files: result.toCopy, bytes: result.toCopyBytes, checks: candidates.length - sure.length });

  let next = 0;
  const work = async () => {
    while (next < candidates.length) {
      if (signal?.aborted) return;
      const c = candidates[next++]!;
      try {
        if (c.reason === 'maybe') {
          const [a, b] = await Promise.all([hashOf(src.vfs, srcPath(c.rel), signal), hashOf(dst.vfs, dstPath(c.rel), signal)]);
          if (a === b) {
            result.unchanged++;
            continue;
          }
          c.reason = 'changed';
          result.toCopy++;
          result.toCopyBytes += c.entry.size;
          observer?.planned?.({ files: result.toCopy, bytes: result.toCopyBytes, checks: 0 });
        }
        result.actions.push({ kind: 'copy', rel: c.rel, size: c.entry.size, reason: c.reason });
        if (options.dryRun) continue;
        const parent = c.rel.includes('/') ? c.rel.slice(0, c.rel.lastIndexOf('/')) : '';
        await ensureDir(parent);
        await transferFile(
          { vfs: src.vfs, entry: c.entry }, { vfs: dst.vfs, path: dstPath(c.rel) },
          { label: c.rel, observer, bandwidth: options.bandwidth, signal },
        );
        result.copied++;
        result.copiedBytes += c.entry.size;
      } catch (e) {
        result.failed.push({ rel: c.rel, error: e });
      }
    }
  };
  await Promise.all(Array.from({ length: transfers }, work));
  // Empty source directories (no file made them).
  if (!options.dryRun) {
    for (const rel of mkdirs) {
      try {
        await ensureDir(rel);
      } catch (e) {
        result.failed.push({ rel, error: e });
      }
    }
  }
  signal?.throwIfAborted();

  // Delete after: only when every copy succeeded.
  if (deletes.length > 0 && result.failed.length > 0) {
    result.deletesSkipped = deletes.length;
  } else {
    for (const d of deletes) {
      result.actions.push({ kind: 'delete', rel: d.rel, type: d.type });
      if (options.dryRun) continue;
      try {
        await dst.vfs.remove(dstPath(d.rel), { recursive: false, signal });
        result.deleted++;
        observer?.deleted?.(d.rel);
      } catch (e) {
        // A folder that still holds excluded files is kept on purpose.
        if (d.type === 'directory' && isVfsError(e, 'ENOTEMPTY')) continue;
        result.failed.push({ rel: d.rel, error: e });
      }
    }
  }
  return result;
}

async function mkdirRoot(dst: Endpoint): Promise<void> {
  try {
    await dst.vfs.mkdir(dst.path);
  } catch (e) {
    if (!isVfsError(e, 'EEXIST')) throw e;
  }
}

/**
 * Refuse a destination inside the source (a copy that feeds on itself) and, for sync, a source inside
 * the destination (its "extra" files would include the source itself).
 */
export function assertNotNested(src: Endpoint, dst: Endpoint, mode: 'copy' | 'sync'): void {
  if (src.vfs !== dst.vfs) return;
  const within = (inner: string, outer: string) => inner === outer || outer === '/' || inner.startsWith(outer + '/');
  if (within(dst.path, src.path)) {
    throw new VfsError('EINVAL', `cannot copy ${src.path} into itself (${dst.path})`, { path: dst.path });
  }
  if (mode === 'sync' && within(src.path, dst.path)) {
    throw new VfsError('EINVAL', `cannot sync ${src.path} into ${dst.path}, which contains it (its files would be deleted as extras)`, { path: dst.path });
  }
}
