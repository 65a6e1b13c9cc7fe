/**
 * What a user of the share notices, over real HTTP: ranges, conditional requests, ETag and
 * Last-Modified, content types, quota, COPY/MOVE with Overwrite and Depth, aborted uploads that
 * leave the old file, chunked uploads spooled for Vfs that need a size, options (read-only, junk
 * filter, base path, loopback-only without users) and the process protection.
 */
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VfsError } from '../../src/errors.js';
import type { Entry, WriteData, WriteOptions } from '../../src/vfs.js';
import { MemoryVfs } from '../../adapters/memory/index.js';
import { serveWebdav } from '../../mount/webdav.js';
import type { WebdavServer } from '../../mount/webdav.js';
import { pseudoRandomBytes, sha256 } from '../helpers.js';

const BIG = pseudoRandomBytes(3 * 1024 * 1024 + 17, 42);

describe('serveWebdav over MemoryVfs', () => {
  let vfs: MemoryVfs;
  let server: WebdavServer;
  let url: string;

  beforeAll(async () => {
    vfs = await MemoryVfs.fromTree({ 'big.bin': BIG, docs: { 'note.txt': 'hello', 'photo.JPG': 'jpg', 'data.json': '{}' }, 'old.txt': 'old version' }, { quota: 100 * 1024 * 1024 });
    server = await serveWebdav(vfs);
    url = server.url;
  });
  afterAll(async () => {
    await server?.close();
  });

  it('serves real byte ranges with 206, and 416 past the end', async () => {
    const r = await fetch(url + 'big.bin', { headers: { Range: 'bytes=1000-1999' } });
    expect(r.status).toBe(206);
    expect(r.headers.get('content-range')).toBe(`bytes 1000-1999/${BIG.length}`);
    expect(Buffer.from(await r.arrayBuffer()).equals(BIG.subarray(1000, 2000))).toBe(true);
    const tail = await fetch(url + 'big.bin', { headers: { Range: 'bytes=-1024' } });
    expect(tail.status).toBe(206);
    expect(Buffer.from(await tail.arrayBuffer()).equals(BIG.subarray(BIG.length - 1024))).toBe(true);
    const open = await fetch(url + 'big.bin', { headers: { Range: `bytes=${BIG.length - 10}-` } });
    expect(Buffer.from(await open.arrayBuffer()).equals(BIG.subarray(BIG.length - 10))).toBe(true);
    const past = await fetch(url + 'big.bin', { headers: { Range: `bytes=${BIG.length}-` } });
    expect(past.status).toBe(416);
    expect(past.headers.get('content-range')).toBe(`bytes */${BIG.length}`);
    const multi = await fetch(url + 'big.bin', { headers: { Range: 'bytes=0-1,5-6' } });
    expect(multi.status).toBe(200); // multiple ranges: the whole file, cleanly
    expect(Number(multi.headers.get('content-length'))).toBe(BIG.length);
    await multi.arrayBuffer();
    const whole = await fetch(url + 'big.bin');
    expect(sha256(Buffer.from(await whole.arrayBuffer()))).toBe(sha256(BIG));
    expect(whole.headers.get('accept-ranges')).toBe('bytes');
  });

  it('sends ETag and Last-Modified and honours conditional requests', async () => {
    const head = await fetch(url + 'docs/note.txt', { method: 'HEAD' });
    const etag = head.headers.get('etag')!;
    const lastModified = head.headers.get('last-modified')!;
    expect(etag).toMatch(/^".+"$/);
    expect(new Date(lastModified).getTime()).not.toBeNaN();
    expect((await fetch(url + 'docs/note.txt', { headers: { 'If-None-Match': etag } })).status).toBe(304);
    expect((await fetch(url + 'docs/note.txt', { headers: { 'If-Modified-Since': lastModified } })).status).toBe(304);
    expect((await fetch(url + 'docs/note.txt', { headers: { 'If-None-Match': '"other"' } })).status).toBe(200);
    expect((await fetch(url + 'docs/note.txt', { headers: { 'If-Match': '"other"' } })).status).toBe(412);
    // A PUT that only replaces the version the client saw (lost-update protection).
    expect((await fetch(url + 'docs/note.txt', { method: 'PUT', headers: { 'If-Match': '"stale"' }, body: 'x' })).status).toBe(412);
    const put = await fetch(url + 'docs/note.txt', { method: 'PUT', headers: { 'If-Match': etag }, body: 'hello again' });
    expect(put.status).toBe(204);
    expect(put.headers.get('etag')).not.toBe(etag);
    expect((await fetch(url + 'docs/new.txt', { method: 'PUT', headers: { 'If-None-Match': '*' }, body: 'a' })).status).toBe(201);
    expect((await fetch(url + 'docs/new.txt', { method: 'PUT', headers: { 'If-None-Match': '*' }, body: 'b' })).status).toBe(412);
    const propfind = await (await fetch(url + 'docs/note.txt', { method: 'PROPFIND', headers: { Depth: '0' } })).text();
    const now = (await fetch(url + 'docs/note.txt', { method: 'HEAD' })).headers.get('etag')!;
    expect(propfind).toContain(`<D:getetag>${now.replace(/"/g, '&quot;')}</D:getetag>`);
    expect(propfind).toContain('<D:getlastmodified>');
  });

  it('keeps the mtime an ownCloud-style client sends with X-OC-Mtime', async () => {
    const res = await fetch(url + 'docs/dated.txt', { method: 'PUT', headers: { 'X-OC-Mtime': '1500000000' }, body: 'old news' });
    expect(res.status).toBe(201);
    expect(res.headers.get('x-oc-mtime')).toBe('accepted');
    expect((await vfs.stat('/docs/dated.txt')).mtime.getTime()).toBe(1_500_000_000_000);
    expect((await fetch(url + 'docs/dated.txt', { method: 'HEAD' })).headers.get('last-modified')).toBe(new Date(1_500_000_000_000).toUTCString());
  });

  it('gives content types by extension', async () => {
    expect((await fetch(url + 'docs/note.txt', { method: 'HEAD' })).headers.get('content-type')).toBe('text/plain; charset=utf-8');
    expect((await fetch(url + 'docs/photo.JPG', { method: 'HEAD' })).headers.get('content-type')).toBe('image/jpeg');
    expect((await fetch(url + 'docs/data.json', { method: 'HEAD' })).headers.get('content-type')).toBe('application/json');
    expect((await fetch(url + 'big.bin', { method: 'HEAD' })).headers.get('content-type')).toBe('application/octet-stream');
    const xml = await (await fetch(url + 'docs/', { method: 'PROPFIND', headers: { Depth: '1' } })).text();
    expect(xml).toContain('<D:getcontenttype>image/jpeg</D:getcontenttype>');
  });

  it('reports quota from vfs.space()', async () => {
    const body = '<D:propfind xmlns:D="DAV:"><D:prop><D:quota-available-bytes/><D:quota-used-bytes/></D:prop></D:propfind>';
    const xml = await (await fetch(url, { method: 'PROPFIND', headers: { Depth: '0' }, body })).text();
    const space = await vfs.space();
    expect(xml).toContain(`<D:quota-used-bytes>${space.used}</D:quota-used-bytes>`);
    expect(xml).toContain(`<D:quota-available-bytes>${space.free}</D:quota-available-bytes>`);
  });

  it('COPY with Overwrite: F never replaces an existing file; Overwrite: T does', async () => {
    await vfs.write('/keep.txt', Buffer.from('keep me'));
    const copy = (overwrite: string) =>
      fetch(url + 'old.txt', { method: 'COPY', headers: { Destination: url + 'keep.txt', Overwrite: overwrite } });
    expect((await copy('F')).status).toBe(412);
    expect((await fetch(url + 'keep.txt').then((r) => r.text()))).toBe('keep me');
    expect((await copy('T')).status).toBe(204);
    expect((await fetch(url + 'keep.txt').then((r) => r.text()))).toBe('old version');
    const move = await fetch(url + 'keep.txt', { method: 'MOVE', headers: { Destination: url + 'docs/', Overwrite: 'F' } });
    expect(move.status).toBe(412);
    expect((await fetch(url + 'nowhere/x.txt', { method: 'PUT', body: 'x' })).status).toBe(409);
    expect((await fetch(url + 'docs', { method: 'MKCOL' })).status).toBe(405);
    // COPY Depth 0 of a collection copies the collection, not its members.
    expect((await fetch(url + 'docs/', { method: 'COPY', headers: { Destination: url + 'docs-shallow/', Depth: '0' } })).status).toBe(201);
    expect(await vfs.list('/docs-shallow')).toEqual([]);
    expect((await fetch(url + 'docs/', { method: 'COPY', headers: { Destination: url + 'docs-deep/' } })).status).toBe(201);
    expect((await vfs.list('/docs-deep')).length).toBeGreaterThanOrEqual(3);
  });

  it('a refused big upload is answered at once and not read to its end', async () => {
    await vfs.mkdir('/locked-dir');
    const lock = await fetch(url + 'locked-dir/', {
      method: 'LOCK',
      body: '<D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype></D:lockinfo>',
    });
    const token = lock.headers.get('lock-token')!;
    const answer = await new Promise<string>((resolve) => {
      const socket = connect(server.port, '127.0.0.1');
      let out = '';
      socket.on('data', (d) => {
        out += d;
        if (out.includes('\r\n\r\n')) socket.destroy();
      });
      socket.on('error', () => {});
      socket.on('close', () => resolve(out));
      // Announce 1 GiB, send a little: the 423 must come without waiting for the rest.
      socket.write(`PUT /locked-dir/big.bin HTTP/1.1\r\nHost: x\r\nContent-Length: ${1024 ** 3}\r\n\r\n`);
      socket.write(Buffer.alloc(64 * 1024));
    });
    expect(answer).toMatch(/^HTTP\/1\.1 423/);
    expect(answer).toMatch(/connection: close/i);
    await fetch(url + 'locked-dir/', { method: 'UNLOCK', headers: { 'Lock-Token': token } });
  });

  it('an aborted PUT leaves the previous version intact', async () => {
    const answer = await new Promise<string>((resolve) => {
      const socket = connect(server.port, '127.0.0.1');
      let out = '';
      socket.on('data', (d) => (out += d));
      socket.on('error', () => {});
      socket.on('close', () => resolve(out));
      socket.write(`PUT /old.txt HTTP/1.1\r\nHost: x\r\nContent-Length: ${2 * 1024 * 1024}\r\n\r\n`);
      socket.write(Buffer.alloc(1024 * 1024, 0x41), () => setTimeout(() => socket.destroy(), 100));
    });
    expect(answer).toBe(''); // no success was ever reported
    await new Promise((r) => setTimeout(r, 100));
    expect(await fetch(url + 'old.txt').then((r) => r.text())).toBe('old version');
    // A body that ends short of its Content-Length fails the write the same way.
    const short = await new Promise<string>((resolve) => {
      const socket = connect(server.port, '127.0.0.1');
      let out = '';
      socket.on('data', (d) => (out += d));
      socket.on('error', () => {});
      socket.on('close', () => resolve(out));
      socket.end('PUT /old.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nonly this');
    });
    expect(short).not.toMatch(/^HTTP\/1\.1 20/);
    expect(await fetch(url + 'old.txt').then((r) => r.text())).toBe('old version');
  });

  it('streams long reads past the block cache and stays true to a file changed behind it', async () => {
    const first = pseudoRandomBytes(12 * 1024 * 1024, 3);
    await vfs.write('/changing.bin', first);
    const a = await fetch(url + 'changing.bin');
    expect(sha256(Buffer.from(await a.arrayBuffer()))).toBe(sha256(first));
    // Replace the file on the inner Vfs directly: the cache's metadata is now stale.
    const second = pseudoRandomBytes(9 * 1024 * 1024 + 5, 4);
    await vfs.write('/changing.bin', second);
    const b = await fetch(url + 'changing.bin');
    expect(Number(b.headers.get('content-length'))).toBe(second.length);
    expect(sha256(Buffer.from(await b.arrayBuffer()))).toBe(sha256(second));
    await vfs.remove('/changing.bin');
  });

  it('answers OPTIONS * and advertises class 1 and 2', async () => {
    const { rawRequest, statusOf } = await import('./helpers.js');
    const answer = await rawRequest(server.port, 'OPTIONS * HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    expect(statusOf(answer)).toBe(200);
    expect(answer).toMatch(/\r\nDAV: 1, 2\r\n/i);
  });

  it('hides OS junk files and drops writes to them', async () => {
    // Finder locks AppleDouble files before writing them: the lock is granted, nothing is stored.
    const lock = await fetch(url + 'docs/._locked', {
      method: 'LOCK',
      body: '<D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype></D:lockinfo>',
    });
    expect(lock.status).toBe(200);
    const token = lock.headers.get('lock-token')!;
    expect((await fetch(url + 'docs/._locked', { method: 'PUT', headers: { If: `(${token})` }, body: 'x' })).status).toBe(201);
    expect((await fetch(url + 'docs/._locked', { method: 'UNLOCK', headers: { 'Lock-Token': token } })).status).toBe(204);
    await expect(vfs.stat('/docs/._locked')).rejects.toMatchObject({ code: 'ENOENT' });
    const put = await fetch(url + 'docs/.DS_Store', { method: 'PUT', body: 'junk' });
    expect(put.status).toBe(201);
    expect((await fetch(url + 'docs/._note.txt', { method: 'PUT', body: 'junk' })).status).toBe(201);
    await expect(vfs.stat('/docs/.DS_Store')).rejects.toMatchObject({ code: 'ENOENT' });
    await vfs.write('/docs/Thumbs.db', Buffer.from('already there'));
    const xml = await (await fetch(url + 'docs/', { method: 'PROPFIND', headers: { Depth: '1' } })).text();
    expect(xml).not.toContain('Thumbs.db');
    expect((await fetch(url + 'docs/Thumbs.db')).status).toBe(404);
  });

  it('a chunked PUT without length is spooled when the Vfs needs the size first', async () => {
    class SizedVfs extends MemoryVfs {
      sizes: Array<number | undefined> = [];
      constructor() {
        super();
        this.capabilities.needsSizeForWrite = true;
      }
      override async write(path: string, data: WriteData, options: WriteOptions = {}): Promise<Entry> {
        this.sizes.push(options.size);
        if (options.size === undefined) throw new VfsError('EINVAL', 'size required');
        return super.write(path, data, options);
      }
    }
    const sized = new SizedVfs();
    const s = await serveWebdav(sized, { cache: false });
    try {
      const payload = pseudoRandomBytes(300_000, 5);
      const body = new ReadableStream<Uint8Array>({
        start(controller) {
          for (let i = 0; i < payload.length; i += 65536) controller.enqueue(payload.subarray(i, i + 65536));
          controller.close();
        },
      });
      const res = await fetch(s.url + 'chunked.bin', { method: 'PUT', body, duplex: 'half' } as RequestInit);
      expect(res.status).toBe(201);
      expect(sized.sizes).toEqual([payload.length]);
      expect(sha256(Buffer.from(await (await fetch(s.url + 'chunked.bin')).arrayBuffer()))).toBe(sha256(payload));
      // Finder's way: chunked, with the size in X-Expected-Entity-Length (no spooling needed).
      const finder = new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(payload.subarray(0, 1000));
          controller.close();
        },
      });
      const res2 = await fetch(s.url + 'finder.bin', { method: 'PUT', body: finder, duplex: 'half', headers: { 'X-Expected-Entity-Length': '1000' } } as RequestInit);
      expect(res2.status).toBe(201);
      expect(sized.sizes).toEqual([payload.length, 1000]);
    } finally {
      await s.close();
    }
  });

  it('maps Vfs errors to statuses with a short plain-text reason', async () => {
    const full = await MemoryVfs.fromTree({}, { quota: 10 });
    const s = await serveWebdav(full, { cache: false });
    try {
      const r = await fetch(s.url + 'x.bin', { method: 'PUT', body: 'more than ten bytes' });
      expect(r.status).toBe(507);
      expect(r.headers.get('content-type')).toMatch(/^text\/plain/);
      expect(await r.text()).toMatch(/quota exceeded/);
      expect((await fetch(s.url + 'missing.txt')).status).toBe(404);
      expect((await fetch(s.url + 'missing.txt', { method: 'DELETE' })).status).toBe(404);
      await full.write('/file', Buffer.from('f'));
      expect((await fetch(s.url + 'file/below')).status).toBe(404);
      expect((await fetch(s.url + 'file/below', { method: 'MKCOL' })).status).toBe(409);
    } finally {
      await s.close();
    }
  });
});

