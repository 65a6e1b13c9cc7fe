/**
 * WebDAV write locks (class 2), held in memory by the server: exclusive or shared, depth 0 or
 * infinity, with a timeout. Locks protect paths, not Vfs entries: a lock on a missing path is how
 * LOCK on an unmapped URL reserves a name. Tokens are `opaquelocktoken:<uuid>`.
 */
import { randomUUID } from 'node:crypto';
import { parentPath } from '../../src/path.js';

export type LockScope = 'exclusive' | 'shared';

export interface Lock {
  token: string;
  /** The path the LOCK was taken on. */
  root: string;
  depth: 0 | 'infinity';
  scope: LockScope;
  /** The client's <owner> content, already serialised as XML. */
  ownerXml: string;
  timeoutSeconds: number;
  expiresAt: number;
  /** The authenticated user who took it, when the share has users. */
  user?: string;
  /** Who is charged for it against MAX_LOCKS_PER_CLIENT (see lockClient). */
  client?: string;
}

/** Longest lock lifetime we grant; clients refresh long-running locks. */
export const MAX_LOCK_SECONDS = 24 * 3600;
export const DEFAULT_LOCK_SECONDS = 3600;
/**
 * Most locks one server holds; beyond it LOCK gets 503 with Retry-After: the table is full because
 * of everyone, and locks expire, so a later retry can succeed.
 */
export const MAX_LOCKS = 10_000;
/**
 * Most locks one client holds (an authenticated user, else one client address, IPv6 by /64);
 * beyond it LOCK gets 507: the client's own share of the lock table is used up, which no retry
 * fixes until it unlocks something (503 + Retry-After would make clients loop).
 */
export const MAX_LOCKS_PER_CLIENT = 1000;

/**
 * Largest <owner> a lock keeps (serialised XML). The table holds it for the lock's life, so without
 * a bound 10 000 locks × a 1 MiB body would be 10 GB; clients send a name or an href. Beyond: 413.
 */
export const MAX_LOCK_OWNER_BYTES = 4096;

/** Lock-table work done (index nodes and locks examined), so tests prove lookup cost without timing. */
export const lockStats = { visits: 0 };

/** One path segment of the index: the locks taken on this path, and the children that hold some. */
interface IndexNode {
  name: string;
  parent: IndexNode | undefined;
  children: Map<string, IndexNode> | undefined;
  /** Locks whose root is this path. */
  here: Lock[];
  /** Locks here and below (nodes with none are pruned, so a walk only meets nodes that matter). */
  count: number;
}

/**
 * The locks of one server, indexed by path (a trie of segments): the locks covering a path are
 * found walking from the root to it (work in its depth), those below it walking its subtree (work
 * in what is found). No lookup scans the table, so 10 000 locks do not slow every listing.
 * Expired locks are dropped when a lookup meets them, and in a sweep when a bound is reached.
 */
export class LockTable {
  private readonly byToken = new Map<string, Lock>();
  private readonly root: IndexNode = { name: '', parent: undefined, children: undefined, here: [], count: 0 };
  private readonly byClient = new Map<string, Set<Lock>>();

  /** Number of live locks (sweeps expired ones: O(locks), for tests and bounds only). */
  get size(): number {
    this.sweep();
    return this.byToken.size;
  }

  /** True when no lock is held (the fast path for every request). */
  get empty(): boolean {
    return this.byToken.size === 0;
  }

  /** Live locks held by one client. */
  heldBy(client: string): number {
    const set = this.byClient.get(client);
    if (!set) return 0;
    this.sweepSet(set);
    return this.byClient.get(client)?.size ?? 0;
  }

  /** May `client` take one more lock? 'client' when it holds its share, 'table' when the table is full. */
  admit(client: string): 'ok' | 'client' | 'table' {
    if ((this.byClient.get(client)?.size ?? 0) >= MAX_LOCKS_PER_CLIENT && this.heldBy(client) >= MAX_LOCKS_PER_CLIENT) return 'client';
    if (this.byToken.size >= MAX_LOCKS && this.size >= MAX_LOCKS) return 'table';
    return 'ok';
  }

  /** Locks that cover `path`: taken on it, or on an ancestor with depth infinity. */
  covering(path: string): Lock[] {
    if (this.byToken.size === 0) return [];
    const out: Lock[] = [];
    const expired: Lock[] = [];
    const now = Date.now();
    const take = (node: IndexNode, all: boolean) => {
      for (const lock of node.here) {
        lockStats.visits++;
        if (lock.expiresAt <= now) expired.push(lock);
        else if (all || lock.depth === 'infinity') out.push(lock);
      }
    };
    let node: IndexNode | undefined = this.root;
    const segments = path === '/' ? [] : path.slice(1).split('/');
    lockStats.visits++;
    take(node, segments.length === 0);
    for (let i = 0; i < segments.length; i++) {
      node = node.children?.get(segments[i]!);
      lockStats.visits++;
      if (!node) break;
      take(node, i === segments.length - 1);
    }
    for (const lock of expired) this.drop(lock);
    return out;
  }

