/**
 * WebDAV write locks (class 2), held in memory by the server: exclusive or shared, depth 0 or
 * infinity, with a timeout. Locks protect paths, not Vfs entries: a lock on a missing path is how
 * LOCK on an unmapped URL reserves a name. Tokens are `opaquelocktoken:<uuid>`.
 */
import { randomUUID } from 'node:crypto';
import { isSameOrInside, parentPath } from '../../src/path.js';

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
}

/** Longest lock lifetime we grant; clients refresh long-running locks. */
export const MAX_LOCK_SECONDS = 24 * 3600;
export const DEFAULT_LOCK_SECONDS = 3600;
/** Most locks one server holds; more LOCK requests get 503 (a client cannot grow the table without bound). */
export const MAX_LOCKS = 10_000;

export class LockTable {
  private readonly byToken = new Map<string, Lock>();

  /** Number of live locks (expired ones are dropped on the way). */
  get size(): number {
    for (const _ of this.live());
    return this.byToken.size;
  }

  /** True when no lock is held (the fast path for every request). */
  get empty(): boolean {
    return this.byToken.size === 0;
  }

  /** Locks that cover `path`: taken on it, or on an ancestor with depth infinity. */
  covering(path: string): Lock[] {
    if (this.byToken.size === 0) return [];
    const out: Lock[] = [];
    for (const lock of this.live()) {
      if (lock.root === path || (lock.depth === 'infinity' && isSameOrInside(lock.root, path))) out.push(lock);
    }
    return out;
  }

  /** Locks taken on `path` or anywhere below it. */
  inside(path: string): Lock[] {
    if (this.byToken.size === 0) return [];
    return [...this.live()].filter((l) => isSameOrInside(path, l.root));
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
      this.byToken.delete(token);
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

  /** Take a new lock. */
  create(root: string, scope: LockScope, depth: 0 | 'infinity', ownerXml: string, timeoutSeconds: number, user?: string): Lock {
    const lock: Lock = {
      token: `opaquelocktoken:${randomUUID()}`,
      root,
      depth,
      scope,
      ownerXml,
      timeoutSeconds,
      expiresAt: Date.now() + timeoutSeconds * 1000,
      ...(user !== undefined ? { user } : {}),
    };
    this.byToken.set(lock.token, lock);
    return lock;
  }

  /** Extend a lock's life. */
  refresh(lock: Lock, timeoutSeconds: number): void {
    lock.timeoutSeconds = timeoutSeconds;
    lock.expiresAt = Date.now() + timeoutSeconds * 1000;
  }

  remove(token: string): boolean {
    return this.byToken.delete(token);
  }

  /** Drop every lock on or below `path` (after DELETE or MOVE: locks do not follow a resource). */
  removeInside(path: string): void {
    for (const l of [...this.byToken.values()]) if (isSameOrInside(path, l.root)) this.byToken.delete(l.token);
  }

  private *live(): Generator<Lock> {
    const now = Date.now();
    for (const lock of this.byToken.values()) {
      if (lock.expiresAt <= now) this.byToken.delete(lock.token);
      else yield lock;
    }
  }
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