describe('options', () => {
  it('readOnly refuses every change with 403 and still serves reads', async () => {
    const vfs = await MemoryVfs.fromTree({ 'a.txt': 'a' });
    const s = await serveWebdav(vfs, { readOnly: true, cache: false });
    try {
      for (const [method, extra] of [['PUT', {}], ['DELETE', {}], ['MKCOL', {}], ['MOVE', { Destination: s.url + 'b.txt' }], ['PROPPATCH', {}], ['LOCK', {}]] as const) {
        const target = method === 'MKCOL' ? 'dir' : 'a.txt';
        expect((await fetch(s.url + target, { method, headers: extra, body: method === 'PUT' ? 'x' : undefined })).status, method).toBe(403);
      }
      expect(await fetch(s.url + 'a.txt').then((r) => r.text())).toBe('a');
      expect((await fetch(s.url, { method: 'OPTIONS' })).headers.get('allow')).not.toContain('PUT');
    } finally {
      await s.close();
    }
  });

  it('serves under a base path and nothing outside it', async () => {
    const vfs = await MemoryVfs.fromTree({ 'a.txt': 'a' });
    const s = await serveWebdav(vfs, { basePath: '/dav/share', cache: false });
    try {
      expect(s.url).toMatch(/\/dav\/share\/$/);
      expect(await fetch(s.url + 'a.txt').then((r) => r.text())).toBe('a');
      expect((await fetch(s.url.replace('/dav/share/', '/a.txt'))).status).toBe(404);
      const xml = await (await fetch(s.url, { method: 'PROPFIND', headers: { Depth: '1' } })).text();
      expect(xml).toContain('<D:href>/dav/share/a.txt</D:href>');
      expect((await fetch(s.url + 'a.txt', { method: 'COPY', headers: { Destination: s.url + 'b.txt' } })).status).toBe(201);
      expect((await vfs.stat('/b.txt')).size).toBe(1);
    } finally {
      await s.close();
    }
  });

  it('refuses a non-loopback address without users unless allowed', async () => {
    await expect(serveWebdav(new MemoryVfs(), { host: '0.0.0.0' })).rejects.toThrow(/refusing/);
    const s = await serveWebdav(new MemoryVfs(), { host: '0.0.0.0', users: { u: 'password1' }, cache: false });
    await s.close();
    const open = await serveWebdav(new MemoryVfs(), { host: '0.0.0.0', allowUnauthenticatedRemote: true, cache: false });
    await open.close();
  });

  it('serves through CachedVfs by default, and the raw Vfs with cache: false', async () => {
    const vfs = new MemoryVfs();
    const cached = await serveWebdav(vfs);
    const raw = await serveWebdav(vfs, { cache: false });
    try {
      expect(raw.vfs).toBe(vfs);
      expect(cached.vfs.name).toBe('cached(memory)');
    } finally {
      await cached.close();
      await raw.close();
    }
  });
});

