/**
 * Locks at the edges (issue 16 #9, #13).
 * - A depth-0 lock on a collection protects its membership (RFC 4918 §7.4/§7.5): every request that
 *   adds or removes a member, LOCK on an unmapped URL (which creates one) included, needs the
 *   token; a depth-infinity lock on any ancestor protects the same and more. One table over every
 *   such method, each row on a fresh server: without the token 423 and nothing changed, with it done.
 * - The lock table is indexed: lookups cost work in the depth of the path, not in the number of
 *   locks (counted in lock-table visits, never timed); one client holds a bounded number of locks.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryVfs } from '../../adapters/memory/index.js';
import { serveWebdav } from '../../mount/webdav.js';
import type { WebdavServer } from '../../mount/webdav.js';
import type { Vfs } from '../../src/vfs.js';
import { LockTable, MAX_LOCKS, MAX_LOCKS_PER_CLIENT, MAX_LOCK_OWNER_BYTES, lockClient, lockStats } from '../../mount/webdav/locks.js';
import { collect } from '../helpers.js';

const LOCKINFO = '<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype><D:owner>A</D:owner></D:lockinfo>';

const TREE = {
  dir: { 'member.txt': 'member', sub: { 'deep.txt': 'deep' } },
  other: { 'o.txt': 'outside' },
};

async function snapshot(vfs: Vfs, dir = '/'): Promise<string[]> {
  const out: string[] = [];
  for (const e of await vfs.list(dir)) {
    if (e.type === 'directory') out.push(`${e.path}/`, ...(await snapshot(vfs, e.path)));
    else out.push(`${e.path} ${(await collect(await vfs.read(e.path))).toString()}`);
  }
  return out.sort();
}

interface Row {
  what: string;
  method: string;
  path: string;
  headers?: Record<string, string>;
  body?: string;
  /** Status with the token (the request is allowed then). */
  ok: number;
}

/** Every request that changes the membership of /dir (or, for the infinity rows, of /dir/sub). */
const MEMBERSHIP_ROWS: Row[] = [
  { what: 'PUT of a new member', method: 'PUT', path: '/dir/new.txt', body: 'sneak', ok: 201 },
  { what: 'MKCOL of a new member', method: 'MKCOL', path: '/dir/newcol', ok: 201 },
  { what: 'DELETE of a member file', method: 'DELETE', path: '/dir/member.txt', ok: 204 },
  { what: 'DELETE of a member collection', method: 'DELETE', path: '/dir/sub', ok: 204 },
  { what: 'MOVE of a member out', method: 'MOVE', path: '/dir/member.txt', headers: { Destination: '/other/moved.txt' }, ok: 201 },
  { what: 'MOVE of a resource in', method: 'MOVE', path: '/other/o.txt', headers: { Destination: '/dir/o.txt' }, ok: 201 },
  { what: 'MOVE within the collection (rename)', method: 'MOVE', path: '/dir/member.txt', headers: { Destination: '/dir/renamed.txt' }, ok: 201 },
  { what: 'MOVE over an existing member from outside', method: 'MOVE', path: '/other/o.txt', headers: { Destination: '/dir/member.txt', Overwrite: 'T' }, ok: 204 },
  { what: 'COPY into the collection', method: 'COPY', path: '/other/o.txt', headers: { Destination: '/dir/o.txt' }, ok: 201 },
  { what: 'COPY of a collection into it', method: 'COPY', path: '/other', headers: { Destination: '/dir/other-copy' }, ok: 201 },
  { what: 'LOCK of an unmapped URL (LOCK-null creation)', method: 'LOCK', path: '/dir/sneak.txt', body: LOCKINFO, headers: { 'Content-Type': 'application/xml' }, ok: 201 },
];

