/**
 * Modification times set through the mount (touch -d, cp -p, rsync -a, tar x) on a provider that
 * cannot store them on an existing file (its Vfs has no `setMtime`; e.g. Cloudreve). They are kept
 * for this mount's session, so `stat` shows what was set and `rsync -a` does not re-send every file
 * each run; the provider keeps its own time, and a new mount shows that again. A time only holds
 * while the file is the one it was set on: a new upload, or a change seen from elsewhere (size,
 * etag or provider mtime differ), ends it. Bounded: beyond `max` paths the oldest is forgotten.
 */
import { isSameOrInside } from '../../src/path.js';
import type { Entry } from '../../src/vfs.js';

/** Most paths whose session mtime is remembered (a SECURITY.md limit). */
export const SESSION_TIMES_MAX = 100_000;

interface Kept {
  mtime: Date;
  /** The entry's identity when the time was set. */
  base: string;
}

const identity = (e: Entry): string => `${e.type}|${e.size}|${e.etag ?? ''}|${e.mtime.getTime()}`;

export class SessionTimes {
  private readonly kept = new Map<string, Kept>();

  constructor(private readonly max: number = SESSION_TIMES_MAX) {}

  get size(): number {
    return this.kept.size;
  }

  /** Remember `mtime` for `entry` (as the provider reports it now). */
  set(entry: Entry, mtime: Date): void {
    this.kept.delete(entry.path);
    this.kept.set(entry.path, { mtime, base: identity(entry) });
    if (this.kept.size > this.max) this.kept.delete(this.kept.keys().next().value!);
  }

  /** `entry` with the session's mtime when one holds for it; drops a time whose file changed. */
  apply(entry: Entry): Entry {
    const kept = this.kept.get(entry.path);
    if (!kept) return entry;
    if (kept.base !== identity(entry)) {
      this.kept.delete(entry.path);
      return entry;
    }
    return { ...entry, mtime: kept.mtime };
  }

  forget(path: string): void {
    this.kept.delete(path);
  }

  /** A folder was renamed: its times follow (re-keyed to the new paths; the identities stay). */
  move(from: string, to: string): void {
    if (this.kept.size === 0) return;
    for (const [p, kept] of [...this.kept]) {
      if (!isSameOrInside(from, p)) continue;
      this.kept.delete(p);
      this.kept.set(to + p.slice(from.length), kept);
    }
  }

  forgetTree(path: string): void {
    if (this.kept.size === 0) return;
    for (const p of [...this.kept.keys()]) if (isSameOrInside(path, p)) this.kept.delete(p);
  }
}
