/**
 * The protocol pieces on their own: the If header grammar and evaluation, the safe XML parser and
 * its namespace-preserving serialisation, byte ranges, lock timeouts and expiry, junk patterns and
 * the URL → path mapping that keeps requests inside the share.
 */
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/log.js';
import { MemoryVfs } from '../../adapters/memory/index.js';
import type { ServerState } from '../../mount/webdav/context.js';
import { pathFromUrl } from '../../mount/webdav/href.js';
import { parseRange } from '../../mount/webdav/handlers/get.js';
import { evaluateIf, parseIfHeader, submittedTokens } from '../../mount/webdav/if-header.js';
import { junkMatcher } from '../../mount/webdav/junk.js';
import { LockTable, MAX_LOCK_SECONDS, parseTimeout } from '../../mount/webdav/locks.js';
import { PropStore } from '../../mount/webdav/props.js';
import { parseXml, serializeNodes } from '../../mount/webdav/xml.js';

describe('If header', () => {
  it('parses tagged and untagged lists, Not, tokens and etags', () => {
    const lists = parseIfHeader('<http://h/a> (<opaquelocktoken:1> ["e1"]) (Not <DAV:no-lock>) ([W/"e2"])');
    expect(lists).toEqual([
      { tag: 'http://h/a', conditions: [{ not: false, kind: 'token', value: 'opaquelocktoken:1' }, { not: false, kind: 'etag', value: '"e1"' }] },
      { tag: 'http://h/a', conditions: [{ not: true, kind: 'token', value: 'DAV:no-lock' }] },
      { tag: 'http://h/a', conditions: [{ not: false, kind: 'etag', value: 'W/"e2"' }] },
    ]);
    expect([...submittedTokens(lists)]).toEqual(['opaquelocktoken:1']);
    for (const bad of ['', '(', '()', '(<a>', 'garbage', '<http://x>', '(Not)', '([e)']) expect(() => parseIfHeader(bad), bad).toThrow(/If header/);
  });

  it('holds when any list holds, a list when all its conditions do', async () => {
    const resolver = {
      pathOf: (tag: string | undefined) => (tag === undefined ? '/f' : tag === 'http://h/g' ? '/g' : undefined),
      tokenCovers: (token: string, path: string) => token === 't1' && path === '/f',
      etagOf: async (path: string) => (path === '/f' ? '"abc"' : undefined),
    };
    const holds = (h: string) => evaluateIf(parseIfHeader(h), resolver);
    expect(await holds('(<t1>)')).toBe(true);
    expect(await holds('(<t2>)')).toBe(false);
    expect(await holds('(<t1> ["abc"])')).toBe(true);
    expect(await holds('(<t1> ["abd"])')).toBe(false);
    expect(await holds('(<t2>) (Not <t2>)')).toBe(true);
    expect(await holds('<http://h/g> (<t1>)')).toBe(false);
    expect(await holds('<http://other/> (Not <x>)')).toBe(false);
    expect(await holds('([W/"abc"])')).toBe(true);
  });
});

describe('safe XML', () => {
  it('resolves namespaces, decodes entities and character references', () => {
    const doc = parseXml(Buffer.from('<?xml version="1.0"?><a:root xmlns:a="urn:a" xmlns="urn:d"><child x="1&amp;2">t &lt; &#x1F600; &#65;</child><n xmlns="">z</n></a:root>'))!;
    expect(doc).toMatchObject({ ns: 'urn:a', name: 'root' });
    const [child, n] = doc.children.filter((c) => typeof c !== 'string') as Array<{ ns: string; name: string; attrs: unknown[]; children: unknown[] }>;
    expect(child).toMatchObject({ ns: 'urn:d', name: 'child', attrs: [{ ns: '', name: 'x', value: '1&2' }], children: ['t < 😀 A'] });
    expect(n).toMatchObject({ ns: '', name: 'n' });
    expect(serializeNodes(doc.children)).toBe('<child xmlns="urn:d" x="1&amp;2">t &lt; 😀 A</child><n xmlns="">z</n>');
  });

  it('refuses DOCTYPE, entities, unbound or empty prefixes, bad nesting and depth', () => {
    const bad = [
      '<!DOCTYPE x><x/>', '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "v">]><x>&e;</x>', '<x>&unknown;</x>', '<a:x/>',
      '<x xmlns:p=""><p:y/></x>', '<x><y></x>', '<x>&#0;</x>', '<a>' + '<b>'.repeat(100) + '</b>'.repeat(100) + '</a>',
    ];
    for (const b of bad) expect(() => parseXml(Buffer.from(b)), b).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    expect(parseXml(Buffer.from('  \n'))).toBeNull();
  });
});

