/**
 * One provider budget for every instance serving an account (issue 21 part 1), as a Scheduler
 * coordinator over Redis:
 *
 * - rate: GCRA with reservation in ONE Lua script — each call takes the next free slot of the
 *   account (1/rate apart, never before a shared pause ends) and answers how long to wait for it,
 *   so N instances together send at the account's rate, spaced evenly (no burst to trip a proxy);
 * - pace: the lowest pace an instance learned from 429s is shared (key `rate`, 10 min) and caps
 *   everyone's slots; growth after a cut is shared too;
 * - pause: a 429/503 rate signal on one instance pauses all (key `pause`, an absolute time);
 * - concurrency: a lease-based semaphore (sorted set of lease ids by expiry), renewed while the
 *   request runs, so a killed instance's slots come back after LEASE_MS.
 *
 * Time is Redis's (TIME), so skewed clocks agree. Redis unreachable → a conservative local share:
 * each instance paces at rate ÷ `fallbackShare` with its own concurrency, and logs it once.
 * Libraries weighed: rate-limiter-flexible's RateLimiterRedis counts points per window (no even
 * spacing, no reservation, no shared pause or lease semaphore); redlock is a mutex, not a
 * semaphore; BullMQ's limiter throttles its own workers only. The scripts here are ~40 lines.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from '../log.js';
import { silentLogger } from '../log.js';
import type { SchedulerCoordinator } from '../scheduler/coordinator.js';
import { abortableSleep } from '../scheduler/sleep.js';
import type { RedisCoordinator } from './redis.js';

/** A concurrency lease lives this long unless renewed (every third of it while the request runs). */
export const LEASE_MS = 15_000;
/** A learned pace is shared this long after it was last set. */
const RATE_TTL_MS = 10 * 60_000;
/** Unused slots this many steps old may be taken (a burst of at most this many + 1). */
const SLOT_TOLERANCE = 2;
/** Longest single wait a slot may ask for (a longer pause is waited in steps). */
const MAX_SLOT_WAIT_MS = 60_000;

const NOW = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
`;

/** ARGV: prefix, local rate (req/s; 0 = unknown). Returns the wait in ms for the slot taken. */
const SLOT = `${NOW}
local TOLERANCE = ${SLOT_TOLERANCE}
local P = ARGV[1]
local rate = tonumber(ARGV[2])
local shared = tonumber(redis.call('GET', P .. 'rate') or '0')
if shared > 0 and (rate <= 0 or shared < rate) then rate = shared end
local base = math.max(now, tonumber(redis.call('GET', P .. 'pause') or '0'))
if rate <= 0 then return math.ceil(base - now) end
local step = 1000 / rate
-- A slot up to TOLERANCE steps in the past may still be taken: a slot nobody used because a
-- caller arrived late is not lost (GCRA burst tolerance; the average stays at the rate).
local slot = math.max(tonumber(redis.call('GET', P .. 'tat') or '0'), base - TOLERANCE * step)
redis.call('SET', P .. 'tat', tostring(slot + step), 'PX', math.ceil(slot + step - now) + 60000)
return math.ceil(slot - now)
`;

/** ARGV: prefix, pause ms, learned rate (0 = none). */
const THROTTLED = `${NOW}
local P = ARGV[1]
local untilMs = now + tonumber(ARGV[2])
if untilMs > tonumber(redis.call('GET', P .. 'pause') or '0') then
  redis.call('SET', P .. 'pause', tostring(untilMs), 'PX', math.ceil(tonumber(ARGV[2])) + 1000)
end
local rate = tonumber(ARGV[3])
if rate > 0 then
  local shared = tonumber(redis.call('GET', P .. 'rate') or '0')
  if shared <= 0 or rate < shared then redis.call('SET', P .. 'rate', tostring(rate), 'PX', ${RATE_TTL_MS}) end
