/**
 * Dead properties (PROPPATCH): arbitrary client XML kept per path by the server, in memory.
 * They follow a resource on MOVE, are duplicated on COPY and vanish on DELETE. Bounded in count and
 * in bytes, per resource and in total, so no client can exhaust the server's memory with them.
 */
import { isSameOrInside } from '../../src/path.js';

export interface DeadProp {
  ns: string;
  name: string;
  /** The value's children, serialised (namespaces explicit). */
  valueXml: string;
}

const KiB = 1024;
const MiB = 1024 * KiB;

/**
 * Largest value of one property (64 KiB). What clients store (Finder's tags and colours, Office's
 * and Windows' file attributes, litmus's test values) is at most a few hundred bytes.
 */
export const MAX_PROP_VALUE_BYTES = 64 * KiB;
/**
 * Bytes of dead properties (namespace + name + value) one resource may hold (1 MiB): sixteen
 * maximal values, thousands of real ones; a PROPPATCH that would pass it is answered 507.
 */
export const MAX_PROP_BYTES_PER_RESOURCE = 1 * MiB;
/**
 * Bytes of dead properties the whole server holds (64 MiB, about as much as the default block
 * cache): small against the memory of any machine that runs a share, yet room for tens of
 * thousands of resources with properties. Was effectively 6.4 GB (count × value size) before.
 */
export const MAX_PROP_BYTES_TOTAL = 64 * MiB;
/** Properties the whole server holds, whatever their size (each costs a map entry besides its bytes). */
export const MAX_PROPS_TOTAL = 100_000;

export const propKey = (ns: string, name: string): string => `{${ns}}${name}`;

/** Bytes one property accounts for. */
export function propBytes(prop: DeadProp): number {
  return Buffer.byteLength(prop.ns) + Buffer.byteLength(prop.name) + Buffer.byteLength(prop.valueXml);
}

/** One step of a PROPPATCH, in document order: set (with its value) or remove. */
export interface PropChange {
  kind: 'set' | 'remove';
  prop: DeadProp;
}

export class PropStore {
  private readonly byPath = new Map<string, Map<string, DeadProp>>();
  private readonly bytesByPath = new Map<string, number>();
  private total = 0;
  private totalBytes = 0;

  constructor(private readonly limits = { perResource: MAX_PROP_BYTES_PER_RESOURCE, totalBytes: MAX_PROP_BYTES_TOTAL, count: MAX_PROPS_TOTAL }) {}

  get(path: string): Map<string, DeadProp> | undefined {
    return this.byPath.get(path);
  }

  /** Properties and their bytes held now (for tests and stats). */
  usage(path?: string): { count: number; bytes: number } {
    if (path === undefined) return { count: this.total, bytes: this.totalBytes };
    return { count: this.byPath.get(path)?.size ?? 0, bytes: this.bytesByPath.get(path) ?? 0 };
  }

  /** Room for `n` more properties? */
  hasRoom(n: number): boolean {
    return this.total + n <= this.limits.count;
  }

  /**
   * Which of `changes` (applied in order to `path`) would pass a limit: their indexes. Removals
   * never do; a set that would is left out of the simulation, so later steps are judged as if it failed.
   */
  overLimit(path: string, changes: PropChange[]): Set<number> {
    const current = this.byPath.get(path);
    const pending = new Map<string, number | undefined>();
    let bytes = this.bytesByPath.get(path) ?? 0;
    let totalBytes = this.totalBytes;
    let count = this.total;
    const over = new Set<number>();
    changes.forEach((c, i) => {
      const key = propKey(c.prop.ns, c.prop.name);
      const old = current?.get(key);
      const before = pending.has(key) ? pending.get(key) : old ? propBytes(old) : undefined;
      const after = c.kind === 'set' ? propBytes(c.prop) : undefined;
      const delta = (after ?? 0) - (before ?? 0);
      const countDelta = (after !== undefined ? 1 : 0) - (before !== undefined ? 1 : 0);
      if (c.kind === 'set' && (bytes + delta > this.limits.perResource || totalBytes + delta > this.limits.totalBytes || count + countDelta > this.limits.count)) {
        over.add(i);
        return;
      }
      bytes += delta;
      totalBytes += delta;
      count += countDelta;
      pending.set(key, after);
    });
    return over;
  }

