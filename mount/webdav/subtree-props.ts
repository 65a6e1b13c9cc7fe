/**
 * A user's view of a shared dead-property store (issue 21): like SubtreeLockStore, a user whose
 * root is `/team` names `/team/doc.txt` as `/doc.txt`; the properties live under the full path in
 * the one store every user and instance shares, so a property set by one user is seen by another
 * whose root overlaps.
 */
import { normalizePath } from '../../src/path.js';
import type { DeadProp, DeadPropStore, PropChange } from './props.js';

export class SubtreePropStore implements DeadPropStore {
  private readonly root: string;

  constructor(private readonly inner: DeadPropStore, root: string) {
    this.root = normalizePath(root);
  }

  get(path: string): Promise<Map<string, DeadProp> | undefined> {
    return this.inner.get(this.full(path));
  }

  apply(path: string, changes: PropChange[]): Promise<Set<number>> {
    return this.inner.apply(this.full(path), changes);
  }

  removeInside(path: string): Promise<void> {
    return this.inner.removeInside(this.full(path));
  }

  transfer(from: string, to: string, mode: 'move' | 'copy', depthZero?: boolean): Promise<void> {
    return this.inner.transfer(this.full(from), this.full(to), mode, depthZero);
  }

  private full(path: string): string {
    const p = normalizePath(path);
    if (this.root === '/') return p;
    return p === '/' ? this.root : this.root + p;
  }
}
