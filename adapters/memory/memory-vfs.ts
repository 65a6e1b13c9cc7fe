/**
 * MemoryVfs: the reference implementation of the Vfs contract, held in memory.
 * It is also the fast backend for frontend tests and benchmarks, so file content is kept as
 * immutable 1 MiB blocks: a ranged read slices blocks without copying, and copy/rename share them.
 */
import type { Readable } from 'node:stream';
import { opError, throwIfAborted, toVfsError } from '../../src/errors.js';
import { AdapterVfs, LOCAL_STORE_CAPABILITIES, checkTime } from '../../src/adapter-vfs.js';
import type { CheckedReadOptions } from '../../src/adapter-vfs.js';
import { baseName, joinPath, parentPath, splitPath } from '../../src/path.js';
import { iterateBytes, readableFrom } from '../../src/streams.js';
import type {
  Entry, MoveOptions, OpOptions, RemoveOptions, SpaceInfo, VfsCapabilities, WriteData, WriteOptions,
} from '../../src/vfs.js';

export interface MemoryVfsOptions {
  /** Bytes the store may hold; writes beyond it fail with ENOSPC. Default: unlimited. */
  quota?: number;
  /** Refuse every mutation with EROFS. */
  readOnly?: boolean;
}

/** A tree to seed a MemoryVfs with: a string or bytes is a file, an object a directory. */
export interface SeedTree {
  [name: string]: string | Uint8Array | SeedTree;
}

interface FileNode {
  kind: 'file';
  id: number;
  version: number;
  /** Immutable content blocks; `starts[i]` is the file offset of `blocks[i]`. */
  blocks: Buffer[];
  starts: number[];
  size: number;
  mtime: Date;
}

interface DirNode {
  kind: 'directory';
  id: number;
  mtime: Date;
  children: Map<string, Node>;
}

type Node = FileNode | DirNode;

/** Size of the blocks incoming bytes are packed into: big enough to make reads cheap. */
const BLOCK_BYTES = 1024 * 1024;
/** Placeholder after a full block was committed (its length 0 makes the loop allocate the next one on demand). */
const EMPTY_BLOCK = Buffer.alloc(0);
/** First block of a write without a size hint. */
const FIRST_BLOCK_BYTES = 64 * 1024;

export class MemoryVfs extends AdapterVfs {
  readonly name = 'memory';
  readonly capabilities: VfsCapabilities;
  private readonly root: DirNode;
  private readonly quota: number | undefined;
  private nextId = 1;
  private usedBytes = 0;

  constructor(options: MemoryVfsOptions = {}) {
    super();
    this.quota = options.quota;
    this.root = { kind: 'directory', id: this.nextId++, mtime: new Date(), children: new Map() };
    this.capabilities = { ...LOCAL_STORE_CAPABILITIES, readOnly: options.readOnly ?? false };
  }

  /** A MemoryVfs holding `tree` (handy for tests, demos and benchmarks). */
  static async fromTree(tree: SeedTree, options: MemoryVfsOptions = {}): Promise<MemoryVfs> {
    const vfs = new MemoryVfs({ ...options, readOnly: false });
    await vfs.seed('/', tree);
    vfs.capabilities.readOnly = options.readOnly ?? false;
    return vfs;
  }

  private async seed(dir: string, tree: SeedTree): Promise<void> {
    for (const [name, value] of Object.entries(tree)) {
      const path = joinPath(dir, name);
      if (typeof value === 'string' || value instanceof Uint8Array) {
        await this.write(path, typeof value === 'string' ? Buffer.from(value) : value);
      } else {
        await this.mkdir(path);
        await this.seed(path, value);
      }
    }
  }

  protected async doStat(p: string): Promise<Entry> {
    return toEntry(p, this.lookup(p, 'stat'));
  }

  protected async doList(p: string): Promise<Entry[]> {
    const node = this.lookup(p, 'list');
    if (node.kind !== 'directory') throw opError('ENOTDIR', 'not a directory', 'list', p);
    return [...node.children].map(([name, child]) => toEntry(joinPath(p, name), child));
  }

  protected async doRead(p: string, options: CheckedReadOptions): Promise<Readable> {
    const node = this.lookup(p, 'read');
    if (node.kind !== 'file') throw opError('EISDIR', 'is a directory', 'read', p);
    const { offset, length } = options;
    const end = Math.min(node.size, length === undefined ? node.size : offset + length);
    return readableFrom(sliceBlocks(node, offset, end));
  }

