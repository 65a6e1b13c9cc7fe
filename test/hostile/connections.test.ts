/**
 * Slowloris and friends against a real serveWebdav over raw sockets: connection caps (in total and
 * per client address, a second address bound with `localAddress`), a stalled header, a stalled
 * body, a slow upload that keeps moving, pipelined floods, a long commit, and a client that stops
 * reading. Option values are shortened for the test; no assertion is about elapsed time, only about
 * what eventually happens.
 */
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { MemoryVfs } from '../../adapters/memory/index.js';
import { serveWebdav } from '../../mount/webdav.js';
import type { WebdavOptions, WebdavServer } from '../../mount/webdav.js';
import { readAll } from '../../src/streams.js';
import type { Entry, OpOptions, WriteData, WriteOptions } from '../../src/vfs.js';
import { pseudoRandomBytes, sha256 } from '../helpers.js';
import { statusOf } from '../webdav/helpers.js';

/** TCP state of the server's side of the connection from `clientPort`, from /proc/net/tcp. */
function serverSideState(serverPort: number, clientPort: number): string {
  const hex = (n: number) => n.toString(16).toUpperCase().padStart(4, '0');
  for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const cols = line.trim().split(/\s+/);
    if (cols[1]?.endsWith(':' + hex(serverPort)) && cols[2]?.endsWith(':' + hex(clientPort))) return cols[3] === '01' ? 'ESTABLISHED' : cols[3]!;
  }
  return 'GONE';
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A raw client connection that records what the server sends and whether it closed. */
class Client {
  readonly socket: Socket;
  text = '';
  isClosed = false;
  readonly closed: Promise<void>;
  private waiters: Array<() => void> = [];

  constructor(port: number, localAddress = '127.0.0.1') {
    this.socket = connect({ port, host: '127.0.0.1', localAddress });
    this.socket.on('error', () => {});
    this.socket.on('data', (d: Buffer) => {
      this.text += d.toString('latin1');
      this.wake();
    });
    this.closed = new Promise((resolve) =>
      this.socket.on('close', () => {
        this.isClosed = true;
        this.wake();
        resolve();
      }),
    );
  }

  send(data: string | Buffer): void {
    if (!this.socket.destroyed) this.socket.write(data);
  }

