/**
 * A corpus of hostile WebDAV requests, sent raw (so nothing normalises them on the way) to shares
 * that sit next to a directory they must never reach: a SubtreeVfs of a MemoryVfs (the sibling is
 * another folder of the same MemoryVfs) and a LocalVfs rooted in a temp dir (the sibling is a real
 * directory beside it), each with and without users. Every request must get a 4xx or 5xx (or, for
 * CONNECT, a closed connection), the sibling must stay exactly as it was, and the server must keep
 * serving. With users, the same corpus without or with wrong credentials must change nothing at all.
 * (test/webdav/hostile.test.ts holds the WebDAV owner's focused cases; this is the broad sweep.)
 */
import { createHash } from 'node:crypto';
import { mkdtemp, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalVfs } from '../../adapters/local/index.js';
import { MemoryVfs } from '../../adapters/memory/index.js';
import { serveWebdav } from '../../mount/webdav.js';
import type { WebdavServer } from '../../mount/webdav.js';
import { SubtreeVfs } from '../../src/subtree-vfs.js';
import type { Vfs } from '../../src/vfs.js';
import { collect } from '../helpers.js';
import { rawRequest, statusOf } from '../webdav/helpers.js';

const SECRET = 'SECRET-OUTSIDE-THE-SHARE';
const USER = { name: 'carol', password: 'a long enough password' };

interface Hostile {
  method: string;
  target: string;
  headers?: Record<string, string>;
  body?: string;
  /** Statuses this request may legitimately get besides 4xx/5xx (e.g. an invalid Range is ignored: 200). */
  alsoOk?: number[];
}

