/**
 * One provider budget for every instance serving an account (issue 21 part 1), as a Scheduler
 * coordinator over Redis:
 *
 * - rate: GCRA with reservation in ONE Lua script — each call takes the next free slot of the
 *   account (1/rate apart, never before a shared pause ends) and answers how long to wait for it,
 *   so N instances together send at the account's rate, spaced evenly (no burst to trip a proxy);
 * - pace: learned ONCE for the account, in Redis, from every instance's answers (the Pacer's law,
 *   see SLOT and RELEASE below; hash `pace`, 10 min), and the GCRA spaces everyone's slots at it;
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
import type { CoordinatedSlot, SchedulerCoordinator, SlotAnswer } from '../scheduler/coordinator.js';
import { PACE_LAW } from '../scheduler/pacer.js';
import { abortableSleep } from '../scheduler/sleep.js';
import type { RedisCoordinator } from './redis.js';
import { withScripts } from './redis.js';

/** A concurrency lease lives this long unless renewed (every third of it while the request runs). */
export const LEASE_MS = 15_000;
/** The learned pace is kept this long after it last changed. */
const RATE_TTL_MS = 10 * 60_000;
/** Unused slots this many steps old may be taken (a burst of at most this many + 1). */
const SLOT_TOLERANCE = 2;
/** Longest single wait a slot may ask for (a longer pause is waited in steps). */
const MAX_SLOT_WAIT_MS = 60_000;
/** Lowest pace the shared learner sets (requests/s), as the Pacer's minRate. */
const MIN_RATE = 0.2;

const NOW = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
`;

/**
 * The pace is learned ONCE per account, here, from every instance's answers: the Pacer's law
 * (src/scheduler/pacer.ts, "How the limit R is found") over the account's accepted and sent requests.
 * Three learners each seeing a third of the traffic measure a third of the limit, cut on their own
 * 429s while the others keep probing, and so triple the 429s of one; one learner fed by all does not.
 * Each instance's Pacer still judges whether a 429 is a rate signal or noise (its own view of noise)
 * and adopts the shared pace for that judgement; the spacing is the GCRA's alone.
 * Hash `pace`: rate (0 = unpaced), limit (0 = unknown), lastCut, lastGrow, firstStart, firstThrottle,
 * sinceCut (accepted since the last cut), floor/floorAt, bound (last time the pace held a caller).
 * Sorted sets `sent` and `acc`: attempts and accepted attempts by slot time, for the last window.
 */
const { WINDOW_MS, MIN_WINDOW_S, CUT, MIN_ROUND_S, FIRST_CUT, FLOOR_HALF_LIFE_S, SETTLE, FAST_GROWTH, PROBE_PER_REQUEST, PROBE_DOUBLING_REQUESTS, PROBE_MAX_DOUBLINGS } = PACE_LAW;

/** ARGV: prefix, ceiling (req/s; 0 = none), lease id. Returns [wait ms, slot time, learned rate, limit]. */
const SLOT = `${NOW}
local TOLERANCE = ${SLOT_TOLERANCE}
local P = ARGV[1]
local ceiling = tonumber(ARGV[2])
local H = P .. 'pace'
local st = redis.call('HMGET', H, 'rate', 'limit', 'firstStart')
local learned = tonumber(st[1] or '0')
local rate = learned
if ceiling > 0 and (rate <= 0 or ceiling < rate) then rate = ceiling end
local base = math.max(now, tonumber(redis.call('GET', P .. 'pause') or '0'))
local slot = base
if rate > 0 then
  local step = 1000 / rate
  -- A slot up to TOLERANCE steps in the past may still be taken: a slot nobody used because a
  -- caller arrived late is not lost (GCRA burst tolerance; the average stays at the rate).
  slot = math.max(tonumber(redis.call('GET', P .. 'tat') or '0'), base - TOLERANCE * step)
  redis.call('SET', P .. 'tat', tostring(slot + step), 'PX', math.ceil(slot + step - now) + 60000)
  -- The pace (not a pause) holds this caller back: the learner may grow.
  if slot > base then redis.call('HSET', H, 'bound', tostring(now)) end
end
redis.call('ZADD', P .. 'sent', slot, ARGV[3])
redis.call('ZREMRANGEBYSCORE', P .. 'sent', '-inf', now - 2 * ${WINDOW_MS})
redis.call('PEXPIRE', P .. 'sent', 60000)
if not st[3] then redis.call('HSET', H, 'firstStart', tostring(slot)) end
redis.call('PEXPIRE', H, ${RATE_TTL_MS})
return { tostring(math.ceil(slot - now)), tostring(slot), tostring(learned), st[2] or '0' }
`;

/** ARGV: prefix, pause ms. A rate signal on one instance pauses all. */
const THROTTLED = `${NOW}
local P = ARGV[1]
local untilMs = now + tonumber(ARGV[2])
local current = tonumber(redis.call('GET', P .. 'pause') or '0')
if untilMs > current then
  if current < now then redis.call('HSET', P .. 'pace', 'pauseFrom', tostring(now)) end
  redis.call('SET', P .. 'pause', tostring(untilMs), 'PX', math.ceil(tonumber(ARGV[2])) + 1000)
