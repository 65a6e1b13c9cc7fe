/**
 * Users of a shared gateway: htpasswd files written by Debian's `htpasswd` (bcrypt, Apache MD5,
 * SHA-1), re-read when they change; per-user roots that hostile paths cannot leave; read-only users
 * refused on every writing method; hidden system files per user; a trusted auth proxy; and the
 * failed-login throttle still in force.
 */
import { execFileSync } from 'node:child_process';
import { request } from 'node:http';
import { connect } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryVfs } from '../../adapters/memory/index.js';
import { Users, serveWebdav } from '../../mount/webdav.js';
import type { WebdavServer } from '../../mount/webdav.js';
import { BasicAuth } from '../../mount/webdav/auth.js';
import { hasCommand, warnSkip } from './helpers.js';

interface Answer {
  status: number;
  body: string;
  headers: Record<string, string | string[] | undefined>;
}

/** A raw request (paths are sent exactly as given: no URL normalisation of "..", unlike fetch). */
function send(port: number, method: string, path: string, headers: Record<string, string> = {}, body?: string, localAddress?: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, headers, ...(localAddress ? { localAddress } : {}) }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text, headers: res.headers }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function text(stream: AsyncIterable<Buffer>): Promise<string> {
  let out = '';
  for await (const chunk of stream) out += chunk.toString();
  return out;
}

const basic = (user: string, password: string) => ({ Authorization: 'Basic ' + Buffer.from(`${user}:${password}`).toString('base64') });

const hasHtpasswd = hasCommand('htpasswd', '-h');
if (!hasHtpasswd) warnSkip('htpasswd tests', 'htpasswd is not installed (apt-get install apache2-utils)');

describe.skipIf(!hasHtpasswd)('htpasswd files written by htpasswd(1)', () => {
  let dir: string;
  let file: string;
  let server: WebdavServer;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cm-htpasswd-'));
    file = join(dir, 'users');
    execFileSync('htpasswd', ['-c', '-b', '-B', file, 'bcrypt-user', 'pw-bcrypt']);
    execFileSync('htpasswd', ['-b', '-m', file, 'md5-user', 'pw-md5']);
    execFileSync('htpasswd', ['-b', '-s', file, 'sha-user', 'pw-sha']);
    execFileSync('htpasswd', ['-b', '-p', file, 'plain-user', 'pw-plain']);
    const vfs = await MemoryVfs.fromTree({ 'f.txt': 'hello' });
    server = await serveWebdav(vfs, { users: new Users([], file), cache: false });
  });
  afterAll(async () => {
    await server?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('accepts each hash type with the right password only, and never a plain-text entry', async () => {
    for (const [user, pw] of [['bcrypt-user', 'pw-bcrypt'], ['md5-user', 'pw-md5'], ['sha-user', 'pw-sha']] as const) {
      expect((await send(server.port, 'GET', '/f.txt', basic(user, pw))).status, user).toBe(200);
      expect((await send(server.port, 'GET', '/f.txt', basic(user, pw + 'x'))).status, user).toBe(401);
    }
    expect((await send(server.port, 'GET', '/f.txt', basic('plain-user', 'pw-plain'))).status).toBe(401);
  });

  it('re-reads the file when it changes', async () => {
    expect((await send(server.port, 'GET', '/f.txt', basic('bcrypt-user', 'pw-bcrypt'))).status).toBe(200);
    execFileSync('htpasswd', ['-b', '-B', file, 'new-user', 'pw-new']);
    execFileSync('htpasswd', ['-D', file, 'bcrypt-user']);
    // The file is looked at again at most once a second.
    await new Promise((r) => setTimeout(r, 1100));
    expect((await send(server.port, 'GET', '/f.txt', basic('new-user', 'pw-new'))).status).toBe(200);
    expect((await send(server.port, 'GET', '/f.txt', basic('bcrypt-user', 'pw-bcrypt'))).status).toBe(401);
  });

  it('refuses to start on an unreadable file with one line', () => {
    expect(() => new Users([], join(dir, 'missing'))).toThrow(/cannot read --htpasswd .*missing: ENOENT[^\n]*$/);
  });
});

