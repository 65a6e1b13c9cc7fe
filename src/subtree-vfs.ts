/**
 * SubtreeVfs: a Vfs rooted at a directory of another Vfs, so `serve webdav home:/Photos` shows
 * /Photos as "/". Paths are normalised here first, so ".." can never climb above the subtree.
 */
import { isSameOrInside, moveConflict, normalizePath } from './path.js';
import type { Entry, MoveOptions, RemoveOptions, ShareLink, Vfs, VfsChange, WatchOptions } from './vfs.js';
import { ForwardingVfs } from './forward.js';
import { VfsError, opError } from './errors.js';

export class SubtreeVfs extends ForwardingVfs {
  private readonly root: string;

  constructor(inner: Vfs, root: string) {
    super(inner);
    this.root = normalizePath(root);
  }

  protected override down(path: string): string {
    const p = normalizePath(path);
    if (this.root === '/') return p;
    return p === '/' ? this.root : this.root + p;
  }

  protected override up(entry: Entry): Entry {
    if (this.root === '/') return entry;
    const path = entry.path === this.root ? '/' : entry.path.slice(this.root.length);
    return { ...entry, path, name: path === '/' ? '' : entry.name };
  }

  /** A share of something outside the subtree shows no path. */
  protected override upLink(link: ShareLink): ShareLink {
    const { path, ...rest } = link;
    return path !== undefined && isSameOrInside(this.root, path) ? { ...rest, path: this.root === '/' ? path : path.slice(this.root.length) || '/' } : rest;
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

  override async remove(path: string, options?: RemoveOptions): Promise<void> {
    this.guardRoot(path, 'remove');
    return super.remove(path, options);
  }

  override async rename(from: string, to: string, options?: MoveOptions): Promise<Entry> {
    this.guardRoot(from, 'rename');
    this.guardMove(from, to, 'rename');
    return super.rename(from, to, options);
  }

  override async copy(from: string, to: string, options?: MoveOptions): Promise<Entry> {
    this.guardMove(from, to, 'copy');
    return super.copy(from, to, options);
  }

  /** The inner Vfs's changes under the subtree, with paths re-rooted (outside ones are left out). */
  override watch(path: string, options?: WatchOptions): AsyncIterable<VfsChange> {
    const source = this.inner.watch!(this.down(path), options);
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
}
