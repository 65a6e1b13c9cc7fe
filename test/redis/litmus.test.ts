/**
 * litmus against a round-robin of two instances sharing Redis (issue 21): a small proxy sends each
 * request to the other instance than the one before, so every LOCK, its refresh, the writes it
 * guards and its UNLOCK, every PROPPATCH and its PROPFIND, every PUT and its GET land on different
 * instances. The bar is the single-instance one (test/webdav/litmus.test.ts).
 */
import { createServer, request } from 'node:http';
import type { Server } from 'node:http';
import { Agent } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryVfs } from '../../adapters/memory/index.js';
import { serveWebdav } from '../../mount/webdav.js';
import type { WebdavServer } from '../../mount/webdav.js';
import { RedisLockStore } from '../../mount/webdav/redis-locks.js';
import { RedisPropStore } from '../../mount/webdav/redis-props.js';
import { CacheCoherence } from '../../src/coordinator/coherence.js';
import { RedisCoordinator } from '../../src/coordinator/redis.js';
import { hasCommand, run } from '../webdav/helpers.js';
import { hasRedis, startRedis } from './server.js';
import type { RedisProcess } from './server.js';

const ready = hasRedis() && hasCommand('litmus', '--version');
if (!ready) console.warn('[skip] test/redis/litmus.test.ts: needs redis-server and litmus (apt-get install redis-server litmus)');

describe.skipIf(!ready)('litmus against two instances, round-robin per request', () => {
  let redis: RedisProcess;
  const closers: Array<() => Promise<void>> = [];
  let proxy: Server;
  let proxyUrl = '';
  const hits = [0, 0];

  beforeAll(async () => {
    redis = await startRedis();
    const vfs = await MemoryVfs.fromTree({});
    const instances: WebdavServer[] = [];
    for (let i = 0; i < 2; i++) {
      const c = await RedisCoordinator.connect(redis.url, { account: 'memory:litmus' });
      const coherence = await CacheCoherence.start(c);
      const s = await serveWebdav(vfs, { lockStore: new RedisLockStore(c), propStore: new RedisPropStore(c), coherence });
      closers.push(() => c.close(), () => coherence.close(), () => s.close());
      instances.push(s);
    }
    const agent = new Agent({ keepAlive: true });
    let next = 0;
    proxy = createServer((req, res) => {
      const i = next++ % 2;
      hits[i]!++;
      const upstream = request({ host: '127.0.0.1', port: instances[i]!.port, method: req.method, path: req.url, headers: req.headers, agent }, (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      });
      upstream.on('error', () => res.destroy());
      req.pipe(upstream);
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    proxyUrl = `http://127.0.0.1:${(proxy.address() as { port: number }).port}/`;
    closers.push(async () => {
      agent.destroy();
      await new Promise<void>((r) => proxy.close(() => r()));
    });
  });
  afterAll(async () => {
    proxy?.closeAllConnections();
    for (const c of closers.reverse()) await c();
    await redis?.stop();
  });

  it('passes as against one instance', async () => {
    const r = await run('litmus', ['-k', proxyUrl], { timeoutMs: 170_000 });
    const out = r.stdout + r.stderr;
    let passed = 0;
    let failed = 0;
    for (const m of out.matchAll(/of (\d+) tests run: (\d+) passed, (\d+) failed/g)) {
      passed += Number(m[2]);
      failed += Number(m[3]);
    }
    const failures = [...out.matchAll(/^\s*\d+\.\s+(\S+?)\.+\s*FAIL.*$/gm)].map((m) => m[0].trim());
    console.log(`litmus via round-robin of 2 instances: ${passed} passed, ${failed} failed (requests ${hits.join(' / ')})${failures.length ? '\n' + failures.join('\n') : ''}`);
    expect(out).toContain("summary for `locks'");
    expect(passed).toBeGreaterThanOrEqual(100);
    expect(Math.min(...hits)).toBeGreaterThan(100);
  }, 180_000);
});