  protected async doWrite(p: string, data: WriteData, options: WriteOptions): Promise<Entry> {
    this.checkWriteTarget(p, options.overwrite ?? true);

    // Pack the incoming bytes into fresh blocks (the caller may reuse its buffers), and commit
    // only once the stream ended well: a failed or aborted write leaves the old content intact.
    const blocks: Buffer[] = [];
    const starts: number[] = [];
    // Small files are the common case (and FUSE creates many): size the first block to the hint,
    // or start small, so a 4 KiB file does not hold a 1 MiB block.
    let block = Buffer.allocUnsafe(Math.min(BLOCK_BYTES, Math.max(1, options.size ?? FIRST_BLOCK_BYTES)));
    let used = 0;
    let size = 0;
    const previousSize = this.existingFileSize(p);
    try {
      for await (const chunk of iterateBytes(data)) {
        throwIfAborted(options.signal, { path: p, operation: 'write' });
        let at = 0;
        while (at < chunk.length) {
          // The next block is allocated when bytes arrive for it: a file whose size equals the hint
          // (the usual case) must not allocate and drop a 1 MiB block after its last byte.
          if (used === block.length) {
            block = Buffer.allocUnsafe(BLOCK_BYTES);
            used = 0;
          }
          const n = Math.min(chunk.length - at, block.length - used);
          chunk.copy(block, used, at, at + n);
          used += n;
          at += n;
          if (used === block.length) {
            starts.push(size);
            blocks.push(block);
            size += used;
            block = EMPTY_BLOCK;
            used = 0;
          }
        }
        if (this.quota !== undefined && this.usedBytes - previousSize + size + used > this.quota) {
          throw opError('ENOSPC', 'quota exceeded', 'write', p);
        }
      }
    } catch (e) {
      throw toVfsError(e, { provider: 'memory', operation: 'write', path: p });
    }
    if (used > 0) {
      starts.push(size);
      blocks.push(used < block.length / 2 ? Buffer.from(block.subarray(0, used)) : block.subarray(0, used));
      size += used;
    }

    // The tree may have changed while the stream was read: check again, then commit.
    const parent = this.checkWriteTarget(p, options.overwrite ?? true);
    const name = baseName(p);
    const existing = parent.children.get(name);
    const node: FileNode = {
      kind: 'file',
      id: existing?.id ?? this.nextId++,
      version: existing?.kind === 'file' ? existing.version + 1 : 1,
      blocks,
      starts,
      size,
      mtime: options.mtime ? new Date(options.mtime.getTime()) : new Date(),
    };
    this.usedBytes += size - (existing?.kind === 'file' ? existing.size : 0);
    parent.children.set(name, node);
    parent.mtime = new Date();
    return toEntry(p, node);
  }

  protected async doMkdir(p: string): Promise<Entry> {
    const parent = this.parentDir(p, 'mkdir');
    if (parent.children.has(baseName(p))) throw opError('EEXIST', 'already exists', 'mkdir', p);
    const node: DirNode = { kind: 'directory', id: this.nextId++, mtime: new Date(), children: new Map() };
    parent.children.set(baseName(p), node);
    parent.mtime = new Date();
    return toEntry(p, node);
  }

  protected async doRemove(p: string, options: RemoveOptions): Promise<void> {
    const parent = this.parentDir(p, 'remove');
    const node = parent.children.get(baseName(p));
    if (!node) throw opError('ENOENT', 'no such file or directory', 'remove', p);
    if (node.kind === 'directory' && node.children.size > 0 && !options.recursive) {
      throw opError('ENOTEMPTY', 'directory not empty', 'remove', p);
    }
    parent.children.delete(baseName(p));
    parent.mtime = new Date();
    this.usedBytes -= bytesIn(node);
  }

  protected async doRename(src: string, dst: string, options: MoveOptions): Promise<Entry> {
    const { node, srcParent, dstParent, replaced } = this.prepareMove('rename', src, dst, options);
    srcParent.children.delete(baseName(src));
    dstParent.children.set(baseName(dst), node);
    if (replaced) this.usedBytes -= bytesIn(replaced);
    srcParent.mtime = dstParent.mtime = new Date();
    return toEntry(dst, node);
  }

  protected async doCopy(src: string, dst: string, options: MoveOptions): Promise<Entry> {
    const { node, dstParent, replaced } = this.prepareMove('copy', src, dst, options);
    const added = bytesIn(node);
    const freed = replaced ? bytesIn(replaced) : 0;
    if (this.quota !== undefined && this.usedBytes + added - freed > this.quota) {
      throw opError('ENOSPC', 'quota exceeded', 'copy', dst);
    }
    const clone = this.cloneNode(node);
    dstParent.children.set(baseName(dst), clone);
    dstParent.mtime = new Date();
    this.usedBytes += added - freed;
    return toEntry(dst, clone);
  }

