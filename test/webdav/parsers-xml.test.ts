/**
 * Hostile XML bodies through the real server: each is answered (400 or 207) after linear work, so
 * the one event loop keeps serving everyone else. On the old code the first body kept the process
 * busy for about a minute and the second for longer than this suite's timeout.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_PROPFIND_NAME_BYTES } from '../../mount/webdav/handlers/propfind.js';
import { MAX_XML_ATTRIBUTES, MAX_XML_DEPTH } from '../../mount/webdav/xml.js';
import type { WebdavServer } from '../../mount/webdav.js';
import { startMemoryServer } from './helpers.js';

describe('hostile XML bodies', () => {
  let server: WebdavServer;
  beforeAll(async () => {
    ({ server } = await startMemoryServer({ 'f.txt': 'x' }));
  });
  afterAll(() => server?.close());

  const propfind = async (body: string) => {
    const res = await fetch(server.url, { method: 'PROPFIND', headers: { Depth: '0' }, body });
    return { status: res.status, text: await res.text() };
  };

  it('a 6 KB body of "<a" and a run of "<" is a 400, and the server answers the next client', async () => {
    const [hostile, other] = await Promise.all([propfind('<a' + '<'.repeat(6000)), propfind('')]);
    expect(hostile.status).toBe(400);
    expect(other.status).toBe(207);
  });

  it('valid XML declaring 5 000 prefixes around 50 000 elements that each declare one more is answered', async () => {
    // Inside DAV:prop: 50 nested property names each declaring 100 prefixes, the innermost holding the
    // leaves (property values are not looked at, but the body must be parsed and resolved in full).
    const open = Array.from({ length: 50 }, (_, l) => `<p${l * 100}:n${Array.from({ length: 100 }, (_, i) => ` xmlns:p${l * 100 + i}="u${i}"`).join('')}>`);
    const close = Array.from({ length: 50 }, (_, l) => `</p${(49 - l) * 100}:n>`);
    const body = `<D:propfind xmlns:D="DAV:"><D:prop>${open.join('')}${'<c xmlns:q="u"/>'.repeat(50_000)}${close.join('')}</D:prop></D:propfind>`;
    expect(body.length).toBeLessThan(1024 * 1024);
    const r = await propfind(body);
    expect(r.status).toBe(207);
    expect(r.text).toContain('<n xmlns="u0"/>');
  });

  it(`more than ${MAX_XML_ATTRIBUTES} attributes on one element, or nesting deeper than ${MAX_XML_DEPTH}, is a 400`, async () => {
    const attrs = Array.from({ length: MAX_XML_ATTRIBUTES + 1 }, (_, i) => ` a${i}="1"`).join('');
    expect((await propfind(`<D:propfind xmlns:D="DAV:"${attrs}><D:allprop/></D:propfind>`)).status).toBe(400);
    const fewer = Array.from({ length: MAX_XML_ATTRIBUTES - 1 }, (_, i) => ` a${i}="1"`).join('');
    expect((await propfind(`<D:propfind xmlns:D="DAV:"${fewer}><D:allprop/></D:propfind>`)).status).toBe(207);
    expect((await propfind('<D:propfind xmlns:D="DAV:">' + '<x>'.repeat(MAX_XML_DEPTH) + '</x>'.repeat(MAX_XML_DEPTH) + '</D:propfind>')).status).toBe(400);
  });

  it('characters XML forbids, bare "&" and reserved prefixes are a 400', async () => {
    for (const body of ['<D:propfind xmlns:D="DAV:">\uFFFE</D:propfind>', '<D:propfind xmlns:D="DAV:">&#1;</D:propfind>', '<D:propfind xmlns:D="DAV:">a & b</D:propfind>',
      '<D:propfind xmlns:D="DAV:" xmlns:xml="urn:x"/>', '<D:propfind xmlns:D="DAV:"><D:allprop/></D:propfind><x/>']) {
      expect((await propfind(body)).status, body).toBe(400);
    }
  });
});

describe('PROPFIND property lists', () => {
  let server: WebdavServer;
  beforeAll(async () => {
    const tree: Record<string, string> = {};
    for (let i = 0; i < 200; i++) tree[`f${i}.txt`] = 'x';
    ({ server } = await startMemoryServer(tree));
  });
  afterAll(() => server?.close());

  const propfind = async (body: string, depth = '1') => {
    const res = await fetch(server.url, { method: 'PROPFIND', headers: { Depth: depth }, body });
    return { status: res.status, text: await res.text() };
  };

  it(`names are echoed per entry, so more than ${MAX_PROPFIND_NAME_BYTES} bytes of them is a 400; duplicates count once`, async () => {
    // 4 000 distinct names over 200 entries would echo 4 000 × 200 names; one 512 KiB namespace 200 × 512 KiB.
    const many = Array.from({ length: 4000 }, (_, i) => `<x:p${i}/>`).join('');
    expect((await propfind(`<D:propfind xmlns:D="DAV:" xmlns:x="urn:x"><D:prop>${many}</D:prop></D:propfind>`)).status).toBe(400);
    const longNs = 'urn:' + 'n'.repeat(512 * 1024);
    expect((await propfind(`<D:propfind xmlns:D="DAV:"><D:prop><p xmlns="${longNs}"/></D:prop></D:propfind>`)).status).toBe(400);
    const dup = '<D:getetag/>'.repeat(20_000);
    const r = await propfind(`<D:propfind xmlns:D="DAV:"><D:prop>${dup}</D:prop></D:propfind>`);
    expect(r.status).toBe(207);
    expect(r.text.split('<D:getetag>').length - 1).toBe(201);
  });

  it('regression (found by the XML fuzzer on the old parser): a doubled quote in the XML declaration is a 400, not a 500', async () => {
    const doc = '<?xml version=""1.0" encoding="utf-8"?>\n<root xmlns:D="DAV:" xmlns:p="urn:p0" xmlns:q="urn:q0"><a><?pi x?></a></root>';
    expect((await propfind(doc, '0')).status).toBe(400);
  });
});
