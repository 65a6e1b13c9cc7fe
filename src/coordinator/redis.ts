/**
 * The connection several cloudmount instances share to coordinate through Redis (issue 21): one
 * ioredis client, its key prefix per provider account, and how it fails. Optional: with no Redis
 * configured nothing here is loaded and every store stays in process memory.
 *
 * Failure policy: commands are never queued while the connection is down (enableOfflineQueue
 * false) and never retried by the client, so a caller learns at once that Redis is gone and fails
 * closed (a lock cannot be granted twice by an instance that cannot see the shared table). The
 * client reconnects by itself; `onReconnect` lets caches drop what they may have missed.
 */
import { Redis } from 'ioredis';
import type { RedisOptions } from 'ioredis';
import { VfsError } from '../errors.js';
import { silentLogger } from '../log.js';
import type { Logger } from '../log.js';

/**
 * The connection with each Lua script of `scripts` as a command of its own name (defined once per
 * connection: ioredis sends EVALSHA and falls back to EVAL once, so a script travels once).
 */
export function withScripts<T>(redis: Redis, scripts: { [K in keyof T]: string }): Redis & T {
  const r = redis as Redis & Record<string, unknown>;
  for (const [name, lua] of Object.entries(scripts) as Array<[string, string]>) {
    if (typeof r[name] !== 'function') redis.defineCommand(name, { numberOfKeys: 0, lua });
  }
  return redis as Redis & T;
}

export interface CoordinatorOptions {
  /** Names the provider account the keys belong to (e.g. "cloudreve:https://host/#user"). */
  account: string;
  /** Longest wait for one Redis command, ms (default 2000); beyond it the caller fails closed. */
  commandTimeout?: number;
  /** Longest wait for the first connection, ms (default 5000). */
  connectTimeout?: number;
  logger?: Logger;
}

/** A Redis-backed coordinator for one account. */
export class RedisCoordinator {
  /** Prefix of every key of this account; the {…} hash tag keeps them in one cluster slot. */
  readonly prefix: string;
  private readonly reconnectListeners = new Set<() => void>();
  private wasReady = false;
  private closed = false;

  private constructor(readonly redis: Redis, account: string, private readonly logger: Logger) {
    this.prefix = `cm:{${account}}:`;
    redis.on('ready', () => {
      if (this.wasReady) {
        logger.warn('redis connection restored');
        for (const fn of this.reconnectListeners) fn();
      }
      this.wasReady = true;
    });
    redis.on('end', () => {
      if (!this.closed) logger.warn('redis connection ended');
    });
    let lastError = '';
    redis.on('error', (e: Error) => {
      // Log each distinct error once per outage, never the URL (it may carry a password).
      if (e.message !== lastError) logger.warn('redis connection error', { error: e.message });
      lastError = e.message;
    });
    redis.on('ready', () => {
      lastError = '';
    });
  }

  /** Connect to `url` (redis://[:password@]host:port/db); rejects with a one-line error when it cannot. */
  static async connect(url: string, options: CoordinatorOptions): Promise<RedisCoordinator> {
    const logger = (options.logger ?? silentLogger).child({ layer: 'redis' });
    const redisOptions: RedisOptions = {
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: options.commandTimeout ?? 2000,
      connectTimeout: options.connectTimeout ?? 5000,
      // Reconnect forever, backing off to 1 s: recovery is automatic once Redis returns.
      retryStrategy: (times) => Math.min(1000, 50 * times),
    };
    let redis: Redis;
    try {
      redis = new Redis(url, redisOptions);
    } catch (e) {
      throw new VfsError('EINVAL', `bad Redis URL: ${(e as Error).message}`, { provider: 'redis' });
    }
    const coordinator = new RedisCoordinator(redis, options.account, logger);
    try {
      await redis.connect();
      await redis.ping();
    } catch (e) {
      redis.disconnect();
      throw new VfsError('EIO', `cannot reach Redis at ${redactUrl(url)}: ${(e as Error).message}`, { provider: 'redis' });
    }
    return coordinator;
  }

  /** True while commands can be sent. */
  get ready(): boolean {
    return this.redis.status === 'ready';
  }

  /** Run `fn` after every reconnect (pub/sub is at-most-once: what was missed must be dropped). */
  onReconnect(fn: () => void): () => void {
    this.reconnectListeners.add(fn);
    return () => this.reconnectListeners.delete(fn);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      await this.redis.quit();
    } catch {
      this.redis.disconnect();
    }
  }
}

/** The URL without its password, for messages. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparsable URL)';
  }
}
