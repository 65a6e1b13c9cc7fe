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