end
return 1
`;

/** ARGV: prefix, lease id, limit, lease ms. 1 = taken, 0 = full. */
const LEASE = `${NOW}
local key = ARGV[1] .. 'sem'
redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
if redis.call('ZCARD', key) >= tonumber(ARGV[3]) then return 0 end
redis.call('ZADD', key, now + tonumber(ARGV[4]), ARGV[2])
redis.call('PEXPIRE', key, tonumber(ARGV[4]) * 2)
return 1
`;

/** ARGV: prefix, lease id, lease ms. Extends a held lease (XX: never resurrects a lapsed one). */
const RENEW = `${NOW}
return redis.call('ZADD', ARGV[1] .. 'sem', 'XX', 'CH', now + tonumber(ARGV[3]), ARGV[2])
`;

type Scripted = {
  cmSlot(...args: string[]): Promise<number>;
  cmThrottled(...args: string[]): Promise<number>;
  cmLease(...args: string[]): Promise<number>;
  cmRenew(...args: string[]): Promise<number>;
};

export interface RedisBudgetOptions {
  /** Redis lost: each instance takes 1/fallbackShare of the rate it knows (default 3). */
  fallbackShare?: number;
  logger?: Logger;
}

/** Counters for tests and benchmarks. */
export interface BudgetStats {
  slots: number;
  leaseWaits: number;
  fallbacks: number;
}

export class RedisBudget implements SchedulerCoordinator {
  readonly stats: BudgetStats = { slots: 0, leaseWaits: 0, fallbacks: 0 };
  private readonly prefix: string;
  private readonly redis: Scripted;
  private readonly fallbackShare: number;
  private readonly logger: Logger;
  private degraded = false;
  private localNext = 0;

  constructor(private readonly coordinator: RedisCoordinator, options: RedisBudgetOptions = {}) {
    this.prefix = `${coordinator.prefix}bg:`;
    const r = coordinator.redis;
    if (!(r as unknown as Partial<Scripted>).cmSlot) {
      r.defineCommand('cmSlot', { numberOfKeys: 0, lua: SLOT });
      r.defineCommand('cmThrottled', { numberOfKeys: 0, lua: THROTTLED });
      r.defineCommand('cmLease', { numberOfKeys: 0, lua: LEASE });
      r.defineCommand('cmRenew', { numberOfKeys: 0, lua: RENEW });
    }
    this.redis = r as unknown as Scripted;
    this.fallbackShare = Math.max(1, options.fallbackShare ?? 3);
    this.logger = (options.logger ?? silentLogger).child({ layer: 'budget' });
  }

  async acquire(localRate: number, concurrency: number, signal?: AbortSignal): Promise<{ waitedMs: number; release(): void }> {
    const began = performance.now();
    const rate = Number.isFinite(localRate) && localRate > 0 ? localRate : 0;
    let leaseId: string | undefined;
    try {
      // The lease first: a slot taken and then held waiting for a lease would be wasted.
      leaseId = await this.lease(concurrency, signal);
      const wait = await this.redis.cmSlot(this.prefix, String(rate));
      this.stats.slots++;
      this.recovered();
      // The slot is ours: wait for it (a reserved slot is never asked for twice).
      await abortableSleep(Math.min(wait, MAX_SLOT_WAIT_MS), signal);
    } catch (e) {
      if (signal?.aborted) {
        if (leaseId) this.drop(leaseId);
        throw e;
      }
      if (leaseId) this.drop(leaseId);
      leaseId = undefined;
      await this.fallback(rate, signal);
    }
    return { waitedMs: performance.now() - began, release: leaseId ? this.holdLease(leaseId) : () => {} };
  }

  throttled(pauseMs: number, rate: number): void {
    const r = Number.isFinite(rate) && rate > 0 ? rate : 0;
    this.redis.cmThrottled(this.prefix, String(Math.max(0, Math.ceil(pauseMs))), String(r)).catch(() => this.degrade());
  }

  rateChanged(rate: number): void {
    if (!Number.isFinite(rate) || rate <= 0) return;
    this.coordinator.redis.set(`${this.prefix}rate`, String(rate), 'PX', RATE_TTL_MS, 'XX').catch(() => this.degrade());
  }

  /** Take a concurrency lease, polling while the account is full. */
  private async lease(limit: number, signal?: AbortSignal): Promise<string> {
    const id = randomUUID();
    for (let n = 0; ; n++) {
      if ((await this.redis.cmLease(this.prefix, id, String(Math.max(1, limit)), String(LEASE_MS))) === 1) return id;
      this.stats.leaseWaits++;
      // Poll with jitter (5–25 ms, growing): a release is not announced, so this is the price of a lease without a queue.
      await abortableSleep(5 + Math.random() * Math.min(20, 2 * n), signal);
    }
  }

  /** Keep the lease alive while the request runs; the returned function releases it. */
  private holdLease(id: string): () => void {
    const timer = setInterval(() => {
      this.redis.cmRenew(this.prefix, id, String(LEASE_MS)).catch(() => this.degrade());
    }, LEASE_MS / 3);
    timer.unref();
    return () => {
      clearInterval(timer);
      this.drop(id);
    };
  }

  private drop(id: string): void {
    this.coordinator.redis.zrem(`${this.prefix}sem`, id).catch(() => undefined);
  }

  /** Redis lost: pace locally at a conservative share of the known rate. */
  private async fallback(rate: number, signal?: AbortSignal): Promise<void> {
    this.degrade();
    this.stats.fallbacks++;
    if (rate <= 0) return;
    const step = (1000 * this.fallbackShare) / rate;
    const now = performance.now();
    const slot = Math.max(now, this.localNext);
    this.localNext = slot + step;
    if (slot > now) await abortableSleep(slot - now, signal);
  }

  private degrade(): void {
    if (this.degraded) return;
    this.degraded = true;
    this.logger.warn(`shared provider budget unavailable (Redis); pacing this instance at 1/${this.fallbackShare} of the rate until it returns`);
  }

  private recovered(): void {
    if (!this.degraded) return;
    this.degraded = false;
    this.logger.warn('shared provider budget restored');
  }
}
