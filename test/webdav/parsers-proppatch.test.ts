/**
 * Dead properties are bounded in bytes (per resource and for the whole server) and in count; past a
 * limit PROPPATCH answers 207 with 507 for the property concerned and 424 for the others, and applies
 * nothing (RFC 4918 §9.2). A value whose re-serialisation would multiply its size is refused the same
 * way without ever being built in full.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_PROP_BYTES_PER_RESOURCE, MAX_PROP_BYTES_TOTAL, MAX_PROP_VALUE_BYTES, PropStore } from '../../mount/webdav/props.js';
import type { WebdavServer } from '../../mount/webdav.js';
import { startMemoryServer } from './helpers.js';

const NS = 'urn:fill';

function update(props: Array<[string, string]>, remove: string[] = []): string {
  const set = props.map(([n, v]) => `<f:${n}>${v}</f:${n}>`).join('');
  const rm = remove.map((n) => `<f:${n}/>`).join('');
  return `<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" xmlns:f="${NS}">` +
    (set ? `<D:set><D:prop>${set}</D:prop></D:set>` : '') + (rm ? `<D:remove><D:prop>${rm}</D:prop></D:remove>` : '') + '</D:propertyupdate>';
}

/** status line of each property in a multistatus: { name: "507 Insufficient Storage", … }. */
function statuses(xml: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const ps of xml.split('<D:propstat>').slice(1)) {
    const status = /HTTP\/1\.1 (\d{3}[^<]*)/.exec(ps)?.[1] ?? '?';
    for (const m of ps.matchAll(/<(\w+) xmlns="urn:fill"\/>/g)) out[m[1]!] = status;
  }
  return out;
}

describe('dead property limits', () => {
  let server: WebdavServer;
  const value = 'v'.repeat(MAX_PROP_VALUE_BYTES - 100);
  beforeAll(async () => {
    const files: Record<string, string> = {};
    for (let i = 0; i < 80; i++) files[`f${i}.txt`] = 'x';
    ({ server } = await startMemoryServer(files));
  });
  afterAll(() => server?.close());

  const patch = async (file: string, body: string) => {
    const res = await fetch(server.url + file, { method: 'PROPPATCH', body, headers: { 'Content-Type': 'application/xml' } });
    return { status: res.status, text: await res.text() };
  };
  const hasProp = async (file: string, name: string) => {
    const res = await fetch(server.url + file, { method: 'PROPFIND', headers: { Depth: '0' }, body: `<D:propfind xmlns:D="DAV:"><D:prop><f:${name} xmlns:f="${NS}"/></D:prop></D:propfind>` });
    return /200 OK/.test(await res.text());
  };

  it(`one resource holds at most ${MAX_PROP_BYTES_PER_RESOURCE} bytes: the property past it is 507, the others 424, nothing applied`, async () => {
    const perResource = Math.floor(MAX_PROP_BYTES_PER_RESOURCE / (MAX_PROP_VALUE_BYTES - 100 + 8 + NS.length));
    for (let i = 0; i < perResource; i++) expect((await patch('f0.txt', update([[`p${i}`, value]]))).status).toBe(207);
    expect(await hasProp('f0.txt', `p${perResource - 1}`)).toBe(true);
    const r = await patch('f0.txt', update([['small', 'ok'], ['big', value]], ['p0']));
    expect(r.status).toBe(207);
    expect(statuses(r.text)).toEqual({ small: '424 Failed Dependency', big: '507 Insufficient Storage', p0: '424 Failed Dependency' });
    expect(await hasProp('f0.txt', 'small')).toBe(false);
    expect(await hasProp('f0.txt', 'p0')).toBe(true);
    // Replacing a value by one of the same size, or removing first, stays possible.
    expect(statuses((await patch('f0.txt', update([['p1', value]]))).text)).toEqual({ p1: '200 OK' });
    expect(statuses((await patch('f0.txt', update([], ['p0']))).text)).toEqual({ p0: '200 OK' });
    expect(statuses((await patch('f0.txt', update([['big', value]]))).text)).toEqual({ big: '200 OK' });
  });

  it(`the server holds at most ${MAX_PROP_BYTES_TOTAL} bytes of them in all`, async () => {
    // Each request fills one resource (15 values of almost 64 KiB: under the 1 MiB body limit).
    const fifteen = Array.from({ length: 15 }, (_, i): [string, string] => [`q${i}`, value]);
    let refused = -1;
    for (let f = 1; f < 80 && refused < 0; f++) {
      const r = await patch(`f${f}.txt`, update(fifteen));
      expect(r.status).toBe(207);
      if (r.text.includes('507 Insufficient Storage')) {
        refused = f;
        expect(r.text).toContain('424 Failed Dependency');
        expect(await hasProp(`f${f}.txt`, 'q0')).toBe(false);
      }
    }
    expect(refused).toBeGreaterThan(60);
    // Removing frees room for others.
    for (let i = 0; i < 15; i++) expect(statuses((await patch('f1.txt', update([], [`q${i}`]))).text)[`q${i}`]).toBe('200 OK');
    expect(statuses((await patch(`f${refused}.txt`, update([['again', value]]))).text)).toEqual({ again: '200 OK' });
  });

  it('a value whose serialisation would multiply its size is 507, never built in full', async () => {
    // A 512 KiB namespace inherited by 80 000 empty children: re-declared per child it would be 40 GB.
    const uri = 'urn:' + 'u'.repeat(512 * 1024);
    const body = `<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><f:amp xmlns:f="${NS}"><x:v xmlns:x="${uri}">${'<x:b/>'.repeat(80_000)}</x:v></f:amp></D:prop></D:set></D:propertyupdate>`;
    expect(body.length).toBeLessThan(1024 * 1024);
    const r = await patch('f79.txt', body);
    expect(r.status).toBe(207);
    expect(statuses(r.text)).toEqual({ amp: '507 Insufficient Storage' });
  });
});