  /** Locks taken on `path` or anywhere below it. */
  inside(path: string): Lock[] {
    if (this.byToken.size === 0) return [];
    const start = this.find(path);
    if (!start) return [];
    const out: Lock[] = [];
    const expired: Lock[] = [];
    const now = Date.now();
    const stack = [start];
    while (stack.length > 0) {
      const node = stack.pop()!;
      lockStats.visits++;
      for (const lock of node.here) {
        lockStats.visits++;
        (lock.expiresAt <= now ? expired : out).push(lock);
      }
      if (node.children) for (const child of node.children.values()) stack.push(child);
    }
    for (const lock of expired) this.drop(lock);
    return out;
  }

  /**
   * Locks a change of `path` must present tokens for: those covering it, those below it when the
   * whole tree changes (DELETE/MOVE of a collection), and those on its parent when its membership
   * changes (create, delete, move).
   */
  protecting(path: string, opts: { tree?: boolean; membership?: boolean }): Lock[] {
    if (this.byToken.size === 0) return [];
    const found = new Map<string, Lock>();
    for (const l of this.covering(path)) found.set(l.token, l);
    if (opts.tree) for (const l of this.inside(path)) found.set(l.token, l);
    if (opts.membership && path !== '/') {
      const parent = parentPath(path);
      for (const l of this.covering(parent)) found.set(l.token, l);
    }
    return [...found.values()];
  }

  /** The lock with this token, when it is live. */
  get(token: string): Lock | undefined {
    const lock = this.byToken.get(token);
    if (lock && lock.expiresAt <= Date.now()) {
      this.drop(lock);
      return undefined;
    }
    return lock;
  }

  /** Would a new lock of this scope/depth on `path` conflict with a held one? */
  conflicts(path: string, scope: LockScope, depth: 0 | 'infinity'): boolean {
    const held = this.covering(path);
    if (depth === 'infinity') held.push(...this.inside(path));
    return held.some((l) => l.scope === 'exclusive' || scope === 'exclusive');
  }

  /** Take a new lock (callers check `admit` first). `client` is who is charged for it. */
  create(root: string, scope: LockScope, depth: 0 | 'infinity', ownerXml: string, timeoutSeconds: number, user?: string, client?: string): Lock {
    const lock: Lock = {
      token: `opaquelocktoken:${randomUUID()}`,
      root,
      depth,
      scope,
      ownerXml,
      timeoutSeconds,
      expiresAt: Date.now() + timeoutSeconds * 1000,
      ...(user !== undefined ? { user } : {}),
      ...(client !== undefined ? { client } : {}),
    };
    this.byToken.set(lock.token, lock);
    let node = this.root;
    node.count++;
    for (const seg of root === '/' ? [] : root.slice(1).split('/')) {
      node.children ??= new Map();
      let next = node.children.get(seg);
      if (!next) node.children.set(seg, (next = { name: seg, parent: node, children: undefined, here: [], count: 0 }));
      next.count++;
      node = next;
    }
    node.here.push(lock);
    if (client !== undefined) {
      let set = this.byClient.get(client);
      if (!set) this.byClient.set(client, (set = new Set()));
      set.add(lock);
    }
    return lock;
  }

  /** Extend a lock's life. */
  refresh(lock: Lock, timeoutSeconds: number): void {
    lock.timeoutSeconds = timeoutSeconds;
    lock.expiresAt = Date.now() + timeoutSeconds * 1000;
  }

  remove(token: string): boolean {
    const lock = this.byToken.get(token);
    if (!lock) return false;
    this.drop(lock);
    return true;
  }

  /** Drop every lock on or below `path` (after DELETE or MOVE: locks do not follow a resource). */
  removeInside(path: string): void {
    for (const lock of this.inside(path)) this.drop(lock);
  }

  /** Take one lock out of every index. */
  private drop(lock: Lock): void {
    if (!this.byToken.delete(lock.token)) return;
    if (lock.client !== undefined) {
      const set = this.byClient.get(lock.client);
      set?.delete(lock);
      if (set?.size === 0) this.byClient.delete(lock.client);
    }
    const node = this.find(lock.root);
    if (!node) return;
    node.here.splice(node.here.indexOf(lock), 1);
    // Uncount up to the root, pruning nodes that no longer hold anything.
    for (let n: IndexNode | undefined = node; n; n = n.parent) {
      n.count--;
      if (n.count === 0 && n.parent) n.parent.children?.delete(n.name);
    }
  }

  private find(path: string): IndexNode | undefined {
    let node: IndexNode | undefined = this.root;
    if (path === '/') return node;
    for (const seg of path.slice(1).split('/')) {
      lockStats.visits++;
      node = node.children?.get(seg);
      if (!node) return undefined;
    }
    return node;
  }

  /** Drop every expired lock (O(locks): only when a bound is reached). */
  private sweep(): void {
    const now = Date.now();
    for (const lock of [...this.byToken.values()]) if (lock.expiresAt <= now) this.drop(lock);
  }

