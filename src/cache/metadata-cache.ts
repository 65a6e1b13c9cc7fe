/**
 * Metadata cache: stat results (and "does not exist", with its own shorter TTL) plus whole
 * directory listings, each in an lru-cache bounded by entry count. A fresh listing of a directory
 * is the authority for its children: it answers their `stat`, including ENOENT for a name it lacks.
 */
import { LRUCache } from 'lru-cache';
import { isSameOrInside, joinPath, parentPath, baseName } from '../path.js';
import type { Entry } from '../vfs.js';

/** What the cache knows about one path. */
export type Known = { kind: 'entry'; entry: Entry } | { kind: 'missing' } | { kind: 'unknown' };

interface StatRecord {
  entry?: Entry;
}

interface Listing {
  children: Map<string, Entry>;
}

export interface MetadataCacheOptions {
  statTtlMs: number;
  dirTtlMs: number;
  negativeTtlMs: number;
  maxEntries: number;
  /** Key of a path: itself, or lower-cased for a case-insensitive provider ("/A" and "/a" are one file). */
  fold?: (path: string) => string;
}

export class MetadataCache {
  private readonly stats: LRUCache<string, StatRecord>;
  private readonly dirs: LRUCache<string, Listing>;
  private readonly fold: (path: string) => string;

  constructor(private readonly options: MetadataCacheOptions) {
    this.fold = options.fold ?? ((p) => p);
    this.stats = new LRUCache<string, StatRecord>({ max: options.maxEntries, ttl: Math.max(1, options.statTtlMs) });
    this.dirs = new LRUCache<string, Listing>({
      maxSize: options.maxEntries,
      sizeCalculation: (listing) => listing.children.size + 1,
      ttl: Math.max(1, options.dirTtlMs),
    });
  }

  /** What is known about `path`: a fresh parent listing first, then the stat record, then any ancestor known missing. */
  lookup(original: string): Known {
    const path = this.fold(original);
    if (path !== '/') {
      const listing = this.dirs.get(parentPath(path));
      if (listing) {
        const entry = listing.children.get(baseName(path));
        return entry ? { kind: 'entry', entry } : { kind: 'missing' };
      }
    }
    const record = this.stats.get(path);
    if (record) return record.entry ? { kind: 'entry', entry: record.entry } : { kind: 'missing' };
    if (path !== '/' && this.ancestorMissing(parentPath(path))) return { kind: 'missing' };
    return { kind: 'unknown' };
  }

  /** A fresh listing of `dir`, or undefined. */
  listing(dir: string): Entry[] | undefined {
    const listing = this.dirs.get(this.fold(dir));
    return listing ? [...listing.children.values()] : undefined;
  }

  /** Remember a stat result for `original` (the path asked for). */
  putEntry(original: string, entry: Entry): void {
    const path = this.fold(original);
    if (this.options.statTtlMs > 0) this.stats.set(path, { entry });
    this.patchParent(path, entry);
  }

  /** Remember that `path` does not exist (shorter TTL), and drop it from a cached parent listing. */
  putMissing(original: string): void {
    const path = this.fold(original);
    if (this.options.negativeTtlMs > 0) this.stats.set(path, {}, { ttl: this.options.negativeTtlMs });
    this.patchParent(path, undefined);
  }

  /** Remember a directory listing. */
  putListing(original: string, entries: Entry[]): void {
    if (this.options.dirTtlMs <= 0) return;
    const dir = this.fold(original);
    const children = new Map<string, Entry>();
    for (const entry of entries) children.set(this.fold(entry.name || baseName(entry.path)), entry);
    this.dirs.set(dir, { children });
    // The listing is the newer authority: a stat record or "missing" for a child would only disagree with it.
    for (const name of children.keys()) this.stats.delete(joinPath(dir, name));
    const record = this.stats.get(dir);
    if (record && !record.entry) this.stats.delete(dir);
  }

  /** Drop `path`, everything below it, and their listings (the parent listing is left to the caller). */
  forgetSubtree(original: string): void {
    const path = this.fold(original);
    for (const key of [...this.stats.keys()]) if (isSameOrInside(path, key)) this.stats.delete(key);
    for (const key of [...this.dirs.keys()]) if (isSameOrInside(path, key)) this.dirs.delete(key);
  }

  /** Drop the cached listing of `dir` (its children's stats are then asked again or come from their own records). */
  dropListing(dir: string): void {
    this.dirs.delete(this.fold(dir));
  }

  /** Forget everything. */
  clear(): void {
    this.stats.clear();
    this.dirs.clear();
  }

  /** Stat records and listings held (for stats()). */
  sizes(): { entries: number; listings: number } {
    return { entries: this.stats.size + this.dirs.calculatedSize - this.dirs.size, listings: this.dirs.size };
  }

  /** Put `entry` (or its absence) into the cached listing of its parent, if there is one. */
  private patchParent(path: string, entry: Entry | undefined): void {
    if (path === '/') return;
    const listing = this.dirs.get(parentPath(path), { updateAgeOnGet: false });
    if (!listing) return;
    if (entry) listing.children.set(baseName(path), entry);
    else listing.children.delete(baseName(path));
  }

  /** True when some ancestor of `dir` (or `dir` itself) is known not to exist. */
  private ancestorMissing(dir: string): boolean {
    for (let p = dir; ; p = parentPath(p)) {
      const known = this.lookupOne(p);
      if (known === 'missing') return true;
      if (known === 'entry' || p === '/') return false;
    }
  }

  private lookupOne(path: string): 'entry' | 'missing' | 'unknown' {
    if (path !== '/') {
      const listing = this.dirs.get(parentPath(path));
      if (listing) return listing.children.has(baseName(path)) ? 'entry' : 'missing';
    }
    const record = this.stats.get(path);
    if (record) return record.entry ? 'entry' : 'missing';
    return 'unknown';
  }
}
