/**
 * `cloudmount serve webdav --redis` end to end (issue 21): two serve processes on one account of
 * `cloudmount emulate cloudreve`, sharing a real redis-server. A lock taken through one binds the
 * other, a property set through one is seen through the other, a write through one is read fresh
 * through the other. Redis down at start: a clear one-line error, or --redis-optional runs alone.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, startCli } from '../cli/run-cli.js';
import { freePort, hasRedis, startRedis } from './server.js';
import type { RedisProcess } from './server.js';

const haveRedis = hasRedis();
if (!haveRedis) console.warn('[skip] test/redis/cli.test.ts: redis-server is not installed (apt-get install redis-server)');

const LOCKINFO = '<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype></D:lockinfo>';

describe.skipIf(!haveRedis)('serve webdav --redis: two processes, one account', () => {
  let redis: RedisProcess;
  let emu: Awaited<ReturnType<typeof startCli>>;
  let env: NodeJS.ProcessEnv;
  let work: string;

  beforeAll(async () => {
    redis = await startRedis();
    work = await mkdtemp(join(tmpdir(), 'cloudmount-redis-cli-'));
    emu = await startCli(['emulate', 'cloudreve', '--port', '0'], /CLOUDREVE_URL=(\S+) CLOUDREVE_EMAIL=(\S+) CLOUDREVE_PASSWORD=(\S+)/);
    env = { CLOUDREVE_URL: emu.match[1], CLOUDREVE_EMAIL: emu.match[2], CLOUDREVE_PASSWORD: emu.match[3], XDG_CONFIG_HOME: join(work, 'cfg') };
  });
  afterAll(async () => {
    await emu?.stop();
    await redis?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('locks, properties and writes made through A are in force and fresh through B', async () => {
    const a = await startCli(['serve', 'webdav', 'cloudreve:/Documents', '--addr', '127.0.0.1:0', '--redis', redis.url], /at (http:\/\/\S+)/, env);
    const b = await startCli(['serve', 'webdav', 'cloudreve:/Documents', '--addr', '127.0.0.1:0'], /at (http:\/\/\S+)/, { ...env, CLOUDMOUNT_REDIS_URL: redis.url });
    try {
      const [ua, ub] = [a.match[1]!, b.match[1]!];
      expect((await fetch(ua + 'shared.txt', { method: 'PUT', body: 'one' })).status).toBe(201);
      expect(await (await fetch(ub + 'shared.txt')).text()).toBe('one');
      expect((await fetch(ua + 'shared.txt', { method: 'PUT', body: 'two!' })).status).toBe(204);
      expect(await (await fetch(ub + 'shared.txt')).text()).toBe('two!');
      const lock = await fetch(ua + 'shared.txt', { method: 'LOCK', headers: { 'Content-Type': 'application/xml' }, body: LOCKINFO });
      expect(lock.status).toBe(200);
      const token = (lock.headers.get('lock-token') ?? '').replace(/[<>]/g, '');
      expect((await fetch(ub + 'shared.txt', { method: 'PUT', body: 'x' })).status).toBe(423);
      expect((await fetch(ub + 'shared.txt', { method: 'PUT', body: 'three', headers: { If: `(<${token}>)` } })).status).toBe(204);
      expect((await fetch(ub + 'shared.txt', { method: 'UNLOCK', headers: { 'Lock-Token': `<${token}>` } })).status).toBe(204);
      expect((await fetch(ua + 'shared.txt', { method: 'PUT', body: 'four' })).status).toBe(204);
      const patch = '<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:z"><D:set><D:prop><Z:k>v1</Z:k></D:prop></D:set></D:propertyupdate>';
      expect((await fetch(ua + 'shared.txt', { method: 'PROPPATCH', body: patch })).status).toBe(207);
      const pf = await fetch(ub + 'shared.txt', { method: 'PROPFIND', headers: { Depth: '0' }, body: '<?xml version="1.0"?><D:propfind xmlns:D="DAV:" xmlns:Z="urn:z"><D:prop><Z:k/></D:prop></D:propfind>' });
      expect(await pf.text()).toContain('>v1</k>');
    } finally {
      await a.stop();
      await b.stop();
    }
  });

  it('Redis unreachable at start: a clear one-line error; --redis-optional runs alone with a warning', async () => {
    const dead = `redis://:secret-pw@127.0.0.1:${await freePort()}`;
    const out = await runCli(['serve', 'webdav', 'cloudreve:/Documents', '--addr', '127.0.0.1:0', '--redis', dead], { env, timeoutMs: 30_000 });
    expect(out.code).not.toBe(0);
    expect(out.stderr).toMatch(/cannot reach Redis/);
    expect(out.stderr).toMatch(/--redis-optional/);
    expect(out.stderr).not.toContain('secret-pw');
    const alone = await startCli(['serve', 'webdav', 'cloudreve:/Documents', '--addr', '127.0.0.1:0', '--redis', dead, '--redis-optional'], /at (http:\/\/\S+)/, env);
    try {
      expect(alone.output()).toMatch(/running alone/);
      expect(alone.output()).not.toContain('secret-pw');
      expect((await fetch(alone.match[1]! + 'alone.txt', { method: 'PUT', body: 'a' })).status).toBe(201);
    } finally {
      await alone.stop();
    }
  });
});