end
return 1
`;

/**
 * ARGV: prefix, lease id, answer ('a' accepted, 't' throttled as a rate signal, '' other), slot time,
 * ceiling (req/s; 0 = none). Frees the lease and feeds the answer to the account's learner: the
 * Pacer's onAccepted and onThrottled, with the same constants.
 */
const RELEASE = `${NOW}
local P = ARGV[1]
local id = ARGV[2]
local answer = ARGV[3]
local startedAt = tonumber(ARGV[4])
local ceiling = tonumber(ARGV[5])
if ceiling <= 0 then ceiling = math.huge end
redis.call('ZREM', P .. 'sem', id)
if answer == '' then return 0 end
local H = P .. 'pace'
local f = redis.call('HMGET', H, 'rate', 'limit', 'lastCut', 'lastGrow', 'firstStart', 'firstThrottle', 'sinceCut', 'floor', 'floorAt', 'bound', 'pauseFrom')
local function num(v, d) return tonumber(v or '') or d end
local rate = num(f[1], 0)
if rate <= 0 then rate = math.huge end
local limit = num(f[2], 0)
if limit <= 0 then limit = math.huge end
local lastCut = num(f[3], -math.huge)
local lastGrow = num(f[4], 0)
local firstStart = num(f[5], -1)
local firstThrottle = num(f[6], -1)
local sinceCut = num(f[7], 0)
local floor = num(f[8], 0)
local floorAt = num(f[9], 0)
local bound = num(f[10], -math.huge)
local pauseFrom = num(f[11], 0)
local A = P .. 'acc'
redis.call('ZREMRANGEBYSCORE', A, '-inf', now - 2 * ${WINDOW_MS})
local function store(r)
  redis.call('HSET', H, 'rate', tostring(r == math.huge and 0 or r), 'limit', tostring(limit == math.huge and 0 or limit),
    'lastCut', tostring(lastCut), 'lastGrow', tostring(lastGrow), 'firstThrottle', tostring(firstThrottle),
    'sinceCut', tostring(sinceCut), 'floor', tostring(floor), 'floorAt', tostring(floorAt))
  redis.call('PEXPIRE', H, ${RATE_TTL_MS})
end
if answer == 'a' then
  redis.call('ZADD', A, startedAt, id)
  redis.call('PEXPIRE', A, 60000)
  if startedAt >= lastCut then sinceCut = sinceCut + 1 end
  if rate == math.huge or startedAt < lastCut then
    redis.call('HSET', H, 'sinceCut', tostring(sinceCut))
    return 1
  end
  local dt = math.min(1, (now - math.max(lastGrow, lastCut)) / 1000)
  lastGrow = now
  -- Only grow while the pace is what holds callers back; otherwise a quiet spell would inflate it.
  if now - bound > 1000 then store(rate) return 1 end
  local target = limit * ${SETTLE}
  local nextRate
  if rate < target * 0.97 then
    nextRate = math.min(rate * (1 + ${FAST_GROWTH} * dt), target)
  else
    local boost = 2 ^ math.min(${PROBE_MAX_DOUBLINGS}, sinceCut / ${PROBE_DOUBLING_REQUESTS})
    nextRate = rate * (1 + ${PROBE_PER_REQUEST} * boost)
  end
  nextRate = math.min(nextRate, ceiling)
  store(math.max(rate, nextRate))
  return 1
end
-- A rate signal. Requests sent before the last cut were sent too fast already: one cut per round.
if startedAt < lastCut then return 1 end
local previousCut = lastCut
lastCut = now
lastGrow = now
local first = firstThrottle < 0
-- Before the first throttle the server was still spending its initial burst: count only after it.
local origin = first and firstStart or firstThrottle
if first then firstThrottle = now end
local from = math.max(now - ${WINDOW_MS}, origin < 0 and now or origin)
local seconds = (now - from) / 1000
local accepted = redis.call('ZCOUNT', A, from, '+inf')
local paused = math.max(0, math.min(tonumber(redis.call('GET', P .. 'pause') or '0'), now) - math.max(pauseFrom, from))
local active = math.max(${MIN_WINDOW_S}, seconds - paused / 1000)
local sent = redis.call('ZCOUNT', P .. 'sent', from, now) / active
local nextRate
if seconds < ${MIN_WINDOW_S} or accepted == 0 then
  if rate == math.huge then
    if accepted == 0 then
      sinceCut = 0
      store(rate)
      return 1
    end
    nextRate = (accepted / math.max(seconds, 0.001)) * ${FIRST_CUT}
  else
    nextRate = rate * ${CUT}
  end
