/**
 * Write-back of the WebDAV share (issue 19 item 1), real HTTP end to end: clients (fetch, the
 * `webdav` npm client, rclone) talk to serveWebdav over CouchdropVfs, which talks to the Couchdrop
 * emulator. A PUT is answered before the upload; the queued file is listed, stat'ed and served from
 * the local copy; MOVE/DELETE/COPY follow the queue; retryable failures are retried; a quota error is
 * kept (failed, still served); a remote change made meanwhile is never overwritten.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createClient } from 'webdav';
import { CouchdropVfs } from '../../adapters/couchdrop/index.js';
import { startCouchdropEmulator } from '../../adapters/couchdrop/emulator/index.js';
import type { CouchdropEmulator } from '../../adapters/couchdrop/emulator/index.js';
import { listPendingUploads } from '../../mount/fuse.js';
import { serveWebdav } from '../../mount/webdav.js';
import type { WebdavServer, WebdavWriteBackOptions } from '../../mount/webdav.js';
import { readAll } from '../../src/streams.js';
import { hasCommand, run, warnSkip } from './helpers.js';

const MiB = 1024 * 1024;
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
function bytes(seed: number, size: number): Buffer {
  const out = Buffer.alloc(size);
  let x = (seed * 2654435761) >>> 0;
  for (let i = 0; i < size; i += 4) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    out.writeUInt32LE(x, Math.min(i, size - 4));
  }
  return out;
}

describe('WebDAV write-back (Couchdrop emulator)', () => {
  let emu: CouchdropEmulator;
  let vfs: CouchdropVfs;
  let server: WebdavServer | undefined;
  let dir: string;

  beforeEach(async () => {
    emu = await startCouchdropEmulator({ randomSeed: 5 });
    vfs = new CouchdropVfs({
      token: emu.token, apiUrl: emu.apiUrl, fileioUrl: emu.fileioUrl,
      // One attempt per upload at the Vfs level: the queue's own retries are under test.
      scheduler: { baseDelayMs: 10, maxDelayMs: 50, maxAttempts: 1, adaptive: false },
    });
    dir = await mkdtemp(join(tmpdir(), 'cm-wbdav-'));
  });
  afterEach(async () => {
    await server?.close();
    server = undefined;
    await vfs.close();
    await emu.close();
    await rm(dir, { recursive: true, force: true });
  });

  const serve = async (writeBack: WebdavWriteBackOptions) => {
    server = await serveWebdav(vfs, { writeBack: { dir, remote: 'wb', ...writeBack } });
    return server;
  };
  const uploads = () => emu.log.filter((e) => e.route === '/file/upload');
  const remote = async (path: string) => readAll(await emu.store.read(path));
  const put = (url: string, body: Buffer | string, headers: Record<string, string> = {}) => fetch(url, { method: 'PUT', body, headers });

  it('answers a 100 MiB PUT before uploading it; GET/HEAD/PROPFIND see the queued copy; drain uploads it byte-identical', async () => {
    const s = await serve({ delayMs: 3_600_000 });
    const data = bytes(1, 100 * MiB + 5);
    const res = await put(s.url + 'big.bin', data);
    expect(res.status).toBe(201);
    // Answered with nothing sent to the provider.
    expect(uploads()).toHaveLength(0);
    await expect(emu.store.stat('/big.bin')).rejects.toMatchObject({ code: 'ENOENT' });
    // Durable and listed as queued, by a reader of the queue folder (as `cloudmount pending list` is).
    const pending = await listPendingUploads(dir);
    expect(pending).toHaveLength(1);
    expect(pending[0]).toMatchObject({ path: '/big.bin', reason: 'queued', size: data.length, queue: { state: 'waiting' } });
    expect(sha(await readFile(pending[0]!.spoolFile))).toBe(sha(data));
    // Served from the local copy: GET (whole and ranged), HEAD, PROPFIND.
    const got = Buffer.from(await (await fetch(s.url + 'big.bin')).arrayBuffer());
    expect(sha(got)).toBe(sha(data));
    const ranged = await fetch(s.url + 'big.bin', { headers: { Range: 'bytes=1000-1999' } });
    expect(ranged.status).toBe(206);
    expect(Buffer.from(await ranged.arrayBuffer()).equals(data.subarray(1000, 2000))).toBe(true);
    const head = await fetch(s.url + 'big.bin', { method: 'HEAD' });
    expect(head.headers.get('content-length')).toBe(String(data.length));
    const client = createClient(s.url);
    const listed = (await client.getDirectoryContents('/')) as { basename: string; size: number }[];
    expect(listed.find((e) => e.basename === 'big.bin')?.size).toBe(data.length);
    expect(uploads()).toHaveLength(0);
    await s.writeBack!.drain();
    expect(sha(await remote('/big.bin'))).toBe(sha(data));
    expect(uploads()).toHaveLength(1);
    expect(await listPendingUploads(dir)).toHaveLength(0);
  }, 180_000);

  it('uploads after the delay without any command; the ETag then is the provider\'s', async () => {
    const s = await serve({ delayMs: 100 });
    expect((await put(s.url + 'soon.txt', 'hello')).status).toBe(201);
    await vi.waitFor(async () => expect((await remote('/soon.txt')).toString()).toBe('hello'), { timeout: 30_000, interval: 100 });
    await vi.waitFor(async () => expect(await listPendingUploads(dir)).toHaveLength(0), { timeout: 10_000, interval: 100 });
    expect(await (await fetch(s.url + 'soon.txt')).text()).toBe('hello');
  });

  it('applies MOVE, DELETE and COPY of queued files to the queue (no orphan, no upload of a deleted file)', async () => {
    await emu.store.write('/target.txt', Buffer.from('old target'));
    await emu.store.mkdir('/dir');
    const s = await serve({ delayMs: 3_600_000 });
    const client = createClient(s.url);
    await client.putFileContents('/a.txt', 'one');
    await client.moveFile('/a.txt', '/b.txt');
    await client.putFileContents('/c.txt', 'gone');
    await client.deleteFile('/c.txt');
    await client.putFileContents('/tmp.txt', 'new');
    await client.moveFile('/tmp.txt', '/target.txt');
    await client.putFileContents('/dir/inner.txt', 'in a folder');
    await client.moveFile('/dir', '/moved');
    await client.copyFile('/b.txt', '/b-copy.txt');
    const names = ((await client.getDirectoryContents('/')) as { basename: string }[]).map((e) => e.basename).sort();
    expect(names).toEqual(['b-copy.txt', 'b.txt', 'moved', 'target.txt']);
    expect(await client.getFileContents('/target.txt', { format: 'text' })).toBe('new');
    expect(await client.getFileContents('/moved/inner.txt', { format: 'text' })).toBe('in a folder');
    expect((await listPendingUploads(dir)).map((p) => p.path).sort()).toEqual(['/b-copy.txt', '/b.txt', '/moved/inner.txt', '/target.txt']);
    expect(uploads()).toHaveLength(0);
    await s.writeBack!.drain();
    expect((await remote('/b.txt')).toString()).toBe('one');
    expect((await remote('/b-copy.txt')).toString()).toBe('one');
    // Replaced by a move onto it: the client's choice, not a conflict.
    expect((await remote('/target.txt')).toString()).toBe('new');
    expect((await remote('/moved/inner.txt')).toString()).toBe('in a folder');
    for (const gone of ['/a.txt', '/c.txt', '/tmp.txt', '/dir']) await expect(emu.store.stat(gone)).rejects.toMatchObject({ code: 'ENOENT' });
    expect((await emu.store.list('/')).map((e) => e.name).sort()).toEqual(['b-copy.txt', 'b.txt', 'moved', 'target.txt']);
    expect(uploads()).toHaveLength(4);
    expect(await listPendingUploads(dir)).toHaveLength(0);
  });

  it('a DELETE while the upload runs leaves no orphan on the provider', async () => {
    const s = await serve({ delayMs: 0 });
    emu.setFaults([{ kind: 'slow', every: 1, delayMs: 1500, routes: ['/file/upload'] }]);
    expect((await put(s.url + 'racing.bin', bytes(2, 256 * 1024))).status).toBe(201);
    // The upload is under way (its record says so) when the DELETE comes.
    await vi.waitFor(async () => expect((await listPendingUploads(dir))[0]?.queue?.state).toBe('uploading'), { timeout: 10_000, interval: 5 });
    expect((await fetch(s.url + 'racing.bin', { method: 'DELETE' })).status).toBe(204);
    await s.writeBack!.drain();
    await expect(emu.store.stat('/racing.bin')).rejects.toMatchObject({ code: 'ENOENT' });
    expect((await fetch(s.url + 'racing.bin')).status).toBe(404);
    expect(await listPendingUploads(dir)).toHaveLength(0);
  });

  it('retries uploads the provider refuses for a while (503, 429, reset), then uploads them', async () => {
    emu.setFaults([
      { kind: 503, every: 1, limit: 1, routes: ['/file/upload'] },
      { kind: 429, every: 1, limit: 1, routes: ['/file/upload'] },
      { kind: 'reset', every: 1, limit: 1, routes: ['/file/upload'] },
    ]);
    const s = await serve({ delayMs: 20, maxBackoffMs: 100 });
    const data = bytes(3, 300 * 1024);
    expect((await put(s.url + 'flaky.bin', data)).status).toBe(201);
    await vi.waitFor(async () => expect(sha(await remote('/flaky.bin'))).toBe(sha(data)), { timeout: 60_000, interval: 100 });
    expect(uploads().filter((e) => e.status === 503 || e.status === 429).length).toBe(2);
    await vi.waitFor(async () => expect(await listPendingUploads(dir)).toHaveLength(0), { timeout: 10_000, interval: 100 });
  });

  it('keeps a quota failure as failed with its error; the local copy is kept and still served', async () => {
    emu.setFaults([{ kind: 422, every: 1, routes: ['/file/upload'], message: 'Quota exceeded for this account' }]);
    const s = await serve({ delayMs: 20 });
    expect((await put(s.url + 'quota.txt', 'precious')).status).toBe(201);
    const failed = await vi.waitFor(async () => {
      const list = await listPendingUploads(dir);
      if (list[0]?.reason !== 'failed') throw new Error('not failed yet');
      return list[0];
    }, { timeout: 30_000, interval: 100 });
    expect(failed).toMatchObject({ path: '/quota.txt', reason: 'failed', size: 8 });
    expect(failed.error?.message).toMatch(/quota/i);
    expect((await readFile(failed.spoolFile)).toString()).toBe('precious');
    expect(await (await fetch(s.url + 'quota.txt')).text()).toBe('precious');
    await expect(emu.store.stat('/quota.txt')).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('never overwrites a change another client made between the PUT and the upload: both versions exist', async () => {
    await emu.store.write('/doc.txt', Buffer.from('original'));
    const s = await serve({ delayMs: 3_600_000 });
    expect(await (await fetch(s.url + 'doc.txt')).text()).toBe('original');
    expect((await put(s.url + 'doc.txt', 'ours, longer')).status).toBe(204);
    await emu.store.write('/doc.txt', Buffer.from('theirs'));
    await s.writeBack!.drain();
    expect((await remote('/doc.txt')).toString()).toBe('theirs');
    const names = (await emu.store.list('/')).map((e) => e.name);
    const copy = names.find((n) => /^doc\.conflict-\d{8}T\d{6}Z\.txt$/.test(n));
    expect(copy, names.join(',')).toBeDefined();
    expect((await remote('/' + copy)).toString()).toBe('ours, longer');
  });

  it('a PUT into a missing folder is 409 at once (not queued), LOCK/If still bind a queued file', async () => {
    const s = await serve({ delayMs: 3_600_000 });
    expect((await put(s.url + 'nope/x.txt', 'x')).status).toBe(409);
    expect(await listPendingUploads(dir)).toHaveLength(0);
    const first = await put(s.url + 'locked.txt', 'v1');
    const etag = first.headers.get('etag')!;
    expect((await put(s.url + 'locked.txt', 'v2', { 'If-Match': '"not-it"' })).status).toBe(412);
    expect((await put(s.url + 'locked.txt', 'v2', { 'If-Match': etag })).status).toBe(204);
    const lock = await fetch(s.url + 'locked.txt', {
      method: 'LOCK', headers: { 'Content-Type': 'application/xml', Timeout: 'Second-60' },
      body: '<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype></D:lockinfo>',
    });
    expect(lock.status).toBe(200);
    const token = lock.headers.get('lock-token')!;
    expect((await put(s.url + 'locked.txt', 'v3')).status).toBe(423);
    expect((await fetch(s.url + 'locked.txt', { method: 'DELETE' })).status).toBe(423);
    expect((await put(s.url + 'locked.txt', 'v3', { If: `(${token})` })).status).toBe(204);
    expect(await (await fetch(s.url + 'locked.txt')).text()).toBe('v3');
    await s.writeBack!.drain();
    expect((await remote('/locked.txt')).toString()).toBe('v3');
    expect(uploads()).toHaveLength(1);
  });

  it.runIf(hasCommand('rclone', 'version'))('rclone copy through the share is answered from the queue and uploaded', async () => {
    const s = await serve({ delayMs: 3_600_000 });
    const local = await mkdtemp(join(tmpdir(), 'cm-wbdav-rc-'));
    try {
      const files = Array.from({ length: 5 }, (_, i) => bytes(10 + i, 1000 + i * 4096));
      const { writeFile } = await import('node:fs/promises');
      for (const [i, f] of files.entries()) await writeFile(join(local, `f${i}.bin`), f);
      const r = await run('rclone', ['copy', local, `:webdav:/sub`, '--webdav-url', s.url, '--config', '/dev/null', '--retries', '1'], { timeoutMs: 60_000 });
      expect(r.code, r.stderr).toBe(0);
      expect(uploads()).toHaveLength(0);
      const check = await run('rclone', ['check', local, `:webdav:/sub`, '--webdav-url', s.url, '--config', '/dev/null', '--download'], { timeoutMs: 60_000 });
      expect(check.code, check.stderr).toBe(0);
      await s.writeBack!.drain();
      for (const [i, f] of files.entries()) expect(sha(await remote(`/sub/f${i}.bin`))).toBe(sha(f));
    } finally {
      await rm(local, { recursive: true, force: true });
    }
  }, 120_000);
});

if (!hasCommand('rclone', 'version')) warnSkip('rclone write-back test', 'rclone is not installed');
