/**
 * Hostile requests against a share of a real directory (LocalVfs): path escapes in every encoding,
 * NUL bytes, malformed / deeply nested / entity-expanding XML, multi-property PROPPATCH, untagged
 * If lists, huge headers, broken framing and wrong credentials. Each must get a 4xx, nothing outside
 * the share may be read or written, and the process must keep serving.
 */
import { mkdtemp, mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalVfs } from '../../adapters/local/index.js';
import { MemoryVfs } from '../../adapters/memory/index.js';
import { serveWebdav } from '../../mount/webdav.js';
import type { WebdavServer } from '../../mount/webdav.js';
import { rawRequest, statusOf } from './helpers.js';

const SECRET = 'top secret outside the share';

describe('hostile requests', () => {
  let base: string;
  let share: string;
  let server: WebdavServer;
  let url: string;

  beforeAll(async () => {
    base = await mkdtemp(join(tmpdir(), 'webdav-hostile-'));
    share = join(base, 'share');
    await mkdir(join(share, 'a'), { recursive: true });
    await writeFile(join(share, 'a', 'inside.txt'), 'inside');
    await writeFile(join(base, 'secret.txt'), SECRET);
    server = await serveWebdav(new LocalVfs({ root: share }), { cache: false });
    url = server.url;
  });
  afterAll(async () => {
    await server?.close();
    await rm(base, { recursive: true, force: true });
  });

  const raw = (method: string, target: string, headers: Record<string, string> = {}, body = '') => {
    const lines = [`${method} ${target} HTTP/1.1`, `Host: 127.0.0.1:${server.port}`, 'Connection: close'];
    for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${v}`);
    lines.push(`Content-Length: ${Buffer.byteLength(body)}`);
    return rawRequest(server.port, lines.join('\r\n') + '\r\n\r\n' + body);
  };

  it('never reads outside the share, in any encoding', async () => {
    const targets = [
      '/../secret.txt', '/a/../../secret.txt', '/%2e%2e/secret.txt', '/%2E%2E/secret.txt', '/a/%2e%2e/%2e%2e/secret.txt',
      '/..%2fsecret.txt', '/%2e%2e%2fsecret.txt', '/a/..%5c..%5csecret.txt', '/%252e%252e/secret.txt', '/.%2e/secret.txt',
      'http://evil.example/../secret.txt',
    ];
    for (const t of targets) {
      const answer = await raw('GET', t);
      const status = statusOf(answer);
      expect(status, `GET ${t}`).toBeGreaterThanOrEqual(400);
      expect(status, `GET ${t}`).toBeLessThan(500);
      expect(answer, `GET ${t}`).not.toContain(SECRET);
    }
  });

  it('never writes outside the share', async () => {
    for (const t of ['/../evil.txt', '/%2e%2e/evil.txt', '/a/..%2f..%2fevil.txt', '/%2e%2e%2fevil.txt']) {
      const status = statusOf(await raw('PUT', t, {}, 'evil'));
      expect(status, `PUT ${t}`).toBeGreaterThanOrEqual(400);
      expect(status, `PUT ${t}`).toBeLessThan(500);
    }
    for (const dest of [`http://127.0.0.1:${server.port}/../evil.txt`, `http://127.0.0.1:${server.port}/%2e%2e/evil.txt`, '/%2e%2e%2fevil.txt']) {
      const status = statusOf(await raw('COPY', '/a/inside.txt', { Destination: dest }));
      expect(status, `COPY → ${dest}`).toBeGreaterThanOrEqual(400);
      expect(status, `COPY → ${dest}`).toBeLessThan(500);
    }
    expect((await readdir(base)).sort()).toEqual(['secret.txt', 'share']);
    expect(await readFile(join(base, 'secret.txt'), 'utf8')).toBe(SECRET);
  });

  it('refuses encoded NUL bytes and fragments', async () => {
    for (const t of ['/a%00.txt', '/a/inside.txt%00.jpg', '/%00', '/a/inside.txt#frag']) {
      expect(statusOf(await raw('GET', t)), `GET ${t}`).toBe(400);
    }
    expect(statusOf(await raw('PUT', '/x%00y.txt', {}, 'data'))).toBe(400);
  });

  it('refuses malformed, deeply nested and entity-expanding XML with 400', async () => {
    const propfind = (body: string) => fetch(url, { method: 'PROPFIND', headers: { Depth: '0' }, body });
    expect((await propfind('<foo>')).status).toBe(400);
    expect((await propfind('<D:propfind xmlns:D="DAV:"><D:prop><x:y/></D:prop></D:propfind>')).status).toBe(400);
    const deep = '<D:propfind xmlns:D="DAV:"><D:prop>' + '<a xmlns="urn:x">'.repeat(10_000) + '</a>'.repeat(10_000) + '</D:prop></D:propfind>';
    expect((await propfind(deep)).status).toBe(400);
    const laughs =
      '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">' +
      '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]><D:propfind xmlns:D="DAV:"><D:prop><x xmlns="urn:x">&lol3;</x></D:prop></D:propfind>';
    expect((await propfind(laughs)).status).toBe(400);
    const external = '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><D:propfind xmlns:D="DAV:"><D:prop>&e;</D:prop></D:propfind>';
    const ext = await propfind(external);
    expect(ext.status).toBe(400);
    expect(await ext.text()).not.toContain('root:');
    // An oversized XML body is refused without being read into memory.
    const huge = await fetch(url, { method: 'PROPPATCH', body: 'x'.repeat(3 * 1024 * 1024) });
    expect(huge.status).toBe(413);
    const proppatchEntities = await fetch(url + 'a/inside.txt', {
      method: 'PROPPATCH',
      body: '<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaa">]><D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><z xmlns="urn:z">&a;</z></D:prop></D:set></D:propertyupdate>',
    });
    expect(proppatchEntities.status).toBe(400);
  });

  it('handles a PROPPATCH setting and removing several properties (webdav-server crashed here)', async () => {
    const body =
      '<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:z">' +
      '<D:set><D:prop><Z:one>1</Z:one><Z:two>2</Z:two></D:prop></D:set>' +
      '<D:set><D:prop><Z:three>3</Z:three></D:prop></D:set>' +
      '<D:remove><D:prop><Z:two/></D:prop></D:remove>' +
      '<D:remove><D:prop><Z:never-set/></D:prop></D:remove></D:propertyupdate>';
    const res = await fetch(url + 'a/inside.txt', { method: 'PROPPATCH', body });
    expect(res.status).toBe(207);
    const find = await fetch(url + 'a/inside.txt', {
      method: 'PROPFIND',
      headers: { Depth: '0' },
      body: '<D:propfind xmlns:D="DAV:" xmlns:Z="urn:z"><D:prop><Z:one/><Z:two/><Z:three/></D:prop></D:propfind>',
    });
    const xml = await find.text();
    expect(xml).toMatch(/<one xmlns="urn:z">1<\/one>/);
    expect(xml).toMatch(/<three xmlns="urn:z">3<\/three>/);
    expect(xml).toMatch(/<D:propstat><D:prop><two xmlns="urn:z"\/><\/D:prop><D:status>HTTP\/1.1 404/);
    // A DAV: property is protected: 403 for it, 424 for the rest, nothing applied.
    const protectedRes = await fetch(url + 'a/inside.txt', {
      method: 'PROPPATCH',
      body: '<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><D:getetag>x</D:getetag><q xmlns="urn:z">q</q></D:prop></D:set></D:propertyupdate>',
    });
    const text = await protectedRes.text();
    expect(protectedRes.status).toBe(207);
    expect(text).toContain('403 Forbidden');
    expect(text).toContain('424 Failed Dependency');
  });

  it('evaluates untagged and tagged If lists (webdav-server crashed on untagged ones)', async () => {
    const put = (ifHeader: string) => fetch(url + 'a/inside.txt', { method: 'PUT', headers: { If: ifHeader }, body: 'changed' });
    expect((await put('(<opaquelocktoken:bogus>)')).status).toBe(412);
    expect((await put('(<DAV:no-lock>)')).status).toBe(412);
    expect(await readFile(join(share, 'a', 'inside.txt'), 'utf8')).toBe('inside');
    expect((await put('(garbage')).status).toBe(400);
    expect((await put('<http://x/y')).status).toBe(400);
    expect((await put('(Not <DAV:no-lock>)')).status).toBe(204);
    const etag = (await fetch(url + 'a/inside.txt', { method: 'HEAD' })).headers.get('etag')!;
    expect((await put(`<${url}a/inside.txt> ([${etag}])`)).status).toBe(204);
    expect((await put(`([${etag}])`)).status).toBe(412); // the etag changed with the last PUT
    await writeFile(join(share, 'a', 'inside.txt'), 'inside');
  });

  it('answers huge headers with 431 and broken framing with 400', async () => {
    const big = await raw('GET', '/a/inside.txt', { 'X-Big': 'x'.repeat(100 * 1024) });
    expect(statusOf(big)).toBe(431);
    const broken = await rawRequest(server.port, 'PUT /a/new.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nZZZ\r\nabc\r\n');
    expect(statusOf(broken)).toBe(400);
    const garbage = await rawRequest(server.port, 'NOT HTTP AT ALL\r\n\r\n');
    expect(statusOf(garbage)).toBe(400);
    expect(statusOf(await raw('BREW', '/a/inside.txt'))).toBe(400); // unknown to the HTTP parser
    expect(statusOf(await raw('REPORT', '/a/inside.txt'))).toBe(501);
    expect(statusOf(await raw('POST', '/a/inside.txt', {}, 'x'))).toBe(501);
    expect(statusOf(await raw('GET', '/' + 'a'.repeat(20_000)))).toBeGreaterThanOrEqual(400);
  });

  it('keeps serving and the share is intact', async () => {
    const res = await fetch(url + 'a/inside.txt');
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('inside');
  });
});

