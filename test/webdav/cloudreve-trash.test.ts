/**
 * Cloudreve's trash and versions through the WebDAV share: unlisted in PROPFIND of the root, there by
 * path; DELETE → in /.Trash/ → MOVE back restores; a version readable by GET.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CloudreveVfs, startCloudreveEmulator } from '../../adapters/cloudreve/index.js';
import type { CloudreveEmulator } from '../../adapters/cloudreve/index.js';
import { serveWebdav } from '../../mount/webdav.js';

describe('WebDAV share over CloudreveVfs: trash and versions', () => {
  let emu: CloudreveEmulator;
  let vfs: CloudreveVfs;
  let server: Awaited<ReturnType<typeof serveWebdav>>;
  const propfind = async (path: string, depth = '1') => {
    const res = await fetch(server.url + path, { method: 'PROPFIND', headers: { Depth: depth } });
    return { status: res.status, body: await res.text() };
  };

  beforeAll(async () => {
    emu = await startCloudreveEmulator({ seed: { docs: { 'a.txt': 'one' } } });
    vfs = new CloudreveVfs({ baseUrl: emu.url, email: emu.email, password: emu.password, stateDir: false });
    server = await serveWebdav(vfs);
  });
  afterAll(async () => {
    await server?.close();
    await vfs?.close();
    await emu?.close();
  });

  it('DELETE → listed in /.Trash/ → MOVE back restores it; the root PROPFIND never shows the folders', async () => {
    const root = await propfind('');
    expect(root.status).toBe(207);
    expect(root.body).not.toContain('.Trash');
    expect(root.body).not.toContain('.versions');
    expect((await fetch(server.url + 'docs/a.txt', { method: 'DELETE' })).status).toBeLessThan(300);
    const trash = await propfind('.Trash/');
    expect(trash.status).toBe(207);
    expect(trash.body).toContain('a.txt');
    const moved = await fetch(server.url + '.Trash/a.txt', { method: 'MOVE', headers: { Destination: server.url + 'docs/a.txt' } });
    expect(moved.status).toBeLessThan(300);
    expect(await (await fetch(server.url + 'docs/a.txt')).text()).toBe('one');
    expect(emu.store.trash).toHaveLength(0);
  });

  it('a PUT over an existing file leaves the old content readable under /.versions/', async () => {
    expect((await fetch(server.url + 'docs/a.txt', { method: 'PUT', body: 'two' })).status).toBeLessThan(300);
    const listing = await propfind('.versions/docs/a.txt/');
    expect(listing.status).toBe(207);
    const hrefs = [...listing.body.matchAll(/<(?:\w+:)?href>([^<]+)<\/(?:\w+:)?href>/g)].map((m) => m[1]!).filter((h) => !h.endsWith('a.txt/'));
    expect(hrefs).toHaveLength(2);
    const bodies = await Promise.all(hrefs.map(async (h) => (await fetch(new URL(h, server.url))).text()));
    expect(bodies.sort()).toEqual(['one', 'two']);
    expect((await fetch(server.url + '.versions/docs/a.txt/x', { method: 'PUT', body: 'no' })).status).toBeGreaterThanOrEqual(400);
  });
});
