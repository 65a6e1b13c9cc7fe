/**
 * Building blocks for `Vfs.watch`: a bounded change queue handed out as an AsyncIterable, a hub that
 * fans one provider feed out to many watchers, and a poller that turns re-listings into changes.
 */
import { isSameOrInside, joinPath, normalizePath, parentPath } from './path.js';
import type { Logger } from './log.js';
import { silentLogger } from './log.js';
import type { Entry, Vfs, VfsChange, WatchOptions } from './vfs.js';

/**
 * Changes a watcher may have waiting before the queue collapses them into one `resync` of its
 * root: a consumer that stops reading costs bounded memory and learns it missed something.
 */
export const MAX_QUEUED_CHANGES = 1000;

/** One watcher: changes under `root`, queued until read. */
export class ChangeQueue implements AsyncIterable<VfsChange> {
  private readonly queue: VfsChange[] = [];
  private waiting: ((r: IteratorResult<VfsChange>) => void) | undefined;
  private ended = false;
  /** Called once when the watcher ends (signal, `return()`, `end()`). */
  onEnd: (() => void) | undefined;

  constructor(readonly root: string, signal?: AbortSignal, private readonly max = MAX_QUEUED_CHANGES) {
    if (signal?.aborted) this.ended = true;
    else signal?.addEventListener('abort', () => this.end(), { once: true });
  }

  get closed(): boolean {
    return this.ended;
  }

  /** Queue `change` when it concerns this watcher's subtree. */
  push(change: VfsChange): void {
    if (this.ended) return;
    const inside = isSameOrInside(this.root, change.path) || (change.oldPath !== undefined && isSameOrInside(this.root, change.oldPath));
    // A resync of an ancestor covers this watcher's whole root.
    const covering = change.type === 'resync' && isSameOrInside(change.path, this.root);
    if (!inside && !covering) return;
    const c = covering && !inside ? { type: 'resync' as const, path: this.root } : change;
    if (this.waiting) {
      const w = this.waiting;
      this.waiting = undefined;
      w({ value: c, done: false });
      return;
    }
    if (this.queue.length >= this.max) {
      this.queue.length = 0;
      this.queue.push({ type: 'resync', path: this.root });
      return;
    }
    this.queue.push(c);
  }

  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.queue.length = 0;
    const w = this.waiting;
    this.waiting = undefined;
    w?.({ value: undefined, done: true });
    this.onEnd?.();
  }

  [Symbol.asyncIterator](): AsyncIterator<VfsChange> {
    return {
      next: () => {
        const c = this.queue.shift();
        if (c) return Promise.resolve({ value: c, done: false });
        if (this.ended) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve) => (this.waiting = resolve));
      },
      return: () => {
        this.end();
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }
}

/** Fans changes out to every live watcher; starts the source with the first and stops it after the last. */
export class ChangeHub {
  private readonly watchers = new Set<ChangeQueue>();

  constructor(private readonly hooks: { start: () => void; stop: () => void }) {}

  get size(): number {
    return this.watchers.size;
  }

  /** The roots being watched. */
  roots(): string[] {
    return [...this.watchers].map((w) => w.root);
  }

  watch(path: string, options: WatchOptions = {}): ChangeQueue {
    const q = new ChangeQueue(normalizePath(path), options.signal);
    if (q.closed) return q;
    this.watchers.add(q);
    q.onEnd = () => {
      this.watchers.delete(q);
      if (this.watchers.size === 0) this.hooks.stop();
    };
    if (this.watchers.size === 1) this.hooks.start();
    return q;
  }

  emit(change: VfsChange): void {
    for (const w of this.watchers) w.push(change);
  }

  close(): void {
    for (const w of [...this.watchers]) w.end();
  }
}

/** Folders a poller re-lists at most; the least recently listed are dropped beyond it. */
export const MAX_POLLED_FOLDERS = 1000;
/**
 * A folder nobody listed through the Vfs for this long is no longer polled: polling follows the
 * folders in use (what a cache holds), so an idle mount stops costing requests.
 */
