/**
 * Copy, move, sync and check between any two Vfs locations (local disk or remotes): streamed, with
 * server-side copy/rename when both ends are the same Vfs. The parts live in `transfer/`: the tree
 * walk, filters, comparison rules, the sync engine (plan, copy pool, delete-after), check, bandwidth.
 */
import { VfsError, isVfsError } from './errors.js';
import { joinPath } from './path.js';
import type { Entry } from './vfs.js';
import { sameByMetadata, compareModeOf, mtimeWindowMs } from './transfer/compare.js';
import { transferFile } from './transfer/file.js';
import type { TransferObserver } from './transfer/file.js';
import { assertNotNested, syncTrees } from './transfer/sync.js';
import type { Endpoint, SyncOptions, SyncResult } from './transfer/sync.js';

export { BandwidthLimit } from './transfer/bandwidth.js';
export { checkTrees } from './transfer/check.js';
export type { CheckOptions, CheckResult } from './transfer/check.js';
export { compareModeOf, hashOf } from './transfer/compare.js';
export type { CompareMode } from './transfer/compare.js';
export { transferFile } from './transfer/file.js';
export type { FileSource, FileTransferOptions, TransferObserver } from './transfer/file.js';
export { createFilter, MAX_GLOB_LENGTH } from './transfer/filter.js';
export type { Filter, FilterOptions } from './transfer/filter.js';
export { MAX_TRANSFERS, syncTrees } from './transfer/sync.js';
export type { Endpoint, FileFailure, PlannedAction, SyncOptions, SyncResult } from './transfer/sync.js';
export { walkTree } from './transfer/tree.js';
export type { Tree } from './transfer/tree.js';

export interface CopyOptions extends Omit<SyncOptions, 'mode' | 'all'> {
  recursive?: boolean;
  /** Skip files that look unchanged (cp --update); default: copy everything. */
  update?: boolean;
}

/**
 * Like cp(1): when `dst` is an existing directory the source goes inside it under its own name.
 * Returns the final destination path.
 */
export async function resolveTarget(src: Entry, dst: Endpoint): Promise<string> {
  try {
    const existing = await dst.vfs.stat(dst.path);
    if (existing.type === 'directory') return joinPath(dst.path, src.name || 'root');
  } catch (e) {
    if (!isVfsError(e, 'ENOENT')) throw e;
  }
  return dst.path;
}

function emptyResult(dst: Endpoint): SyncResult {
  return {
    compare: compareModeOf(dst.vfs), actions: [], toCopy: 0, toCopyBytes: 0, copied: 0, copiedBytes: 0,
    unchanged: 0, deleted: 0, deletesSkipped: 0, failed: [],
  };
}

/** `cp [-r] [--update]`: copy `src` to `dst` (a file, or with `recursive` a directory tree). */
export async function copyPath(src: Endpoint, dst: Endpoint, options: CopyOptions = {}): Promise<SyncResult & { target: string }> {
  const entry = await src.vfs.stat(src.path);
  if (entry.type === 'directory' && !options.recursive) {
    throw new VfsError('EISDIR', `${src.path} is a directory (use -r to copy it)`, { path: src.path });
  }
  const target = await resolveTarget(entry, dst);
  if (entry.type === 'directory' && src.vfs === dst.vfs && src.vfs.capabilities.serverSideCopy && !options.update && !options.filter?.active && !options.dryRun) {
    // A whole tree within one remote that copies on the server: one request instead of one per file.
    assertNotNested(src, { vfs: dst.vfs, path: target }, 'copy');
    const there = await dst.vfs.stat(target).catch((e: unknown) => (isVfsError(e, 'ENOENT') ? undefined : Promise.reject(e)));
    // Merging into an existing folder is done file by file below.
    if (!there) {
      options.observer?.planned?.({ files: 1, bytes: 0, checks: 0 });
      await transferFile({ vfs: src.vfs, entry }, { vfs: dst.vfs, path: target }, { label: entry.path, observer: options.observer, signal: options.signal });
      return { ...emptyResult(dst), toCopy: 1, copied: 1, target };
    }
  }
  if (entry.type === 'directory') {
    const result = await syncTrees(src, { vfs: dst.vfs, path: target }, { ...options, mode: 'copy', all: !options.update });
    return { ...result, target };
  }
  const result = emptyResult(dst);
  if (options.update) {
    const there = await dst.vfs.stat(target).catch((e: unknown) => (isVfsError(e, 'ENOENT') ? undefined : Promise.reject(e)));
    if (there?.type === 'file' && sameByMetadata(entry, there, compareModeOf(dst.vfs, false, src.vfs), mtimeWindowMs(src.vfs, dst.vfs))) {
      result.unchanged = 1;
      return { ...result, target };
    }
  }
  result.toCopy = 1;
  result.toCopyBytes = entry.size;
  result.actions.push({ kind: 'copy', rel: entry.name, size: entry.size, reason: 'all' });
  options.observer?.planned?.({ files: 1, bytes: entry.size, checks: 0 });
  if (options.dryRun) return { ...result, target };
  await transferFile({ vfs: src.vfs, entry }, { vfs: dst.vfs, path: target }, { label: entry.path, observer: options.observer, bandwidth: options.bandwidth, signal: options.signal });
  result.copied = 1;
  result.copiedBytes = entry.size;
  return { ...result, target };
}

/** Move: a rename when both ends are one Vfs, else copy and then remove the source (only after success). */
export async function movePath(src: Endpoint, dst: Endpoint, options: { observer?: TransferObserver; signal?: AbortSignal } = {}): Promise<void> {
  const entry = await src.vfs.stat(src.path);
  const target = await resolveTarget(entry, dst);
  if (src.vfs === dst.vfs) {
    await src.vfs.rename(entry.path, target, { overwrite: entry.type === 'file', signal: options.signal });
    return;
  }
  if (entry.type === 'file') {
    await transferFile({ vfs: src.vfs, entry }, { vfs: dst.vfs, path: target }, options);
  } else {
    const result = await syncTrees(src, { vfs: dst.vfs, path: target }, { mode: 'copy', all: true, observer: options.observer, signal: options.signal });
    const first = result.failed[0];
    if (first) throw first.error;
  }
  await src.vfs.remove(entry.path, { recursive: true, signal: options.signal });
}
