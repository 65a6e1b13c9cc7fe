// ResumableStream over real HTTP responses: resumed where a body broke off, bounded for a slow
// reader, stops the download when the reader goes away, no resume after an abort.
import http from 'node:http';
import type { IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RESUMABLE_BUFFER_BYTES, ResumableStream } from '../../src/http/resumable-stream.js';
import type { ResumableSource } from '../../src/http/resumable-stream.js';

const DATA = Buffer.alloc(8 * 1024 * 1024);
for (let i = 0; i < DATA.length; i += 4) DATA.writeUInt32LE((Math.imul(i, 2654435761) ^ 0x5bd1e995) >>> 0, i);

let server: http.Server;
let base = '';
/** Cut the next `cuts` responses after this many bytes. */
let cutAfter = 0;
let cuts = 0;
/** Responses that were closed before all of their body was written. */
let closedEarly = 0;
/** Bytes the server managed to hand to its socket for the last response. */
let written = 0;

beforeAll(async () => {
  server = http.createServer((req, res) => {
    const m = /bytes=(\d+)-/.exec(req.headers.range ?? '');
    const start = m ? Number(m[1]) : 0;
    const body = DATA.subarray(start);
    res.writeHead(206, { 'content-length': body.length, 'content-range': `bytes ${start}-${DATA.length - 1}/${DATA.length}` });
    written = 0;
    const cut = cuts > 0 ? (cuts--, cutAfter) : Infinity;
    res.on('close', () => {
      if (!res.writableFinished) closedEarly++;
    });
    let at = 0;
    const pump = () => {
      while (at < body.length) {
        if (at >= cut) {
          res.socket?.destroy();
          return;
        }
        const piece = body.subarray(at, Math.min(body.length, at + 64 * 1024, cut));
        at += piece.length;
        written = at;
        if (!res.write(piece)) return;
      }
      res.end();
    };
    res.on('drain', pump);
    pump();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/f`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

function get(offset: number, signal?: AbortSignal): Promise<ResumableSource> {
  return new Promise((resolve, reject) => {
    const req = http.get(base, { headers: { range: `bytes=${offset}-` }, agent: false, ...(signal ? { signal } : {}) }, (res: IncomingMessage) => {
      resolve({ body: res, expected: Number(res.headers['content-length']) });
    });
    req.once('error', reject);
  });
}

function resumable(first: ResumableSource, opens: number[], extra: { signal?: AbortSignal; maxResumes?: number } = {}): ResumableStream {
  return new ResumableStream({
    first,
    signal: extra.signal,
    maxResumes: extra.maxResumes ?? 3,
    canResume: (e) => (e as { retryable?: boolean }).retryable === true || /ECONNRESET|aborted|socket hang up/i.test(String((e as Error).message ?? e)) || (e as { code?: string }).code === 'ECONNRESET',
    reopen: (delivered) => {
      opens.push(delivered);
      return get(delivered, extra.signal);
    },
    lengthError: (got, expected) => Object.assign(new Error(`short: ${got} of ${expected}`), { retryable: true }),
    mapError: (e) => Object.assign(new Error(`mapped: ${(e as Error).message}`), { cause: e }),
  });
}

async function collect(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of stream) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

describe('ResumableStream', () => {
  it('a body cut mid-way is resumed from the byte it stopped at, and the bytes are whole', async () => {
    cutAfter = 3 * 1024 * 1024 + 123;
    cuts = 2;
    const opens: number[] = [];
    const got = await collect(resumable(await get(0), opens));
    expect(got.equals(DATA)).toBe(true);
    expect(opens).toHaveLength(2);
    // Each resume starts where the delivered bytes end (at most the cut: the last bytes before a
    // reset may never leave the server).
    expect(opens[0]).toBeGreaterThan(0);
    expect(opens[0]).toBeLessThanOrEqual(cutAfter);
  });

  it('a body cut every time fails, after maxResumes, with the mapped error', async () => {
    cutAfter = 1024 * 1024;
    cuts = 10;
    const opens: number[] = [];
    await expect(collect(resumable(await get(0), opens, { maxResumes: 2 }))).rejects.toThrow(/^mapped: /);
    expect(opens).toHaveLength(2);
    cuts = 0;
  });

  it('a body shorter than its announced length is an error that is resumed', async () => {
    const opens: number[] = [];
    // The first body is the last 1 MiB only, but announced as the whole file: it ends short.
    const first = await get(DATA.length - 1024 * 1024);
    const stream = resumable({ body: first.body, expected: DATA.length }, opens);
    const got = await collect(stream);
    // Resumed at the byte count it delivered (1 MiB), as if the body had been the file from 0.
    expect(opens).toEqual([1024 * 1024]);
    expect(got.equals(Buffer.concat([DATA.subarray(DATA.length - 1024 * 1024), DATA.subarray(1024 * 1024)]))).toBe(true);
  });

  it('a slow reader holds a bounded buffer and still gets every byte', async () => {
    const opens: number[] = [];
    const stream = resumable(await get(0), opens);
    // Nobody reads for a while: the stream fills its buffer and pauses the response.
    await new Promise((r) => setTimeout(r, 300));
    expect(stream.readableLength).toBeLessThanOrEqual(RESUMABLE_BUFFER_BYTES + 64 * 1024);
    // The server could not write everything: backpressure reached the socket.
    expect(written).toBeLessThan(DATA.length);
    const parts: Buffer[] = [];
    for await (const c of stream) {
      parts.push(c as Buffer);
      if (parts.length % 16 === 0) await new Promise((r) => setTimeout(r, 1));
    }
    expect(Buffer.concat(parts).equals(DATA)).toBe(true);
    expect(opens).toEqual([]);
  });

  it('a reader that goes away mid-body stops the download', async () => {
    const before = closedEarly;
    const stream = resumable(await get(0), []);
    await new Promise<void>((resolve) => stream.once('data', () => resolve()));
    stream.destroy();
    await new Promise((r) => setTimeout(r, 100));
    for (let i = 0; i < 50 && closedEarly === before; i++) await new Promise((r) => setTimeout(r, 20));
    expect(closedEarly).toBe(before + 1);
  });

  it('an abort fails the read at once and is never resumed', async () => {
    const ac = new AbortController();
    const opens: number[] = [];
    const first = await get(0, ac.signal);
    const stream = resumable(first, opens, { signal: ac.signal });
    const done = collect(stream);
    await new Promise<void>((resolve) => stream.once('data', () => resolve()));
    ac.abort(new Error('user went away'));
    await expect(done).rejects.toThrow(/^mapped: /);
    expect(opens).toEqual([]);
  });
});
