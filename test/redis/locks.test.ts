/**
 * WebDAV locks shared through a real redis-server (issue 21 part 2): two serveWebdav instances on
 * one account (one MemoryVfs), a client alternating between them. A lock taken on A binds B at
 * once; refresh and UNLOCK work from either; racing LOCKs through both have exactly one winner;
 * Redis lost → LOCK and writes answer 503 (fail closed), and recovery is automatic.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryVfs } from '../../adapters/memory/index.js';
import { serveWebdav } from '../../mount/webdav.js';
import type { WebdavServer } from '../../mount/webdav.js';
import { RedisLockStore } from '../../mount/webdav/redis-locks.js';
import { RedisCoordinator } from '../../src/coordinator/redis.js';
import { hasRedis, startRedis } from './server.js';
import type { RedisProcess } from './server.js';

const LOCKINFO = (scope = 'exclusive') =>
  `<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:${scope}/></D:lockscope><D:locktype><D:write/></D:locktype><D:owner>t</D:owner></D:lockinfo>`;

const haveRedis = hasRedis();
if (!haveRedis) console.warn('[skip] test/redis/locks.test.ts: redis-server is not installed (apt-get install redis-server)');

describe.skipIf(!haveRedis)('WebDAV locks shared by two instances through Redis', () => {
  let redis: RedisProcess;
  const coordinators: RedisCoordinator[] = [];
  let a: WebdavServer;
  let b: WebdavServer;
  let vfs: MemoryVfs;

  async function instance(opts: { maxPerClient?: number } = {}, account = 'memory:test'): Promise<WebdavServer> {
    const c = await RedisCoordinator.connect(redis.url, { account });
    coordinators.push(c);
    return serveWebdav(vfs, { lockStore: new RedisLockStore(c, opts), cache: false });
  }

  beforeAll(async () => {
    redis = await startRedis();
    vfs = await MemoryVfs.fromTree({ 'f.txt': 'hello', dir: { 'x.txt': 'x', sub: { 'y.txt': 'y' } }, dir2: {} });
    a = await instance();
    b = await instance();
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    for (const c of coordinators) await c.close();
    await redis?.stop();
  });

  const lock = (s: WebdavServer, path: string, headers: Record<string, string> = {}, scope?: string) =>
    fetch(s.url + path.slice(1), { method: 'LOCK', headers: { 'Content-Type': 'application/xml', ...headers }, body: LOCKINFO(scope) });
  const tokenOf = (res: Response) => (res.headers.get('lock-token') ?? '').replace(/[<>]/g, '');
  const req = (s: WebdavServer, method: string, path: string, headers: Record<string, string> = {}, body?: string) =>
    fetch(s.url + path.slice(1), { method, headers, ...(body !== undefined ? { body } : {}) });

  it('LOCK on A: PUT, DELETE, MOVE on B without the token are 423, with it 2xx; UNLOCK on B frees it on A', async () => {
    const l = await lock(a, '/f.txt');
    expect(l.status).toBe(200);
    const token = tokenOf(l);
    expect(token).toMatch(/^opaquelocktoken:/);
    expect((await req(b, 'PUT', '/f.txt', {}, 'B')).status).toBe(423);
    expect((await req(b, 'DELETE', '/f.txt')).status).toBe(423);
    expect((await req(b, 'MOVE', '/f.txt', { Destination: b.url + 'g.txt' })).status).toBe(423);
    expect((await req(b, 'PUT', '/f.txt', { If: `(<${token}>)` }, 'B')).status).toBe(204);
    expect(await new Response((await vfs.read('/f.txt')) as unknown as BodyInit).text()).toBe('B');
    // Another LOCK on B conflicts; lockdiscovery on B shows A's lock.
    expect((await lock(b, '/f.txt')).status).toBe(423);
    const pf = await req(b, 'PROPFIND', '/f.txt', { Depth: '0', 'Content-Type': 'application/xml' }, '<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><D:lockdiscovery/></D:prop></D:propfind>');
    expect(await pf.text()).toContain(token);
    // Refresh on B.
    expect((await req(b, 'LOCK', '/f.txt', { If: `(<${token}>)`, Timeout: 'Second-600' })).status).toBe(200);
    expect((await req(b, 'LOCK', '/f.txt', { If: `(<opaquelocktoken:nope>)`, Timeout: 'Second-600' })).status).toBe(412);
    const u = await req(b, 'UNLOCK', '/f.txt', { 'Lock-Token': `<${token}>` });
    expect(u.status).toBe(204);
    expect((await req(a, 'PUT', '/f.txt', {}, 'A')).status).toBe(204);
    expect((await req(a, 'UNLOCK', '/f.txt', { 'Lock-Token': `<${token}>` })).status).toBe(409);
  });

  it('depth infinity covers descendants on the other instance; a depth-0 lock protects membership; descendants block a depth-infinity LOCK', async () => {
    const l = await lock(a, '/dir', { Depth: 'infinity' });
    expect(l.status).toBe(200);
    const token = tokenOf(l);
    expect((await req(b, 'PUT', '/dir/sub/y.txt', {}, 'n')).status).toBe(423);
    expect((await req(b, 'PUT', '/dir/new.txt', {}, 'n')).status).toBe(423);
    expect((await lock(b, '/dir/sub/y.txt', { Depth: '0' })).status).toBe(423);
    expect((await lock(b, '/', { Depth: 'infinity' })).status).toBe(423);
    expect((await req(b, 'UNLOCK', '/dir/sub', { 'Lock-Token': `<${token}>` })).status).toBe(204);

    const l0 = await lock(a, '/dir2', { Depth: '0' });
    expect(l0.status).toBe(200);
    const t0 = tokenOf(l0);
    expect((await req(b, 'PUT', '/dir2/new.txt', {}, 'n')).status).toBe(423);
    expect((await req(b, 'PUT', '/dir2/new.txt', { If: `</dir2> (<${t0}>)` }, 'n')).status).toBe(201);
    // Depth 0 does not cover a member itself.
    expect((await req(b, 'PUT', '/dir2/new.txt', {}, 'n2')).status).toBe(204);
    // A lock below blocks a depth-infinity LOCK above it, on the other instance.
    const below = await lock(b, '/dir/sub/y.txt', { Depth: '0' });
    expect(below.status).toBe(200);
    expect((await lock(a, '/dir', { Depth: 'infinity' })).status).toBe(423);
    expect((await lock(a, '/dir', { Depth: '0' })).status).toBe(200);
    // Shared locks coexist, across instances.
    const s1 = await lock(a, '/dir/x.txt', { Depth: '0' }, 'shared');
    const s2 = await lock(b, '/dir/x.txt', { Depth: '0' }, 'shared');
    expect([s1.status, s2.status]).toEqual([200, 200]);
    expect((await lock(b, '/dir/x.txt', { Depth: '0' })).status).toBe(423);
    // DELETE of /dir2 with its token drops the locks inside for both instances.
    expect((await req(b, 'DELETE', '/dir2', { If: `</dir2> (<${t0}>)` })).status).toBe(204);
    expect((await req(a, 'UNLOCK', '/dir2', { 'Lock-Token': `<${t0}>` })).status).toBe(409);
  });

  it('200 racing exclusive LOCKs on one path through A and B: exactly one winner each time', async () => {
    for (let i = 0; i < 200; i++) {
      const path = `/race-${i}.txt`;
      const results = await Promise.all([lock(a, path), lock(b, path)]);
      const statuses = results.map((r) => r.status).sort();
      const winners = statuses.filter((s) => s === 200 || s === 201);
      expect(winners.length, `round ${i}: ${statuses.join(',')}`).toBe(1);
      expect(statuses).toContain(423);
    }
  });

  it('a lock expires by its timeout on every instance', async () => {
    const l = await lock(a, '/exp.txt', { Timeout: 'Second-1' });
    expect(l.status).toBe(201);
    expect((await lock(b, '/exp.txt')).status).toBe(423);
    await new Promise((r) => setTimeout(r, 1500));
    expect((await lock(b, '/exp.txt')).status).toBe(200);
  });

  it('the per-client bound holds across instances', async () => {
    // Another account: its own table, untouched by the tests above.
    const c1 = await instance({ maxPerClient: 3 }, 'memory:bound');
    const c2 = await instance({ maxPerClient: 3 }, 'memory:bound');
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 6; i++) statuses.push((await lock(i % 2 ? c1 : c2, `/bound-${i}.txt`)).status);
      expect(statuses).toEqual([201, 201, 201, 507, 507, 507]);
      const first = await lock(c2, '/bound-0.txt', {});
      expect(first.status).toBe(507);
    } finally {
      await c1.close();
      await c2.close();
    }
  });

  it('Redis lost: LOCK and writes answer 503 (nothing granted), reads still work; recovery is automatic', async () => {
    await redis.stop();
    const l = await lock(a, '/down.txt');
    expect(l.status).toBe(503);
    expect(l.headers.get('retry-after')).toBe('5');
    expect(await l.text()).not.toContain('redis://');
    expect((await req(b, 'PUT', '/f.txt', {}, 'lost')).status).toBe(503);
    expect((await req(b, 'GET', '/f.txt')).status).toBe(200);
    await redis.restart();
    // ioredis reconnects by itself (backoff ≤ 1 s); wait for both clients to be ready.
    for (let i = 0; i < 100 && !coordinators.slice(0, 2).every((c) => c.ready); i++) await new Promise((r) => setTimeout(r, 100));
    expect((await lock(a, '/down.txt')).status).toBe(201);
    expect((await lock(b, '/down.txt')).status).toBe(423);
  });
});