  setMtime(path: string, mtime: Date, options: OpOptions = {}): Promise<Entry> {
    return this.guard('setMtime', path, options, (p) => {
      checkTime(mtime, 'setMtime', p);
      this.checkWritable('setMtime', p);
      const node = this.lookup(p, 'setMtime');
      node.mtime = new Date(mtime.getTime());
      return toEntry(p, node);
    });
  }

  protected async doSpace(): Promise<SpaceInfo> {
    if (this.quota === undefined) return { used: this.usedBytes };
    return { used: this.usedBytes, total: this.quota, free: Math.max(0, this.quota - this.usedBytes) };
  }

  // ---- internals -------------------------------------------------------------------------

  /** Walk to `p`. ENOENT when something on the way is missing, ENOTDIR when it is a file. */
  private lookup(p: string, op: string): Node {
    let node: Node = this.root;
    for (const segment of splitPath(p)) {
      if (node.kind !== 'directory') throw opError('ENOTDIR', 'a parent is not a directory', op, p);
      const child: Node | undefined = node.children.get(segment);
      if (!child) throw opError('ENOENT', 'no such file or directory', op, p);
      node = child;
    }
    return node;
  }

  private parentDir(p: string, op: string): DirNode {
    const parent = this.lookup(parentPath(p), op);
    if (parent.kind !== 'directory') throw opError('ENOTDIR', 'parent is not a directory', op, p);
    return parent;
  }

  private checkWriteTarget(p: string, overwrite: boolean): DirNode {
    const parent = this.parentDir(p, 'write');
    const existing = parent.children.get(baseName(p));
    if (existing?.kind === 'directory') throw opError('EISDIR', 'is a directory', 'write', p);
    if (existing && !overwrite) throw opError('EEXIST', 'already exists', 'write', p);
    return parent;
  }

  private existingFileSize(p: string): number {
    const node = this.find(p);
    return node?.kind === 'file' ? node.size : 0;
  }

  /** Like lookup, but undefined instead of an error (no stack trace built on a hot path). */
  private find(p: string): Node | undefined {
    let node: Node = this.root;
    for (const segment of splitPath(p)) {
      if (node.kind !== 'directory') return undefined;
      const child: Node | undefined = node.children.get(segment);
      if (!child) return undefined;
      node = child;
    }
    return node;
  }

  /** Shared checks of rename and copy (different paths, neither the root nor nested: AdapterVfs); returns the nodes involved. */
  private prepareMove(op: string, src: string, dst: string, options: MoveOptions) {
    const srcParent = this.parentDir(src, op);
    const node = srcParent.children.get(baseName(src));
    if (!node) throw opError('ENOENT', 'no such file or directory', op, src);
    const dstParent = this.parentDir(dst, op);
    const replaced = dstParent.children.get(baseName(dst));
    if (replaced) {
      if (!options.overwrite) throw opError('EEXIST', 'destination exists', op, dst);
      if (node.kind === 'file' && replaced.kind === 'directory') throw opError('EISDIR', 'destination is a directory', op, dst);
      if (node.kind === 'directory' && replaced.kind === 'file') throw opError('ENOTDIR', 'destination is not a directory', op, dst);
      if (replaced.kind === 'directory' && replaced.children.size > 0) throw opError('ENOTEMPTY', 'destination directory not empty', op, dst);
    }
    return { node, srcParent, dstParent, replaced };
  }

  private cloneNode(node: Node): Node {
    if (node.kind === 'file') return { ...node, id: this.nextId++, version: 1, mtime: new Date(node.mtime) };
    const children = new Map<string, Node>();
    for (const [name, child] of node.children) children.set(name, this.cloneNode(child));
    return { kind: 'directory', id: this.nextId++, mtime: new Date(), children };
  }
}

function* sliceBlocks(node: FileNode, start: number, end: number): Generator<Buffer> {
  if (start >= end) return;
  // Binary search for the block holding `start`.
  let lo = 0;
  let hi = node.starts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (node.starts[mid]! <= start) lo = mid;
    else hi = mid - 1;
  }
  for (let i = lo; i < node.blocks.length && node.starts[i]! < end; i++) {
    const blockStart = node.starts[i]!;
    const block = node.blocks[i]!;
    yield block.subarray(Math.max(0, start - blockStart), Math.min(block.length, end - blockStart));
  }
}

function bytesIn(node: Node): number {
  if (node.kind === 'file') return node.size;
  let total = 0;
  for (const child of node.children.values()) total += bytesIn(child);
  return total;
}

function toEntry(path: string, node: Node): Entry {
  const entry: Entry = {
    path,
    name: baseName(path),
    type: node.kind,
    size: node.kind === 'file' ? node.size : 0,
    mtime: new Date(node.mtime.getTime()),
    id: String(node.id),
  };
  if (node.kind === 'file') entry.etag = `${node.id.toString(16)}-${node.version.toString(16)}`;
  return entry;
}