/** Requests that do not change /dir's membership: a depth-0 lock on /dir lets them through. */
const NON_MEMBERSHIP_ROWS: Row[] = [
  { what: 'PUT over an existing member', method: 'PUT', path: '/dir/member.txt', body: 'new content', ok: 204 },
  { what: 'COPY of a member out', method: 'COPY', path: '/dir/member.txt', headers: { Destination: '/other/c.txt' }, ok: 201 },
  { what: 'PUT of a new member of a sub-collection', method: 'PUT', path: '/dir/sub/new.txt', body: 'x', ok: 201 },
  { what: 'LOCK of an existing member', method: 'LOCK', path: '/dir/member.txt', body: LOCKINFO, headers: { 'Content-Type': 'application/xml' }, ok: 200 },
];

describe('a collection lock protects its membership against every method (issue 16 #9)', () => {
  let server: WebdavServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  async function setup(lockPath: string, depth: '0' | 'infinity'): Promise<{ vfs: MemoryVfs; token: string; base: string }> {
    const vfs = await MemoryVfs.fromTree(TREE);
    server = await serveWebdav(vfs, { cache: false });
    const base = server.url.replace(/\/$/, '');
    const res = await fetch(base + lockPath, { method: 'LOCK', headers: { Depth: depth, 'Content-Type': 'application/xml' }, body: LOCKINFO });
    expect(res.status).toBe(200);
    await res.arrayBuffer();
    const token = /<([^>]+)>/.exec(res.headers.get('lock-token') ?? '')![1]!;
    return { vfs, token, base };
  }

  async function send(base: string, row: Row, ifHeader?: string): Promise<number> {
    const headers: Record<string, string> = { ...row.headers };
    if (headers.Destination) headers.Destination = base + headers.Destination;
    if (ifHeader) headers.If = ifHeader;
    const res = await fetch(base + row.path, { method: row.method, headers, ...(row.body !== undefined ? { body: row.body } : {}) });
    await res.arrayBuffer();
    return res.status;
  }

  const cases: Array<[string, string, '0' | 'infinity', Row, boolean]> = [];
  for (const row of MEMBERSHIP_ROWS) cases.push([row.what, '/dir', '0', row, true]);
  for (const row of NON_MEMBERSHIP_ROWS) cases.push([row.what, '/dir', '0', row, false]);
  // A depth-infinity lock on /dir protects all of them but the COPY out (which only reads /dir);
  // a new exclusive lock inside it conflicts whatever token is sent.
  for (const row of [...MEMBERSHIP_ROWS, ...NON_MEMBERSHIP_ROWS]) {
    const readsOnly = row.method === 'COPY' && row.path.startsWith('/dir/');
    cases.push([row.what, '/dir', 'infinity', row.method === 'LOCK' ? { ...row, ok: 423 } : row, !readsOnly]);
  }

  it.each(cases)('%s under a lock on %s (Depth %s)', async (_what, lockPath, depth, row, protectedByLock) => {
    const { vfs, token, base } = await setup(lockPath, depth);
    const before = await snapshot(vfs);
    if (protectedByLock) {
      // Another client, no token: refused, and nothing changed.
      expect(await send(base, row)).toBe(423);
      expect(await snapshot(vfs)).toEqual(before);
      // A token of another lock does not help either.
      expect(await send(base, row, '(<opaquelocktoken:00000000-0000-0000-0000-000000000000>)')).toBeGreaterThanOrEqual(412);
      expect(await snapshot(vfs)).toEqual(before);
    }
    // With the lock's token (tagged with the locked collection, RFC 4918 §7.5) the request goes through.
    const tagged = `<${base}${lockPath}> (<${token}>)`;
    expect(await send(base, row, protectedByLock ? tagged : undefined)).toBe(row.ok);
  });
});

