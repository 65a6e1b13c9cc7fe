/**
 * Issue 19 item 3 through the WebDAV share (real HTTP, real rclone): `X-OC-Mtime` on PUT (rclone's
 * owncloud and nextcloud vendors) is stored where the provider keeps upload times and answered
 * `X-OC-MTime: accepted` only then; PROPPATCH of `DAV:lastmodified` (rclone's fallback) and of Windows
 * Explorer's `Win32LastModifiedTime` sets the mtime where the provider can, and is 403 where it
 * cannot. Hostile header values are ignored (the upload goes on without a time), never a crash.
 */
import { mkdir, mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CouchdropVfs } from '../../adapters/couchdrop/index.js';
import { startCouchdropEmulator } from '../../adapters/couchdrop/emulator/index.js';
import type { CouchdropEmulator } from '../../adapters/couchdrop/emulator/index.js';
import { CloudreveVfs, startCloudreveEmulator } from '../../adapters/cloudreve/index.js';
import type { CloudreveEmulator } from '../../adapters/cloudreve/index.js';
import { MemoryVfs } from '../../adapters/memory/index.js';
import { serveWebdav } from '../../mount/webdav.js';
import type { WebdavServer } from '../../mount/webdav.js';
import { hasCommand, run, warnSkip } from './helpers.js';

const hasRclone = hasCommand('rclone', 'version');
if (!hasRclone) warnSkip('rclone mtime tests', 'rclone is not installed (apt-get install rclone)');

const T2001 = Date.parse('2001-02-03T04:05:06Z') / 1000;
const T2003 = Date.parse('2003-03-03T03:03:03Z') / 1000;
const T2005 = Date.parse('2005-05-05T05:05:05Z') / 1000;

const put = (url: string, body: string, mtime?: string) =>
  fetch(url, { method: 'PUT', body, headers: mtime === undefined ? {} : { 'X-OC-Mtime': mtime } });

const proppatch = (url: string, props: string) =>
  fetch(url, {
    method: 'PROPPATCH',
    headers: { 'Content-Type': 'application/xml' },
    body: `<?xml version="1.0" encoding="utf-8"?><D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:schemas-microsoft-com:"><D:set><D:prop>${props}</D:prop></D:set></D:propertyupdate>`,
  });

/** Windows Explorer's PROPPATCH after a copy (its four Win32 properties, as the mini-redirector sends them). */
const win32Props = (when: Date) =>
  `<Z:Win32CreationTime>${when.toUTCString()}</Z:Win32CreationTime><Z:Win32LastAccessTime>${when.toUTCString()}</Z:Win32LastAccessTime>` +
  `<Z:Win32LastModifiedTime>${when.toUTCString()}</Z:Win32LastModifiedTime><Z:Win32FileAttributes>00000020</Z:Win32FileAttributes>`;

/** propstat status per property name in a PROPPATCH multistatus. */
function statuses(xml: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of xml.matchAll(/<D:propstat><D:prop>(.*?)<\/D:prop><D:status>HTTP\/1\.1 (\d{3})/g)) {
    for (const p of m[1]!.matchAll(/<(?:D:)?([A-Za-z0-9]+)[ />]/g)) out[p[1]!] = Number(m[2]);
  }
  return out;
}

