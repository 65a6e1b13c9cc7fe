/**
 * Cache coherence between instances (issue 21 part 4): every mutation an instance makes through
 * its Vfs is published on the account's channel (paths touched), and every other instance drops
 * those paths from its CachedVfs at once (`forget`: metadata, listings, blocks of the subtree and
 * the parent's listing). The publish is awaited before the mutation returns, so a client that got
 * its answer from instance A and asks B next finds B's cache already told.
 *
 * Pub/sub alone races: B may serve the client's next request before its subscriber socket is
 * read. So each message carries a number from a per-account counter (INCR and PUBLISH in one
 * script), and before answering a read B compares the counter with the last number it applied
 * (one GET, ~0.1 ms on loopback): behind → it waits for the messages in flight (≤ SYNC_WAIT_MS),
 * then drops its whole cache if they still have not come. Redis unreachable → the read is served
 * without the cache (it is dropped), never stale.
 *
 * Changes made elsewhere (the provider's own feed) reach every instance the same way: one instance
 * per account follows the feed and republishes it here (feed.ts).
 *
 * Redis pub/sub is at-most-once: a message sent while an instance's subscription is down is lost,
 * so after every reconnect the instance drops its whole cache for the account. A failed publish is
 * logged and the mutation still succeeds (it did, at the provider); other instances then serve
 * their cached view until its TTL.
 */
import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { Redis } from 'ioredis';
import { silentLogger } from '../log.js';
import type { Logger } from '../log.js';
import type { Entry, MoveOptions, OpOptions, ReadOptions, RemoveOptions, SpaceInfo, Vfs, WriteData, WriteOptions } from '../vfs.js';
import type { RedisCoordinator } from './redis.js';
import { ForwardingVfs } from '../forward.js';

/** What coherence needs of a cache: CachedVfs.forget. */
export interface Forgetful {
  forget(path: string): void;
}

/** Largest invalidation message accepted from the channel (a few paths). */
const MAX_MESSAGE_BYTES = 64 * 1024;
/** How long a read waits for invalidations already counted but not yet received. */
const SYNC_WAIT_MS = 100;

/** ARGV: counter key, channel, message JSON. The counter and the message go out together. */
const PUBLISH = `
local v = redis.call('INCR', ARGV[1])
redis.call('PUBLISH', ARGV[2], v .. '\\n' .. ARGV[3])
return v
`;

export class CacheCoherence {
  /** This instance's id: its own messages are not applied twice. */
  readonly instanceId = randomUUID();
  readonly stats = { published: 0, applied: 0, resets: 0, publishFailures: 0 };
  private readonly caches = new Set<Forgetful>();
  private readonly channel: string;
  private readonly counter: string;
  /** Highest message number received (own messages included: they are in order on the channel). */
  private seen = 0;
  private waiters: Array<{ v: number; resolve: () => void }> = [];

  private constructor(private readonly coordinator: RedisCoordinator, private readonly subscriber: Redis, private readonly logger: Logger) {
    this.channel = `${coordinator.prefix}inv`;
    this.counter = `${coordinator.prefix}inv:n`;
    const r = coordinator.redis as unknown as { cmInvPublish?: unknown };
    if (!r.cmInvPublish) coordinator.redis.defineCommand('cmInvPublish', { numberOfKeys: 0, lua: PUBLISH });
  }

  /** Subscribe to the account's invalidation channel (a second connection: subscribers cannot send commands). */
  static async start(coordinator: RedisCoordinator, logger: Logger = silentLogger): Promise<CacheCoherence> {
    const subscriber = coordinator.redis.duplicate({ lazyConnect: true, enableOfflineQueue: true });
    const log = logger.child({ layer: 'coherence' });
    const c = new CacheCoherence(coordinator, subscriber, log);
    subscriber.on('error', () => {
      // Logged by the main connection's handler; reconnecting is automatic.
    });
    subscriber.on('messageBuffer', (_channel: Buffer, message: Buffer) => c.onMessage(message));
    let first = true;
    subscriber.on('ready', () => {
      // Messages may have been missed while the subscription was down: drop everything.
      if (!first) c.reset();
      first = false;
    });
    await subscriber.connect();
    await subscriber.subscribe(c.channel);
    c.seen = Number((await coordinator.redis.get(c.counter)) ?? 0);
    return c;
  }

  /** Apply other instances' invalidations to `cache` (returns the detach function). */
  attach(cache: Forgetful): () => void {
    this.caches.add(cache);
    return () => this.caches.delete(cache);
  }

  /** `vfs` with every mutation published after it completes (put it UNDER the CachedVfs). */
  wrap(vfs: Vfs): Vfs {
    return new PublishingVfs(vfs, (paths) => this.publish(paths));
  }