  private sweepSet(set: Set<Lock>): void {
    const now = Date.now();
    for (const lock of [...set]) if (lock.expiresAt <= now) this.drop(lock);
  }
}

/**
 * Who a lock is charged to: the authenticated user, else the client address (an IPv6 address by
 * its /64, which one client usually owns whole; IPv4-mapped IPv6 as IPv4).
 */
export function lockClient(user: string | undefined, address: string | undefined): string {
  if (user !== undefined) return `user:${user}`;
  let a = (address ?? '?').toLowerCase();
  const zone = a.indexOf('%');
  if (zone >= 0) a = a.slice(0, zone);
  if (a.startsWith('::ffff:') && a.includes('.')) return `ip:${a.slice(7)}`;
  if (!a.includes(':')) return `ip:${a}`;
  const [head = '', tail] = a.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = [...left, ...Array<string>(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right];
  return `ip6:${groups.slice(0, 4).map((g) => g.replace(/^0+(?=.)/, '')).join(':')}::/64`;
}

/** Parse a `Timeout:` header ("Second-600, Infinite") into seconds, capped. */
export function parseTimeout(header: string | undefined): number {
  if (!header) return DEFAULT_LOCK_SECONDS;
  for (const part of header.split(',')) {
    const t = part.trim();
    if (/^infinite$/i.test(t)) return MAX_LOCK_SECONDS;
    const m = /^second-(\d+)$/i.exec(t);
    if (m) return Math.max(1, Math.min(MAX_LOCK_SECONDS, Number(m[1])));
  }
  return DEFAULT_LOCK_SECONDS;
}

/** What a new lock asks for. */
export interface LockRequest {
  root: string;
  scope: LockScope;
  depth: 0 | 'infinity';
  ownerXml: string;
  timeoutSeconds: number;
  user?: string;
  /** Who is charged for it against MAX_LOCKS_PER_CLIENT (see lockClient). */
  client: string;
}

/**
 * Where a server keeps its locks: in this process (MemoryLockStore, the default) or shared by
 * several instances (RedisLockStore). Every method may fail (a shared store that cannot be
 * reached): callers then refuse the request, they never assume "no lock".
 */
export interface LockStore {
  /** True when certainly no lock is held (a fast path; a shared store always answers false). */
  readonly empty: boolean;
  /** Locks that cover `path`: taken on it, or on an ancestor with depth infinity. */
  covering(path: string): Promise<Lock[]>;
  /** Locks a change of `path` must present tokens for (see LockTable.protecting). */
  protecting(path: string, opts: { tree?: boolean; membership?: boolean }): Promise<Lock[]>;
  /** Admission, conflict check and creation as ONE step: no other request can slip in between. */
  acquire(request: LockRequest): Promise<Lock | 'conflict' | 'client' | 'table'>;
  /** Extend the lock `token` when it covers `path` and belongs to `user` (when it has one). */
  refresh(token: string, path: string, timeoutSeconds: number, user: string | undefined): Promise<Lock | undefined>;
  /** Remove the lock `token` when it covers `path`: 'missing' when it does not, 'forbidden' for another user's. */
  release(token: string, path: string, user: string | undefined): Promise<'ok' | 'missing' | 'forbidden'>;
  /** Drop every lock on or below `path` (after DELETE or MOVE: locks do not follow a resource). */
  removeInside(path: string): Promise<void>;
}

/** The in-process LockStore: a LockTable, whose synchronous steps cannot interleave. */
export class MemoryLockStore implements LockStore {
  constructor(readonly table = new LockTable()) {}

  get empty(): boolean {
    return this.table.empty;
  }

  async covering(path: string): Promise<Lock[]> {
    return this.table.covering(path);
  }

  async protecting(path: string, opts: { tree?: boolean; membership?: boolean }): Promise<Lock[]> {
    return this.table.protecting(path, opts);
  }

  async acquire(r: LockRequest): Promise<Lock | 'conflict' | 'client' | 'table'> {
    const admitted = this.table.admit(r.client);
    if (admitted !== 'ok') return admitted;
    if (this.table.conflicts(r.root, r.scope, r.depth)) return 'conflict';
    return this.table.create(r.root, r.scope, r.depth, r.ownerXml, r.timeoutSeconds, r.user, r.client);
  }

  async refresh(token: string, path: string, timeoutSeconds: number, user: string | undefined): Promise<Lock | undefined> {
    const lock = this.table.get(token);
    if (!lock || !this.table.covering(path).includes(lock) || (lock.user !== undefined && lock.user !== user)) return undefined;
    this.table.refresh(lock, timeoutSeconds);
    return lock;
  }

  async release(token: string, path: string, user: string | undefined): Promise<'ok' | 'missing' | 'forbidden'> {
    const lock = this.table.get(token);
    if (!lock || !this.table.covering(path).includes(lock)) return 'missing';
    if (lock.user !== undefined && lock.user !== user) return 'forbidden';
    this.table.remove(token);
    return 'ok';
  }

  async removeInside(path: string): Promise<void> {
    this.table.removeInside(path);
  }
}
