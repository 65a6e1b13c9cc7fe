/**
 * CachedVfs following its inner Vfs's changes (`Vfs.watch`): each change made elsewhere drops the
 * entry, its parent's listing and its cached blocks; a `resync` drops everything under its path.
 * With a push feed the TTLs can be long (minutes): the feed, not the clock, keeps the cache fresh.
 */
import type { Logger } from '../log.js';
import type { Vfs, VfsChange } from '../vfs.js';

/**
 * TTLs when the inner Vfs pushes its changes (options given explicitly still win): 30 minutes, so a
 * folder revisited all day costs one listing per half hour; the feed's resync (after a server
 * restart, a lost connection) covers the cases where events are lost. Not forever: changes made
 * straight in the storage bucket emit no event at all.
 */
export const PUSH_TTLS = { statTtlMs: 30 * 60_000, dirTtlMs: 30 * 60_000, negativeTtlMs: 5 * 60_000 } as const;
/** First and largest wait before watching again after the inner watch ended or failed. */
const RETRY_MS = { initial: 1000, max: 30_000 };

/** Whether `inner` can tell a cache about changes, and how. */
export function changeMode(inner: Vfs): 'push' | 'poll' | undefined {
  const mode = inner.capabilities.changes;
  return inner.watch && (mode === 'push' || mode === 'poll') ? mode : undefined;
}

type Waiter = { match: (c: VfsChange) => boolean; resolve: () => void };

/** Runs `inner.watch('/')` for the cache's lifetime and hands every change to `apply`. */
export class ChangeFollower {
  private readonly abort = new AbortController();
  private waiters: Waiter[] = [];
  private started = false;
  private readonly ready: Promise<void>;
  private markReady!: () => void;
  /** Changes applied so far. */
  applied = 0;

  constructor(private readonly inner: Vfs, private readonly apply: (c: VfsChange) => void, private readonly log: Logger) {
    this.ready = new Promise((r) => (this.markReady = r));
    // Only a push feed announces itself (its opening resync); a poller is live at once.
    if (inner.capabilities.changes !== 'push') this.markReady();
    void this.run();
  }

  /** Resolves once the first change (the feed's opening resync) arrived: the feed is live. */
  whenReady(): Promise<void> {
    return this.ready;
  }

  /** Resolves after a change matching `match` was applied (tests and benchmarks wait on it, not on a clock). */
  next(match: (c: VfsChange) => boolean = () => true): Promise<void> {
    return new Promise((resolve) => this.waiters.push({ match, resolve }));
  }

  stop(): void {
    this.abort.abort();
    for (const w of this.waiters) w.resolve();
    this.waiters = [];
  }

  private async run(): Promise<void> {
    let delay = RETRY_MS.initial;
    while (!this.abort.signal.aborted) {
      try {
        for await (const change of this.inner.watch!('/', { signal: this.abort.signal })) {
          delay = RETRY_MS.initial;
          this.apply(change);
          this.applied++;
          if (!this.started) {
            this.started = true;
            this.markReady();
          }
          const waiting = this.waiters;
          this.waiters = [];
          for (const w of waiting) (w.match(change) ? w.resolve() : this.waiters.push(w));
        }
      } catch (e) {
        this.log.debug('watch failed; the cache relies on its TTLs until it is back', { error: String(e) });
      }
      if (this.abort.signal.aborted) return;
      // The watch ended: what happened while nobody listened is unknown.
      this.apply({ type: 'resync', path: '/' });
      await new Promise<void>((r) => {
        const t = setTimeout(r, delay);
        t.unref();
        this.abort.signal.addEventListener('abort', () => { clearTimeout(t); r(); }, { once: true });
      });
      delay = Math.min(delay * 2, RETRY_MS.max);
    }
  }
}