describe('PropStore accounting', () => {
  it('counts bytes through set, replace, remove, move, copy and delete; a copy never passes the limits', () => {
    const p = new PropStore({ perResource: 100, totalBytes: 150, count: 10 });
    const prop = (name: string, v: string) => ({ ns: 'n', name, valueXml: v });
    p.set('/a', prop('k', 'x'.repeat(48))); // 1 + 1 + 48 = 50 bytes
    expect(p.usage('/a')).toEqual({ count: 1, bytes: 50 });
    p.set('/a', prop('k', 'x'.repeat(8)));
    expect(p.usage()).toEqual({ count: 1, bytes: 10 });
    p.set('/a/b', prop('k', 'x'.repeat(88)));
    expect(p.overLimit('/a', [{ kind: 'set', prop: prop('j', 'x'.repeat(60)) }])).toEqual(new Set([0])); // total 100 + 62 > 150
    expect(p.overLimit('/a', [{ kind: 'remove', prop: prop('k', '') }, { kind: 'set', prop: prop('j', 'x'.repeat(48)) }])).toEqual(new Set());
    p.transfer('/a', '/c', 'copy'); // 100 more bytes would pass 150: the copy takes what fits
    expect(p.usage().bytes).toBeLessThanOrEqual(150);
    p.transfer('/a', '/m', 'move');
    expect(p.usage('/m/b').bytes).toBe(90);
    p.removeInside('/');
    expect(p.usage()).toEqual({ count: 0, bytes: 0 });
    const counted = new PropStore({ perResource: 1000, totalBytes: 1000, count: 2 });
    counted.set('/a', prop('1', ''));
    expect(counted.overLimit('/a', [{ kind: 'set', prop: prop('2', '') }, { kind: 'set', prop: prop('3', '') }])).toEqual(new Set([1]));
  });
});
