/**
 * One provider budget for three instances (issue 21 part 1): three Schedulers, each with its own
 * p-queue, share a RedisBudget on a real redis-server and call the Cloudreve emulator behind its
 * proxy rate limit (R requests/s, 429 + Retry-After beyond it). Together they must get ≥ 0.9 R
 * through with ≤ 1 % of requests answered 429; without the shared budget (today) they do not.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCloudreveEmulator } from '../../adapters/cloudreve/emulator/server.js';
import type { CloudreveEmulator } from '../../adapters/cloudreve/emulator/server.js';
import { RedisBudget } from '../../src/coordinator/budget.js';
import { RedisCoordinator } from '../../src/coordinator/redis.js';
import { Scheduler } from '../../src/scheduler/index.js';
import { httpRequest } from '../../src/http/fetch.js';
import type { SchedulerOptions } from '../../src/scheduler/index.js';
import { hasRedis, startRedis } from './server.js';
import type { RedisProcess } from './server.js';

const haveRedis = hasRedis();
if (!haveRedis) console.warn('[skip] test/redis/budget.test.ts: redis-server is not installed (apt-get install redis-server)');

const R = 30;
const CALLS_PER_INSTANCE = 60;

interface Outcome {
  goodput: number;
  answered429: number;
  requests: number;
  failures: number;
}

/** Three schedulers, `perInstance` calls each (8 at a time), all against one emulator. */
async function runThree(emu: CloudreveEmulator, make: (i: number) => Promise<SchedulerOptions>): Promise<Outcome> {
  const schedulers = await Promise.all([0, 1, 2].map(async (i) => new Scheduler({ name: `i${i}`, concurrency: 8, maxAttempts: 10, ...(await make(i)) })));
  const before = emu.log.length;
  const began = performance.now();
  let failures = 0;
  await Promise.all(
    schedulers.flatMap((s) =>
      Array.from({ length: CALLS_PER_INSTANCE }, () =>
        httpRequest(s, `${emu.url}/api/v4/site/ping`, {}, async (res) => {
          await res.arrayBuffer();
          return res.status;
        }).catch(() => failures++),
      ),
    ),
  );
  const seconds = (performance.now() - began) / 1000;
  const entries = emu.log.slice(before);
  const answered429 = entries.filter((e) => e.status === 429).length;
  return { goodput: (entries.length - answered429) / seconds, answered429, requests: entries.length, failures };
}

describe.skipIf(!haveRedis)('one provider budget shared by three instances through Redis', () => {
  let redis: RedisProcess;
  const coordinators: RedisCoordinator[] = [];

  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    for (const c of coordinators) await c.close();
    await redis?.stop();
  });

  async function budget(account: string): Promise<RedisBudget> {
    const c = await RedisCoordinator.connect(redis.url, { account });
    coordinators.push(c);
    return new RedisBudget(c);
  }

  it(`three instances told the rate (--tpslimit ${R}): goodput ≥ 0.9 R and ≤ 1 % 429s; without Redis they overrun it`, async () => {
    const emu = await startCloudreveEmulator({ proxyRateLimit: { requestsPerSecond: R } });
    try {
      const alone = await runThree(emu, async () => ({ intervalCap: R, interval: 1000 }));
      console.log(`[budget] told R=${R}, no Redis: goodput ${alone.goodput.toFixed(1)}/s, ${alone.answered429}/${alone.requests} answered 429`);
      await new Promise((r) => setTimeout(r, 1500)); // let the emulator's bucket refill
      const shared = await runThree(emu, async () => ({ intervalCap: R, interval: 1000, coordinator: await budget('cloudreve:told') }));
      console.log(`[budget] told R=${R}, shared: goodput ${shared.goodput.toFixed(1)}/s, ${shared.answered429}/${shared.requests} answered 429`);
      expect(shared.failures).toBe(0);
      expect(shared.answered429 / shared.requests).toBeLessThanOrEqual(0.01);
      expect(shared.goodput).toBeGreaterThanOrEqual(0.9 * R);
      expect(alone.answered429).toBeGreaterThan(shared.answered429);
    } finally {
      await emu.close();
    }
  });

  it('three instances NOT told the rate learn ONE pace for the account, near R, from all their answers', async () => {
    const emu = await startCloudreveEmulator({ proxyRateLimit: { requestsPerSecond: R } });
    try {
      const alone = await runThree(emu, async () => ({}));
      console.log(`[budget] unknown R=${R}, no Redis: goodput ${alone.goodput.toFixed(1)}/s, ${alone.answered429}/${alone.requests} answered 429`);
      await new Promise((r) => setTimeout(r, 1500));
      let prefix = '';
      const shared = await runThree(emu, async () => {
        const b = await budget('cloudreve:learn');
        prefix = `${coordinators.at(-1)!.prefix}bg:`;
        return { coordinator: b };
      });
      const pace = Number(await coordinators.at(-1)!.redis.hget(`${prefix}pace`, 'rate'));
      console.log(`[budget] unknown R=${R}, shared: goodput ${shared.goodput.toFixed(1)}/s, ${shared.answered429}/${shared.requests} answered 429, learned pace ${pace.toFixed(1)}/s`);
      expect(shared.failures).toBe(0);
      // One learner fed by every instance measures the account's limit, not a third of it (each
      // instance learning from its own answers alone settled near R/3 and cut the others down to it).
      expect(pace).toBeGreaterThan(0.7 * R);
      expect(pace).toBeLessThan(1.3 * R);
      // Learning costs some 429s, but fewer than three instances learning alone.
      expect(shared.answered429).toBeLessThanOrEqual(alone.answered429);
    } finally {
      await emu.close();
    }
  });

  it("a killed instance's concurrency leases come back: the semaphore counts only live leases", async () => {
    const c = await RedisCoordinator.connect(redis.url, { account: 'cloudreve:lease' });
    coordinators.push(c);
    const b = new RedisBudget(c);
    // Two leases taken and never released (the instance "died"): mark them expired as a dead holder's would be.
    const l1 = await b.acquire(Infinity, 2);
    const l2 = await b.acquire(Infinity, 2);
    const key = `${c.prefix}bg:sem`;
    expect(await c.redis.zcard(key)).toBe(2);
    // Age the leases past their expiry instead of waiting LEASE_MS (what a renewal-less holder leaves).
    for (const m of await c.redis.zrange(key, 0, -1)) await c.redis.zadd(key, 1, m);
    const l3 = await b.acquire(Infinity, 2);
    expect(await c.redis.zcard(key)).toBe(1);
    l3.release();
    l1.release();
    l2.release();
  });
});