describe('byte ranges', () => {
  it('parses single ranges and refuses what cannot be served', () => {
    expect(parseRange('bytes=0-9', 100)).toEqual({ start: 0, end: 9 });
    expect(parseRange('bytes=90-', 100)).toEqual({ start: 90, end: 99 });
    expect(parseRange('bytes=-10', 100)).toEqual({ start: 90, end: 99 });
    expect(parseRange('bytes=-500', 100)).toEqual({ start: 0, end: 99 });
    expect(parseRange('bytes=50-5000', 100)).toEqual({ start: 50, end: 99 });
    expect(parseRange('bytes=100-', 100)).toBe('unsatisfiable');
    expect(parseRange('bytes=-0', 100)).toBe('unsatisfiable');
    expect(parseRange('bytes=0-1,5-6', 100)).toBeNull();
    expect(parseRange('bytes=9-1', 100)).toBeNull();
    expect(parseRange('items=0-1', 100)).toBeNull();
    expect(parseRange('bytes=0-0', 0)).toBe('unsatisfiable');
  });
});

describe('locks', () => {
  it('parses timeouts and caps them', () => {
    expect(parseTimeout('Second-600')).toBe(600);
    expect(parseTimeout('Infinite, Second-4100000000')).toBe(MAX_LOCK_SECONDS);
    expect(parseTimeout('Second-99999999999')).toBe(MAX_LOCK_SECONDS);
    expect(parseTimeout(undefined)).toBe(3600);
  });

  it('covers descendants with depth infinity, conflicts by scope, and expires', async () => {
    const t = new LockTable();
    const dirLock = t.create('/d', 'exclusive', 'infinity', '', 60);
    expect(t.covering('/d/x/y').map((l) => l.token)).toEqual([dirLock.token]);
    expect(t.covering('/dx')).toEqual([]);
    expect(t.conflicts('/d/x', 'shared', 0)).toBe(true);
    const shared = t.create('/s', 'shared', 0, '', 60);
    expect(t.conflicts('/s', 'shared', 0)).toBe(false);
    expect(t.conflicts('/s', 'exclusive', 0)).toBe(true);
    expect(t.conflicts('/', 'exclusive', 'infinity')).toBe(true);
    expect(t.protecting('/s/new', { membership: true }).map((l) => l.token)).toEqual([shared.token]);
    const short = t.create('/e', 'exclusive', 0, '', 1);
    short.expiresAt = Date.now() - 1;
    expect(t.get(short.token)).toBeUndefined();
    expect(t.covering('/e')).toEqual([]);
    t.removeInside('/d');
    expect(t.get(dirLock.token)).toBeUndefined();
  });
});

describe('dead properties', () => {
  it('move with their resource, copy with it, and vanish with it', () => {
    const p = new PropStore();
    p.set('/a', { ns: 'urn:x', name: 'k', valueXml: 'v' });
    p.set('/a/b', { ns: 'urn:x', name: 'k', valueXml: 'w' });
    p.transfer('/a', '/c', 'copy');
    p.transfer('/a', '/m', 'move');
    expect(p.get('/a')).toBeUndefined();
    expect(p.get('/m/b')?.get('{urn:x}k')?.valueXml).toBe('w');
    expect(p.get('/c')?.get('{urn:x}k')?.valueXml).toBe('v');
    p.removeInside('/c');
    expect(p.get('/c/b')).toBeUndefined();
  });
});

describe('junk names and URL mapping', () => {
  it('matches the default junk list and custom patterns', () => {
    const junk = junkMatcher(undefined);
    for (const n of ['.DS_Store', '._foo.txt', 'Thumbs.db', 'thumbs.db', 'desktop.ini']) expect(junk(n), n).toBe(true);
    for (const n of ['DS_Store', 'foo._', 'a.txt', '_foo']) expect(junk(n), n).toBe(false);
    expect(junkMatcher(false)('.DS_Store')).toBe(false);
    const custom = junkMatcher(['*.tmp', '~$*']);
    expect(custom('x.tmp')).toBe(true);
    expect(custom('~$doc.docx')).toBe(true);
    expect(custom('.DS_Store')).toBe(false);
  });

  it('maps URLs to paths inside the share only', () => {
    const state = { basePath: '/dav', vfs: new MemoryVfs(), logger: silentLogger } as unknown as ServerState;
    expect(pathFromUrl(state, '/dav/a%20b/c%23d.txt')).toBe('/a b/c#d.txt');
    expect(pathFromUrl(state, 'http://host:1/dav/x/?q=1')).toBe('/x');
    expect(pathFromUrl(state, '/dav')).toBe('/');
    expect(pathFromUrl(state, '/other/x')).toBeUndefined();
    expect(pathFromUrl(state, '/davx')).toBeUndefined();
    for (const bad of ['/dav/%2e%2e/x', '/dav/..', '/dav/a%2fb', '/dav/a%00', '/dav/%zz', 'relative']) {
      expect(() => pathFromUrl(state, bad), bad).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    }
  });
});