describe('per-user roots, read-only users and hidden system files', () => {
  let vfs: MemoryVfs;
  let server: WebdavServer;
  beforeAll(async () => {
    vfs = await MemoryVfs.fromTree({
      alice: { 'a.txt': 'alice', '.DS_Store': 'junk' },
      bob: { 'secret.txt': 'bob secret' },
      'top.txt': 'top',
    });
    const users = new Users([
      { name: 'alice', password: 'pw-alice-long', root: '/alice', hideSystemFiles: false },
      { name: 'bob', password: 'pw-bob-long', root: '/bob' },
      { name: 'guest', password: 'pw-guest-long', readOnly: true },
    ]);
    server = await serveWebdav(vfs, { users, cache: false });
  });
  afterAll(async () => {
    await server?.close();
  });
  const alice = basic('alice', 'pw-alice-long');
  const guest = basic('guest', 'pw-guest-long');

  it('shows each user their own folder as the root', async () => {
    const list = await send(server.port, 'PROPFIND', '/', { ...alice, Depth: '1' });
    expect(list.status).toBe(207);
    expect(list.body).toContain('a.txt');
    expect(list.body).not.toContain('secret.txt');
    expect(list.body).not.toContain('top.txt');
    // alice asked to see system files.
    expect(list.body).toContain('.DS_Store');
    expect((await send(server.port, 'GET', '/a.txt', alice)).body).toBe('alice');
    // guest sees the whole share, with the share's junk filter (on).
    const all = await send(server.port, 'PROPFIND', '/alice/', { ...guest, Depth: '1' });
    expect(all.body).toContain('a.txt');
    expect(all.body).not.toContain('.DS_Store');
  });

  it('never lets a user reach outside their root', async () => {
    const attempts = [
      ['GET', '/../bob/secret.txt'],
      ['GET', '/%2e%2e/bob/secret.txt'],
      ['GET', '/..%2fbob/secret.txt'],
      ['GET', '/a.txt/../../bob/secret.txt'],
      ['GET', '//bob/secret.txt'],
      ['GET', 'http://127.0.0.1/../bob/secret.txt'],
      ['DELETE', '/../bob/secret.txt'],
      ['PUT', '/%2E%2E/bob/secret.txt'],
    ];
    for (const [method, path] of attempts) {
      const r = await send(server.port, method!, path!, alice, method === 'PUT' ? 'overwritten' : undefined);
      expect(r.body, `${method} ${path}`).not.toContain('bob secret');
      expect(r.status, `${method} ${path}`).toBeGreaterThanOrEqual(400);
    }
    const base = `http://127.0.0.1:${server.port}`;
    const destinations = [`${base}/../bob/stolen.txt`, `${base}/%2e%2e/bob/stolen.txt`, `${base}/..%2Fbob/stolen.txt`, '/../bob/stolen.txt', `${base}/../../top-stolen.txt`];
    for (const dest of destinations) {
      for (const method of ['COPY', 'MOVE']) {
        const r = await send(server.port, method, '/a.txt', { ...alice, Destination: dest });
        expect(r.status, `${method} → ${dest}`).toBeGreaterThanOrEqual(400);
      }
    }
    // Bob's folder is untouched, and nothing landed beside it.
    expect((await vfs.list('/bob')).map((e) => e.name)).toEqual(['secret.txt']);
    expect(await text(await vfs.read('/bob/secret.txt'))).toBe('bob secret');
    expect((await vfs.list('/')).map((e) => e.name).sort()).toEqual(['alice', 'bob', 'top.txt']);
    // A destination inside the root is fine (and lands under /alice).
    const ok = await send(server.port, 'COPY', '/a.txt', { ...alice, Destination: `${base}/copy.txt` });
    expect(ok.status).toBe(201);
    expect((await vfs.stat('/alice/copy.txt')).size).toBe(5);
  });

  it('refuses every writing method for a read-only user', async () => {
    const base = `http://127.0.0.1:${server.port}`;
    const writes: Array<[string, string, Record<string, string>, string?]> = [
      ['PUT', '/top.txt', {}, 'changed'],
      ['PUT', '/new.txt', {}, 'new'],
      ['DELETE', '/top.txt', {}],
      ['MKCOL', '/newdir', {}],
      ['COPY', '/top.txt', { Destination: `${base}/copy.txt` }],
      ['MOVE', '/top.txt', { Destination: `${base}/moved.txt` }],
      ['PROPPATCH', '/top.txt', {}, '<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><z xmlns="urn:z">1</z></D:prop></D:set></D:propertyupdate>'],
      ['LOCK', '/top.txt', {}, '<D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype></D:lockinfo>'],
      ['UNLOCK', '/top.txt', { 'Lock-Token': '<opaquelocktoken:x>' }],
    ];
    for (const [method, path, headers, body] of writes) {
      expect((await send(server.port, method, path, { ...guest, ...headers }, body)).status, method).toBe(403);
    }
    expect((await vfs.list('/')).map((e) => e.name).sort()).toEqual(['alice', 'bob', 'top.txt']);
    expect((await send(server.port, 'GET', '/top.txt', guest)).body).toBe('top');
  });
});

