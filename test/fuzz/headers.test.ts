/**
 * Fuzzing the request-header parsers of the WebDAV frontend: If (mount/webdav/if-header.ts), Range
 * (handlers/get.ts), Destination and request URLs (pathFromUrl + segment.ts in mount/webdav),
 * Timeout (locks.ts), Basic auth (auth.ts), and Depth/Overwrite/Destination/If/Timeout together
 * through a real server. Only the documented error may come out, within the per-input time bound.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryVfs } from '../../adapters/memory/index.js';
import { isVfsError } from '../../src/errors.js';
import { BasicAuth } from '../../mount/webdav/auth.js';
import type { ServerState } from '../../mount/webdav/context.js';
import { pathFromUrl } from '../../mount/webdav/href.js';
import { parseRange } from '../../mount/webdav/handlers/get.js';
import { MAX_IF_CONDITIONS, evaluateIf, parseIfHeader } from '../../mount/webdav/if-header.js';
import { parseTimeout } from '../../mount/webdav/locks.js';
import { decodeSegment, encodeSegment } from '../../mount/webdav/segment.js';
import { serveWebdav } from '../../mount/webdav.js';
import type { WebdavServer } from '../../mount/webdav.js';
import type { IncomingMessage } from 'node:http';
import { anyUtf16, bounded, params, repeated, stringFrom } from './harness.js';

const never = () => false;
const einval = (e: unknown) => isVfsError(e, 'EINVAL');
const pathError = (e: unknown) => isVfsError(e, 'EINVAL', 'ENAMETOOLONG');
const KiB = 1024;

describe('If header', () => {
  const alphabet = ['(', ')', '<', '>', '[', ']', ' ', '\t', 'Not', 'not ', 'N', 'o', 't', 'W/', '"', 'urn:uuid:1', 'http://h/a', ',', 'x'];
  it('random headers: a list or EINVAL, in bounded time', () => {
    fc.assert(fc.property(stringFrom(alphabet, 200), (h) => {
      bounded('parseIfHeader', () => parseIfHeader(h), einval, h.length);
    }), params(3000));
  });

  it('any UTF-16 text: a list or EINVAL', () => {
    fc.assert(fc.property(anyUtf16(200), (h) => {
      bounded('parseIfHeader', () => parseIfHeader(h), einval, h.length);
    }), params(500));
  });

  it('well-formed headers parse into what they say', () => {
    const cond = fc.tuple(fc.boolean(), fc.boolean(), fc.stringMatching(/^[a-z0-9:-]{1,20}$/)).map(([not, token, v]) => ({ not, kind: token ? 'token' as const : 'etag' as const, value: token ? v : `"${v}"` }));
    const list = fc.tuple(fc.option(fc.constantFrom('http://h/a', '/b'), { nil: undefined }), fc.array(cond, { minLength: 1, maxLength: 4 }));
    fc.assert(fc.property(fc.array(list, { minLength: 1, maxLength: 8 }), (lists) => {
      const text = lists.map(([tag, cs]) => `${tag ? `<${tag}> ` : ''}(${cs.map((c) => `${c.not ? 'Not ' : ''}${c.kind === 'token' ? `<${c.value}>` : `[${c.value}]`}`).join(' ')})`).join(' ');
      const parsed = bounded('parseIfHeader', () => parseIfHeader(text), never, text.length)!;
      // An untagged list after a tagged one inherits the tag (RFC 4918 §10.4.2): compare conditions only.
      expect(parsed.map((l) => l.conditions)).toEqual(lists.map(([, cs]) => cs));
    }), params(300));
  });

  const pathological: Array<[string, string]> = [
    ['a run of "("', repeated('', '(', 8 * KiB)],
    ['a run of "Not "', repeated('(', 'Not ', 8 * KiB)],
    ['a run of "<"', repeated('(', '<', 8 * KiB)],
    ['whitespace runs', repeated('(', ' ', 8 * KiB, '<a>)')],
    ['unterminated tags', repeated('', '<x', 8 * KiB)],
    ['10 000 lists', repeated('', '(<a>)', 50 * KiB)],
    ['many entity tags', repeated('(', '["e"]', 16 * KiB, ')')],
  ];
  for (const [what, h] of pathological) {
    it(`pathological: ${what}`, () => {
      bounded('parseIfHeader', () => parseIfHeader(h), einval, h.length, 'always');
    });
  }

  it(`more than ${MAX_IF_CONDITIONS} conditions are EINVAL; evaluation stats each path once`, async () => {
    expect(() => parseIfHeader('(<a>)'.repeat(MAX_IF_CONDITIONS + 1))).toThrow(/conditions/);
    const lists = parseIfHeader('(["x"])'.repeat(MAX_IF_CONDITIONS));
    let stats = 0;
    const holds = await evaluateIf(lists, { pathOf: () => '/f', tokenCovers: () => false, etagOf: async () => (stats++, '"y"') });
    expect(holds).toBe(false);
    expect(stats).toBe(1);
  });
});

describe('Range header', () => {
  const alphabet = ['bytes', 'Bytes', '=', '-', ',', ' ', '0', '1', '9', '99999999999999999999', 'x', '\t'];
  it('random headers: a range, null or unsatisfiable; never out of the file', () => {
    fc.assert(fc.property(stringFrom(alphabet, 100), fc.nat(1000), (h, size) => {
      const r = bounded('parseRange', () => parseRange(h, size), never, h.length);
      if (r && r !== 'unsatisfiable') {
        expect(r.start).toBeGreaterThanOrEqual(0);
        expect(r.end).toBeLessThan(size);
        expect(r.start).toBeLessThanOrEqual(r.end);
      }
    }), params(3000));
  });

  for (const [what, h] of [
    ['10 000 ranges', 'bytes=' + Array.from({ length: 10_000 }, (_, i) => `${i}-${i}`).join(',')],
    ['a run of spaces', 'bytes' + ' '.repeat(64 * KiB) + '=0-1'],
    ['a run of digits', 'bytes=' + '1'.repeat(64 * KiB) + '-'],
    ['a run of commas', 'bytes=' + ','.repeat(64 * KiB) + '0-1'],
    ['a run of dashes', 'bytes=' + '-'.repeat(64 * KiB)],
  ] as const) {
    it(`pathological: ${what}`, () => {
      bounded('parseRange', () => parseRange(h, 100), never, h.length, 'always');
    });
  }
});

describe('Destination and request URLs', () => {
  const state = { basePath: '/dav', vfs: new MemoryVfs() } as unknown as ServerState;
  const alphabet = ['%', '%2', '%2F', '%2f', '%00', '%2E', '%ED%A0%80', '%F0%9F%98%80', '%C3', '%E2%82', '/', '//', '.', '..', 'a', 'é', '?', '#', 'http://', 'https://h:80', '@', '/dav', '\u0000'];
  it('random URLs: a path inside the share, undefined, or EINVAL/ENAMETOOLONG', () => {
    fc.assert(fc.property(stringFrom(alphabet, 100), (u) => {
      const p = bounded('pathFromUrl', () => pathFromUrl(state, u), pathError, u.length);
      if (typeof p === 'string') {
        expect(p.startsWith('/')).toBe(true);
        expect(p.includes('\0')).toBe(false);
        expect(p.split('/').some((s) => s === '.' || s === '..')).toBe(false);
      }
    }), params(3000));
  });

  it('every name (any UTF-16) round-trips through its href', () => {
    fc.assert(fc.property(anyUtf16(60).filter((n) => n !== '' && n !== '.' && n !== '..' && !n.includes('/') && !n.includes('\0')), (name) => {
      const href = '/dav/' + encodeSegment(name);
      expect(bounded('pathFromUrl', () => pathFromUrl(state, href), never, href.length)).toBe('/' + name);
    }), params(1000));
  });

  it('random escapes: a string or EINVAL', () => {
    fc.assert(fc.property(fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 40 }), (bytes) => {
      const raw = bytes.map((b) => '%' + b.toString(16).padStart(2, '0')).join('');
      const s = bounded('decodeSegment', () => decodeSegment(raw), einval, raw.length);
      if (s !== undefined) expect(encodeSegment(s).toUpperCase()).toBe(raw.toUpperCase().replace(/%(2D|5F|2E|7E|3[0-9]|4[1-9A-F]|5[0-9A]|6[1-9A-F]|7[0-9A])/g, (m) => String.fromCharCode(parseInt(m.slice(1), 16)).toUpperCase()));
    }), params(1000));
  });

  for (const [what, u] of [
    ['a run of "%"', '/dav/' + '%'.repeat(4 * KiB)],
    ['a run of "%25"', '/dav/' + '%25'.repeat(1300)],
    ['a run of "/"', '/dav' + '/'.repeat(64 * KiB) + 'a'],
    ['a run of "%2E%2E/"', '/dav/' + '%2E%2E/'.repeat(2 * KiB)],
    ['a long scheme', 'a'.repeat(64 * KiB) + '://h/dav/x'],
    ['a long authority', 'http://' + '@'.repeat(64 * KiB) + '/dav/x'],
    ['many segments', '/dav' + '/a'.repeat(2 * KiB)],
  ] as const) {
    it(`pathological: ${what}`, () => {
      bounded('pathFromUrl', () => pathFromUrl(state, u), pathError, u.length, 'always');
    });
  }
});

describe('Timeout and Authorization headers', () => {
  it('Timeout: always a number of seconds within the lock limits', () => {
    fc.assert(fc.property(stringFrom(['Second-', 'second-', 'Infinite', ',', ' ', '0', '9', '99999999999999999999999', '-', 'x'], 100), (h) => {
      const t = bounded('parseTimeout', () => parseTimeout(h), never, h.length)!;
      expect(Number.isFinite(t) && t >= 1).toBe(true);
    }), params(2000));
    for (const h of ['Second-' + '9'.repeat(64 * KiB), ','.repeat(64 * KiB), 'Second-1,'.repeat(8 * KiB)]) bounded('parseTimeout', () => parseTimeout(h), never, h.length, 'always');
  });

  it('Basic auth: a user or undefined, never a throw', () => {
    const auth = new BasicAuth({ alice: 'secret' });
    const check = (h: string) => auth.check({ headers: { authorization: h } } as IncomingMessage);
    const b64 = (s: string) => Buffer.from(s).toString('base64');
    fc.assert(fc.property(fc.oneof(
      stringFrom(['Basic ', 'basic', ' ', 'YWxp', 'Y2U6c2VjcmV0', '=', '==', '+', '/', '\t', 'x'], 60),
      anyUtf16(60).map((s) => 'Basic ' + b64(s)),
      anyUtf16(60).map((s) => 'Basic ' + s),
    ), (h) => {
      const user = bounded('BasicAuth.check', () => check(h), never, h.length);
      expect(user === undefined || user === 'alice').toBe(true);
    }), params(2000));
    expect(check('Basic ' + b64('alice:secret'))).toBe('alice');
    for (const h of ['Basic ' + 'A'.repeat(64 * KiB) + '!', 'Basic ' + ' '.repeat(64 * KiB) + 'x', 'Basic ' + b64(':'.repeat(48 * KiB))]) bounded('BasicAuth.check', () => check(h), never, h.length, 'always');
  });
});

describe('headers through a real server', () => {
  let server: WebdavServer;
  beforeAll(async () => {
    const vfs = await MemoryVfs.fromTree({ 'a.txt': 'hello', d: { 'b.txt': 'b' } });
    server = await serveWebdav(vfs, { cache: false });
  });
  afterAll(() => server?.close());

  const header = (alphabet: string[]) => stringFrom(alphabet, 60).map((s) => s.replace(/[\r\n\0]/g, ''));
  it('random Depth, Overwrite, Destination, If, Timeout and Range: never an undocumented 5xx, the server keeps answering', async () => {
    const methods = fc.constantFrom('PROPFIND', 'COPY', 'MOVE', 'LOCK', 'GET', 'DELETE', 'PROPPATCH');
    const req = fc.record({
      method: methods,
      target: fc.constantFrom('a.txt', 'd/', 'd/b.txt', 'missing', 'd/new'),
      depth: header(['0', '1', 'infinity', 'Infinity', ',noroot', ' ', '2', '-1', 'x']),
      overwrite: header(['T', 'F', 't', 'f', ' ', 'TF', 'x']),
      destination: header(['http://127.0.0.1/', '/', 'd/', 'a.txt', '%', '%2F', '..', 'x', '%ED%A0%80', 'ftp://h/']),
      ifh: header(['(', ')', '<', '>', '[', ']', 'Not ', 'opaquelocktoken:x', '"e"', ' ']),
      timeout: header(['Second-', 'Infinite', '1', ',', ' ']),
      range: header(['bytes=', '0', '-', ',', '9', ' ']),
    });
    await fc.assert(fc.asyncProperty(req, async (r) => {
      const headers: Record<string, string> = { Depth: r.depth, Overwrite: r.overwrite, Timeout: r.timeout, Range: r.range };
      if (r.ifh.trim()) headers.If = r.ifh;
      if (r.destination) headers.Destination = r.destination.startsWith('http') || r.destination.startsWith('/') ? r.destination : server.url + r.destination;
      const res = await fetch(server.url + r.target, { method: r.method, headers });
      await res.arrayBuffer();
      // 502 is the documented answer to a Destination on another server (RFC 4918 §9.8.4).
      const documented = res.status < 500 || (res.status === 502 && (r.method === 'COPY' || r.method === 'MOVE'));
      expect(documented, `${res.status} for ${r.method} ${JSON.stringify(headers)}`).toBe(true);
    }), params(200));
    expect((await fetch(server.url + 'a.txt')).status).toBeLessThan(500);
  });
});
