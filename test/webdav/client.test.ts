/**
 * The `webdav` npm client (v5) doing everything a program does with a share: directory listings
 * (shallow and deep), stat, upload and download (whole, streamed and ranged), copy, move, delete,
 * mkdir, existence checks, quota, locks and custom properties, with Basic auth.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient } from 'webdav';
import type { FileStat, WebDAVClient } from 'webdav';
import { MemoryVfs } from '../../adapters/memory/index.js';
import { serveWebdav } from '../../mount/webdav.js';
import type { WebdavServer } from '../../mount/webdav.js';
import { collect, pseudoRandomBytes, sha256 } from '../helpers.js';

describe('webdav npm client', () => {
  let server: WebdavServer;
  let client: WebDAVClient;
  let vfs: MemoryVfs;

  beforeAll(async () => {
    vfs = await MemoryVfs.fromTree({ 'readme.md': '# hi', photos: { 'a b.jpg': 'jpeg', 'ünïcødé #1 %.txt': 'u' } }, { quota: 1 << 30 });
    server = await serveWebdav(vfs, { users: { carol: 'pa55word-xyz' } });
    client = createClient(server.url, { username: 'carol', password: 'pa55word-xyz' });
  });
  afterAll(async () => {
    await server?.close();
  });

  it('lists directories shallow and deep with metadata', async () => {
    const root = (await client.getDirectoryContents('/')) as FileStat[];
    expect(root.map((e) => e.basename).sort()).toEqual(['photos', 'readme.md']);
    const readme = root.find((e) => e.basename === 'readme.md')!;
    expect(readme.type).toBe('file');
    expect(readme.size).toBe(4);
    expect(readme.etag).toBeTruthy();
    expect(readme.mime).toBe('text/markdown');
    const deep = (await client.getDirectoryContents('/', { deep: true })) as FileStat[];
    expect(deep.map((e) => e.filename).sort()).toEqual(['/photos', '/photos/a b.jpg', '/photos/ünïcødé #1 %.txt', '/readme.md']);
    const st = (await client.stat('/photos/ünïcødé #1 %.txt')) as FileStat;
    expect(st.size).toBe(1);
    expect(await client.exists('/photos/a b.jpg')).toBe(true);
    expect(await client.exists('/nope')).toBe(false);
  });

  it('uploads and downloads, whole, streamed and ranged', async () => {
    const data = pseudoRandomBytes(2 * 1024 * 1024 + 3, 9);
    await expect(client.putFileContents('/up/load.bin', data)).rejects.toThrow(/409/); // no parent yet
    await client.createDirectory('/up');
    expect(await client.putFileContents('/up/load.bin', data)).toBe(true);
    const back = (await client.getFileContents('/up/load.bin')) as Buffer;
    expect(sha256(back)).toBe(sha256(data));
    const ranged = await collect(client.createReadStream('/up/load.bin', { range: { start: 100, end: 199 } }));
    expect(ranged.equals(data.subarray(100, 200))).toBe(true);
    const text = await client.getFileContents('/readme.md', { format: 'text' });
    expect(text).toBe('# hi');
    await new Promise<void>((resolve, reject) => {
      const ws = client.createWriteStream('/up/stream.txt', {}, () => resolve());
      ws.on('error', reject);
      ws.end('streamed body');
    });
    expect(await client.getFileContents('/up/stream.txt', { format: 'text' })).toBe('streamed body');
    // overwrite: false is sent as If-None-Match: * and must not replace the file.
    expect(await client.putFileContents('/up/stream.txt', 'replaced?', { overwrite: false })).toBe(false);
    expect(await client.getFileContents('/up/stream.txt', { format: 'text' })).toBe('streamed body');
    await client.createDirectory('/deep/er/path', { recursive: true });
    expect((await vfs.stat('/deep/er/path')).type).toBe('directory');
  });

  it('copies, moves and deletes', async () => {
    await client.copyFile('/readme.md', '/copy.md');
    expect(await client.getFileContents('/copy.md', { format: 'text' })).toBe('# hi');
    await client.moveFile('/copy.md', '/photos/moved.md');
    expect(await client.exists('/copy.md')).toBe(false);
    expect(await client.exists('/photos/moved.md')).toBe(true);
    await client.copyFile('/photos', '/photos2');
    expect(((await client.getDirectoryContents('/photos2')) as FileStat[]).length).toBe(3);
    await expect(client.copyFile('/readme.md', '/photos/moved.md', { overwrite: false })).rejects.toThrow(/412/);
    await client.deleteFile('/photos2');
    expect(await client.exists('/photos2')).toBe(false);
  });

  it('reports quota', async () => {
    const quota = await client.getQuota();
    expect(quota).not.toBeNull();
    expect(quota!.used).toBe((await vfs.space()).used);
    expect(quota!.available).toBe((await vfs.space()).free);
  });

  it('locks and unlocks', async () => {
    const lock = await client.lock('/readme.md');
    expect(lock.token).toMatch(/^opaquelocktoken:/);
    const intruder = await fetch(server.url + 'readme.md', {
      method: 'PUT',
      headers: { Authorization: 'Basic ' + Buffer.from('carol:pa55word-xyz').toString('base64') },
      body: 'overwritten',
    });
    expect(intruder.status).toBe(423);
    await client.unlock('/readme.md', lock.token);
    expect(await client.putFileContents('/readme.md', '# changed')).toBe(true);
  });

  it('sets and reads custom properties', async () => {
    await client.customRequest('/readme.md', {
      method: 'PROPPATCH',
      headers: { 'Content-Type': 'application/xml' },
      data: '<?xml version="1.0"?><d:propertyupdate xmlns:d="DAV:" xmlns:x="urn:example"><d:set><d:prop><x:color>blue</x:color><x:size>3</x:size></d:prop></d:set></d:propertyupdate>',
    });
    const st = (await client.stat('/readme.md', {
      details: true,
      data: '<?xml version="1.0"?><d:propfind xmlns:d="DAV:" xmlns:x="urn:example"><d:prop><x:color/><x:size/></d:prop></d:propfind>',
    })) as { data: FileStat };
    const props = st.data.props as Record<string, unknown>;
    expect(String(props.color)).toBe('blue');
    expect(String(props.size)).toBe('3');
  });
});
