/**
 * webdav-server v2 interop: a webdav-server app serving a CloudreveVfs (over its emulator) at
 * /cloud through `createWebdavServer`, next to webdav-server's own memory file system at /local.
 * litmus basic+copymove+http run against /cloud/; a Range GET is one ranged provider request;
 * the guards hold against webdav-server's known crashes and its token-blind locks.
 */
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { v2 } from 'webdav-server';
import { CloudreveVfs, startCloudreveEmulator } from '../../adapters/cloudreve/index.js';
import type { CloudreveEmulator } from '../../adapters/cloudreve/index.js';
import { MemoryVfs } from '../../adapters/memory/index.js';
import { VfsFileSystem, createWebdavServer, parseRanges } from '../../mount/webdav-server/index.js';
import { pseudoRandomBytes } from '../helpers.js';
import { hasCommand, rawRequest, run, statusOf, warnSkip } from '../webdav/helpers.js';

const SIZE = 4 * 1024 * 1024;

async function start(server: v2.WebDAVServer): Promise<{ http: Server; url: string }> {
  const http = await new Promise<Server>((resolve) => server.start(0, resolve));
  return { http, url: `http://127.0.0.1:${(http.address() as AddressInfo).port}` };
}

describe('createWebdavServer over CloudreveVfs at /cloud, memory at /local', () => {
  let emu: CloudreveEmulator;
  let vfs: CloudreveVfs;
  let server: v2.WebDAVServer;
  let url: string;
  let http: Server;
  let cwd: string;
  const data = pseudoRandomBytes(SIZE, 7);

  beforeAll(async () => {
    emu = await startCloudreveEmulator();
    vfs = new CloudreveVfs({ baseUrl: emu.url, email: emu.email, password: emu.password });
    await vfs.write('/big.bin', data, { size: SIZE });
    await vfs.mkdir('/dir');
    await vfs.write('/dir/a.txt', Buffer.from('hello'), { size: 5 });
    // No cache: every read below must reach the provider, so the request log tells the truth.
    server = createWebdavServer(vfs, { mountPath: '/cloud', cache: false });
    server.setFileSystemSync('/local', new v2.VirtualFileSystem());
    ({ http, url } = await start(server));
    cwd = await mkdtemp(join(tmpdir(), 'cm-litmus-'));
  }, 60_000);
  afterAll(async () => {
    await new Promise<void>((r) => (http ? http.close(() => r()) : r()));
    await vfs?.close?.();
    await emu?.close();
    if (cwd) await rm(cwd, { recursive: true, force: true });
  });

  it('lists, reads and writes through the Vfs, and the memory file system still works', async () => {
    const list = await fetch(url + '/cloud/dir/', { method: 'PROPFIND', headers: { Depth: '1' } });
    expect(list.status).toBe(207);
    expect(await list.text()).toContain('a.txt');
    expect(await (await fetch(url + '/cloud/dir/a.txt')).text()).toBe('hello');
    const put = await fetch(url + '/cloud/dir/b.txt', { method: 'PUT', body: 'streamed' });
    expect(put.status).toBe(201);
    expect((await vfs.stat('/dir/b.txt')).size).toBe(8);
    expect((await fetch(url + '/local/x.txt', { method: 'PUT', body: 'mem' })).status).toBe(201);
    expect(await (await fetch(url + '/local/x.txt')).text()).toBe('mem');
    expect((await fetch(url + '/cloud/nope.txt')).status).toBe(404);
  });

  it('a Range GET is one ranged provider request', async () => {
    emu.clearLog();
    const res = await fetch(url + '/cloud/big.bin', { headers: { Range: `bytes=${SIZE - 1024}-` } });
    expect(res.status).toBe(206);
    const body = Buffer.from(await res.arrayBuffer());
    expect(body.equals(data.subarray(SIZE - 1024))).toBe(true);
    expect(emu.requests('GET /file/content')).toHaveLength(1);
    expect(emu.bytesOut('GET /file/content')).toBeLessThan(16 * 1024);
    // A middle range too.
    emu.clearLog();
    const mid = await fetch(url + '/cloud/big.bin', { headers: { Range: 'bytes=1000000-1000099' } });
    expect(Buffer.from(await mid.arrayBuffer()).equals(data.subarray(1_000_000, 1_000_100))).toBe(true);
    expect(emu.requests('GET /file/content')).toHaveLength(1);
    expect(emu.bytesOut('GET /file/content')).toBeLessThan(16 * 1024);
  });

  it('parses ranges the way webdav-server cuts them', () => {
    expect(parseRanges('bytes=10-19', 100)).toEqual([{ start: 10, end: 19 }]);
    expect(parseRanges('bytes=-10', 100)).toEqual([{ start: 90, end: 99 }]);
    expect(parseRanges('bytes=95-', 100)).toEqual([{ start: 95, end: 99 }]);
    expect(parseRanges('bytes=0-1,50-60', 100)).toEqual([{ start: 0, end: 1 }, { start: 50, end: 60 }]);
    expect(parseRanges('bytes=x', 100)).toBeUndefined();
    // More than 256 ranges: not parsed (the file is read from the start, as webdav-server would).
    expect(parseRanges('bytes=' + Array(257).fill('0-1').join(','), 100)).toBeUndefined();
    expect(parseRanges('bytes=' + Array(256).fill('0-1').join(','), 100)).toHaveLength(256);
  });

  it('survives a PROPPATCH with several set/remove blocks (webdav-server crashed here)', async () => {
    const body =
      '<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:z">' +
      '<D:set><D:prop><Z:one>1</Z:one><Z:two>2</Z:two></D:prop></D:set>' +
      '<D:set><D:prop><Z:three>3</Z:three></D:prop></D:set>' +
      '<D:remove><D:prop><Z:two/></D:prop></D:remove>' +
      '<D:remove><D:prop><Z:never-set/></D:prop></D:remove></D:propertyupdate>';
    const res = await fetch(url + '/cloud/dir/a.txt', { method: 'PROPPATCH', body });
    expect(res.status).toBe(207);
    const find = await fetch(url + '/cloud/dir/a.txt', {
      method: 'PROPFIND',
      headers: { Depth: '0' },
      body: '<D:propfind xmlns:D="DAV:" xmlns:Z="urn:z"><D:prop><Z:one/><Z:three/></D:prop></D:propfind>',
    });
    const xml = await find.text();
    expect(xml).toMatch(/>1</);
    expect(xml).toMatch(/>3</);
    const prot = await fetch(url + '/cloud/dir/a.txt', {
      method: 'PROPPATCH',
      body: '<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><D:getetag>x</D:getetag><q xmlns="urn:z">q</q></D:prop></D:set></D:propertyupdate>',
    });
    const text = await prot.text();
    expect(text).toContain('403 Forbidden');
    expect(text).toContain('424 Failed Dependency');
    expect((await fetch(url + '/cloud/', { method: 'OPTIONS' })).status).toBe(200);
  });

  it('evaluates If headers and enforces lock tokens (webdav-server passed any, crashed on untagged)', async () => {
    const put = (headers: Record<string, string>) => fetch(url + '/cloud/dir/a.txt', { method: 'PUT', headers, body: 'changed' });
    expect((await put({ If: '(<opaquelocktoken:bogus>)' })).status).toBe(412);
    expect((await put({ If: '(garbage' })).status).toBe(400);
    const lock = await fetch(url + '/cloud/dir/a.txt', {
      method: 'LOCK',
      headers: { Timeout: 'Second-60' },
      body: '<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype><D:owner>t</D:owner></D:lockinfo>',
    });
    expect(lock.status).toBe(200);
    const token = /<([^>]+)>/.exec(lock.headers.get('lock-token') ?? '')?.[1];
    expect(token, await lock.text() + JSON.stringify([...lock.headers])).toBeTruthy();
    expect((await put({})).status).toBe(423);
    // A second lock on a locked file, or a depth-infinity lock on its folder, is refused.
    const lockBody = '<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype></D:lockinfo>';
    expect((await fetch(url + '/cloud/dir/a.txt', { method: 'LOCK', body: lockBody })).status).toBe(423);
    expect((await fetch(url + '/cloud/dir/', { method: 'LOCK', body: lockBody })).status).toBe(423);
    expect((await fetch(url + '/cloud/dir/a.txt', { method: 'DELETE' })).status).toBe(423);
    expect((await fetch(url + '/cloud/dir/', { method: 'DELETE' })).status).toBe(423);
    expect((await put({ If: `(<${token}>)` })).status).toBeLessThan(300);
    expect(await (await fetch(url + '/cloud/dir/a.txt')).text()).toBe('changed');
    const unlock = await fetch(url + '/cloud/dir/a.txt', { method: 'UNLOCK', headers: { 'Lock-Token': `<${token}>` } });
    expect(unlock.status).toBe(204);
    expect((await put({})).status).toBeLessThan(300);
  });

  it('refuses a body it would buffer by its claimed length, unread', async () => {
    const port = (http.address() as AddressInfo).port;
    const raw = await rawRequest(port, 'PROPFIND /cloud/ HTTP/1.1\r\nHost: x\r\nContent-Length: 9000000000\r\n\r\n<x/>');
    expect(statusOf(raw)).toBe(413);
    expect((await fetch(url + '/cloud/', { method: 'OPTIONS' })).status).toBe(200);
  });

  const hasLitmus = hasCommand('litmus', '--version');
  if (!hasLitmus) warnSkip('litmus over webdav-server', 'litmus is not installed (apt-get install litmus)');
  it.skipIf(!hasLitmus)('passes litmus basic, copymove and http at /cloud/', async () => {
    await vfs.mkdir('/litmus');
    const r = await run('litmus', [url + '/cloud/litmus/'], { env: { ...process.env, TESTS: 'basic copymove http' }, cwd, timeoutMs: 170_000 });
    const out = r.stdout + r.stderr;
    const summaries = [...out.matchAll(/<- summary for `(\w+)': of (\d+) tests run: (\d+) passed, (\d+) failed/g)];
    console.log(out.split("\n").filter((l) => /FAIL|WARNING|summary/.test(l)).join('\n'));
    expect(summaries.map((m) => m[1])).toEqual(['basic', 'copymove', 'http']);
    for (const m of summaries) expect(Number(m[4]), `${m[1]} failures`).toBe(0);
    expect(r.code).toBe(0);
  }, 180_000);
});

describe('VfsFileSystem in a plain webdav-server', () => {
  it('mounts next to other file systems without the helper', async () => {
    const vfs = await MemoryVfs.fromTree({ 'f.txt': 'hello world' });
    const server = new v2.WebDAVServer();
    server.setFileSystemSync('/mem', new VfsFileSystem(vfs));
    const { http, url } = await start(server);
    try {
      expect(await (await fetch(url + '/mem/f.txt')).text()).toBe('hello world');
      const part = await fetch(url + '/mem/f.txt', { headers: { Range: 'bytes=6-10' } });
      expect(part.status).toBe(206);
      expect(await part.text()).toBe('world');
      expect((await fetch(url + '/mem/sub', { method: 'MKCOL' })).status).toBe(201);
      expect((await vfs.stat('/sub')).type).toBe('directory');
    } finally {
      await new Promise<void>((r) => http.close(() => r()));
    }
  });
});