  /** Resolve once `test` holds (checked on every event); fail after `ms` (a generous bound, not a measurement). */
  async until(test: () => boolean, what: string, ms = 20_000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!test()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; got ${JSON.stringify(this.text.slice(0, 300))}`);
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 100);
      });
    }
  }

  /** Wait for `count` complete answers (status lines) on this connection. */
  answers(count: number): Promise<void> {
    return this.until(() => (this.text.match(/HTTP\/1\.1 \d{3}/g) ?? []).length >= count, `${count} answer(s)`);
  }

  close(): void {
    this.socket.destroy();
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
}

async function serve(tree: Record<string, string> = {}, options: WebdavOptions = {}, vfs?: MemoryVfs): Promise<{ vfs: MemoryVfs; server: WebdavServer }> {
  const v = vfs ?? (await MemoryVfs.fromTree(tree));
  if (vfs) for (const [name, content] of Object.entries(tree)) await v.write('/' + name, Buffer.from(content));
  return { vfs: v, server: await serveWebdav(v, { cache: false, protectProcess: false, ...options }) };
}

const GET = (path: string) => `GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`;

async function fetchFrom(port: number, localAddress: string, request: string): Promise<number> {
  const c = new Client(port, localAddress);
  c.send(request.replace('\r\n\r\n', '\r\nConnection: close\r\n\r\n'));
  await c.closed;
  return statusOf(c.text);
}

async function content(vfs: MemoryVfs, path: string): Promise<string> {
  return (await readAll(await vfs.read(path))).toString();
}

describe('connection caps', () => {
  it('the connection beyond the per-address cap is closed, while another address is still served', async () => {
    const { server } = await serve({ 'f.txt': 'hello' }, { maxConnectionsPerAddress: 3 });
    const held: Client[] = [];
    try {
      // Three keep-alive connections from 127.0.0.1, each proven counted by an answer.
      for (let i = 0; i < 3; i++) {
        const c = new Client(server.port);
        c.send(GET('/f.txt'));
        await c.answers(1);
        held.push(c);
      }
      const extra = new Client(server.port);
      extra.send(GET('/f.txt'));
      await extra.closed;
      expect(statusOf(extra.text)).toBe(0); // closed unanswered
      // Another client address is not affected.
      expect(await fetchFrom(server.port, '127.0.0.2', GET('/f.txt'))).toBe(200);
      // The held connections still work, and a freed slot is usable again.
      held[0]!.send(GET('/f.txt'));
      await held[0]!.answers(2);
      held.pop()!.close();
      let status = 0;
      for (let i = 0; i < 50 && status !== 200; i++) {
        status = await fetchFrom(server.port, '127.0.0.1', GET('/f.txt'));
        if (status !== 200) await sleep(50); // the server sees the close a moment after the client
      }
      expect(status).toBe(200);
    } finally {
      for (const c of held) c.close();
      await server.close();
    }
  });

  it('the connection beyond the global cap is closed; the slots come back when clients leave', async () => {
    const { server } = await serve({ 'f.txt': 'hello' }, { maxConnections: 4, maxConnectionsPerAddress: 100 });
    const held: Client[] = [];
    try {
      for (let i = 0; i < 4; i++) {
        const c = new Client(server.port, `127.0.0.${10 + i}`);
        c.send(GET('/f.txt'));
        await c.answers(1);
        held.push(c);
      }
      const extra = new Client(server.port, '127.0.0.20');
      extra.send(GET('/f.txt'));
      await extra.closed;
      expect(statusOf(extra.text)).toBe(0);
      held.pop()!.close();
      let status = 0;
      for (let i = 0; i < 50 && status !== 200; i++) {
        status = await fetchFrom(server.port, '127.0.0.21', GET('/f.txt'));
        if (status !== 200) await sleep(50);
      }
      expect(status).toBe(200);
    } finally {
      for (const c of held) c.close();
      await server.close();
    }
  });
});

describe('timeouts', () => {
  it('a header that never ends is answered 408 and closed; others are served meanwhile', async () => {
    const { server } = await serve({ 'f.txt': 'hello' }, { headersTimeout: 300 });
    try {
      const slow = new Client(server.port);
      slow.send('GET /f.txt HTTP/1.1\r\nHost: x\r\nX-Slow: ');
      const silent = new Client(server.port); // connects and never sends a byte
      expect(await fetchFrom(server.port, '127.0.0.2', GET('/f.txt'))).toBe(200);
      await slow.closed;
      expect(statusOf(slow.text)).toBe(408);
      await silent.closed;
      // The same holds for the second request on a kept-alive connection.
      const second = new Client(server.port);
      second.send(GET('/f.txt'));
      await second.answers(1);
      second.send('GET /f.txt HTTP/1.1\r\nHo');
      await second.closed;
      expect(second.text).toMatch(/^HTTP\/1\.1 200[\s\S]*HTTP\/1\.1 408/);
    } finally {
      await server.close();
    }
  });

  it('a PUT body that stalls fails the request, closes the connection and keeps the old file', async () => {
    const { vfs, server } = await serve({ 'f.txt': 'the old content' }, { bodyIdleTimeout: 300 });
    try {
      const sized = new Client(server.port);
      sized.send('PUT /f.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n' + 'x'.repeat(100));
      const chunked = new Client(server.port);
      chunked.send('PUT /new.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n64\r\n' + 'y'.repeat(100) + '\r\n');
      const propfind = new Client(server.port);
      propfind.send('PROPFIND / HTTP/1.1\r\nHost: x\r\nDepth: 1\r\nContent-Length: 500\r\n\r\n<?xml version="1.0"?>');
      // Invited with "100 Continue", then nothing: the clock runs from the invitation.
      const invited = new Client(server.port);
      invited.send('PUT /f.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\nExpect: 100-continue\r\n\r\n');
      await Promise.all([sized.closed, chunked.closed, propfind.closed, invited.closed]);
      expect(invited.text).toMatch(/^HTTP\/1\.1 100 Continue/);
      expect([0, 408]).toContain(statusOf(sized.text));
      expect(await content(vfs, '/f.txt')).toBe('the old content');
      await expect(vfs.stat('/new.txt')).rejects.toMatchObject({ code: 'ENOENT' });
      expect(await fetchFrom(server.port, '127.0.0.1', GET('/f.txt'))).toBe(200);
    } finally {
      await server.close();
    }
  });

  it('a slow upload that keeps moving outlives the idle timeout many times over and is stored whole', async () => {
    const { vfs, server } = await serve({ 'f.txt': 'old' }, { bodyIdleTimeout: 1000 });
    try {
      const payload = pseudoRandomBytes(60 * 1024, 7);
      const c = new Client(server.port);
      c.send(`PUT /f.txt HTTP/1.1\r\nHost: x\r\nContent-Length: ${payload.length}\r\n\r\n`);
      // 60 pieces 50 ms apart: far longer in total than the timeout, never idle for long.
      for (let i = 0; i < 60; i++) {
        c.send(payload.subarray(i * 1024, (i + 1) * 1024));
        await sleep(50);
        expect(c.isClosed).toBe(false);
      }
      await c.answers(1);
      expect(statusOf(c.text)).toBe(204);
      expect(sha256(await readAll(await vfs.read('/f.txt')))).toBe(sha256(payload));
      c.close();
    } finally {
      await server.close();
    }
  });

  it('waiting for a slow Vfs before the body is read is not the client stalling', async () => {
    // The handler stats the target first; a slow provider must not make a complete body "stalled".
    class SlowStat extends MemoryVfs {
      override async stat(path: string, options?: OpOptions): Promise<Entry> {
        await sleep(800);
        return super.stat(path, options);
      }
    }
    const { vfs, server } = await serve({ 'f.txt': 'old' }, { bodyIdleTimeout: 200 }, new SlowStat());
    try {
      // 4 MiB: more than the request's buffer and the kernel's, so the client is held back by us.
      const payload = pseudoRandomBytes(4 * 1024 * 1024, 8);
      const c = new Client(server.port);
      c.send(`PUT /f.txt HTTP/1.1\r\nHost: x\r\nContent-Length: ${payload.length}\r\nConnection: close\r\n\r\n`);
      c.send(payload);
      await c.closed;
      expect(statusOf(c.text)).toBe(204);
      expect(sha256(await readAll(await vfs.read('/f.txt')))).toBe(sha256(payload));
    } finally {
      await server.close();
    }
  });

  it('a client waiting for our "100 Continue" (held back by the failed-login delay) is not stalling', async () => {
    const basic = (password: string) => 'Basic ' + Buffer.from(`ann:${password}`).toString('base64');
    const { vfs, server } = await serve({}, { bodyIdleTimeout: 200, users: { ann: 'ann-password-long' } });
    try {
      // Six failures: the next attempt from this address waits 500 ms before it is checked.
      for (let i = 0; i < 6; i++) {
        expect(await fetchFrom(server.port, '127.0.0.5', `GET / HTTP/1.1\r\nHost: x\r\nAuthorization: ${basic('wrong' + i)}\r\n\r\n`)).toBe(401);
      }
      const c = new Client(server.port, '127.0.0.5');
      c.send(`PUT /f.txt HTTP/1.1\r\nHost: x\r\nAuthorization: ${basic('ann-password-long')}\r\nContent-Length: 3\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n`);
      await c.until(() => c.text.startsWith('HTTP/1.1 100') || c.isClosed, 'the 100 Continue');
      c.send('new');
      await c.closed;
      expect(statusOf(c.text.replace(/^HTTP\/1\.1 100 Continue\r\n\r\n/, ''))).toBe(201);
      expect(await content(vfs, '/f.txt')).toBe('new');
    } finally {
      await server.close();
    }
  });

  it('a long commit after the body arrived is not cut by the idle timeout', async () => {
    // Uploading a big spooled file to the provider sends nothing to the client for minutes.
    class SlowCommit extends MemoryVfs {
      override async write(path: string, data: WriteData, options?: WriteOptions): Promise<Entry> {
        const body = await readAll(data as AsyncIterable<Uint8Array>);
        await sleep(1200);
        return super.write(path, body, options);
      }
    }
    const { vfs, server } = await serve({}, { idleTimeout: 200 }, new SlowCommit());
    try {
      const c = new Client(server.port);
      c.send('PUT /f.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nConnection: close\r\n\r\nnew');
      await c.closed;
      expect(statusOf(c.text)).toBe(201);
      expect(await content(vfs, '/f.txt')).toBe('new');
    } finally {
      await server.close();
    }
  });

  it('a client that stops reading a large answer is dropped after the idle timeout; others are served', async () => {
    const big = pseudoRandomBytes(16 * 1024 * 1024, 9);
    const vfs = await MemoryVfs.fromTree({});
    await vfs.write('/big.bin', big);
    const { server } = await serve({ 'f.txt': 'hello' }, { idleTimeout: 300 }, vfs);
    try {
      const c = new Client(server.port);
      c.socket.pause(); // reads nothing: the server's writes back up
      c.send(GET('/big.bin'));
      await new Promise((r) => c.socket.once('connect', r));
      expect(await fetchFrom(server.port, '127.0.0.2', GET('/f.txt'))).toBe(200);
      // A paused client cannot see the close; the kernel's table shows the server's side of the
      // connection leave ESTABLISHED (closed by the server, its unsent answer still queued).
      const clientPort = c.socket.localPort!;
      await c.until(() => serverSideState(server.port, clientPort) !== 'ESTABLISHED', 'the server to close its side');
      c.close();
    } finally {
      await server.close();
    }
  });
});

describe('per-connection requests', () => {
  it('a flood of pipelined requests runs only a bounded number of handlers and drops that connection', async () => {
    let active = 0;
    let most = 0;
    class Counting extends MemoryVfs {
      override async stat(path: string, options?: OpOptions): Promise<Entry> {
        active++;
        most = Math.max(most, active);
        try {
          await sleep(20);
          return await super.stat(path, options);
        } finally {
          active--;
        }
      }
    }
    const { server } = await serve({ 'f.txt': 'hello' }, {}, new Counting());
    try {
      const c = new Client(server.port);
      c.send(GET('/f.txt').repeat(2000));
      await c.closed;
      expect((c.text.match(/HTTP\/1\.1 200/g) ?? []).length).toBeLessThan(2000);
      expect(most).toBeLessThanOrEqual(32);
      // Pipelining within the bound still works.
      const ok = new Client(server.port);
      ok.send(GET('/f.txt').repeat(10));
      await ok.answers(10);
      expect((ok.text.match(/HTTP\/1\.1 200/g) ?? []).length).toBe(10);
      ok.close();
    } finally {
      await server.close();
    }
  });
});