export const POLL_FORGET_MS = 60_000;

/**
 * Polling as a change feed: remembers the last listing of every folder listed through the Vfs
 * (`record`, called by the adapter's `list`) and, at each `tick`, re-lists those under a watched
 * root and emits the differences. A folder that vanished is a `delete`; a changed child a `modify`
 * (size, mtime or etag), a new one a `create`. Renames show as delete + create.
 */
export class ListingPoller {
  private readonly known = new Map<string, Map<string, string>>();
  /** When each folder was last listed through the Vfs (not by the poller itself). */
  private readonly used = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private readonly logger: Logger;

  constructor(
    private readonly list: (dir: string, signal: AbortSignal) => Promise<Entry[]>,
    private readonly hub: ChangeHub,
    readonly intervalMs: number,
    logger?: Logger,
    private readonly maxFolders = MAX_POLLED_FOLDERS,
    private readonly forgetAfterMs = POLL_FORGET_MS,
  ) {
    this.logger = logger ?? silentLogger;
  }

  private forgetFolder(dir: string): void {
    this.known.delete(dir);
    this.used.delete(dir);
  }

  /** Remember what `dir` holds now (from a listing made for any reason). */
  record(dir: string, entries: Entry[]): void {
    const p = normalizePath(dir);
    this.known.delete(p);
    this.known.set(p, new Map(entries.map((e) => [e.name, signature(e)])));
    this.used.set(p, Date.now());
    if (this.known.size > this.maxFolders) this.forgetFolder(this.known.keys().next().value as string);
  }

  /** Folders currently remembered (tests, stats). */
  get folders(): number {
    return this.known.size;
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.tick(), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Re-list every remembered folder under a watched root once; emit what differs. */
  async tick(signal: AbortSignal = new AbortController().signal): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      const roots = this.hub.roots();
      for (const dir of [...this.known.keys()]) {
        if (signal.aborted) return;
        if (!roots.some((r) => isSameOrInside(r, dir))) continue;
        if (Date.now() - (this.used.get(dir) ?? 0) > this.forgetAfterMs) {
          this.forgetFolder(dir);
          continue;
        }
        const before = this.known.get(dir);
        if (!before) continue;
        let after: Entry[];
        try {
          after = await this.list(dir, signal);
        } catch (e) {
          if ((e as { code?: string }).code === 'ENOENT' || (e as { code?: string }).code === 'ENOTDIR') {
            for (const k of [...this.known.keys()]) if (isSameOrInside(dir, k)) this.forgetFolder(k);
            if (dir !== '/') this.hub.emit({ type: 'delete', path: dir });
          } else this.logger.debug('poll: listing failed', { path: dir, error: String(e) });
          continue;
        }
        const now = new Map(after.map((e) => [e.name, signature(e)]));
        // record() moves the folder to the fresh end, so the LRU keeps what is still being looked at.
        this.known.delete(dir);
        this.known.set(dir, now);
        for (const [name, sig] of now) {
          const old = before.get(name);
          if (old === undefined) this.hub.emit({ type: 'create', path: joinPath(dir, name) });
          else if (old !== sig) this.hub.emit({ type: 'modify', path: joinPath(dir, name) });
        }
        for (const name of before.keys()) if (!now.has(name)) this.hub.emit({ type: 'delete', path: joinPath(dir, name) });
      }
    } finally {
      this.running = false;
    }
  }
}

function signature(e: Entry): string {
  return `${e.type}:${e.size}:${e.mtime.getTime()}:${e.etag ?? ''}`;
}

/** The parent of a change's path, for consumers that refresh listings. */
export function changedFolders(change: VfsChange): string[] {
  const out = [change.path === '/' ? '/' : parentPath(change.path)];
  if (change.oldPath !== undefined) out.push(change.oldPath === '/' ? '/' : parentPath(change.oldPath));
  return out;
}
