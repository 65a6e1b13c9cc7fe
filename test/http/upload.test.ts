// File uploads over node:http under the Scheduler (src/http/upload.ts): exact Content-Length, the
// whole body again on a retry, abortable mid-body; and neither adapter sends file bytes through
// global fetch any more (every policy flow of Cloudreve, Couchdrop's upload).
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { contentUpload } from '../../src/http/upload.js';
import { VfsError } from '../../src/errors.js';
import { Scheduler } from '../../src/scheduler/index.js';
import { collect, pseudoRandomBytes } from '../helpers.js';
import { setup } from '../cloudreve/fixtures.js';
import { harness } from '../couchdrop/fixtures.js';

interface Seen { url: string; length: string | undefined; chunked: boolean; bytes: number; complete: boolean; closed?: boolean }
let server: http.Server;
let base = '';
const seen: Seen[] = [];

beforeAll(async () => {
  server = http.createServer((req, res) => {
    const entry: Seen = { url: req.url ?? '', length: req.headers['content-length'], chunked: req.headers['transfer-encoding'] === 'chunked', bytes: 0, complete: false };
    seen.push(entry);
    if (req.url === '/slow') {
      // Keep reading, never answer: the client trickles its body until it is aborted.
      req.on('data', (c: Buffer) => { entry.bytes += c.length; });
      req.once('close', () => { entry.closed = true; });
      return;
    }
    req.on('data', (c: Buffer) => { entry.bytes += c.length; });
    req.on('end', () => {
      entry.complete = true;
      const attempt = seen.filter((s) => s.url === req.url).length;
      if (req.url?.startsWith('/flaky') && attempt === 1) res.writeHead(503, { 'retry-after': '0' }).end('busy');
      else if (req.url === '/throttled') res.writeHead(429).end('{"error":"slow down"}');
      else res.writeHead(200, { etag: '"e1"' }).end(`got ${entry.bytes}`);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => {
  server.closeAllConnections();
  server.close(() => r());
}));
afterEach(() => { seen.length = 0; });

describe('contentUpload', () => {
  it('sends a Buffer with its exact Content-Length, and all of it again after a 503', async () => {
    const s = new Scheduler({ baseDelayMs: 1 });
    const body = pseudoRandomBytes(300_000);
    const answer = await contentUpload(s, `${base}/flaky-buffer`, { body, length: body.length }, async (res) => `${res.status} ${await res.text()}`);
    expect(answer).toBe('200 got 300000');
    expect(seen).toHaveLength(2);
    for (const r of seen) expect(r).toMatchObject({ length: '300000', chunked: false, bytes: 300_000, complete: true });
    expect(s.stats()).toMatchObject({ requests: 2, retries: 1, succeeded: 1 });
  });

  it('opens a stream body afresh for each attempt', async () => {
    const s = new Scheduler({ baseDelayMs: 1 });
    const data = pseudoRandomBytes(1_000_000, 3);
    let opened = 0;
    const body = () => {
      opened++;
      return Readable.from([data.subarray(0, 400_000), data.subarray(400_000)]);
    };
    const answer = await contentUpload(s, `${base}/flaky-stream`, { method: 'POST', body, length: data.length, idempotent: true }, (res) => res.text());
    expect(answer).toBe('got 1000000');
    expect(opened).toBe(2);
    expect(seen.map((r) => r.bytes)).toEqual([1_000_000, 1_000_000]);
  });

  it('gives a retryable status to the adapter\'s own error hook, retried as its code says', async () => {
    const s = new Scheduler({ baseDelayMs: 1, maxAttempts: 2, adaptive: false });
    const hooked: number[] = [];
    const statusError = (status: number, text: string) => {
      hooked.push(status);
      return new VfsError('EAGAIN', `provider says ${text}`, { status, retryable: true });
    };
    const err = await contentUpload(s, `${base}/throttled`, { body: Buffer.from('x'), length: 1, statusError }, async () => 'never').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(VfsError);
    expect((err as VfsError).code).toBe('EAGAIN');
    expect(hooked).toEqual([429, 429]);
  });

  it('an abort stops an upload mid-body (ECANCELED), and the server sees the connection go', async () => {
    const s = new Scheduler();
    const ac = new AbortController();
    const big = () => Readable.from((async function* () {
      for (let i = 0; i < 1000; i++) {
        yield Buffer.alloc(64 * 1024, i);
        await new Promise((r) => setTimeout(r, 10));
      }
    })());
    const call = contentUpload(s, `${base}/slow`, { body: big, length: 1000 * 64 * 1024, signal: ac.signal }, async () => 'never');
    await expect.poll(() => seen[0]?.bytes ?? 0).toBeGreaterThan(0);
    ac.abort();
    await expect(call).rejects.toMatchObject({ code: 'ECANCELED' });
    expect(seen[0]!.complete).toBe(false);
    await expect.poll(() => seen[0]!.closed).toBe(true);
    expect(s.stats()).toMatchObject({ inFlight: 0, cancelled: 1 });
  });
});

/** Bytes of request bodies handed to global fetch while `fn` runs (streams counted as they are read). */
async function fetchBytesDuring(fn: () => Promise<void>): Promise<number> {
  const original = globalThis.fetch;
  let bytes = 0;
  const count = (body: unknown): unknown => {
    if (body == null) return body;
    if (typeof body === 'string') bytes += Buffer.byteLength(body);
    else if (body instanceof URLSearchParams) bytes += body.toString().length;
    else if (ArrayBuffer.isView(body) || body instanceof ArrayBuffer) bytes += (body as ArrayBuffer).byteLength;
    else if (typeof body === 'object' && Symbol.asyncIterator in body) {
      return (async function* () {
        for await (const c of body as AsyncIterable<Uint8Array>) {
          bytes += c.byteLength;
          yield c;
        }
      })();
    }
    return body;
  };
  globalThis.fetch = ((input: string | URL | Request, init?: RequestInit) => {
    return original(input, init?.body !== undefined ? { ...init, body: count(init.body) as BodyInit } : init);
  }) as typeof fetch;
  try {
    await fn();
  } finally {
    globalThis.fetch = original;
  }
  return bytes;
}

describe('uploads are off global fetch', () => {
  const MiB = 1024 * 1024;
  const TYPES = ['local', 'remote', 'onedrive', 's3', 'qiniu', 'upyun'] as const;

  it('Cloudreve: every byte of every storage flow goes over node:http, and arrives', async () => {
    const policies = [{ id: 'dflt', type: 'local' as const }, ...TYPES.map((type) => ({ id: `p-${type}`, type, chunk_size: 5 * MiB, chunk_concurrency: 2 }))];
    const seed = Object.fromEntries(TYPES.map((t) => [t, {}])) as Record<string, Record<string, never>>;
    const folderPolicies = Object.fromEntries(TYPES.map((t) => [`/${t}`, `p-${t}`]));
    const { vfs } = await setup({ seed, policies, folderPolicies, chunkSize: 5 * MiB }, { smallFileBytes: 0, stateDir: false });
    const data = pseudoRandomBytes(11 * MiB, 5);
    const viaFetch = await fetchBytesDuring(async () => {
      for (const type of TYPES) await vfs.write(`/${type}/f.bin`, Readable.from([data]), { size: data.length });
    });
    // JSON calls (session create, completes, callbacks) may still use fetch: a few KiB, not the files.
    expect(viaFetch).toBeLessThan(64 * 1024);
    for (const type of TYPES) expect((await collect(await vfs.read(`/${type}/f.bin`))).equals(data)).toBe(true);
  }, 60_000);

  it('Couchdrop: an upload (bytes and a spooled stream) goes over node:http, and arrives', async () => {
    const h = await harness();
    try {
      const data = pseudoRandomBytes(3 * MiB, 9);
      const viaFetch = await fetchBytesDuring(async () => {
        await h.vfs.write('/a.bin', data);
        await h.vfs.write('/b.bin', Readable.from([data.subarray(0, MiB), data.subarray(MiB)]));
      });
      expect(viaFetch).toBeLessThan(64 * 1024);
      expect((await collect(await h.vfs.read('/a.bin'))).equals(data)).toBe(true);
      expect((await collect(await h.vfs.read('/b.bin'))).equals(data)).toBe(true);
    } finally {
      await h.close();
    }
  }, 60_000);
});
