/**
 * AdapterVfs: the Vfs contract's rules, enforced once for every adapter. A public method normalises
 * its paths, honours an aborted signal, checks its arguments and the root rules, refuses mutations
 * of a read-only store, and then calls the adapter's `do…` method with normalised paths; whatever
 * the adapter throws leaves as a VfsError naming the operation and paths the caller used (Node's
 * `syscall`, `path`, `dest`). An adapter therefore writes only what its provider needs.
 *
 * The optional members (setMtime, watch, dead properties, share links, scheduler) are not declared
 * here, so an adapter that lacks one does not appear to have it (`hasDeadPropertyStore`,
 * `forwardStores` test for their presence); one that has one wraps it in `guard`.
 */
import type { Readable } from 'node:stream';
import { opError, throwIfAborted, toVfsError } from './errors.js';
import { moveConflict, normalizePath } from './path.js';
import type {
  Entry, MoveOptions, OpOptions, ReadOptions, RemoveOptions, SpaceInfo, Vfs, VfsCapabilities, WriteData, WriteOptions,
} from './vfs.js';

/**
 * What a store held by this process does (memory, a local disk): every operation native, ranges and
 * copies cheap, mtimes kept to the millisecond, its space known. Adapters spread it.
 */
export const LOCAL_STORE_CAPABILITIES: VfsCapabilities = {
  rangedReads: true,
  serverSideCopy: true,
  serverSideMove: true,
  caseSensitive: true,
  preservesMtime: true,
  mtimeResolutionMs: 1,
  needsSizeForWrite: false,
  quota: true,
  readOnly: false,
};

/** A read's range as the adapter gets it: checked whole numbers, `length` absent for "to the end". */
export interface CheckedReadOptions extends ReadOptions {
  offset: number;
}

export abstract class AdapterVfs implements Vfs {
  abstract readonly name: string;
  abstract readonly capabilities: VfsCapabilities;

  // ---- what an adapter implements: paths normalised, arguments and root rules checked -------

  /** Metadata of `p`. */
  protected abstract doStat(p: string, options: OpOptions): Promise<Entry>;
  /** The children of directory `p`. */
  protected abstract doList(p: string, options: OpOptions): Promise<Entry[]>;
  /** The bytes of file `p` (never "/"), from `offset`, `length` of them at most when given. */
  protected abstract doRead(p: string, options: CheckedReadOptions): Promise<Readable>;
  /** Create or replace file `p` (never "/"); `size` and `mtime` are valid when given. */
  protected abstract doWrite(p: string, data: WriteData, options: WriteOptions): Promise<Entry>;
  /** Create directory `p` (never "/"). */
  protected abstract doMkdir(p: string, options: OpOptions): Promise<Entry>;
  /** Remove `p` (never "/"). */
  protected abstract doRemove(p: string, options: RemoveOptions): Promise<void>;
  /** Move `src` to `dst`: different paths, neither "/", not into itself nor onto an ancestor. */
  protected abstract doRename(src: string, dst: string, options: MoveOptions): Promise<Entry>;
  /** Copy `src` to `dst`: the same guarantees as doRename. */
  protected abstract doCopy(src: string, dst: string, options: MoveOptions): Promise<Entry>;
  /** Quota. */
  protected abstract doSpace(options: OpOptions): Promise<SpaceInfo>;

  // ---- the contract --------------------------------------------------------------------------

  stat(path: string, options: OpOptions = {}): Promise<Entry> {
    return this.guard('stat', path, options, (p) => this.doStat(p, options));
  }

  list(dir: string, options: OpOptions = {}): Promise<Entry[]> {
    return this.guard('list', dir, options, (p) => this.doList(p, options));
  }

  read(path: string, options: ReadOptions = {}): Promise<Readable> {
    return this.guard('read', path, options, (p) => {
      const { offset = 0, length } = options;
      checkCount('offset', offset, 'read', p);
      if (length !== undefined) checkCount('length', length, 'read', p);
      if (p === '/') throw opError('EISDIR', 'is a directory', 'read', p);
      return this.doRead(p, { ...options, offset });
    });
  }

  write(path: string, data: WriteData, options: WriteOptions = {}): Promise<Entry> {
    return this.guard('write', path, options, (p) => {
      if (options.size !== undefined) checkCount('size', options.size, 'write', p);
      if (options.mtime !== undefined) checkTime(options.mtime, 'write', p);
      if (p === '/') throw opError('EISDIR', 'is a directory', 'write', p);
      this.checkWritable('write', p);
      return this.doWrite(p, data, options);
    });
  }