  set(path: string, prop: DeadProp): void {
    let map = this.byPath.get(path);
    if (!map) this.byPath.set(path, (map = new Map()));
    const key = propKey(prop.ns, prop.name);
    const old = map.get(key);
    if (old) this.account(path, -propBytes(old));
    else this.total++;
    map.set(key, prop);
    this.account(path, propBytes(prop));
  }

  remove(path: string, ns: string, name: string): void {
    const map = this.byPath.get(path);
    const key = propKey(ns, name);
    const old = map?.get(key);
    if (map && old) {
      map.delete(key);
      this.total--;
      this.account(path, -propBytes(old));
      if (map.size === 0) this.byPath.delete(path);
    }
  }

  /** Forget the properties of `path` and everything below it. */
  removeInside(path: string): void {
    for (const [p, map] of [...this.byPath]) {
      if (isSameOrInside(path, p)) this.drop(p, map);
    }
  }

  /**
   * Move (or copy) the properties of `from` and everything below it to `to`. A copy that would pass
   * the server's byte or count limit copies the resources' properties only while they fit (the
   * files themselves are copied already; the limit is never passed).
   */
  transfer(from: string, to: string, mode: 'move' | 'copy', depthZero = false): void {
    this.removeInside(to);
    for (const [p, map] of [...this.byPath]) {
      if (!isSameOrInside(from, p) || (depthZero && p !== from)) continue;
      const target = to + p.slice(from.length);
      const bytes = this.bytesByPath.get(p) ?? 0;
      if (mode === 'move') {
        this.byPath.delete(p);
        this.bytesByPath.delete(p);
        this.byPath.set(target, map);
        this.bytesByPath.set(target, bytes);
        continue;
      }
      if (this.total + map.size > this.limits.count || this.totalBytes + bytes > this.limits.totalBytes) continue;
      this.byPath.set(target, new Map(map));
      this.total += map.size;
      this.account(target, bytes);
    }
  }

  private drop(path: string, map: Map<string, DeadProp>): void {
    this.total -= map.size;
    this.totalBytes -= this.bytesByPath.get(path) ?? 0;
    this.byPath.delete(path);
    this.bytesByPath.delete(path);
  }

  private account(path: string, delta: number): void {
    const now = (this.bytesByPath.get(path) ?? 0) + delta;
    if (now === 0) this.bytesByPath.delete(path);
    else this.bytesByPath.set(path, now);
    this.totalBytes += delta;
  }
}

/**
 * Where a server keeps dead properties: in this process (MemoryPropStore, the default) or shared
 * by several instances (RedisPropStore). Every method may fail (a shared store out of reach):
 * the request then fails, nothing is half-applied.
 */
export interface DeadPropStore {
  get(path: string): Promise<Map<string, DeadProp> | undefined>;
  /** Apply `changes` to `path` in order, all or none: the indexes that would pass a limit (then nothing changed). */
  apply(path: string, changes: PropChange[]): Promise<Set<number>>;
  /** Forget the properties of `path` and everything below it. */
  removeInside(path: string): Promise<void>;
  /** Move or copy the properties of `from` and below to `to` (see PropStore.transfer). */
  transfer(from: string, to: string, mode: 'move' | 'copy', depthZero?: boolean): Promise<void>;
}

/** The in-process DeadPropStore over a PropStore (synchronous steps: nothing interleaves). */
export class MemoryPropStore implements DeadPropStore {
  constructor(readonly store = new PropStore()) {}

  async get(path: string): Promise<Map<string, DeadProp> | undefined> {
    return this.store.get(path);
  }

  async apply(path: string, changes: PropChange[]): Promise<Set<number>> {
    const over = this.store.overLimit(path, changes);
    if (over.size > 0) return over;
    for (const c of changes) {
      if (c.kind === 'set') this.store.set(path, c.prop);
      else this.store.remove(path, c.prop.ns, c.prop.name);
    }
    return over;
  }

  async removeInside(path: string): Promise<void> {
    this.store.removeInside(path);
  }

  async transfer(from: string, to: string, mode: 'move' | 'copy', depthZero = false): Promise<void> {
    this.store.transfer(from, to, mode, depthZero);
  }
}