  /** `cached` with every read first catching up with other instances' invalidations (put it ABOVE the CachedVfs). */
  guard(cached: Vfs & Forgetful): Vfs {
    return new SyncedReadsVfs(cached, () => this.sync(cached));
  }

  /** Make sure every invalidation counted so far has been applied (see the file comment). */
  async sync(cache: Forgetful): Promise<void> {
    let v: number;
    try {
      v = Number((await this.coordinator.redis.get(this.counter)) ?? 0);
    } catch {
      cache.forget('/');
      return;
    }
    if (v <= this.seen) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w.resolve !== done);
        if (v > this.seen) {
          this.seen = v;
          this.reset();
        }
        resolve();
      }, SYNC_WAIT_MS);
      const done = () => {
        clearTimeout(timer);
        resolve();
      };
      this.waiters.push({ v, resolve: done });
    });
  }

  /**
   * Tell the other instances that `paths` changed (this one already knows: it made the change).
   * `everyone`: this instance applies it too (a change the provider's feed reported, see feed.ts).
   */
  async publish(paths: string[], everyone = false): Promise<void> {
    try {
      await (this.coordinator.redis as unknown as { cmInvPublish(...a: string[]): Promise<number> }).cmInvPublish(this.counter, this.channel, JSON.stringify({ from: everyone ? '' : this.instanceId, paths }));
      this.stats.published++;
    } catch (e) {
      this.stats.publishFailures++;
      this.logger.warn('could not publish a cache invalidation; other instances may serve this path stale until their TTL', { error: (e as Error).message });
    }
  }

  async close(): Promise<void> {
    this.caches.clear();
    try {
      await this.subscriber.quit();
    } catch {
      this.subscriber.disconnect();
    }
  }

  private onMessage(raw: Buffer): void {
    if (raw.length > MAX_MESSAGE_BYTES) return;
    const text = raw.toString('utf8');
    const nl = text.indexOf('\n');
    const v = Number(text.slice(0, nl));
    let msg: { from?: unknown; paths?: unknown };
    try {
      msg = JSON.parse(text.slice(nl + 1)) as typeof msg;
    } catch {
      return;
    }
    if (msg.from !== this.instanceId && Array.isArray(msg.paths)) {
      for (const p of msg.paths) {
        if (typeof p !== 'string' || !p.startsWith('/')) continue;
        for (const cache of this.caches) cache.forget(p);
      }
      this.stats.applied++;
    }
    if (Number.isSafeInteger(v) && v > this.seen) this.seen = v;
    const ready = this.waiters.filter((w) => w.v <= this.seen);
    if (ready.length > 0) {
      this.waiters = this.waiters.filter((w) => w.v > this.seen);
      for (const w of ready) w.resolve();
    }
  }

  private reset(): void {
    this.stats.resets++;
    this.logger.warn('cache invalidations may have been missed while Redis was away: dropping the cache');
    for (const cache of this.caches) cache.forget('/');
  }
}

/** A Vfs whose reads first run `sync` (writes need not: they drop what they touch themselves). */
class SyncedReadsVfs extends ForwardingVfs {
  constructor(inner: Vfs, private readonly sync: () => Promise<void>) {
    super(inner);
  }

  override async stat(path: string, options?: OpOptions): Promise<Entry> {
    await this.sync();
    return super.stat(path, options);
  }
  override async list(dir: string, options?: OpOptions): Promise<Entry[]> {
    await this.sync();
    return super.list(dir, options);
  }
  override async read(path: string, options?: ReadOptions): Promise<Readable> {
    await this.sync();
    return super.read(path, options);
  }
  override async space(options?: OpOptions): Promise<SpaceInfo> {
    await this.sync();
    return super.space(options);
  }
}

/** A Vfs that announces each mutation (success or failure: after a failure the state is unknown too). */
class PublishingVfs extends ForwardingVfs {
  constructor(inner: Vfs, private readonly announce: (paths: string[]) => Promise<void>) {
    super(inner);
  }

  override setMtime(path: string, mtime: Date, options?: OpOptions): Promise<Entry> {
    return this.after([path], () => super.setMtime!(path, mtime, options));
  }
  override write(path: string, data: WriteData, options?: WriteOptions): Promise<Entry> {
    return this.after([path], () => super.write(path, data, options));
  }
  override mkdir(path: string, options?: OpOptions): Promise<Entry> {
    return this.after([path], () => super.mkdir(path, options));
  }
  override remove(path: string, options?: RemoveOptions): Promise<void> {
    return this.after([path], () => super.remove(path, options));
  }
  override rename(from: string, to: string, options?: MoveOptions): Promise<Entry> {
    return this.after([from, to], () => super.rename(from, to, options));
  }
  override copy(from: string, to: string, options?: MoveOptions): Promise<Entry> {
    return this.after([to], () => super.copy(from, to, options));
  }

  private async after<T>(paths: string[], fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } finally {
      await this.announce(paths);
    }
  }
}