describe('authenticating reverse proxy', () => {
  it('trusts the user header only from the configured proxy address', async () => {
    const vfs = await MemoryVfs.fromTree({ carol: { 'c.txt': 'carol' }, 'top.txt': 'top' });
    const users = new Users([{ name: 'carol', password: 'pw-carol-long', root: '/carol' }]);
    const server = await serveWebdav(vfs, { users, authProxy: { header: 'X-Forwarded-User', from: ['127.0.0.1'] }, cache: false });
    try {
      const viaProxy = await send(server.port, 'GET', '/c.txt', { 'X-Forwarded-User': 'carol' }, undefined, '127.0.0.1');
      expect(viaProxy.status).toBe(200);
      expect(viaProxy.body).toBe('carol');
      // The same header from another address is ignored: Basic credentials are asked for.
      const forged = await send(server.port, 'GET', '/c.txt', { 'X-Forwarded-User': 'carol' }, undefined, '127.0.0.2');
      expect(forged.status).toBe(401);
      // An upload through the proxy that waits for "100 Continue" is invited (and lands under carol's root).
      const invited = await new Promise<string>((resolve, reject) => {
        const socket = connect(server.port, '127.0.0.1', () => {
          socket.write('PUT /up.txt HTTP/1.1\r\nHost: x\r\nX-Forwarded-User: carol\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n');
        });
        let out = '';
        socket.on('data', (d) => {
          out += d.toString();
          if (out.startsWith('HTTP/1.1 100') && !out.includes('\r\n\r\nHTTP')) {
            if (!socket.writableEnded) socket.end('ok');
          }
          if (/\r\n\r\nHTTP\/1\.1 20[14]/.test(out)) resolve(out);
        });
        socket.on('error', reject);
      });
      expect(invited).toMatch(/^HTTP\/1\.1 100/);
      expect((await vfs.stat('/carol/up.txt')).size).toBe(2);
      // A user the list does not know gets the share's own view.
      const other = await send(server.port, 'GET', '/top.txt', { 'X-Forwarded-User': 'dave' }, undefined, '127.0.0.1');
      expect(other.status).toBe(200);
    } finally {
      await server.close();
    }
  });
});

describe('failed logins stay throttled with a user directory', () => {
  it('delays the sixth failure from one address, as with plain users', () => {
    const auth = new BasicAuth(new Users([{ name: 'dave', passwordHash: '{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=' }]));
    for (let i = 0; i < 5; i++) {
      const g = auth.gate('10.0.0.1', 'dave');
      expect('wait' in g && g.wait).toBe(0);
      auth.failed('10.0.0.1', 'dave');
    }
    const g = auth.gate('10.0.0.1', 'dave');
    expect('wait' in g ? g.wait : 0).toBeGreaterThan(0);
  });

  it('checks hashes configured inline', async () => {
    const hash = execFileSync('htpasswd', ['-nbB', 'erin', 'pw-erin']).toString().trim().split(':')[1]!;
    const users = new Users([{ name: 'erin', passwordHash: hash }]);
    expect(await users.verify('erin', 'pw-erin')).toBe(true);
    expect(await users.verify('erin', 'pw-erin!')).toBe(false);
    expect(() => new Users([{ name: 'x', passwordHash: 'plaintext' }])).toThrow(/refused/);
  });
});

