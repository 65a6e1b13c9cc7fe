/**
 * Dead properties (PROPPATCH): arbitrary client XML kept per path by the server, in memory.
 * They follow a resource on MOVE, are duplicated on COPY and vanish on DELETE. Bounded in count
 * and size so a client cannot exhaust memory with them.
 */
import { isSameOrInside } from '../../src/path.js';

export interface DeadProp {
  ns: string;
  name: string;
  /** The value's children, serialised (namespaces explicit). */
  valueXml: string;
}

/** Limits: values above this are refused (507), as are properties beyond the total count. */
export const MAX_PROP_VALUE_BYTES = 64 * 1024;
export const MAX_PROPS_TOTAL = 100_000;

export const propKey = (ns: string, name: string): string => `{${ns}}${name}`;

export class PropStore {
  private readonly byPath = new Map<string, Map<string, DeadProp>>();
  private total = 0;

  get(path: string): Map<string, DeadProp> | undefined {
    return this.byPath.get(path);
  }

  /** Room for `n` more properties? */
  hasRoom(n: number): boolean {
    return this.total + n <= MAX_PROPS_TOTAL;
  }

  set(path: string, prop: DeadProp): void {
    let map = this.byPath.get(path);
    if (!map) this.byPath.set(path, (map = new Map()));
    const key = propKey(prop.ns, prop.name);
    if (!map.has(key)) this.total++;
    map.set(key, prop);
  }

  remove(path: string, ns: string, name: string): void {
    const map = this.byPath.get(path);
    if (map?.delete(propKey(ns, name))) {
      this.total--;
      if (map.size === 0) this.byPath.delete(path);
    }
  }

  /** Forget the properties of `path` and everything below it. */
  removeInside(path: string): void {
    for (const [p, map] of [...this.byPath]) {
      if (isSameOrInside(path, p)) {
        this.total -= map.size;
        this.byPath.delete(p);
      }
    }
  }

  /** Move (or copy) the properties of `from` and everything below it to `to`. */
  transfer(from: string, to: string, mode: 'move' | 'copy', depthZero = false): void {
    this.removeInside(to);
    for (const [p, map] of [...this.byPath]) {
      if (!isSameOrInside(from, p) || (depthZero && p !== from)) continue;
      const target = to + p.slice(from.length);
      if (mode === 'move') this.byPath.delete(p);
      else this.total += map.size;
      this.byPath.set(target, mode === 'move' ? map : new Map(map));
    }
  }
}