describe('authentication', () => {
  it('answers wrong or missing credentials with 401 and the right ones with 200', async () => {
    const vfs = await MemoryVfs.fromTree({ 'f.txt': 'hello' });
    const server = await serveWebdav(vfs, { users: { alice: 'correct horse battery' }, cache: false });
    try {
      const basic = (u: string, p: string) => 'Basic ' + Buffer.from(`${u}:${p}`).toString('base64');
      const none = await fetch(server.url + 'f.txt');
      expect(none.status).toBe(401);
      expect(none.headers.get('www-authenticate')).toMatch(/^Basic realm=/);
      for (const auth of [basic('alice', 'wrong'), basic('mallory', 'correct horse battery'), 'Basic !!!', 'Bearer abc']) {
        const r = await fetch(server.url + 'f.txt', { headers: { Authorization: auth } });
        expect(r.status, auth).toBe(401);
        expect(await r.text()).not.toContain('hello');
      }
      const put = await fetch(server.url + 'g.txt', { method: 'PUT', headers: { Authorization: basic('alice', 'nope') }, body: 'x' });
      expect(put.status).toBe(401);
      await expect(vfs.stat('/g.txt')).rejects.toMatchObject({ code: 'ENOENT' });
      // Expect: 100-continue with bad credentials: refused before the body is invited.
      const answer = await rawRequest(server.port, `PUT /big.bin HTTP/1.1\r\nHost: x\r\nAuthorization: ${basic('alice', 'bad')}\r\nContent-Length: 100000000\r\nExpect: 100-continue\r\n\r\n`);
      expect(statusOf(answer)).toBe(401);
      expect(answer).not.toContain('100 Continue');
      const good = await rawRequest(server.port, `PUT /small.bin HTTP/1.1\r\nHost: x\r\nAuthorization: ${basic('alice', 'correct horse battery')}\r\nContent-Length: 2\r\nExpect: 100-continue\r\nConnection: close\r\n\r\nok`);
      expect(good).toMatch(/^HTTP\/1\.1 100 Continue/);
      expect(good).toContain('201 Created');
      const ok = await fetch(server.url + 'f.txt', { headers: { Authorization: basic('alice', 'correct horse battery') } });
      expect(ok.status).toBe(200);
      expect(await ok.text()).toBe('hello');
    } finally {
      await server.close();
    }
  });

  it("a lock token is no use to another user", async () => {
    const vfs = await MemoryVfs.fromTree({ 'shared.txt': 'v1' });
    const server = await serveWebdav(vfs, { users: { alice: 'alice-password', bob: 'bob-password' }, cache: false });
    try {
      const as = (u: string) => ({ Authorization: 'Basic ' + Buffer.from(`${u}:${u}-password`).toString('base64') });
      const lock = await fetch(server.url + 'shared.txt', {
        method: 'LOCK',
        headers: as('alice'),
        body: '<D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype></D:lockinfo>',
      });
      expect(lock.status).toBe(200);
      const token = lock.headers.get('lock-token')!;
      const bobPut = await fetch(server.url + 'shared.txt', { method: 'PUT', headers: { ...as('bob'), If: `(${token})` }, body: 'bob' });
      expect(bobPut.status).toBe(423);
      expect((await fetch(server.url + 'shared.txt', { method: 'UNLOCK', headers: { ...as('bob'), 'Lock-Token': token } })).status).toBe(403);
      const alicePut = await fetch(server.url + 'shared.txt', { method: 'PUT', headers: { ...as('alice'), If: `(${token})` }, body: 'alice' });
      expect(alicePut.status).toBe(204);
      expect((await fetch(server.url + 'shared.txt', { method: 'UNLOCK', headers: { ...as('alice'), 'Lock-Token': token } })).status).toBe(204);
    } finally {
      await server.close();
    }
  });

  it('slows down repeated failed logins from one address', async () => {
    const server = await serveWebdav(new MemoryVfs(), { users: [{ name: 'bob', password: 'secret-password' }], cache: false });
    try {
      const wrong = { Authorization: 'Basic ' + Buffer.from('bob:guess').toString('base64') };
      for (let i = 0; i < 5; i++) expect((await fetch(server.url, { headers: wrong })).status).toBe(401);
      const t0 = Date.now();
      expect((await fetch(server.url, { headers: wrong })).status).toBe(401);
      expect((await fetch(server.url, { headers: wrong })).status).toBe(401);
      expect(Date.now() - t0).toBeGreaterThanOrEqual(700); // 250 ms + 500 ms of throttling
    } finally {
      await server.close();
    }
  });
});
