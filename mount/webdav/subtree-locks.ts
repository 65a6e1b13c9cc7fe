/**
 * A user's view of a shared lock table (issue 21): a user whose root is `/team` sees a SubtreeVfs,
 * so their paths are relative to it; their locks must still live in the one table every user and
 * every instance shares, under the full path, so that two users whose roots overlap (`/` and
 * `/team`) see each other's locks. This store turns a user's paths into full paths on the way in
 * and full paths back into the user's on the way out; a lock taken above the user's root (depth
 * infinity, by someone who sees more) covers the user's whole view and is shown at its root `/`.
 */
import { isSameOrInside, normalizePath } from '../../src/path.js';
import type { Lock, LockRequest, LockStore } from './locks.js';

export class SubtreeLockStore implements LockStore {
  private readonly root: string;

  constructor(private readonly inner: LockStore, root: string) {
    this.root = normalizePath(root);
  }

  get empty(): boolean {
    return this.inner.empty;
  }

  async covering(path: string): Promise<Lock[]> {
    return (await this.inner.covering(this.full(path))).map((l) => this.view(l));
  }

  async protecting(path: string, opts: { tree?: boolean; membership?: boolean }): Promise<Lock[]> {
    return (await this.inner.protecting(this.full(path), opts)).map((l) => this.view(l));
  }

  async acquire(request: LockRequest): Promise<Lock | 'conflict' | 'client' | 'table'> {
    const r = await this.inner.acquire({ ...request, root: this.full(request.root) });
    return typeof r === 'string' ? r : this.view(r);
  }

  async refresh(token: string, path: string, timeoutSeconds: number, user: string | undefined): Promise<Lock | undefined> {
    const r = await this.inner.refresh(token, this.full(path), timeoutSeconds, user);
    return r && this.view(r);
  }

  release(token: string, path: string, user: string | undefined): Promise<'ok' | 'missing' | 'forbidden'> {
    return this.inner.release(token, this.full(path), user);
  }

  removeInside(path: string): Promise<void> {
    return this.inner.removeInside(this.full(path));
  }

  /** The full path of a path in the user's view. */
  private full(path: string): string {
    const p = normalizePath(path);
    if (this.root === '/') return p;
    return p === '/' ? this.root : this.root + p;
  }

  /** A lock as the user sees it: its root relative to theirs (their `/` when it lies above). */
  private view(lock: Lock): Lock {
    if (this.root === '/') return lock;
    const root = isSameOrInside(this.root, lock.root) ? lock.root.slice(this.root.length) || '/' : '/';
    return { ...lock, root };
  }
}