describe('the lock table is indexed by path (issue 16 #13)', { timeout: 120_000 }, () => {
  it('lookups cost work in the depth of the path, not in the number of locks', () => {
    const t = new LockTable();
    const n = 10_000;
    for (let i = 0; i < n; i++) t.create(`/dir/f${i}`, 'exclusive', 0, '', 600, undefined, `client-${i}`);
    t.create('/dir', 'shared', 'infinity', '', 600, undefined, 'owner');
    const start = lockStats.visits;
    for (let i = 0; i < n; i++) expect(t.covering(`/dir/f${i}`)).toHaveLength(2);
    const perLookup = (lockStats.visits - start) / n;
    // The old table examined every lock for every lookup (10 001 visits each).
    expect(perLookup).toBeLessThanOrEqual(8);

    const before = lockStats.visits;
    expect(t.protecting('/dir/new.txt', { membership: true, tree: true })).toHaveLength(1);
    expect(t.conflicts('/dir/f7', 'shared', 0)).toBe(true);
    expect(t.conflicts('/other', 'exclusive', 'infinity')).toBe(false);
    expect(t.inside('/dir/f9')).toHaveLength(1);
    expect(lockStats.visits - before).toBeLessThanOrEqual(40);
    // Descendants are found through the index too: the work is what is found, not the table.
    t.create('/elsewhere/a/b', 'exclusive', 0, '', 600, undefined, 'x');
    const d = lockStats.visits;
    expect(t.inside('/elsewhere')).toHaveLength(1);
    expect(lockStats.visits - d).toBeLessThanOrEqual(10);
  });

  it('expired, removed and moved-away locks leave the index', () => {
    const t = new LockTable();
    const a = t.create('/a/b', 'exclusive', 'infinity', '', 600, undefined, 'c');
    const e = t.create('/a/e', 'exclusive', 0, '', 600, undefined, 'c');
    e.expiresAt = Date.now() - 1;
    expect(t.covering('/a/e')).toEqual([]);
    expect(t.covering('/a/b/c').map((l) => l.token)).toEqual([a.token]);
    t.removeInside('/a');
    expect(t.inside('/')).toEqual([]);
    expect(t.size).toBe(0);
    expect(t.heldBy('c')).toBe(0);
  });

  let server: WebdavServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  it('PROPFIND Depth 1 over a folder of locked entries does work linear in the entries', async () => {
    const vfs = await MemoryVfs.fromTree({ dir: {} });
    server = await serveWebdav(vfs, { cache: false });
    const base = server.url + 'dir/';
    const lockAll = async (from: number, to: number) => {
      for (let i = from; i < to; i++) {
        const res = await fetch(`${base}f${i}`, { method: 'LOCK', headers: { 'Content-Type': 'application/xml' }, body: LOCKINFO });
        expect(res.status).toBe(201);
        await res.arrayBuffer();
      }
    };
    const listingWork = async () => {
      const start = lockStats.visits;
      const res = await fetch(base, { method: 'PROPFIND', headers: { Depth: '1' } });
      expect(res.status).toBe(207);
      const xml = await res.text();
      return { work: lockStats.visits - start, locks: xml.split('<D:activelock>').length - 1 };
    };
    await lockAll(0, 100);
    const small = await listingWork();
    expect(small.locks).toBe(100);
    await lockAll(100, 400);
    const large = await listingWork();
    expect(large.locks).toBe(400);
    // 4× the entries, 4× the work (plus slack), not 16×; and a few visits per entry at most.
    expect(large.work / small.work).toBeLessThan(6);
    expect(large.work).toBeLessThanOrEqual(401 * 8);
  });
});

