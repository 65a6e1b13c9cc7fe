/**
 * A long Depth 1 PROPFIND is streamed: the first bytes leave before the last entry is rendered, a
 * client that does not read holds the rendering back (memory stays bounded), and a client that
 * disconnects stops it. Rendering is observed by counting reads of each entry's `mtime` (read only
 * when its <D:response> is rendered).
 */
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryVfs } from '../../adapters/memory/index.js';
import type { Entry, OpOptions } from '../../src/vfs.js';
import { serveWebdav } from '../../mount/webdav.js';
import type { WebdavServer } from '../../mount/webdav.js';

const N = 20_000;
const LONG = 'n'.repeat(180);

class WideVfs extends MemoryVfs {
  rendered = 0;
  override async list(dir: string, options?: OpOptions): Promise<Entry[]> {
    const real = await super.list(dir, options);
    if (dir !== '/big') return real;
    const [model] = real;
    const out: Entry[] = [];
    for (let i = 0; i < N; i++) {
      const name = `${LONG}-${i}.txt`;
      const entry = { ...model!, name, path: `/big/${name}` };
      out.push(new Proxy(entry, {
        get: (t, k, r) => {
          if (k === 'mtime') this.rendered++;
          return Reflect.get(t, k, r);
        },
      }));
    }
    return out;
  }
}

const vfs = new WideVfs();
let server: WebdavServer;
let port = 0;

beforeAll(async () => {
  await vfs.mkdir('/big');
  await vfs.write('/big/model.txt', Buffer.from('x'));
  server = await serveWebdav(vfs, { cache: false });
  port = Number(new URL(server.url).port);
});
afterAll(async () => {
  await server?.close();
});

/** A raw PROPFIND whose socket we pause after the first bytes of the answer. */
function propfind(): Promise<{ socket: Socket; first: Buffer }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => {
      socket.write(`PROPFIND /big/ HTTP/1.1\r\nHost: x\r\nDepth: 1\r\nContent-Length: 0\r\n\r\n`);
    });
    socket.once('error', reject);
    socket.once('data', (first: Buffer) => {
      socket.pause();
      resolve({ socket, first });
    });
  });
}

/** Wait until the rendering count stops moving (the server waits for the socket). */
async function settled(): Promise<number> {
  let last = -1;
  for (;;) {
    await new Promise((r) => setTimeout(r, 150));
    if (vfs.rendered === last) return last;
    last = vfs.rendered;
  }
}

describe('streaming PROPFIND Depth 1', () => {
  it('sends its first bytes before the last entry is rendered, and a slow reader holds it back', async () => {
    vfs.rendered = 0;
    const { socket, first } = await propfind();
    expect(first.toString('latin1')).toMatch(/^HTTP\/1\.1 207/);
    const atFirstByte = vfs.rendered;
    expect(atFirstByte).toBeLessThan(N);
    const held = await settled();
    expect(held).toBeLessThan(N);
    // Read the rest: the whole listing arrives, well-formed.
    const chunks: Buffer[] = [first];
    socket.on('data', (c: Buffer) => {
      chunks.push(c);
      if (c.toString('latin1').endsWith('</D:multistatus>\n\r\n0\r\n\r\n') || Buffer.concat(chunks.slice(-2)).toString('latin1').includes('</D:multistatus>')) socket.end();
    });
    socket.resume();
    await new Promise((r) => socket.once('close', r));
    const text = Buffer.concat(chunks).toString('utf8');
    expect(text.match(/<D:response>/g)?.length).toBe(N + 1);
    expect(text).toContain('</D:multistatus>');
    expect(vfs.rendered).toBeGreaterThanOrEqual(N);
  });

  it('a client that disconnects stops the rendering, and the server goes on answering', async () => {
    vfs.rendered = 0;
    const { socket } = await propfind();
    const before = await settled();
    socket.destroy();
    const after = await settled();
    expect(before).toBeLessThan(N);
    expect(after).toBeLessThan(N);
    const res = await fetch(server.url + 'big/model.txt', { method: 'PROPFIND', headers: { Depth: '0' } });
    expect(res.status).toBe(207);
    await res.text();
  });

  it('a short listing still has a Content-Length', async () => {
    const res = await fetch(server.url, { method: 'PROPFIND', headers: { Depth: '1' } });
    expect(res.status).toBe(207);
    expect(res.headers.get('content-length')).not.toBeNull();
    await res.text();
  });
});
