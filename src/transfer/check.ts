/**
 * `check SRC DST`: which files are missing on either side or differ, compared as `sync` would (size and
 * mtime, size alone, or content with `checksum`). Nothing is written.
 */
import { joinPath } from '../path.js';
import type { Vfs } from '../vfs.js';
import { compareModeOf, hashOf, mtimeWindowMs, sameByMetadata } from './compare.js';
import type { CompareMode } from './compare.js';
import { createFilter } from './filter.js';
import type { Filter } from './filter.js';
import { MAX_TRANSFERS } from './sync.js';
import type { Endpoint, FileFailure } from './sync.js';
import { walkTree } from './tree.js';

export interface CheckOptions {
  checksum?: boolean;
  filter?: Filter | undefined;
  /** Files compared at once by content (default 4). */
  transfers?: number;
  signal?: AbortSignal | undefined;
}

export interface CheckResult {
  compare: CompareMode;
  /** In the source only. */
  missing: string[];
  /** In the destination only. */
  extra: string[];
  /** In both, different. */
  differ: string[];
  same: number;
  /** Files that could not be read for a content comparison. */
  failed: FileFailure[];
}

export async function checkTrees(src: Endpoint, dst: Endpoint, options: CheckOptions = {}): Promise<CheckResult> {
  const filter = options.filter ?? createFilter();
  const signal = options.signal;
  const [from, to] = await Promise.all([walkTree(src.vfs, src.path, { signal }), walkTree(dst.vfs, dst.path, { missingOk: true, signal })]);
  const mode = compareModeOf(dst.vfs, options.checksum, src.vfs);
  // A check compares what a sync would write: the mtime rule holds only where the destination keeps it.
  const windowMs = mtimeWindowMs(src.vfs, dst.vfs);
  const result: CheckResult = { compare: mode, missing: [], extra: [], differ: [], same: 0, failed: [] };
  const pathIn = (e: Endpoint, rel: string, root: { type: string } | undefined) => (root?.type === 'file' ? e.path : joinPath(e.path, rel));
  const toHash: string[] = [];
  for (const [rel, entry] of from.files) {
    if (!filter.matches(rel, entry)) continue;
    const there = to.files.get(rel);
    if (!there) result.missing.push(rel);
    else {
      const same = sameByMetadata(entry, there, mode, windowMs);
      if (same === true) result.same++;
      else if (same === false) result.differ.push(rel);
      else toHash.push(rel);
    }
  }
  for (const [rel, entry] of to.files) if (!from.files.has(rel) && filter.matches(rel, entry)) result.extra.push(rel);
  let next = 0;
  const hashOfSide = (vfs: Vfs, e: Endpoint, rel: string, root: { type: string } | undefined) => hashOf(vfs, pathIn(e, rel, root), signal);
  const work = async () => {
    while (next < toHash.length) {
      const rel = toHash[next++]!;
      try {
        const [a, b] = await Promise.all([hashOfSide(src.vfs, src, rel, from.root), hashOfSide(dst.vfs, dst, rel, undefined)]);
        if (a === b) result.same++;
        else result.differ.push(rel);
      } catch (e) {
        result.failed.push({ rel, error: e });
      }
    }
  };
  const n = Math.max(1, Math.min(MAX_TRANSFERS, Math.floor(options.transfers ?? 4)));
  await Promise.all(Array.from({ length: n }, work));
  for (const list of [result.missing, result.extra, result.differ]) list.sort();
  return result;
}
