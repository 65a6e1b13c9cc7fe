// sendBody over a real node:http server and client: every byte in order, bounded for a slow
// client, the source stopped when the client goes away, a failing source cuts the response.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import net from 'node:net';
import { Readable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { SEND_BUFFER_BYTES, sendBody } from '../../mount/webdav/send-body.js';

const MiB = 1024 * 1024;

/** A source of `total` bytes in 64 KiB chunks, several per turn (as a socket's reads come), counting what was pulled. */
function source(total: number, failAt = Infinity): Readable & { pulled: number } {
  let at = 0;
  const s = new Readable({
    highWaterMark: 64 * 1024,
    read() {
      for (let i = 0; i < 8; i++) {
        if (at >= failAt) {
          this.destroy(new Error('provider stream broke'));
          return;
        }
        if (at >= total) {
          this.push(null);
          return;
        }
        const n = Math.min(64 * 1024, total - at);
        const chunk = Buffer.alloc(n);
        for (let j = 0; j < n; j += 4096) chunk.writeUInt32LE((at + j) >>> 0, j);
        at += n;
        (s as Readable & { pulled: number }).pulled = at;
        if (!this.push(chunk)) return;
      }
    },
  }) as Readable & { pulled: number };
  s.pulled = 0;
  return s;
}

let server: http.Server | undefined;
afterEach(() => new Promise<void>((r) => (server ? server.close(() => r()) : r())));

async function serve(make: () => Readable, seen: { result?: unknown; src?: Readable & { pulled?: number } }, total: number): Promise<number> {
  server = http.createServer((_req, res) => {
    const src = make();
    seen.src = src;
    res.writeHead(200, { 'content-length': total });
    sendBody(src, res).then(() => (seen.result = 'ok'), (e: unknown) => (seen.result = e));
  });
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
  return (server.address() as AddressInfo).port;
}

function check(body: Buffer): boolean {
  for (let j = 0; j < body.length; j += 4096) if (body.readUInt32LE(j) !== j >>> 0) return false;
  return true;
}

describe('sendBody', () => {
  it('sends every byte in order and resolves', async () => {
    const total = 16 * MiB + 12345;
    const seen: { result?: unknown } = {};
    const port = await serve(() => source(total), seen, total);
    const body = await new Promise<Buffer>((resolve, reject) => {
      http.get(`http://127.0.0.1:${port}/`, (res) => {
        const parts: Buffer[] = [];
        res.on('data', (c: Buffer) => parts.push(c));
        res.on('end', () => resolve(Buffer.concat(parts)));
        res.on('error', reject);
      });
    });
    expect(body.length).toBe(total);
    expect(check(body)).toBe(true);
    expect(seen.result).toBe('ok');
  });

  it('a client that stops reading holds the source back (bounded), then gets every byte', async () => {
    const total = 64 * MiB;
    const seen: { result?: unknown; src?: Readable & { pulled?: number } } = {};
    const port = await serve(() => source(total), seen, total);
    const sock = net.connect(port, '127.0.0.1');
    sock.write('GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    sock.pause();
    await new Promise((r) => setTimeout(r, 500));
    // Socket buffers (a few MiB on loopback) + the send buffer + the source's own: far below the file.
    const pulled = seen.src!.pulled!;
    expect(pulled).toBeGreaterThan(0);
    expect(pulled).toBeLessThan(SEND_BUFFER_BYTES + 24 * MiB);
    let bytes = 0;
    const head: Buffer[] = [];
    sock.on('data', (c: Buffer) => {
      if (head.length < 1) head.push(c);
      bytes += c.length;
    });
    sock.resume();
    await new Promise((r) => sock.once('close', r));
    expect(bytes).toBeGreaterThan(total);
    expect(seen.result).toBe('ok');
  });

  it('a client that goes away mid-body stops the source and rejects', async () => {
    const total = 256 * MiB;
    const seen: { result?: unknown; src?: Readable & { pulled?: number } } = {};
    const port = await serve(() => source(total), seen, total);
    const sock = net.connect(port, '127.0.0.1');
    sock.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    await new Promise<void>((r) => sock.once('data', () => r()));
    sock.destroy();
    for (let i = 0; i < 100 && seen.result === undefined; i++) await new Promise((r) => setTimeout(r, 20));
    expect(seen.result).toBeInstanceOf(Error);
    expect(seen.src!.destroyed).toBe(true);
    expect(seen.src!.pulled!).toBeLessThan(total);
  });

  it('a source that fails mid-body cuts the response short (never a body that looks whole)', async () => {
    const total = 8 * MiB;
    const seen: { result?: unknown } = {};
    const port = await serve(() => source(total, 3 * MiB), seen, total);
    const outcome = await new Promise<string>((resolve) => {
      http.get(`http://127.0.0.1:${port}/`, (res) => {
        let n = 0;
        res.on('data', (c: Buffer) => (n += c.length));
        res.on('end', () => resolve(`ended at ${n}`));
        res.on('error', () => resolve('cut'));
        res.on('aborted', () => resolve('cut'));
      }).on('error', () => resolve('cut'));
    });
    expect(outcome).toBe('cut');
    expect(String(seen.result)).toMatch(/provider stream broke/);
  });
});