/** The corpus. `{port}` in a header is replaced by the server's port. */
function corpus(): Hostile[] {
  const escapes = [
    '/../outside/secret.txt', '/..', '/a/../../outside/secret.txt', '/%2e%2e/outside/secret.txt', '/%2E%2e/outside/secret.txt',
    '/a/%2e%2e/%2e%2e/outside/secret.txt', '/..%2foutside%2fsecret.txt', '/%2e%2e%2foutside%2fsecret.txt', '/.%2e/outside/secret.txt',
    '/a/%2e%2e%2f%2e%2e%2foutside', '/%252e%252e/outside/secret.txt', '/a/%c0%ae%c0%ae/outside/secret.txt', '/%e0%80%ae%e0%80%ae/x',
    '/a%00.txt', '/a/inside.txt%00.jpg', '/%00/../x', '/a/inside.txt#frag', '/a/%2e', '/a/%2e/inside.txt', '/a/.', '/./..',
    '/%', '/%zz/a', '/a/%ff%fe', 'http://evil.example/../outside/secret.txt', 'outside/secret.txt', '*',
  ];
  const out: Hostile[] = [];
  for (const target of escapes) {
    out.push({ method: 'GET', target }, { method: 'PUT', target, body: 'evil' }, { method: 'DELETE', target }, { method: 'MKCOL', target });
    out.push({ method: 'PROPFIND', target, headers: { Depth: '1' } });
    if (target === '*') continue; // as a Destination, "*" is an ordinary name inside the share
    out.push({ method: 'COPY', target: '/a/inside.txt', headers: { Destination: target.startsWith('http') ? target : `http://127.0.0.1:{port}${target.startsWith('/') ? '' : '/'}${target}` } });
    out.push({ method: 'MOVE', target: '/a/inside.txt', headers: { Destination: target } });
  }
  const longName = 'n'.repeat(300);
  const longPath = ('/' + 'd'.repeat(200)).repeat(25);
  out.push(
    // Mixed and back slashes: a name with "\" is an ordinary (odd) name inside the share, never a way out.
    { method: 'GET', target: '/a\\..\\..\\outside\\secret.txt' },
    { method: 'GET', target: '/%5c..%5c..%5coutside%5csecret.txt' },
    { method: 'GET', target: '/a/..\\../outside/secret.txt' },
    // Overlong names and paths.
    { method: 'PUT', target: '/' + longName, body: 'x' },
    { method: 'MKCOL', target: '/' + longName },
    { method: 'PUT', target: longPath + '/f.txt', body: 'x' },
    { method: 'PROPFIND', target: longPath, headers: { Depth: '0' } },
    { method: 'GET', target: '/' + 'a/'.repeat(9000) },
    { method: 'MOVE', target: '/a/inside.txt', headers: { Destination: '/' + longName } },
    // XML: malformed, deeply nested, entity expansion, external entities, not XML at all.
    { method: 'PROPFIND', target: '/', headers: { Depth: '0' }, body: '<D:propfind xmlns:D="DAV:"><D:prop>' },
    { method: 'PROPFIND', target: '/', headers: { Depth: '0' }, body: '<D:propfind xmlns:D="DAV:"><D:prop>' + '<x xmlns="urn:x">'.repeat(50_000) + '</x>'.repeat(50_000) + '</D:prop></D:propfind>' },
    { method: 'PROPFIND', target: '/', headers: { Depth: '0' }, body: billionLaughs() },
    { method: 'PROPPATCH', target: '/a/inside.txt', body: billionLaughs().replace('D:propfind', 'D:propertyupdate') },
    { method: 'PROPFIND', target: '/', headers: { Depth: '0' }, body: '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><D:propfind xmlns:D="DAV:"><D:prop>&e;</D:prop></D:propfind>' },
    { method: 'LOCK', target: '/a/inside.txt', body: '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "http://127.0.0.1:9/">]><D:lockinfo xmlns:D="DAV:">&e;</D:lockinfo>' },
    { method: 'LOCK', target: '/a/inside.txt', body: 'not xml at all' },
    { method: 'PROPPATCH', target: '/a/inside.txt', body: '\u0000\u0001\u0002' },
    { method: 'PROPFIND', target: '/', headers: { Depth: '0', 'Content-Type': 'application/xml' }, body: '<a:propfind xmlns:a="DAV:"><a:prop><b:x xmlns:b=""/></a:prop></a:propfind>' },
    // A huge declared body is refused without reading it.
    { method: 'PROPFIND', target: '/', headers: { Depth: '0', 'Content-Length-Override': String(500 * 1024 * 1024) } },
    // Bad Depth.
    { method: 'PROPFIND', target: '/', headers: { Depth: 'banana' } },
    { method: 'PROPFIND', target: '/', headers: { Depth: '2' } },
    { method: 'COPY', target: '/a', headers: { Destination: '/b', Depth: '1' } },
    { method: 'MOVE', target: '/a', headers: { Destination: '/b', Depth: '0' } },
    { method: 'DELETE', target: '/a', headers: { Depth: '0' } },
    { method: 'LOCK', target: '/a', headers: { Depth: '1' }, body: lockBody() },
    // Bad Destination and Overwrite.
    { method: 'COPY', target: '/a/inside.txt' },
    { method: 'COPY', target: '/a/inside.txt', headers: { Destination: 'not a url' } },
    // (Destinations on another host: their own test below.)
    { method: 'COPY', target: '/a/inside.txt', headers: { Destination: '/a/inside.txt' } },
    { method: 'MOVE', target: '/a', headers: { Destination: '/a/sub/a' } },
    { method: 'MOVE', target: '/', headers: { Destination: '/elsewhere' } },
    { method: 'COPY', target: '/a/inside.txt', headers: { Destination: '/a/inside2.txt', Overwrite: 'maybe' } },
    { method: 'COPY', target: '/a/inside.txt', headers: { Destination: '/a/other.txt', Overwrite: 'F' } },
    // Bad If.
    { method: 'PUT', target: '/a/inside.txt', headers: { If: '(' }, body: 'x' },
    { method: 'PUT', target: '/a/inside.txt', headers: { If: '<' }, body: 'x' },
    { method: 'PUT', target: '/a/inside.txt', headers: { If: '(<opaquelocktoken:nope>)' }, body: 'x' },
    { method: 'PUT', target: '/a/inside.txt', headers: { If: '(' + '<opaquelocktoken:x> '.repeat(500) + ')' }, body: 'x' },
    { method: 'DELETE', target: '/a/inside.txt', headers: { If: '(["not-the-etag"])' } },
    // Bad Range: an unsatisfiable one is 416; a malformed one may be ignored (200 with everything).
    { method: 'GET', target: '/a/inside.txt', headers: { Range: 'bytes=99999999-' } },
    { method: 'GET', target: '/a/inside.txt', headers: { Range: 'bytes=abc' }, alsoOk: [200] },
    { method: 'GET', target: '/a/inside.txt', headers: { Range: 'bytes=5-1' }, alsoOk: [200] },
    { method: 'GET', target: '/a/inside.txt', headers: { Range: 'bytes=' + Array.from({ length: 1000 }, (_, i) => `${i}-${i}`).join(',') }, alsoOk: [200] },
    { method: 'GET', target: '/a/inside.txt', headers: { Range: 'bytes=-99999999999999999999999' }, alsoOk: [200, 206] }, // a suffix longer than the file is all of it,
    // Conditional junk.
    { method: 'PUT', target: '/a/inside.txt', headers: { 'If-Match': '"nope"' }, body: 'x' },
    { method: 'PUT', target: '/a/inside.txt', headers: { 'If-Unmodified-Since': 'Mon, 01 Jan 1990 00:00:00 GMT' }, body: 'x' },
    // Methods it does not know, or must not answer with content.
    { method: 'TRACE', target: '/a/inside.txt' },
    { method: 'PATCH', target: '/a/inside.txt', body: 'x' },
    { method: 'SEARCH', target: '/' },
    { method: 'REPORT', target: '/' },
    { method: 'BREW', target: '/' },
    { method: 'CONNECT', target: '127.0.0.1:22' },
    // Framing and headers.
    { method: 'GET', target: '/a/inside.txt', headers: Object.fromEntries(Array.from({ length: 3000 }, (_, i) => [`X-H${i}`, 'v'])) },
    { method: 'GET', target: '/a/inside.txt', headers: { Cookie: 'c='.padEnd(64 * 1024, 'x') } },
    // Both framings: Node's parser lets Transfer-Encoding win, as RFC 9112 §6.3 says (and closes after).
    { method: 'PUT', target: '/a/framed.txt', headers: { 'Transfer-Encoding': 'chunked', 'Content-Length-Override': '5' }, body: '5\r\nhello\r\n0\r\n\r\n', alsoOk: [201, 204] },
  );
  return out;
}

