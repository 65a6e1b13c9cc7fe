/**
 * A lease holder killed with SIGKILL (issue 21, faults): two `serve webdav --redis` processes share
 * one account's concurrency cap (a lease semaphore in Redis). A takes every lease with slow requests
 * in flight at the emulator and is killed -9: nothing releases its leases, nothing renews them either,
 * so they lapse within LEASE_MS and B reaches the full concurrency with leases of its own. Without the
 * expiry B would wait for ever (the test then times out).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCloudreveEmulator } from '../../adapters/cloudreve/emulator/server.js';
import type { CloudreveEmulator } from '../../adapters/cloudreve/emulator/server.js';
import { LEASE_MS } from '../../src/coordinator/budget.js';
import { startCli } from '../cli/run-cli.js';
import { hasRedis, startRedis } from './server.js';
import type { RedisProcess } from './server.js';

const haveRedis = hasRedis();
if (!haveRedis) console.warn('[skip] test/redis/kill.test.ts: redis-server is not installed (apt-get install redis-server)');

const CONCURRENCY = 4;

/** Poll until `check` holds (no timed assertion: the test's own timeout is the bound). */
async function until(check: () => Promise<boolean>, everyMs = 100): Promise<void> {
  while (!(await check())) await new Promise((r) => setTimeout(r, everyMs));
}

describe.skipIf(!haveRedis)('kill -9 of an instance holding concurrency leases', () => {
  let redis: RedisProcess;
  let emu: CloudreveEmulator;
  let client: Redis;
  let work: string;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    redis = await startRedis();
    client = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
    await client.connect();
    emu = await startCloudreveEmulator({});
    work = await mkdtemp(join(tmpdir(), 'cloudmount-redis-kill-'));
    env = { CLOUDREVE_URL: emu.url, CLOUDREVE_EMAIL: emu.email, CLOUDREVE_PASSWORD: emu.password, XDG_CONFIG_HOME: join(work, 'cfg') };
  });
  afterAll(async () => {
    client?.disconnect();
    await emu?.close();
    await redis?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it("its leases lapse without renewal and the survivor reaches the account's full concurrency", async () => {
    const args = (): string[] => ['--max-concurrency', String(CONCURRENCY), 'serve', 'webdav', 'cloudreve:/', '--addr', '127.0.0.1:0', '--redis', redis.url];
    const a = await startCli(args(), /at (http:\/\/\S+)/, env);
    const b = await startCli(args(), /at (http:\/\/\S+)/, env);
    try {
      const [ua, ub] = [a.match[1]!, b.match[1]!];
      // Log in on both while the provider is fast.
      expect((await fetch(ua, { method: 'PROPFIND', headers: { Depth: '0' } })).status).toBe(207);
      expect((await fetch(ub, { method: 'PROPFIND', headers: { Depth: '0' } })).status).toBe(207);
      // One small file per request to hold, written through the instance that will read it (so its
      // metadata is cached there and each GET is one download of its own, not a shared listing).
      for (let i = 0; i < CONCURRENCY; i++) {
        expect((await fetch(`${ua}held-${i}.txt`, { method: 'PUT', body: `held ${i}` })).status).toBe(201);
        expect((await fetch(`${ub}wanted-${i}.txt`, { method: 'PUT', body: `wanted ${i}` })).status).toBe(201);
      }
      // The account's keys (an empty semaphore has no key: find it by the learned pace's).
      const [paceKey] = await client.keys('cm:*bg:pace');
      expect(paceKey).toBeDefined();
      const semKey = paceKey!.replace(/pace$/, 'sem');

      // A takes every lease: CONCURRENCY requests for distinct paths, each held at the emulator
      // longer than a lease lives (so a live holder must renew, and a dead one cannot).
      emu.settings.latencyMs = 3 * LEASE_MS;
      const held = Array.from({ length: CONCURRENCY }, (_, i) => fetch(`${ua}held-${i}.txt`).catch(() => undefined));
      await until(async () => (await client.zcard(semKey)) === CONCURRENCY);
      const deadLeases = new Set(await client.zrange(semKey, 0, -1));
      a.child.kill('SIGKILL');
      await new Promise((r) => a.child.once('exit', r));
      expect(a.child.signalCode).toBe('SIGKILL');
      void Promise.all(held);
      // The dead holder's leases are still counted: the account is full.
      expect(await client.zcard(semKey)).toBe(CONCURRENCY);

      // B asks for the full concurrency (slow requests again, so they are all in flight at once).
      emu.settings.latencyMs = 2000;
      const wanted = Array.from({ length: CONCURRENCY }, (_, i) => fetch(`${ub}wanted-${i}.txt`).then(async (res) => ({ status: res.status, body: await res.text() })));
      // Within a lease's life the dead leases are gone and B holds CONCURRENCY leases of its own at once.
      await until(async () => {
        const members = await client.zrange(semKey, 0, -1);
        return members.length === CONCURRENCY && members.every((m) => !deadLeases.has(m));
      }, 20);
      const answers = await Promise.all(wanted);
      expect(answers).toEqual(Array.from({ length: CONCURRENCY }, (_, i) => ({ status: 200, body: `wanted ${i}` })));
      expect(await client.zcard(semKey)).toBe(0);
    } finally {
      emu.settings.latencyMs = 0;
      await a.stop();
      await b.stop();
    }
  }, 4 * LEASE_MS + 60_000);
});
