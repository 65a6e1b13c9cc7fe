/**
 * SubtreeVfs: a Vfs rooted at a directory of another Vfs, so `serve webdav home:/Photos` shows
 * /Photos as "/". Paths are normalised here first, so ".." can never climb above the subtree.
 */
import type { Readable } from 'node:stream';
import { isSameOrInside, moveConflict, normalizePath } from './path.js';
import type { DeadPropertyStore, Entry, MoveOptions, OpOptions, ReadOptions, RemoveOptions, ShareLink, ShareLinkStore, SpaceInfo, Vfs, VfsChange, WatchOptions, WriteData, WriteOptions } from './vfs.js';
import { forwardStores } from './forward.js';
import type { ForwardedStores } from './forward.js';
import { VfsError, opError } from './errors.js';

export class SubtreeVfs implements Vfs {
  readonly name: string;

  /** Present when the wrapped Vfs can set mtimes. */
  readonly setMtime?: (path: string, mtime: Date, options?: OpOptions) => Promise<Entry>;
  declare readonly getProps?: ForwardedStores['getProps'];
  declare readonly setProps?: ForwardedStores['setProps'];
  declare readonly createShare?: ForwardedStores['createShare'];
  declare readonly listShares?: ForwardedStores['listShares'];
  declare readonly removeShare?: ForwardedStores['removeShare'];

  constructor(private readonly inner: Vfs, private readonly root: string) {
    this.root = normalizePath(root);
    this.name = inner.name;
    if (inner.setMtime) this.setMtime = async (path, mtime, options) => this.up(await inner.setMtime!(this.down(path), mtime, options));
    forwardStores(this, inner, {
      down: (path) => this.down(path),
      // A share of something outside the subtree shows no path.
      upLink: (link: ShareLink): ShareLink => {
        const { path, ...rest } = link;
        return path !== undefined && isSameOrInside(this.root, path) ? { ...rest, path: this.root === '/' ? path : path.slice(this.root.length) || '/' } : rest;
      },
    });
  }

  get capabilities() {
    return this.inner.capabilities;
  }

  get scheduler() {
    return this.inner.scheduler;
  }

  private down(path: string): string {
    const p = normalizePath(path);
    if (this.root === '/') return p;
    return p === '/' ? this.root : this.root + p;
  }

  private up(entry: Entry): Entry {
    if (this.root === '/') return entry;
    const path = entry.path === this.root ? '/' : entry.path.slice(this.root.length);
    return { ...entry, path, name: path === '/' ? '' : entry.name };
  }

  private guardRoot(path: string, op: string): void {
    if (normalizePath(path) === '/') throw opError('EBUSY', 'the root of the share cannot be changed', op, '/');
  }

  /** Never hand the inner Vfs a move that replaces the share root or an ancestor of the source. */
  private guardMove(from: string, to: string, op: string): void {
    const [src, dst] = [normalizePath(from), normalizePath(to)];
    if (dst === '/' && src !== '/') throw opError('EBUSY', 'the root of the share cannot be replaced', op, src, { dest: '/' });
    const fold = this.inner.capabilities.caseSensitive ? undefined : (p: string) => p.toLowerCase();
    const conflict = moveConflict(src, dst, fold);
    if (conflict) throw new VfsError('EINVAL', conflict, { operation: op, path: dst });
  }

  async stat(path: string, options?: OpOptions): Promise<Entry> {
    return this.up(await this.inner.stat(this.down(path), options));
  }

  async list(dir: string, options?: OpOptions): Promise<Entry[]> {
    return (await this.inner.list(this.down(dir), options)).map((e) => this.up(e));
  }

  read(path: string, options?: ReadOptions): Promise<Readable> {
    return this.inner.read(this.down(path), options);
  }

  async write(path: string, data: WriteData, options?: WriteOptions): Promise<Entry> {
    return this.up(await this.inner.write(this.down(path), data, options));
  }

  async mkdir(path: string, options?: OpOptions): Promise<Entry> {
    return this.up(await this.inner.mkdir(this.down(path), options));
  }

  async remove(path: string, options?: RemoveOptions): Promise<void> {
    this.guardRoot(path, 'remove');
    return this.inner.remove(this.down(path), options);
  }

  async rename(from: string, to: string, options?: MoveOptions): Promise<Entry> {
    this.guardRoot(from, 'rename');
    this.guardMove(from, to, 'rename');
    return this.up(await this.inner.rename(this.down(from), this.down(to), options));
  }

  async copy(from: string, to: string, options?: MoveOptions): Promise<Entry> {
    this.guardMove(from, to, 'copy');
    return this.up(await this.inner.copy(this.down(from), this.down(to), options));
  }

  /** The inner Vfs's changes under the subtree, with paths re-rooted (outside ones are left out). */
  watch(path: string, options?: WatchOptions): AsyncIterable<VfsChange> {
    const inner = this.inner;
    if (!inner.watch) throw new VfsError('ENOTSUP', `${inner.name} cannot watch for changes`, { path });
    const source = inner.watch(this.down(path), options);
    const root = this.root;
    const lift = (p: string): string | undefined => {
      if (root === '/') return p;
      if (p === root) return '/';
      return p.startsWith(root + '/') ? p.slice(root.length) : undefined;
    };
    return {
      async *[Symbol.asyncIterator]() {
        for await (const c of source) {
          const path = lift(c.path);
          const oldPath = c.oldPath !== undefined ? lift(c.oldPath) : undefined;
          // A resync of an ancestor of the subtree covers all of it.
          if (c.type === 'resync' && path === undefined && (root + '/').startsWith(c.path === '/' ? '/' : c.path + '/')) {
            yield { type: 'resync', path: '/' };
          } else if (path !== undefined && (c.oldPath === undefined || oldPath !== undefined)) {
            yield oldPath !== undefined ? { ...c, path, oldPath } : { type: c.type, path };
          } else if (path !== undefined) {
            yield { type: 'create', path }; // moved in from outside
          } else if (oldPath !== undefined) {
            yield { type: 'delete', path: oldPath }; // moved out
          }
        }
      },
    };
  }

  space(options?: OpOptions): Promise<SpaceInfo> {
    return this.inner.space(options);
  }

  async close(): Promise<void> {
    await this.inner.close?.();
  }
}
