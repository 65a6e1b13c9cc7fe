/**
 * One change feed per account (issue 21 part 4): of the instances serving an account, the one that
 * holds a lease in Redis (key `feed`, renewed every third of FEED_LEASE_MS) follows the provider's
 * change feed (`Vfs.watch`, Cloudreve's SSE) and republishes every change on the account's counted
 * invalidation channel (coherence.ts), which every instance — itself included — applies to its
 * cache. The others open no feed: the provider sees one subscriber per account, not one per
 * instance. When the holder dies its lease lapses and another instance takes it within
 * FEED_LEASE_MS (plus one poll, a third of it); the new feed opens with a resync of the root, so
 * every cache drops what it held (changes made while nobody listened are unknown).
 *
 * A holder that cannot renew (Redis gone, or the lease lost to a stall longer than the lease) stops
 * its feed at once: two feeds for a moment would be harmless (invalidations are idempotent) but
 * none is never the case for longer than the lease.
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Logger } from '../log.js';
import { silentLogger } from '../log.js';
import type { Vfs, VfsChange } from '../vfs.js';
import type { RedisCoordinator } from './redis.js';
import { withScripts } from './redis.js';

/** How long a feed lease lives unless renewed: a dead holder's feed is taken over within this (plus a third). */
export const FEED_LEASE_MS = 10_000;
/** First and largest wait before the holder opens the feed again after it ended or failed. */
const RETRY_MS = { initial: 1000, max: 30_000 };

/** ARGV: key, holder id, lease ms. 1 = still held by this holder and extended. */
const RENEW = `
if redis.call('GET', ARGV[1]) == ARGV[2] then return redis.call('PEXPIRE', ARGV[1], ARGV[3]) end
return 0
`;
/** ARGV: key, holder id. Gives the lease up if this holder still has it. */
const RESIGN = `
if redis.call('GET', ARGV[1]) == ARGV[2] then return redis.call('DEL', ARGV[1]) end
return 0
`;

type Scripted = {
  cmFeedRenew(...args: string[]): Promise<number>;
  cmFeedResign(...args: string[]): Promise<number>;
};

export interface FeedLeaderOptions {
  /** Lease lifetime (default FEED_LEASE_MS). */
  leaseMs?: number;
  logger?: Logger;
}

/** Elects one follower of `source`'s change feed among the instances of an account. */
export class ChangeFeedLeader {
  /** Who holds the feed, as Redis shows it (pid@host, then a random part: unique per holder). */
  readonly holderId = `${process.pid}@${hostname()}/${randomUUID()}`;
  readonly stats = { terms: 0, republished: 0 };
  private readonly key: string;
  private readonly leaseMs: number;
  private readonly logger: Logger;
  private readonly redis: RedisCoordinator['redis'] & Scripted;
  private readonly abort = new AbortController();
  private readonly done: Promise<void>;
  #leading = false;

  private constructor(
    coordinator: RedisCoordinator,
    private readonly source: Vfs,
    private readonly publish: (paths: string[]) => Promise<void>,
    options: FeedLeaderOptions,
  ) {
    this.key = `${coordinator.prefix}feed`;
    this.leaseMs = Math.max(300, options.leaseMs ?? FEED_LEASE_MS);
    this.logger = (options.logger ?? silentLogger).child({ layer: 'feed' });
    this.redis = withScripts<Scripted>(coordinator.redis, { cmFeedRenew: RENEW, cmFeedResign: RESIGN });
    this.done = this.run();
  }

  /**
   * Take part in the election for `source`'s feed; `publish` sends a change's paths to every
   * instance (CacheCoherence.publish with `everyone`).
   */
  static start(coordinator: RedisCoordinator, source: Vfs, publish: (paths: string[]) => Promise<void>, options: FeedLeaderOptions = {}): ChangeFeedLeader {
    if (!source.watch) throw new TypeError(`${source.name} has no change feed`);
    return new ChangeFeedLeader(coordinator, source, publish, options);
  }

  /** Whether this instance holds the feed now. */
  get leading(): boolean {
    return this.#leading;
  }

  /** Leave the election (giving the lease up if held, so another instance takes over at once). */
  async close(): Promise<void> {
    this.abort.abort();
    await this.done;
  }

  private async run(): Promise<void> {
    while (!this.abort.signal.aborted) {
      let won = false;
      try {
        won = (await this.redis.set(this.key, this.holderId, 'PX', this.leaseMs, 'NX')) === 'OK';
      } catch {
        // Redis away: nobody can be elected through it; try again at the next poll.
      }
      if (won) await this.lead();
      else await this.sleep(this.leaseMs / 3);
    }
  }

  /** Hold the feed while the lease is renewed. */
  private async lead(): Promise<void> {
    this.#leading = true;
    this.stats.terms++;
    this.logger.info('following the provider\'s change feed for every instance of this account');
    const term = new AbortController();
    const stop = () => term.abort();
    this.abort.signal.addEventListener('abort', stop, { once: true });
    const renew = setInterval(() => {
      this.redis.cmFeedRenew(this.key, this.holderId, String(this.leaseMs)).then(
        (held) => {
          if (held !== 1) {
            this.logger.warn('lost the change feed lease; another instance follows the feed');
            term.abort();
          }
        },
        () => {
          this.logger.warn('cannot renew the change feed lease (Redis unreachable): closing the feed');
          term.abort();
        },
      );
    }, this.leaseMs / 3);
    let delay = RETRY_MS.initial;
    try {
      while (!term.signal.aborted) {
        try {
          for await (const change of this.source.watch!('/', { signal: term.signal })) {
            delay = RETRY_MS.initial;
            await this.publish(pathsOf(change));
            this.stats.republished++;
          }
        } catch (e) {
          if (!term.signal.aborted) this.logger.debug('change feed failed; opening it again', { error: String(e) });
        }
        if (term.signal.aborted) break;
        // The feed ended: what happened while nobody listened is unknown.
        await this.publish(['/']);
        await this.sleep(delay, term.signal);
        delay = Math.min(delay * 2, RETRY_MS.max);
      }
    } finally {
      clearInterval(renew);
      this.abort.signal.removeEventListener('abort', stop);
      this.#leading = false;
      if (this.abort.signal.aborted) await this.redis.cmFeedResign(this.key, this.holderId).catch(() => undefined);
    }
  }

  private sleep(ms: number, signal: AbortSignal = this.abort.signal): Promise<void> {
    return new Promise((resolve) => {
      if (signal.aborted) return resolve();
      const t = setTimeout(done, ms);
      t.unref();
      function done() {
        clearTimeout(t);
        signal.removeEventListener('abort', done);
        resolve();
      }
      signal.addEventListener('abort', done, { once: true });
    });
  }
}

/** The paths a change touches (a rename: both ends; a resync: its subtree). */
function pathsOf(change: VfsChange): string[] {
  return change.oldPath !== undefined ? [change.path, change.oldPath] : [change.path];
}