/** COPY/MOVE whose Destination names another server: RFC 4918 §9.8.4/§9.9.4 says 502, never a local copy. */
function otherHost(): Hostile[] {
  return [
    { method: 'COPY', target: '/a/inside.txt', headers: { Destination: 'http://other.example/a/copied.txt' } },
    { method: 'MOVE', target: '/a/inside.txt', headers: { Destination: 'http://other.example:{port}/a/moved.txt' } },
    { method: 'MOVE', target: '/a/inside.txt', headers: { Destination: 'ftp://127.0.0.1:{port}/a/moved.txt' } },
    { method: 'COPY', target: '/a/inside.txt', headers: { Destination: 'http://127.0.0.2:{port}/a/copied.txt' } },
  ];
}

function billionLaughs(): string {
  let ents = '<!ENTITY l0 "lol">';
  for (let i = 1; i < 10; i++) ents += `<!ENTITY l${i} "${`&l${i - 1};`.repeat(10)}">`;
  return `<?xml version="1.0"?><!DOCTYPE d [${ents}]><D:propfind xmlns:D="DAV:"><D:prop><x xmlns="urn:x">&l9;</x></D:prop></D:propfind>`;
}

function lockBody(): string {
  return '<D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype></D:lockinfo>';
}

/** One raw request; `Content-Length-Override` sets the declared length instead of the real one. */
function send(port: number, h: Hostile, auth?: string): Promise<string> {
  const body = h.body ?? '';
  const lines = [`${h.method} ${h.target} HTTP/1.1`, `Host: 127.0.0.1:${port}`, 'Connection: close'];
  let length: string | undefined = String(Buffer.byteLength(body));
  for (const [k, v] of Object.entries(h.headers ?? {})) {
    if (k === 'Content-Length-Override') length = v;
    else lines.push(`${k}: ${v.replaceAll('{port}', String(port))}`);
  }
  if (h.headers?.['Transfer-Encoding']) length = undefined;
  if (length !== undefined) lines.push(`Content-Length: ${length}`);
  if (auth) lines.push(`Authorization: ${auth}`);
  return rawRequest(port, lines.join('\r\n') + '\r\n\r\n' + body, 1000);
}

