/**
 * Sequential-access detection per file. FUSE hands us a file as a series of independent 128 KiB
 * `read` calls; this remembers where the last one ended so the next one can be recognised as
 * sequential, and keeps a read-ahead window that starts small and doubles while the pattern holds.
 * The state is also the holder of the read-ahead fetches it asked for: when the pattern breaks,
 * the file changes or the state is evicted, those fetches are released (and aborted if unfinished).
 */
import { LRUCache } from 'lru-cache';
import type { Holder, Span } from './block-cache.js';

/** What we know about how one file is being read. */
export interface AccessState extends Holder {
  versionKey: string;
  /** Where the last sequential read ended. */
  nextOffset: number;
  /** Read-ahead window in blocks. */
  window: number;
  held: Set<Span>;
}

export interface AccessTrackerOptions {
  blockSize: number;
  maxWindowBlocks: number;
  maxFiles: number;
  /** Release the fetches a state holds (BlockCache.release). */
  release: (holder: Holder) => void;
}

/** First read-ahead window, in blocks: small, so a file read once at the start costs little. */
const INITIAL_WINDOW = 2;

export class AccessTracker {
  private readonly states: LRUCache<string, AccessState>;

  constructor(private readonly options: AccessTrackerOptions) {
    this.states = new LRUCache<string, AccessState>({
      max: options.maxFiles,
      dispose: (state) => options.release(state),
    });
  }

  /**
   * Record a read of [offset, offset+length) and say whether it continues the previous one.
   * A small step back or forward still counts (the kernel may issue neighbouring reads out of
   * order); a read wholly inside what was already read is neutral (no read-ahead, no reset).
   */
  observe(path: string, versionKey: string, offset: number, length: number): { sequential: boolean; state: AccessState } {
    const end = offset + length;
    const bs = this.options.blockSize;
    const state = this.states.get(path);
    if (!state || state.versionKey !== versionKey) {
      const fresh: AccessState = { versionKey, nextOffset: end, window: this.initialWindow(), held: new Set() };
      this.states.set(path, fresh); // disposes (releases) the old state
      return { sequential: false, state: fresh };
    }
    const near = offset >= state.nextOffset - bs && offset <= state.nextOffset + 2 * bs;
    if (near && end <= state.nextOffset) return { sequential: false, state };
    if (near) {
      state.nextOffset = end;
    } else {
      this.options.release(state);
      state.window = this.initialWindow();
      state.nextOffset = end;
    }
    return { sequential: near, state };
  }

  private initialWindow(): number {
    return Math.min(INITIAL_WINDOW, this.options.maxWindowBlocks);
  }

  /** The reader stayed sequential and read-ahead was issued: widen the window. */
  grow(state: AccessState): void {
    state.window = Math.min(state.window * 2, this.options.maxWindowBlocks);
  }

  /** Forget the access pattern of `path` (and of everything below it when `subtree`). */
  forget(test: (path: string) => boolean): void {
    for (const key of [...this.states.keys()]) if (test(key)) this.states.delete(key);
  }

  clear(): void {
    this.states.clear();
  }
}