describe('process protection', () => {
  it('is the application\'s choice: a library server installs no process-wide listener unless asked', async () => {
    const before = [process.listenerCount('uncaughtException'), process.listenerCount('unhandledRejection')];
    const s = await serveWebdav(new MemoryVfs(), { cache: false });
    try {
      expect([process.listenerCount('uncaughtException'), process.listenerCount('unhandledRejection')]).toEqual(before);
    } finally {
      await s.close();
    }
  });

  it('an exception leaked on behalf of a request fails that request, and a forgotten rejection is only logged', async () => {
    class LeakyVfs extends MemoryVfs {
      override async stat(path: string): Promise<Entry> {
        if (path === '/reject') {
          // A promise nobody awaits rejects (Node would end the process).
          void Promise.reject(new Error('forgotten promise'));
        }
        if (path === '/boom') {
          // A bug in some layer: an exception thrown from a timer, outside any promise chain.
          return new Promise<Entry>(() => setTimeout(() => {
            throw new Error('stray exception');
          }, 5));
        }
        return super.stat(path);
      }
    }
    const leaky = new LeakyVfs();
    await leaky.write('/ok.txt', Buffer.from('fine'));
    const s = await serveWebdav(leaky, { cache: false, protectProcess: true });
    // Other listeners (the test runner's) would also see the exception: stand them aside so the
    // process is in the situation a real deployment is in.
    const others = process.listeners('uncaughtException').filter((l) => l.name !== 'onUncaught');
    const otherRejections = process.listeners('unhandledRejection').filter((l) => l.name !== 'onRejection');
    for (const l of others) process.off('uncaughtException', l);
    for (const l of otherRejections) process.off('unhandledRejection', l);
    try {
      const r = await fetch(s.url + 'boom');
      expect(r.status).toBe(500);
      expect((await fetch(s.url + 'reject')).status).toBe(404);
      await new Promise((r) => setTimeout(r, 50));
      const ok = await fetch(s.url + 'ok.txt');
      expect(await ok.text()).toBe('fine');
    } finally {
      for (const l of others) process.on('uncaughtException', l);
      for (const l of otherRejections) process.on('unhandledRejection', l);
      await s.close();
    }
  });
});
