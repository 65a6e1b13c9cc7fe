/**
 * A share over CloudreveVfs keeps WebDAV dead properties in Cloudreve's own `dav:` metadata (issue 20
 * part 4): a PROPPATCH through one share process is in the server's metadata and is seen by a second,
 * independent share of the same account; a PROPFIND of live properties costs no per-entry request.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { CloudreveVfs } from '../../adapters/cloudreve/index.js';
import { serveWebdav } from '../../mount/webdav.js';
import type { WebdavServer } from '../../mount/webdav.js';
import { emulator } from '../cloudreve/fixtures.js';

const closers: Array<() => Promise<void>> = [];
afterAll(async () => {
  for (const c of closers.reverse()) await c();
});

const PATCH = `<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" xmlns:Z="http://example.com/ns">
<D:set><D:prop><Z:color>red</Z:color></D:prop></D:set></D:propertyupdate>`;
const ASK = `<?xml version="1.0"?><D:propfind xmlns:D="DAV:" xmlns:Z="http://example.com/ns"><D:prop><Z:color/></D:prop></D:propfind>`;

async function share(emu: Awaited<ReturnType<typeof emulator>>): Promise<WebdavServer> {
  const vfs = new CloudreveVfs({ baseUrl: emu.url, email: emu.email, password: emu.password, stateDir: false });
  const server = await serveWebdav(vfs, {});
  closers.push(async () => {
    await server.close();
    await vfs.close();
  });
  return server;
}

describe('WebDAV dead properties on Cloudreve', () => {
  it('PROPPATCH through one share lands in dav: metadata and a second share process sees it', async () => {
    const emu = await emulator({ seed: { docs: { 'a.txt': 'x', 'b.txt': 'y' } } });
    const a = await share(emu);
    const b = await share(emu);
    const patched = await fetch(`${a.url}docs/a.txt`, { method: 'PROPPATCH', body: PATCH, headers: { 'Content-Type': 'application/xml' } });
    expect(patched.status).toBe(207);
    expect(await patched.text()).toContain('200 OK');
    expect(Object.keys(emu.store.find(['docs', 'a.txt'])!.metadata)).toContain('dav:http://example.com/ns|color');

    const seen = await fetch(`${b.url}docs/a.txt`, { method: 'PROPFIND', body: ASK, headers: { Depth: '0' } });
    expect(await seen.text()).toMatch(/<color xmlns="http:\/\/example.com\/ns">red<\/color>/);

    // Live properties only (what Finder, Explorer and rclone ask): no info request per entry.
    const before = emu.requests('GET /file/info').length;
    const listing = await fetch(`${b.url}docs/`, {
      method: 'PROPFIND', headers: { Depth: '1' },
      body: '<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><D:getcontentlength/><D:getlastmodified/></D:prop></D:propfind>',
    });
    expect(listing.status).toBe(207);
    expect(emu.requests('GET /file/info').length - before).toBeLessThanOrEqual(1);
  });
});