else
  local estimate = accepted / seconds
  local roundSeconds = (now - previousCut) / 1000
  local round = math.huge
  if not first and roundSeconds >= ${MIN_ROUND_S} then round = sinceCut / roundSeconds end
  if not first then
    limit = math.min(rate, sent)
    if now - previousCut >= 2 * ${WINDOW_MS} then limit = math.min(limit, estimate) end
  end
  nextRate = math.min(estimate, round, rate) * (first and ${FIRST_CUT} or ${SETTLE})
end
sinceCut = 0
-- Errors that are not about the rate would otherwise cut again and again: a floor that fades.
local faded = floor * 0.5 ^ ((now - floorAt) / 1000 / ${FLOOR_HALF_LIFE_S})
if not first and seconds >= ${MIN_WINDOW_S} and accepted > 0 then
  floor = math.max(faded, nextRate * 0.9)
  floorAt = now
end
nextRate = math.max(nextRate, faded)
store(math.max(${MIN_RATE}, math.min(ceiling, nextRate)))
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
  cmSlot(...args: string[]): Promise<[string, string, string, string]>;
  cmThrottled(...args: string[]): Promise<number>;
  cmRelease(...args: string[]): Promise<number>;
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
  /** The account's pace as last seen (the fallback's share is taken of it). */
  private lastRate = 0;

  constructor(private readonly coordinator: RedisCoordinator, options: RedisBudgetOptions = {}) {
    this.prefix = `${coordinator.prefix}bg:`;
    this.redis = withScripts<Scripted>(coordinator.redis, { cmSlot: SLOT, cmThrottled: THROTTLED, cmRelease: RELEASE, cmLease: LEASE, cmRenew: RENEW });
    this.fallbackShare = Math.max(1, options.fallbackShare ?? 3);
    this.logger = (options.logger ?? silentLogger).child({ layer: 'budget' });
  }

  async acquire(ceiling: number, concurrency: number, signal?: AbortSignal): Promise<CoordinatedSlot> {
    const began = performance.now();
    const cap = Number.isFinite(ceiling) && ceiling > 0 ? ceiling : 0;
    let leaseId: string | undefined;
    let slot: [string, string, string, string] | undefined;
    try {
      // The lease first: a slot taken and then held waiting for a lease would be wasted.
      leaseId = await this.lease(concurrency, signal);
      slot = await this.redis.cmSlot(this.prefix, String(cap), leaseId);
      this.stats.slots++;
      this.recovered();
      // The slot is ours: wait for it (a reserved slot is never asked for twice).
      await abortableSleep(Math.min(Number(slot[0]), MAX_SLOT_WAIT_MS), signal);
    } catch (e) {
      if (leaseId) this.drop(leaseId);
      if (signal?.aborted) throw e;
      leaseId = undefined;
      await this.fallback(cap > 0 && this.lastRate > 0 ? Math.min(cap, this.lastRate) : cap || this.lastRate, signal);
      return { waitedMs: performance.now() - began, release: () => {} };
    }
    const rate = Number(slot[2]);
    const limit = Number(slot[3]);
    if (rate > 0) this.lastRate = rate;
    return {
      waitedMs: performance.now() - began,
      release: this.holdLease(leaseId, slot[1], String(cap)),
      pace: { rate: rate > 0 ? rate : Infinity, limit: limit > 0 ? limit : Infinity },
    };
  }

  throttled(pauseMs: number): void {
    this.redis.cmThrottled(this.prefix, String(Math.max(0, Math.ceil(pauseMs)))).catch(() => this.degrade());
  }

  /** The pace is learned in Redis from every instance's answers (see RELEASE): nothing to share here. */
  rateChanged(): void {}

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

  /** Keep the lease alive while the request runs; the returned function releases it and reports the answer. */
  private holdLease(id: string, slotTime: string, ceiling: string): (answer?: SlotAnswer) => void {
    const timer = setInterval(() => {
      this.redis.cmRenew(this.prefix, id, String(LEASE_MS)).catch(() => this.degrade());
    }, LEASE_MS / 3);
    timer.unref();
    return (answer) => {
      clearInterval(timer);
      const code = answer === 'accepted' ? 'a' : answer === 'throttled' ? 't' : '';
      this.redis.cmRelease(this.prefix, id, code, slotTime, ceiling).catch(() => this.degrade());
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
