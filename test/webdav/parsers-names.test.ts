/**
 * Names XML cannot carry (U+FFFE, U+FFFF, lone surrogates, C0 controls): a listing that holds one
 * must still be well-formed XML for every client, and each href must lead back to its own file
 * (lone surrogates travel as WTF-8 percent-escapes, see mount/webdav/segment.ts).
 */
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryVfs } from '../../adapters/memory/index.js';
import { decodeSegment, encodeSegment } from '../../mount/webdav/segment.js';
import { serveWebdav } from '../../mount/webdav.js';
import type { WebdavServer } from '../../mount/webdav.js';

const NAMES = [
  'fffe\uFFFE.txt', 'ffff\uFFFF.txt', 'high\uD800.txt', 'low\uDC00.txt', 'rev\uDC00\uD800.txt', 'pair😀.txt',
  'ctl\u0001\u0008\u000B\u000C\u001F.txt', 'tab\tlf\ncr\r.txt', 'xml<&>"\'.txt', 'pct%25%ZZ.txt', 'plain.txt',
];

describe('names XML cannot carry', () => {
  let server: WebdavServer;
  let vfs: MemoryVfs;
  beforeAll(async () => {
    vfs = new MemoryVfs();
    await vfs.mkdir('/d\uFFFF\uD801');
    for (const [i, n] of NAMES.entries()) await vfs.write(`/d\uFFFF\uD801/${n}`, Buffer.from(`content ${i}`));
    server = await serveWebdav(vfs, { cache: false });
  });
  afterAll(() => server?.close());

  it('PROPFIND Depth 1 is well-formed XML and every href GETs its own file', async () => {
    const dir = server.url + encodeSegment('d\uFFFF\uD801') + '/';
    const res = await fetch(dir, { method: 'PROPFIND', headers: { Depth: '1' } });
    expect(res.status).toBe(207);
    const xml = await res.text();
    expect(XMLValidator.validate(xml)).toBe(true);
    const doc = new XMLParser({ removeNSPrefix: true }).parse(xml) as { multistatus: { response: Array<{ href: string; propstat: { prop: { displayname?: string } } }> } };
    const responses = doc.multistatus.response;
    expect(responses).toHaveLength(NAMES.length + 1);
    const seen = new Set<string>();
    for (const r of responses.slice(1)) {
      const href = r.href;
      const name = decodeSegment(href.slice(href.lastIndexOf('/') + 1));
      const i = NAMES.indexOf(name);
      expect(i, `${JSON.stringify(name)} is one of the names`).toBeGreaterThanOrEqual(0);
      seen.add(name);
      const get = await fetch(new URL(href, server.url));
      expect(get.status, href).toBe(200);
      expect(await get.text()).toBe(`content ${i}`);
    }
    expect(seen.size).toBe(NAMES.length);
  });

  it('each name has exactly one href: a surrogate pair spelled as two WTF-8 halves is refused', async () => {
    for (const n of NAMES) expect(decodeSegment(encodeSegment(n))).toBe(n);
    expect(encodeSegment('a b~é')).toBe('a%20b~%C3%A9');
    expect(encodeSegment("!'()*")).toBe('%21%27%28%29%2A');
    const res = await fetch(server.url + 'pair%ED%A0%BD%ED%B8%80.txt');
    expect(res.status).toBe(400);
    for (const bad of ['%', '%4', '%G0', '%C0%80', '%E0%80%80', '%F4%90%80%80', '%FF', '%C3']) expect(() => decodeSegment(bad), bad).toThrow(expect.objectContaining({ code: 'EINVAL' }));
  });

  it('the HTML index of a collection stays well-formed too', async () => {
    const res = await fetch(server.url + encodeSegment('d\uFFFF\uD801') + '/');
    expect(res.status).toBe(200);
    const html = await res.text();
    expect(html).not.toMatch(/[\uFFFE\uFFFF\u0001]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/);
  });
});