describe('one client holds a bounded number of locks (issue 16 #13)', { timeout: 120_000 }, () => {
  let server: WebdavServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  const lock = async (url: string, auth?: string) => {
    const res = await fetch(url, { method: 'LOCK', headers: { 'Content-Type': 'application/xml', ...(auth ? { Authorization: auth } : {}) }, body: LOCKINFO });
    const text = await res.text();
    return { status: res.status, text, token: /<([^>]+)>/.exec(res.headers.get('lock-token') ?? '')?.[1] };
  };
  const basic = (user: string) => 'Basic ' + Buffer.from(`${user}:pw-${user}`).toString('base64');

  it(`an anonymous client address gets ${MAX_LOCKS_PER_CLIENT} locks, then 507, and a lock again after an UNLOCK`, async () => {
    const vfs = await MemoryVfs.fromTree({ dir: {} });
    server = await serveWebdav(vfs, { cache: false });
    let first: string | undefined;
    for (let i = 0; i < MAX_LOCKS_PER_CLIENT; i++) {
      const r = await lock(`${server.url}dir/f${i}`);
      expect(r.status).toBe(201);
      first ??= r.token;
    }
    const over = await lock(`${server.url}dir/one-too-many`);
    expect(over.status).toBe(507);
    expect(over.text).toMatch(/too many locks/);
    // Refused before anything was created.
    await expect(vfs.stat('/dir/one-too-many')).rejects.toMatchObject({ code: 'ENOENT' });
    const unlock = await fetch(`${server.url}dir/f0`, { method: 'UNLOCK', headers: { 'Lock-Token': `<${first}>` } });
    expect(unlock.status).toBe(204);
    expect((await lock(`${server.url}dir/after-unlock`)).status).toBe(201);
  });

  it('the bound is per user: one user at the bound does not stop another', async () => {
    const vfs = await MemoryVfs.fromTree({ dir: {} });
    server = await serveWebdav(vfs, { cache: false, users: { alice: 'pw-alice', bob: 'pw-bob' } });
    for (let i = 0; i < MAX_LOCKS_PER_CLIENT; i++) expect((await lock(`${server.url}dir/a${i}`, basic('alice'))).status).toBe(201);
    expect((await lock(`${server.url}dir/a-more`, basic('alice'))).status).toBe(507);
    expect((await lock(`${server.url}dir/b0`, basic('bob'))).status).toBe(201);
  });

  it('the whole table is bounded too', () => {
    const t = new LockTable();
    for (let i = 0; i < MAX_LOCKS; i++) {
      expect(t.admit(`c${i % 50}`)).toBe('ok');
      t.create(`/f${i}`, 'shared', 0, '', 600, undefined, `c${i % 50}`);
    }
    expect(t.admit('newcomer')).toBe('table');
  });
});

describe('lockClient', () => {
  it('charges users by name, IPv4 by address, IPv6 by /64', () => {
    expect(lockClient('alice', '10.0.0.1')).toBe('user:alice');
    expect(lockClient(undefined, '10.0.0.1')).toBe('ip:10.0.0.1');
    expect(lockClient(undefined, '::ffff:10.0.0.1')).toBe('ip:10.0.0.1');
    const a = lockClient(undefined, '2001:db8:1:2:aaaa::1');
    expect(a).toBe('ip6:2001:db8:1:2::/64');
    expect(lockClient(undefined, '2001:0db8:0001:0002:ffff:ffff:ffff:ffff')).toBe(a);
    expect(lockClient(undefined, '2001:db8:1:3::1')).not.toBe(a);
    expect(lockClient(undefined, '::1')).toBe('ip6:0:0:0:0::/64');
    expect(lockClient(undefined, 'fe80::1%eth0')).toBe('ip6:fe80:0:0:0::/64');
  });
});

describe('a lock owner is bounded (the table holds it for the lock lifetime)', () => {
  let server: WebdavServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  const withOwner = (owner: string) =>
    `<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype><D:owner>${owner}</D:owner></D:lockinfo>`;

  it(`an <owner> over ${MAX_LOCK_OWNER_BYTES} bytes is refused with 413 and nothing is created`, async () => {
    const vfs = await MemoryVfs.fromTree({ dir: {} });
    server = await serveWebdav(vfs, { cache: false });
    const big = await fetch(`${server.url}dir/big.txt`, { method: 'LOCK', headers: { 'Content-Type': 'application/xml' }, body: withOwner('x'.repeat(MAX_LOCK_OWNER_BYTES + 1)) });
    expect(big.status).toBe(413);
    await big.arrayBuffer();
    await expect(vfs.stat('/dir/big.txt')).rejects.toMatchObject({ code: 'ENOENT' });
    const ok = await fetch(`${server.url}dir/ok.txt`, { method: 'LOCK', headers: { 'Content-Type': 'application/xml' }, body: withOwner(`<D:href>${'y'.repeat(MAX_LOCK_OWNER_BYTES - 100)}</D:href>`) });
    expect(ok.status).toBe(201);
    expect(await ok.text()).toContain('y'.repeat(100));
  });
});
