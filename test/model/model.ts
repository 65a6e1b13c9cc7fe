/**
 * A plain in-memory model of a filesystem tree, shared by the model-based tests of the WebDAV share
 * and the FUSE mount. It knows nothing of HTTP or FUSE: paths, bytes, dead properties, path-based
 * WebDAV locks, and (for the mount) explicitly set mtimes. The frontends' rules live in the
 * `dav-rules.ts` / `posix-rules.ts` files that predict each command's outcome on this state.
 */
import { createHash } from 'node:crypto';

export type Node = { type: 'file'; data: Buffer; mtime?: number } | { type: 'dir' };

export interface ModelLock {
  token: string;
  root: string;
  depth: 0 | 'infinity';
}

export function parentOf(path: string): string {
  const i = path.lastIndexOf('/');
  return i <= 0 ? '/' : path.slice(0, i);
}

/** Is `inner` equal to `outer` or below it? */
export function sameOrInside(outer: string, inner: string): boolean {
  return outer === inner || outer === '/' || inner.startsWith(outer + '/');
}

export function join(dir: string, name: string): string {
  return dir === '/' ? `/${name}` : `${dir}/${name}`;
}

export const shortHash = (data: Uint8Array): string => createHash('sha256').update(data).digest('hex').slice(0, 12);

/** The model's whole state; `clone()` makes the "before" copy that fault rules compare against. */
export class Model {
  nodes = new Map<string, Node>([['/', { type: 'dir' }]]);
  /** Dead properties per path: name → value. */
  props = new Map<string, Map<string, string>>();
  locks: ModelLock[] = [];

  clone(): Model {
    const m = new Model();
    m.nodes = new Map([...this.nodes].map(([p, n]) => [p, n.type === 'file' ? { ...n } : n]));
    m.props = new Map([...this.props].map(([p, v]) => [p, new Map(v)]));
    m.locks = this.locks.map((l) => ({ ...l }));
    return m;
  }

  get(path: string): Node | undefined {
    return this.nodes.get(path);
  }

  isDir(path: string): boolean {
    return this.nodes.get(path)?.type === 'dir';
  }

  /** Paths at or below `path`. */
  subtree(path: string): string[] {
    return [...this.nodes.keys()].filter((p) => sameOrInside(path, p));
  }

  hasChildren(path: string): boolean {
    return [...this.nodes.keys()].some((p) => p !== path && parentOf(p) === path);
  }

  removeTree(path: string): void {
    for (const p of this.subtree(path)) this.nodes.delete(p);
    for (const p of [...this.props.keys()]) if (sameOrInside(path, p)) this.props.delete(p);
  }

  /** Copy (or move) the subtree at `from` to `to`, replacing whatever was at `to`. Props follow. */
  transfer(from: string, to: string, mode: 'move' | 'copy'): void {
    const moved = this.subtree(from).map((p) => [p, this.nodes.get(p)!] as const);
    const props = [...this.props].filter(([p]) => sameOrInside(from, p));
    this.removeTree(to);
    if (mode === 'move') this.removeTree(from);
    for (const [p, n] of moved) this.nodes.set(to + p.slice(from.length), n.type === 'file' ? { ...n } : n);
    for (const [p, v] of props) this.props.set(to + p.slice(from.length), new Map(v));
  }

  setFile(path: string, data: Buffer, keepMtime = false): void {
    const old = this.nodes.get(path);
    const mtime = keepMtime && old?.type === 'file' ? old.mtime : undefined;
    this.nodes.set(path, { type: 'file', data, ...(mtime !== undefined ? { mtime } : {}) });
  }

  // --- WebDAV locks (paths, not resources: see mount/webdav/locks.ts) ---

  covering(path: string): ModelLock[] {
    return this.locks.filter((l) => l.root === path || (l.depth === 'infinity' && sameOrInside(l.root, path)));
  }

  /** Locks a change must present tokens for (RFC 4918 §7: the resource, its tree, its parent's membership). */
  protecting(path: string, opts: { tree?: boolean; membership?: boolean }): ModelLock[] {
    const out = new Set(this.covering(path));
    if (opts.tree) for (const l of this.locks) if (sameOrInside(path, l.root)) out.add(l);
    if (opts.membership && path !== '/') for (const l of this.covering(parentOf(path))) out.add(l);
    return [...out];
  }

  /** Every lock here is exclusive: any overlap conflicts. */
  lockConflicts(path: string, depth: 0 | 'infinity'): boolean {
    if (this.covering(path).length > 0) return true;
    return depth === 'infinity' && this.locks.some((l) => sameOrInside(path, l.root));
  }

  dropLocksInside(path: string): void {
    this.locks = this.locks.filter((l) => !sameOrInside(path, l.root));
  }

  /**
   * The observable state as sorted lines: `path/` for a directory, `path size hash [mtime] {props}`
   * for a file. Frontends produce the same lines from what they can see.
   */
  snapshot(opts: { props?: boolean; mtimes?: boolean } = {}): string[] {
    const out: string[] = [];
    for (const [p, n] of this.nodes) {
      if (p === '/') continue;
      out.push(describe(p, n.type, n.type === 'file' ? n.data : undefined, opts.mtimes && n.type === 'file' ? n.mtime : undefined, opts.props ? this.props.get(p) : undefined));
    }
    return out.sort();
  }
}

/** One snapshot line (see Model.snapshot). */
export function describe(path: string, type: 'file' | 'dir', data?: Uint8Array, mtime?: number, props?: Map<string, string>): string {
  let line = type === 'dir' ? `${path}/` : `${path} ${data!.length} ${shortHash(data!)}`;
  if (mtime !== undefined) line += ` mtime=${mtime}`;
  if (props && props.size > 0) line += ' ' + JSON.stringify([...props].sort());
  return line;
}