  mkdir(path: string, options: OpOptions = {}): Promise<Entry> {
    return this.guard('mkdir', path, options, (p) => {
      if (p === '/') throw opError('EEXIST', 'already exists', 'mkdir', p);
      this.checkWritable('mkdir', p);
      return this.doMkdir(p, options);
    });
  }

  remove(path: string, options: RemoveOptions = {}): Promise<void> {
    return this.guard('remove', path, options, (p) => {
      if (p === '/') throw opError('EBUSY', 'cannot remove the root', 'remove', p);
      this.checkWritable('remove', p);
      return this.doRemove(p, options);
    });
  }

  rename(from: string, to: string, options: MoveOptions = {}): Promise<Entry> {
    return this.guardMove('rename', from, to, options, (src, dst) => {
      // Onto itself: nothing to do but say what is there (ENOENT when nothing is).
      if (src === dst) return this.doStat(src, options);
      return this.doRename(src, dst, options);
    });
  }

  copy(from: string, to: string, options: MoveOptions = {}): Promise<Entry> {
    return this.guardMove('copy', from, to, options, (src, dst) => {
      if (src === dst) throw opError('EINVAL', 'source and destination are the same', 'copy', src);
      return this.doCopy(src, dst, options);
    });
  }

  space(options: OpOptions = {}): Promise<SpaceInfo> {
    return this.guard('space', undefined, options, () => this.doSpace(options));
  }

  // ---- helpers for adapters --------------------------------------------------------------------

  /**
   * Run operation `operation` on `path` (normalised first, "/" when undefined is not wanted) the way
   * every public method does: an aborted signal is ECANCELED before anything happens, and whatever
   * `fn` throws becomes a VfsError naming this operation and path. Adapters wrap their optional
   * members (setMtime, getProps, createShare…) in it.
   */
  protected async guard<T>(operation: string, path: string | undefined, options: OpOptions, fn: (p: string) => T | Promise<T>): Promise<T> {
    let p: string | undefined;
    try {
      p = path === undefined ? undefined : normalizePath(path);
      throwIfAborted(options.signal, { operation, ...(p !== undefined ? { path: p } : {}) });
      return await fn(p ?? '/');
    } catch (e) {
      throw this.context(e, operation, p ?? (typeof path === 'string' ? path.slice(0, 200) : undefined));
    }
  }

  /** A mutation of a read-only store is EROFS. */
  protected checkWritable(operation: string, p: string): void {
    if (this.capabilities.readOnly) throw opError('EROFS', 'read-only filesystem', operation, p);
  }

  private async guardMove<T>(operation: 'rename' | 'copy', from: string, to: string, options: MoveOptions, fn: (src: string, dst: string) => T | Promise<T>): Promise<T> {
    let src: string | undefined;
    let dst: string | undefined;
    try {
      src = normalizePath(from);
      dst = normalizePath(to);
      throwIfAborted(options.signal, { operation, path: src, dest: dst });
      if (src === '/') throw opError('EBUSY', `cannot ${operation === 'rename' ? 'move' : 'copy'} the root`, operation, src);
      if (dst === '/') throw opError('EBUSY', 'cannot replace the root', operation, dst);
      // Into itself, or onto its own ancestor (whose replacement would take the source with it).
      const conflict = moveConflict(src, dst, this.capabilities.caseSensitive ? undefined : (p) => p.toLowerCase());
      if (conflict) throw opError('EINVAL', conflict, operation, dst);
      this.checkWritable(operation, src);
      return await fn(src, dst);
    } catch (e) {
      throw this.context(e, operation, src ?? from.slice(0, 200), dst);
    }
  }

  private context(e: unknown, operation: string, path: string | undefined, dest?: string) {
    return toVfsError(e, { provider: this.name, operation, ...(path !== undefined ? { path } : {}), ...(dest !== undefined ? { dest } : {}) })
      .calledAs(operation, path, dest);
  }
}

/** A byte count or offset: a whole number from 0 up (EINVAL otherwise: negative, fractional, NaN, ∞). */
function checkCount(name: string, value: number, operation: string, p: string): void {
  if (!Number.isSafeInteger(value) || value < 0) throw opError('EINVAL', `bad ${name} ${value}`, operation, p);
}

/** A modification time must be a valid Date (EINVAL otherwise); also for the adapters' setMtime. */
export function checkTime(value: Date, operation: string, p: string): void {
  if (!(value instanceof Date) || !Number.isFinite(value.getTime())) throw opError('EINVAL', 'invalid time', operation, p);
}
