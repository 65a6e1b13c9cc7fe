/**
 * Limits: 50 WebDAV clients listing and reading at once through serveWebdav over CloudreveVfs and
 * its emulator keep the server's memory and open connections bounded, and a client that stops
 * reading a large GET does not stall the others. Connections are counted from the kernel's table
 * (/proc/net/tcp); memory is the process RSS. The bounds are generous on purpose (no timing, no
 * tight figures on a shared machine): they catch buffering whole files or leaking sockets.
 */
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CloudreveVfs, startCloudreveEmulator } from '../../adapters/cloudreve/index.js';
import type { CloudreveEmulator } from '../../adapters/cloudreve/index.js';
import { serveWebdav } from '../../mount/webdav.js';
import type { WebdavServer } from '../../mount/webdav.js';
import { pseudoRandomBytes, sha256 } from '../helpers.js';

const MiB = 1024 * 1024;
const CLIENTS = 50;
const BIG = pseudoRandomBytes(8 * MiB, 21);
const HUGE_SIZE = 64 * MiB;

/** ESTABLISHED TCP sockets whose local port is `port` (the server's side of each connection). */
function establishedOn(port: number): number {
  let n = 0;
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length < 4) continue;
      const localPort = parseInt(cols[1]!.split(':')[1] ?? '', 16);
      if (localPort === port && cols[3] === '01') n++;
    }
  }
  return n;
}

describe('many clients and a stalled one', () => {
  let emu: CloudreveEmulator;
  let vfs: CloudreveVfs;
  let server: WebdavServer;
  const small: Record<string, string> = {};

  beforeAll(async () => {
    for (let i = 0; i < 30; i++) small[`f${i}.txt`] = `small file ${i} `.repeat(50);
    emu = await startCloudreveEmulator({ seed: { docs: small, 'big.bin': BIG, 'huge.bin': pseudoRandomBytes(HUGE_SIZE, 22) } });
    vfs = new CloudreveVfs({ baseUrl: emu.url, email: emu.email, password: emu.password });
    server = await serveWebdav(vfs);
  }, 60_000);
  afterAll(async () => {
    await server?.close();
    await vfs?.close();
    await emu?.close();
  });

  it('50 clients listing and reading keep connections and memory bounded, past a reader that stopped', async () => {
    const emuPort = Number(new URL(emu.url).port);
    // Warm up once (login, first listing) so the baseline is a running server.
    expect((await fetch(server.url + 'docs/', { method: 'PROPFIND', headers: { Depth: '1' } })).status).toBe(207);
    const rssBefore = process.memoryUsage().rss;

    // The stalled client: asks for 64 MiB, takes the first bytes, then stops reading.
    let received = Buffer.alloc(0);
    let bodyBytes = -1; // -1 until the header is complete
    let stalledClosed = false;
    let onProgress: () => void = () => {};
    const stalled: Socket = connect(server.port, '127.0.0.1');
    stalled.on('error', () => {});
    stalled.on('close', () => {
      stalledClosed = true;
      onProgress();
    });
    stalled.on('data', (d: Buffer) => {
      if (bodyBytes < 0) {
        received = Buffer.concat([received, d]);
        const end = received.indexOf('\r\n\r\n');
        if (end >= 0) bodyBytes = received.length - end - 4;
      } else bodyBytes += d.length;
      onProgress();
    });
    const firstBytes = new Promise<void>((resolve) => (onProgress = resolve));
    stalled.write(`GET /huge.bin HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
    await firstBytes;
    stalled.pause();
    expect(received.toString('latin1')).toMatch(/^HTTP\/1\.1 200/);

    let peakServer = 0;
    let peakUpstream = 0;
    let peakRss = 0;
    const sampler = setInterval(() => {
      peakServer = Math.max(peakServer, establishedOn(server.port));
      peakUpstream = Math.max(peakUpstream, establishedOn(emuPort));
      peakRss = Math.max(peakRss, process.memoryUsage().rss);
    }, 50);

    const names = Object.keys(small);
    let bigReads = 0;
    const client = async (id: number) => {
      for (let round = 0; round < 3; round++) {
        const list = await fetch(server.url + 'docs/', { method: 'PROPFIND', headers: { Depth: '1' } });
        expect(list.status).toBe(207);
        const xml = await list.text();
        expect(xml).toContain('f29.txt');
        const name = names[(id * 7 + round) % names.length]!;
        const file = await fetch(server.url + 'docs/' + name);
        expect(await file.text()).toBe(small[name]);
        if ((id + round) % 5 === 0) {
          const big = await fetch(server.url + 'big.bin');
          expect(sha256(Buffer.from(await big.arrayBuffer()))).toBe(sha256(BIG));
          bigReads++;
        }
        const part = await fetch(server.url + 'big.bin', { headers: { Range: `bytes=${id * 1000}-${id * 1000 + 65_535}` } });
        expect(part.status).toBe(206);
        expect(sha256(Buffer.from(await part.arrayBuffer()))).toBe(sha256(BIG.subarray(id * 1000, id * 1000 + 65_536)));
      }
    };
    try {
      await Promise.all(Array.from({ length: CLIENTS }, (_, i) => client(i)));
    } finally {
      clearInterval(sampler);
    }
    expect(bigReads).toBe(30);

    // Everyone else finished while the stalled client still holds its connection, most bytes unsent.
    expect(stalledClosed).toBe(false);
    expect(bodyBytes).toBeLessThan(HUGE_SIZE / 2);
    const rssGrowth = peakRss - rssBefore;
    console.log(`[limits] ${CLIENTS} clients: peak ${peakServer} server connections, ${peakUpstream} upstream, RSS +${(rssGrowth / MiB).toFixed(0)} MiB at peak; the stalled client had ${(bodyBytes / MiB).toFixed(1)} MiB`);
    // fetch's pool may open a second connection for a client whose last answer is still draining:
    // at most two per client, plus the stalled one. The upstream side is the Scheduler's pool.
    expect(peakServer).toBeLessThanOrEqual(2 * CLIENTS + 1);
    expect(peakUpstream).toBeLessThanOrEqual(40);
    // 30 reads of 8 MiB and a 64 MiB download in progress: buffering whole files would cost far more.
    expect(rssGrowth).toBeLessThan(400 * MiB);

    // The stalled client can still finish its download, complete.
    await new Promise<void>((resolve, reject) => {
      onProgress = () => {
        if (bodyBytes >= HUGE_SIZE) resolve();
        else if (stalledClosed) reject(new Error(`the stalled download was cut off at ${bodyBytes} bytes`));
      };
      stalled.resume();
    });
    expect(bodyBytes).toBe(HUGE_SIZE);
    stalled.destroy();
  }, 180_000);

  it('idle connections are released, and the server still serves', async () => {
    // The server's keep-alive timeout is 10 s: after it, the idle pool is gone.
    const deadline = Date.now() + 30_000;
    let open = establishedOn(server.port);
    while (open > 2 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 500));
      open = establishedOn(server.port);
    }
    expect(open).toBeLessThanOrEqual(2);
    const res = await fetch(server.url + 'docs/f1.txt');
    expect(await res.text()).toBe(small['f1.txt']);
  }, 60_000);
});
