/**
 * Dead properties shared through a real redis-server (issue 21 part 3): PROPPATCH on instance A is
 * visible on B at once; MOVE, COPY and DELETE on either carry or drop them; the limits hold across
 * instances (all or nothing per PROPPATCH).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryVfs } from '../../adapters/memory/index.js';
import { serveWebdav } from '../../mount/webdav.js';
import type { WebdavServer } from '../../mount/webdav.js';
import { RedisPropStore } from '../../mount/webdav/redis-props.js';
import type { RedisPropLimits } from '../../mount/webdav/redis-props.js';
import { RedisCoordinator } from '../../src/coordinator/redis.js';
import { hasRedis, startRedis } from './server.js';
import type { RedisProcess } from './server.js';

const haveRedis = hasRedis();
if (!haveRedis) console.warn('[skip] test/redis/props.test.ts: redis-server is not installed (apt-get install redis-server)');

const patch = (props: Record<string, string>, remove: string[] = []) =>
  `<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:z">` +
  (Object.keys(props).length ? `<D:set><D:prop>${Object.entries(props).map(([k, v]) => `<Z:${k}>${v}</Z:${k}>`).join('')}</D:prop></D:set>` : '') +
  (remove.length ? `<D:remove><D:prop>${remove.map((k) => `<Z:${k}/>`).join('')}</D:prop></D:remove>` : '') +
  `</D:propertyupdate>`;

describe.skipIf(!haveRedis)('dead properties shared by two instances through Redis', () => {
  let redis: RedisProcess;
  const coordinators: RedisCoordinator[] = [];
  const servers: WebdavServer[] = [];

  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    for (const s of servers) await s.close();
    for (const c of coordinators) await c.close();
    await redis?.stop();
  });

  async function pair(account: string, limits?: RedisPropLimits): Promise<[WebdavServer, WebdavServer]> {
    const vfs = await MemoryVfs.fromTree({ 'f.txt': 'f', dir: { 'a.txt': 'a', sub: { 'b.txt': 'b' } } });
    const make = async () => {
      const c = await RedisCoordinator.connect(redis.url, { account });
      coordinators.push(c);
      const s = await serveWebdav(vfs, { propStore: new RedisPropStore(c, limits), cache: false });
      servers.push(s);
      return s;
    };
    return [await make(), await make()];
  }

  const req = (s: WebdavServer, method: string, path: string, headers: Record<string, string> = {}, body?: string) =>
    fetch(s.url + path.slice(1), { method, headers, ...(body !== undefined ? { body } : {}) });
  const propOf = async (s: WebdavServer, path: string, name: string) => {
    const res = await req(s, 'PROPFIND', path, { Depth: '0' }, `<?xml version="1.0"?><D:propfind xmlns:D="DAV:" xmlns:Z="urn:z"><D:prop><Z:${name}/></D:prop></D:propfind>`);
    const text = await res.text();
    const m = new RegExp(`<${name} xmlns="urn:z">([^<]*)</${name}>`).exec(text);
    return m ? m[1] : undefined;
  };

  it('PROPPATCH on A is visible on B; MOVE on B carries the subtree, COPY copies, DELETE drops', async () => {
    const [a, b] = await pair('memory:props');
    expect((await req(a, 'PROPPATCH', '/f.txt', {}, patch({ color: 'red' }))).status).toBe(207);
    expect(await propOf(b, '/f.txt', 'color')).toBe('red');
    expect((await req(a, 'PROPPATCH', '/dir/sub/b.txt', {}, patch({ tag: 'deep' }))).status).toBe(207);
    expect((await req(b, 'MOVE', '/dir', { Destination: b.url + 'moved' })).status).toBe(201);
    expect(await propOf(a, '/moved/sub/b.txt', 'tag')).toBe('deep');
    expect((await req(b, 'COPY', '/moved', { Destination: b.url + 'copy' })).status).toBe(201);
    expect(await propOf(a, '/copy/sub/b.txt', 'tag')).toBe('deep');
    expect((await req(a, 'DELETE', '/copy')).status).toBe(204);
    expect((await req(a, 'MKCOL', '/copy')).status).toBe(201);
    expect((await req(b, 'PUT', '/copy/x.txt', {}, 'x')).status).toBe(201);
    expect(await propOf(b, '/copy/sub/b.txt', 'tag')).toBeUndefined();
    expect(await propOf(b, '/moved/sub/b.txt', 'tag')).toBe('deep');
    // Removal on B is seen on A.
    expect((await req(b, 'PROPPATCH', '/f.txt', {}, patch({}, ['color']))).status).toBe(207);
    expect(await propOf(a, '/f.txt', 'color')).toBeUndefined();
  });

  it('the per-resource limit holds across instances, all or nothing per PROPPATCH', async () => {
    const [a, b] = await pair('memory:props-limit', { perResource: 60, totalBytes: 1000, count: 100 });
    expect((await req(a, 'PROPPATCH', '/f.txt', {}, patch({ one: 'x'.repeat(30) }))).status).toBe(207);
    const res = await req(b, 'PROPPATCH', '/f.txt', {}, patch({ small: 'y', two: 'z'.repeat(30) }));
    const text = await res.text();
    expect(text).toContain('507');
    expect(text).toContain('424');
    expect(await propOf(a, '/f.txt', 'small')).toBeUndefined();
    expect(await propOf(a, '/f.txt', 'one')).toBe('x'.repeat(30));
  });

  it('Redis lost: PROPPATCH and PROPFIND answer 503, nothing half-applied', async () => {
    const [a] = await pair('memory:props-down');
    await redis.stop();
    try {
      expect((await req(a, 'PROPPATCH', '/f.txt', {}, patch({ k: 'v' }))).status).toBe(503);
    } finally {
      await redis.restart();
    }
  });
});