const basic = (user: string, password: string) => 'Basic ' + Buffer.from(`${user}:${password}`).toString('base64');

/** A share with a sibling it must never touch; `snapshot` fingerprints share and sibling. */
interface Setup {
  label: string;
  vfs: Vfs;
  /** Fingerprint of the sibling ("outside") directory. */
  outside(): Promise<string>;
  /** Fingerprint of everything, share included. */
  everything(): Promise<string>;
  close(): Promise<void>;
}

async function memorySetup(): Promise<Setup> {
  const mem = await MemoryVfs.fromTree({ share: { a: { 'inside.txt': 'inside', 'other.txt': 'other' } }, outside: { 'secret.txt': SECRET } });
  const print = async (root: string): Promise<string> => {
    const lines: string[] = [];
    const walk = async (dir: string) => {
      for (const e of (await mem.list(dir)).sort((x, y) => x.path.localeCompare(y.path))) {
        lines.push(`${e.type} ${e.path} ${e.type === 'file' ? (await collect(await mem.read(e.path))).toString('base64') : ''}`);
        if (e.type === 'directory') await walk(e.path);
      }
    };
    await walk(root);
    return lines.join('\n');
  };
  return { label: 'SubtreeVfs(MemoryVfs)', vfs: new SubtreeVfs(mem, '/share'), outside: () => print('/outside'), everything: () => print('/'), close: async () => {} };
}

async function localSetup(): Promise<Setup> {
  const base = await mkdtemp(join(tmpdir(), 'hostile-corpus-'));
  await mkdir(join(base, 'share', 'a'), { recursive: true });
  await mkdir(join(base, 'outside'));
  await writeFile(join(base, 'share', 'a', 'inside.txt'), 'inside');
  await writeFile(join(base, 'share', 'a', 'other.txt'), 'other');
  await writeFile(join(base, 'outside', 'secret.txt'), SECRET);
  const print = async (dir: string): Promise<string> => {
    const lines: string[] = [];
    const walk = async (d: string) => {
      for (const e of (await readdir(d, { withFileTypes: true })).sort((x, y) => x.name.localeCompare(y.name))) {
        const p = join(d, e.name);
        lines.push(`${p} ${e.isFile() ? createHash('sha256').update(await readFile(p)).digest('hex') : e.isDirectory() ? 'dir' : 'other'}`);
        if (e.isDirectory()) await walk(p);
      }
    };
    await walk(dir);
    return lines.join('\n');
  };
  return {
    label: 'LocalVfs',
    vfs: new LocalVfs({ root: join(base, 'share') }),
    outside: async () => `${(await readdir(base)).sort().join(',')}\n${await print(join(base, 'outside'))}`,
    everything: () => print(base),
    close: () => rm(base, { recursive: true, force: true }),
  };
}

