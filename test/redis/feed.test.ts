/**
 * One change feed per account (issue 21 part 4), with real processes: two `serve webdav --redis`
 * instances of one Cloudreve account. Exactly one of them (the holder of the `feed` lease in Redis)
 * subscribes to the provider's change feed and republishes what it reports as invalidations, which
 * both apply: a file a third client adds is listed through either instance although both cached the
 * folder for an hour. When the holder is killed -9 the other takes the lease over, opens the feed,
 * and the next change made elsewhere reaches it the same way.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CloudreveVfs } from '../../adapters/cloudreve/index.js';
import { startCloudreveEmulator } from '../../adapters/cloudreve/emulator/server.js';
import type { CloudreveEmulator } from '../../adapters/cloudreve/emulator/server.js';
import { FEED_LEASE_MS } from '../../src/coordinator/feed.js';
import { startCli } from '../cli/run-cli.js';
import { hasRedis, startRedis } from './server.js';
import type { RedisProcess } from './server.js';

const haveRedis = hasRedis();
if (!haveRedis) console.warn('[skip] test/redis/feed.test.ts: redis-server is not installed (apt-get install redis-server)');

/** Poll until `check` holds (no timed assertion: the test's own timeout is the bound). */
async function until(check: () => Promise<boolean> | boolean, everyMs = 100): Promise<void> {
  while (!(await check())) await new Promise((r) => setTimeout(r, everyMs));
}

async function listing(url: string): Promise<string> {
  const res = await fetch(url, { method: 'PROPFIND', headers: { Depth: '1' } });
  expect(res.status).toBe(207);
  return res.text();
}

describe.skipIf(!haveRedis)('serve webdav --redis: one elected follower of the change feed per account', () => {
  let redis: RedisProcess;
  let emu: CloudreveEmulator;
  let client: Redis;
  let work: string;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    redis = await startRedis();
    client = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
    await client.connect();
    emu = await startCloudreveEmulator({ feed: { debounceMs: 50 } });
    work = await mkdtemp(join(tmpdir(), 'cloudmount-redis-feed-'));
    env = { CLOUDREVE_URL: emu.url, CLOUDREVE_EMAIL: emu.email, CLOUDREVE_PASSWORD: emu.password, XDG_CONFIG_HOME: join(work, 'cfg') };
  });
  afterAll(async () => {
    client?.disconnect();
    await emu?.close();
    await redis?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('one instance follows the feed for both; after it is killed -9 the other takes the feed over', async () => {
    // An hour of cache: only an invalidation can show a change made elsewhere.
    const args = ['serve', 'webdav', 'cloudreve:/', '--addr', '127.0.0.1:0', '--redis', redis.url, '--cache-ttl', '3600'];
    const third = new CloudreveVfs({ baseUrl: emu.url, email: emu.email, password: emu.password, stateDir: false });
    const a = await startCli(args, /at (http:\/\/\S+)/, env);
    const b = await startCli(args, /at (http:\/\/\S+)/, env);
    const procs: Record<number, typeof a> = { [a.child.pid!]: a, [b.child.pid!]: b };
    try {
      const urls = [a.match[1]!, b.match[1]!];
      // One feed subscriber at the provider, whose holder is named in Redis.
      const [feedKey] = await (async () => {
        let keys: string[] = [];
        await until(async () => (keys = await client.keys('cm:*feed')).length === 1 && emu.feed.online() === 1);
        return keys;
      })();
      const firstHolder = await client.get(feedKey!);
      // Let the other instance poll for the lease several times (a third of the lease each), then count again.
      const renewedOnce = await client.pttl(feedKey!);
      await until(async () => (await client.pttl(feedKey!)) > renewedOnce);
      await until(async () => (await client.pttl(feedKey!)) > renewedOnce);
      expect(await client.get(feedKey!)).toBe(firstHolder);
      expect(emu.feed.online()).toBe(1);
      expect(emu.feed.counts.subscribed + emu.feed.counts.resumed).toBe(1);

      // Both instances cache the root listing; a third client adds a file; both list it.
      for (const u of urls) expect(await listing(u)).not.toContain('from-elsewhere-1.txt');
      await third.write('/from-elsewhere-1.txt', Buffer.from('one'));
      for (const u of urls) await until(async () => (await listing(u)).includes('from-elsewhere-1.txt'));

      // Kill the holder (its id in Redis starts with its pid).
      const holder = procs[Number(firstHolder!.split('@')[0])]!;
      const survivor = holder === a ? b : a;
      holder.child.kill('SIGKILL');
      await new Promise((r) => holder.child.once('exit', r));
      // The survivor takes the lease over (once the dead holder's lapses) and opens the feed.
      await until(async () => (await client.get(feedKey!))?.split('@')[0] === String(survivor.child.pid));
      // A second subscription (a resumed one when both processes share the state directory, and so
      // the provider client id; the dead holder's stream may still count as online until a write fails).
      await until(() => emu.feed.counts.subscribed + emu.feed.counts.resumed === 2);
      const su = survivor.match[1]!;
      expect(await listing(su)).not.toContain('from-elsewhere-2.txt');
      await third.write('/from-elsewhere-2.txt', Buffer.from('two'));
      await until(async () => (await listing(su)).includes('from-elsewhere-2.txt'));
    } finally {
      await third.close?.();
      await a.stop();
      await b.stop();
    }
  }, 3 * FEED_LEASE_MS + 60_000);
});
