/**
 * One side of a transfer as a flat map of relative paths: every file and directory under a root,
 * listed a few folders at a time (listings are the slow part on a remote).
 */
import { VfsError, isVfsError } from '../errors.js';
import { joinPath } from '../path.js';
import type { Entry, Vfs } from '../vfs.js';

export interface Tree {
  /** The root itself (undefined when it does not exist). */
  root?: Entry;
  /** Files by path relative to the root ("a/b.txt"). A root that is a file is one entry under its name. */
  files: Map<string, Entry>;
  /** Directories by relative path (the root is not included). */
  dirs: Map<string, Entry>;
}

/** Folders listed at once while walking. */
const LIST_CONCURRENCY = 4;

/**
 * Every entry under `root`. A missing root is an empty tree when `missingOk` (a destination that does
 * not exist yet), ENOENT otherwise.
 */
export async function walkTree(vfs: Vfs, root: string, options: { missingOk?: boolean; signal?: AbortSignal } = {}): Promise<Tree> {
  const tree: Tree = { files: new Map(), dirs: new Map() };
  let top: Entry;
  try {
    top = await vfs.stat(root, { signal: options.signal });
  } catch (e) {
    if (options.missingOk && isVfsError(e, 'ENOENT')) return tree;
    throw e;
  }
  tree.root = top;
  if (top.type === 'file') {
    tree.files.set(top.name, top);
    return tree;
  }
  const queue: Array<{ path: string; rel: string }> = [{ path: root, rel: '' }];
  let failure: unknown;
  const worker = async () => {
    while (queue.length > 0 && failure === undefined) {
      const { path, rel } = queue.shift()!;
      let children: Entry[];
      try {
        children = await vfs.list(path, { signal: options.signal });
      } catch (e) {
        failure ??= e;
        return;
      }
      for (const child of children) {
        const childRel = rel ? `${rel}/${child.name}` : child.name;
        if (child.type === 'directory') {
          tree.dirs.set(childRel, child);
          queue.push({ path: joinPath(path, child.name), rel: childRel });
        } else {
          tree.files.set(childRel, child);
        }
      }
    }
  };
  // Workers stop when the queue is empty; folders found later restart them until none are left.
  while (queue.length > 0 && failure === undefined) {
    await Promise.all(Array.from({ length: Math.min(LIST_CONCURRENCY, queue.length) }, worker));
  }
  if (failure !== undefined) throw failure;
  return tree;
}

/** A tree root must be a directory for a destination that receives a directory. */
export function assertDirectory(tree: Tree, location: string): void {
  if (tree.root && tree.root.type !== 'directory') {
    throw new VfsError('ENOTDIR', `${location} is a file, not a directory`, { path: tree.root.path });
  }
}