describe.each([
  ['memory subtree', memorySetup, false],
  ['memory subtree, with users', memorySetup, true],
  ['local dir', localSetup, false],
  ['local dir, with users', localSetup, true],
] as const)('hostile WebDAV corpus: %s', (_label, make, withUsers) => {
  let setup: Setup;
  let server: WebdavServer;
  let outsideBefore: string;
  const auth = withUsers ? basic(USER.name, USER.password) : undefined;

  beforeAll(async () => {
    setup = await make();
    server = await serveWebdav(setup.vfs, withUsers ? { users: [USER] } : {});
    outsideBefore = await setup.outside();
  });
  afterAll(async () => {
    await server?.close();
    await setup?.close();
  });

  it('answers every hostile request with a 4xx or 5xx and never leaks or touches the outside', async () => {
    const failures: string[] = [];
    for (const h of corpus()) {
      const answer = await send(server.port, h, auth);
      const status = statusOf(answer);
      const what = `${h.method} ${h.target.slice(0, 80)} ${JSON.stringify(h.headers ?? {}).slice(0, 120)} → ${status}`;
      const ok = (status >= 400 && status <= 599) || (h.alsoOk ?? []).includes(status) || (status === 0 && h.method === 'CONNECT');
      if (!ok) failures.push(what);
      if (answer.includes(SECRET)) failures.push(`${what} leaked the secret`);
      if (h.method === 'TRACE' && answer.includes('Authorization')) failures.push(`${what} echoed the request`);
    }
    expect(failures).toEqual([]);
    expect(await setup.outside()).toBe(outsideBefore);
  });

  it('still serves, and the share holds what it held', async () => {
    const res = await fetch(server.url + 'a/inside.txt', auth ? { headers: { Authorization: auth } } : {});
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('inside');
    expect(await setup.outside()).toBe(outsideBefore);
  });

  // (Only shares with users have credentials to get wrong: defined for those alone, not skipped.)
  if (withUsers) it('without or with wrong credentials, the corpus changes nothing and reads nothing', async () => {
    const before = await setup.everything();
    const refusals = new Set([400, 401, 404, 413, 414, 431, 501]);
    const failures: string[] = [];
    const list = corpus();
    // No credentials: every request (the whole corpus), refused before it is looked at.
    for (const h of list) {
      const answer = await send(server.port, h);
      const status = statusOf(answer);
      if (!(refusals.has(status) || (status === 0 && h.method === 'CONNECT'))) failures.push(`${h.method} ${h.target.slice(0, 60)} → ${status}`);
      if (answer.includes('inside') || answer.includes(SECRET)) failures.push(`${h.method} ${h.target.slice(0, 60)} leaked content`);
    }
    // Wrong passwords (a few: more would be slowed down by the failed-login throttle).
    const wrongs: Array<[Hostile, string]> = [
      [{ method: 'GET', target: '/a/inside.txt' }, basic(USER.name, 'wrong')],
      [{ method: 'PUT', target: '/a/inside.txt', body: 'evil' }, basic('nobody', USER.password)],
      [{ method: 'DELETE', target: '/a' }, 'Basic !!!'],
      [{ method: 'MOVE', target: '/a', headers: { Destination: '/b' } }, 'Digest username="carol"'],
      [{ method: 'PROPFIND', target: '/', headers: { Depth: '1' } }, basic(USER.name, USER.password.toUpperCase())],
    ];
    for (const [h, wrong] of wrongs) {
      const status = statusOf(await send(server.port, h, wrong));
      if (status !== 401) failures.push(`${h.method} ${h.target} with ${wrong} → ${status}`);
    }
    expect(failures).toEqual([]);
    expect(await setup.everything()).toBe(before);
  });

  // Regression: the Destination's host used to be ignored, so "COPY … Destination: http://other.example/x"
  // copied inside this share.
  it('a COPY or MOVE to another host is refused (502) and changes nothing', async () => {
    const before = await setup.everything();
    for (const h of otherHost()) {
      const status = statusOf(await send(server.port, h, auth));
      expect(status, `${h.method} → ${h.headers!.Destination}`).toBe(502);
    }
    expect(await setup.everything()).toBe(before);
  });
});