describe('WebDAV mtimes over Couchdrop (emulator): times ride on uploads only', () => {
  let emu: CouchdropEmulator;
  let server: WebdavServer;
  let src: string;
  const fresh = () => new CouchdropVfs({ token: emu.token, apiUrl: emu.apiUrl, fileioUrl: emu.fileioUrl });
  const stored = async (path: string) => {
    const other = fresh();
    try {
      return (await other.stat(path)).mtime.getTime() / 1000;
    } finally {
      await other.close();
    }
  };

  beforeAll(async () => {
    emu = await startCouchdropEmulator({ randomSeed: 191 });
    server = await serveWebdav(fresh());
    src = await mkdtemp(join(tmpdir(), 'webdav-mtime-'));
  });

  afterAll(async () => {
    await server?.close();
    await emu?.close();
    if (src) await rm(src, { recursive: true, force: true });
  });

  it('PUT with X-OC-Mtime stores it and says accepted', async () => {
    const res = await put(`${server.url}/oc.txt`, 'owncloud style', String(T2001));
    expect(res.status).toBe(201);
    expect(res.headers.get('x-oc-mtime')).toBe('accepted');
    expect(await stored('/oc.txt')).toBe(T2001);
  });

  it('hostile X-OC-Mtime values are ignored: the upload is stored with its own time, not "accepted"', async () => {
    for (const [i, bad] of ['garbage', '-5', '1e20', 'NaN', '0', '99999999999999999999', '253402300800', ' ', '1'.repeat(5000), '12abc', '0x10', 'Infinity'].entries()) {
      const before = Date.now() / 1000;
      const res = await put(`${server.url}/hostile-${i}.txt`, 'x', bad);
      expect(res.status, bad).toBe(201);
      expect(res.headers.get('x-oc-mtime'), bad).toBeNull();
      expect(await stored(`/hostile-${i}.txt`), bad).toBeGreaterThanOrEqual(Math.floor(before) - 1);
    }
    // The share still answers.
    expect((await put(`${server.url}/after.txt`, 'fine', String(T2003))).headers.get('x-oc-mtime')).toBe('accepted');
  });

  it("Windows Explorer's PROPPATCH of Win32LastModifiedTime: 403 (the provider cannot set a stored file's time), nothing applied", async () => {
    await put(`${server.url}/win.txt`, 'explorer');
    const res = await proppatch(`${server.url}/win.txt`, win32Props(new Date(T2005 * 1000)));
    expect(res.status).toBe(207);
    const st = statuses(await res.text());
    expect(st.Win32LastModifiedTime).toBe(403);
    expect(st.Win32FileAttributes).toBe(424);
    expect(await stored('/win.txt')).not.toBe(T2005);
  });

  for (const vendor of ['owncloud', 'nextcloud'] as const) {
    it.skipIf(!hasRclone)(`rclone copy --webdav-vendor ${vendor} keeps mtimes, and a second copy sends nothing`, async () => {
      const tree = join(src, vendor);
      await mkdir(join(tree, 'sub'), { recursive: true });
      await writeFile(join(tree, 'a.txt'), `a ${vendor}`);
      await writeFile(join(tree, 'sub', 'b.txt'), `b ${vendor}`);
      await utimes(join(tree, 'a.txt'), T2001, T2003);
      await utimes(join(tree, 'sub', 'b.txt'), T2001, T2005);
      const env = {
        PATH: process.env.PATH, HOME: src, RCLONE_CONFIG: '/dev/null',
        RCLONE_CONFIG_X_TYPE: 'webdav', RCLONE_CONFIG_X_URL: server.url, RCLONE_CONFIG_X_VENDOR: vendor,
        // The share speaks plain WebDAV, not Nextcloud's chunked-upload protocol.
        ...(vendor === 'nextcloud' ? { RCLONE_CONFIG_X_NEXTCLOUD_CHUNK_SIZE: '0' } : {}),
      };
      const copy = await run('rclone', ['copy', tree, `X:${vendor}`, '--config', '/dev/null', '--retries', '1'], { env, timeoutMs: 60_000 });
      expect(copy.code, copy.stderr).toBe(0);
      expect(await stored(`/${vendor}/a.txt`)).toBe(T2003);
      expect(await stored(`/${vendor}/sub/b.txt`)).toBe(T2005);
      const again = await run('rclone', ['copy', tree, `X:${vendor}`, '--config', '/dev/null', '-v', '--retries', '1'], { env, timeoutMs: 60_000 });
      expect(again.code, again.stderr).toBe(0);
      expect(again.stderr).not.toMatch(/Copied|Updated modification time/);
    }, 90_000);
  }
});

