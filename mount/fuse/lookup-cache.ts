/**
 * LookupCache: the FUSE frontend's short-lived answers to the kernel's lookups, fed by readdir (the
 * core's MetadataCache is CachedVfs's and sits below). The kernel follows every readdir of `ls -l`
 * with one lookup per name; answering those from the listing just fetched keeps `ls -l` of N files
 * at one remote listing instead of N remote stats, whether or not a CachedVfs sits below. Every mutation made through the mount updates it, so it is exact for local changes;
 * changes made elsewhere show up after `ttlMs`.
 */
import { LRUCache } from 'lru-cache';
import { baseName, isSameOrInside, parentPath } from '../../src/path.js';
import type { Entry } from '../../src/vfs.js';

export class LookupCache {
  private readonly entries: LRUCache<string, Entry>;
  /** dir → names in it, when a complete listing is fresh (lets a missing name be ENOENT without a request). */
  private readonly listings: LRUCache<string, Set<string>>;
  readonly enabled: boolean;

  constructor(ttlMs: number, maxEntries = 50_000) {
    this.enabled = ttlMs > 0;
    const ttl = Math.max(1, ttlMs);
    this.entries = new LRUCache({ max: maxEntries, ttl });
    this.listings = new LRUCache({ max: Math.max(64, Math.floor(maxEntries / 50)), ttl });
  }

  /** Cached metadata of `path`, `null` when a fresh listing of its parent says it does not exist, else undefined. */
  lookup(path: string): Entry | null | undefined {
    if (!this.enabled) return undefined;
    const hit = this.entries.get(path);
    if (hit) return hit;
    if (path === '/') return undefined;
    const names = this.listings.get(parentPath(path));
    if (names && !names.has(baseName(path))) return null;
    return undefined;
  }

  /** The fresh listing of `dir`, as entries, when every one of them is still cached. */
  listing(dir: string): Entry[] | undefined {
    if (!this.enabled) return undefined;
    const names = this.listings.get(dir);
    if (!names) return undefined;
    const out: Entry[] = [];
    for (const name of names) {
      const entry = this.entries.get(dir === '/' ? `/${name}` : `${dir}/${name}`);
      if (!entry) return undefined;
      out.push(entry);
    }
    return out;
  }

  /** Remember a complete listing of `dir`. */
  putListing(dir: string, children: Entry[]): void {
    if (!this.enabled) return;
    for (const child of children) this.entries.set(child.path, child);
    this.listings.set(dir, new Set(children.map((c) => c.name)));
  }

  /** Remember (or refresh) one entry; its parent's listing, if held, gains the name. */
  put(entry: Entry): void {
    if (!this.enabled) return;
    this.entries.set(entry.path, entry);
    if (entry.path !== '/') this.listings.get(parentPath(entry.path), { updateAgeOnGet: false })?.add(entry.name);
  }

  /** Forget `path` (and everything below it); its parent's listing, if held, loses the name. */
  remove(path: string): void {
    if (!this.enabled) return;
    this.forgetTree(path);
    if (path !== '/') this.listings.get(parentPath(path))?.delete(baseName(path));
  }

  /** Forget what is known about `path` and below without claiming it is gone (after an error). */
  forgetTree(path: string): void {
    if (!this.enabled) return;
    const known = this.entries.peek(path);
    this.entries.delete(path);
    this.listings.delete(path);
    if (known?.type === 'file') return; // nothing below a file: skip the scans
    for (const key of [...this.entries.keys()]) if (isSameOrInside(path, key)) this.entries.delete(key);
    for (const key of [...this.listings.keys()]) if (isSameOrInside(path, key)) this.listings.delete(key);
  }

  /** Forget the listing of `dir` (its entries stay until they expire). */
  forgetListing(dir: string): void {
    this.listings.delete(dir);
  }
}
