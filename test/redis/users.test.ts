/**
 * Gateway users with their own roots share ONE lock table through Redis (issue 21): two instances,
 * users `admin` (root `/`) and `team` (root `/team`, a SubtreeVfs). Locks are kept under the full
 * path, so a lock one of them takes binds the other on either instance: a lock on `/team/doc.txt`
 * by admin is a lock on team's `/doc.txt`, and a depth-infinity lock on `/team` covers team's whole
 * view. Before, each root kept its own in-memory table and these writes went through. Dead
 * properties likewise: one store under full paths.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryVfs } from '../../adapters/memory/index.js';
import { serveWebdav } from '../../mount/webdav.js';
import type { WebdavServer } from '../../mount/webdav.js';
import { RedisLockStore } from '../../mount/webdav/redis-locks.js';
import { RedisPropStore } from '../../mount/webdav/redis-props.js';
import { Users } from '../../mount/webdav/users.js';
import { RedisCoordinator } from '../../src/coordinator/redis.js';
import { hasRedis, startRedis } from './server.js';
import type { RedisProcess } from './server.js';

const LOCKINFO = (depth = 'exclusive') =>
  `<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:${depth}/></D:lockscope><D:locktype><D:write/></D:locktype><D:owner>t</D:owner></D:lockinfo>`;

const haveRedis = hasRedis();
if (!haveRedis) console.warn('[skip] test/redis/users.test.ts: redis-server is not installed (apt-get install redis-server)');

const ADMIN = 'Basic ' + Buffer.from('admin:pw-admin-long').toString('base64');
const TEAM = 'Basic ' + Buffer.from('team:pw-team-long').toString('base64');

describe.skipIf(!haveRedis)('per-user roots share the lock table through Redis', () => {
  let redis: RedisProcess;
  const coordinators: RedisCoordinator[] = [];
  let a: WebdavServer;
  let b: WebdavServer;

  beforeAll(async () => {
    redis = await startRedis();
    const vfs = await MemoryVfs.fromTree({ team: { 'doc.txt': 'd', 'doc2.txt': 'd2', 'x.txt': 'x' }, 'top.txt': 't' });
    const instance = async () => {
      const c = await RedisCoordinator.connect(redis.url, { account: 'memory:users' });
      coordinators.push(c);
      const users = new Users([
        { name: 'admin', password: 'pw-admin-long' },
        { name: 'team', password: 'pw-team-long', root: '/team' },
      ]);
      return serveWebdav(vfs, { users, lockStore: new RedisLockStore(c), propStore: new RedisPropStore(c), cache: false });
    };
    a = await instance();
    b = await instance();
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    for (const c of coordinators) await c.close();
    await redis?.stop();
  });

  const req = (s: WebdavServer, who: string, method: string, path: string, headers: Record<string, string> = {}, body?: string) =>
    fetch(s.url + path.slice(1), { method, headers: { Authorization: who, ...headers }, ...(body !== undefined ? { body } : {}) });
  const lock = (s: WebdavServer, who: string, path: string, depth = 'infinity') =>
    req(s, who, 'LOCK', path, { 'Content-Type': 'application/xml', Depth: depth }, LOCKINFO());
  const tokenOf = (res: Response) => (res.headers.get('lock-token') ?? '').replace(/[<>]/g, '');

  it("admin's lock on /team/doc.txt (instance A) binds team's /doc.txt on instance B, and the reverse", async () => {
    const l = await lock(a, ADMIN, '/team/doc.txt', '0');
    expect(l.status).toBe(200);
    expect((await req(b, TEAM, 'PUT', '/doc.txt', {}, 'team')).status).toBe(423);
    expect((await req(a, TEAM, 'DELETE', '/doc.txt')).status).toBe(423);
    expect((await req(b, ADMIN, 'PUT', '/team/doc.txt', { If: `(<${tokenOf(l)}>)` }, 'admin')).status).toBe(204);
    expect((await req(b, ADMIN, 'UNLOCK', '/team/doc.txt', { 'Lock-Token': `<${tokenOf(l)}>` })).status).toBe(204);
    expect((await req(b, TEAM, 'PUT', '/doc.txt', {}, 'team')).status).toBe(204);

    const t = await lock(b, TEAM, '/doc2.txt', '0');
    expect(t.status).toBe(200);
    expect((await req(a, ADMIN, 'PUT', '/team/doc2.txt', {}, 'admin')).status).toBe(423);
    expect((await lock(a, ADMIN, '/team')).status).toBe(423);
    // The lock as team sees it is on their /doc2.txt; as admin sees it, on /team/doc2.txt.
    const body = '<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><D:lockdiscovery/></D:prop></D:propfind>';
    expect(await (await req(a, TEAM, 'PROPFIND', '/doc2.txt', { Depth: '0' }, body)).text()).toContain('<D:lockroot><D:href>/doc2.txt</D:href></D:lockroot>');
    expect((await req(a, TEAM, 'UNLOCK', '/doc2.txt', { 'Lock-Token': `<${tokenOf(t)}>` })).status).toBe(204);
  });

  it("a depth-infinity lock on /team by admin covers all of team's view, on both instances", async () => {
    const l = await lock(a, ADMIN, '/team');
    expect(l.status).toBe(200);
    for (const s of [a, b]) {
      expect((await req(s, TEAM, 'PUT', '/x.txt', {}, 'x2')).status).toBe(423);
      expect((await req(s, TEAM, 'PUT', '/new.txt', {}, 'n')).status).toBe(423);
      expect((await lock(s, TEAM, '/x.txt', '0')).status).toBe(423);
    }
    // Outside team's root admin's lock binds nothing.
    expect((await req(b, ADMIN, 'PUT', '/top.txt', {}, 't2')).status).toBe(204);
    expect((await req(b, ADMIN, 'UNLOCK', '/team', { 'Lock-Token': `<${tokenOf(l)}>` })).status).toBe(204);
    expect((await req(b, TEAM, 'PUT', '/x.txt', {}, 'x3')).status).toBe(204);
  });

  it("a property admin sets on /team/doc.txt through A is team's /doc.txt property through B, and the reverse", async () => {
    const patch = (v: string) => `<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:z"><D:set><D:prop><Z:k>${v}</Z:k></D:prop></D:set></D:propertyupdate>`;
    const find = '<?xml version="1.0"?><D:propfind xmlns:D="DAV:" xmlns:Z="urn:z"><D:prop><Z:k/></D:prop></D:propfind>';
    expect((await req(a, ADMIN, 'PROPPATCH', '/team/doc.txt', {}, patch('from-admin'))).status).toBe(207);
    expect(await (await req(b, TEAM, 'PROPFIND', '/doc.txt', { Depth: '0' }, find)).text()).toContain('>from-admin</');
    expect((await req(b, TEAM, 'PROPPATCH', '/doc.txt', {}, patch('from-team'))).status).toBe(207);
    expect(await (await req(a, ADMIN, 'PROPFIND', '/team/doc.txt', { Depth: '0' }, find)).text()).toContain('>from-team</');
  });
});