describe('WebDAV mtimes over a provider that sets times (MemoryVfs)', () => {
  let vfs: MemoryVfs;
  let server: WebdavServer;

  beforeAll(async () => {
    vfs = await MemoryVfs.fromTree({ 'doc.txt': 'document', folder: {} });
    server = await serveWebdav(vfs);
  });

  afterAll(async () => {
    await server?.close();
  });

  it("Windows Explorer's Win32LastModifiedTime sets the mtime; the other Win32 properties are kept as dead properties", async () => {
    const res = await proppatch(`${server.url}/doc.txt`, win32Props(new Date(T2005 * 1000)));
    expect(res.status).toBe(207);
    const st = statuses(await res.text());
    expect(st).toMatchObject({ Win32LastModifiedTime: 200, Win32FileAttributes: 200 });
    expect((await vfs.stat('/doc.txt')).mtime.getTime()).toBe(T2005 * 1000);
    const propfind = await fetch(`${server.url}/doc.txt`, { method: 'PROPFIND', headers: { Depth: '0' } });
    expect(await propfind.text()).toContain(new Date(T2005 * 1000).toUTCString());
  });

  it('DAV:lastmodified (Unix seconds, as rclone sends it) and DAV:getlastmodified (an HTTP date) set it too, on folders also', async () => {
    let res = await proppatch(`${server.url}/doc.txt`, `<lastmodified xmlns="DAV:">${T2001}</lastmodified>`);
    expect(statuses(await res.text()).lastmodified).toBe(200);
    expect((await vfs.stat('/doc.txt')).mtime.getTime()).toBe(T2001 * 1000);
    res = await proppatch(`${server.url}/folder/`, `<D:getlastmodified>${new Date(T2003 * 1000).toUTCString()}</D:getlastmodified>`);
    expect(statuses(await res.text()).getlastmodified).toBe(200);
    expect((await vfs.stat('/folder')).mtime.getTime()).toBe(T2003 * 1000);
  });

  it('a value that is no time is 409 for that property, 424 for the others, nothing applied', async () => {
    const before = (await vfs.stat('/doc.txt')).mtime.getTime();
    for (const bad of ['yesterday', '-1', '1e20', 'NaN', '<x/>', 'Sat, 03 Feb 2001 00:00:00 PST', 'Fri, 31 Dec 10000 00:00:00 GMT', '9'.repeat(500)]) {
      const res = await proppatch(`${server.url}/doc.txt`, `<Z:Win32LastModifiedTime>${bad}</Z:Win32LastModifiedTime><lastmodified xmlns="DAV:">${bad}</lastmodified><Z:other>x</Z:other>`);
      expect(res.status, bad).toBe(207);
      const st = statuses(await res.text());
      expect(st.Win32LastModifiedTime, bad).toBe(409);
      expect(st.other, bad).toBe(424);
    }
    expect((await vfs.stat('/doc.txt')).mtime.getTime()).toBe(before);
  });

  // rclone would PROPPATCH DAV:lastmodified (the format tested above) only for a file whose hash it can
  // compare; the share serves no oc:checksums, so a file whose time differs is sent again with X-OC-Mtime.
  it.skipIf(!hasRclone)('rclone (owncloud): a file whose time changed ends with the new time', async () => {
    const src = await mkdtemp(join(tmpdir(), 'webdav-mtime-mem-'));
    try {
      await writeFile(join(src, 'same.txt'), 'same bytes');
      await vfs.write('/same.txt', Buffer.from('same bytes'), { mtime: new Date(T2001 * 1000) });
      await utimes(join(src, 'same.txt'), T2005, T2005);
      const env = { PATH: process.env.PATH, HOME: src, RCLONE_CONFIG: '/dev/null', RCLONE_CONFIG_X_TYPE: 'webdav', RCLONE_CONFIG_X_URL: server.url, RCLONE_CONFIG_X_VENDOR: 'owncloud' };
      const copy = await run('rclone', ['copy', src, 'X:', '--config', '/dev/null', '-v', '--retries', '1', '--include', 'same.txt'], { env, timeoutMs: 60_000 });
      expect(copy.code, copy.stderr).toBe(0);
      expect(copy.stderr).toMatch(/same\.txt: Copied/);
      expect((await vfs.stat('/same.txt')).mtime.getTime()).toBe(T2005 * 1000);
    } finally {
      await rm(src, { recursive: true, force: true });
    }
  }, 90_000);
});

describe('WebDAV mtimes over Cloudreve (emulator): kept on uploads', () => {
  let emu: CloudreveEmulator;
  let server: WebdavServer;

  beforeAll(async () => {
    emu = await startCloudreveEmulator();
    server = await serveWebdav(new CloudreveVfs({ baseUrl: emu.url, email: emu.email, password: emu.password }));
  });

  afterAll(async () => {
    await server?.close();
    await emu?.close();
  });

  it('PUT with X-OC-Mtime: kept and accepted; an empty file cannot keep one and is not "accepted"', async () => {
    const res = await put(`${server.url}/cr.txt`, 'cloudreve', String(T2003));
    expect(res.headers.get('x-oc-mtime')).toBe('accepted');
    const other = new CloudreveVfs({ baseUrl: emu.url, email: emu.email, password: emu.password });
    try {
      expect((await other.stat('/cr.txt')).mtime.getTime()).toBe(T2003 * 1000);
    } finally {
      await other.close();
    }
    const empty = await put(`${server.url}/empty.txt`, '', String(T2003));
    expect(empty.status).toBe(201);
    expect(empty.headers.get('x-oc-mtime')).toBeNull();
  });
});
