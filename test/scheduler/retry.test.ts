/** What is retried and what is not: statuses, resets, bodies, idempotency, provider-level errors. */
import { Readable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { VfsError } from '../../src/errors.js';
import { Scheduler } from '../../src/scheduler/index.js';
import { httpFetch, httpRequest } from '../../src/http/fetch.js';
import { expectCode, pseudoRandomBytes } from '../helpers.js';
import { seededRandom } from './seeded.js';
import { json, startServer } from './server.js';
import type { TestServer } from './server.js';

let server: TestServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

const fast = () => new Scheduler({ baseDelayMs: 2, maxDelayMs: 20, random: seededRandom(7) });

describe('Scheduler retries', () => {
  it('retries a 500 a bounded number of times, then fails EIO with the status and provider message', async () => {
    server = await startServer((_req, res) => json(res, 500, { code: 500, message: 'internal error in shard 7' }));
    const s = new Scheduler({ maxAttempts: 3, baseDelayMs: 2, random: seededRandom() });
    const err = await expectCode(httpFetch(s, `${server.url}/files`), 'EIO');
    expect(server.seen).toHaveLength(3);
    expect(err.details).toMatchObject({ status: 500, providerMessage: 'internal error in shard 7' });
    expect(err.message).toContain('3 attempts');
    expect(s.stats()).toMatchObject({ requests: 3, retries: 2, failures: 1, throttled: 0 });
  });

  it('fails EAGAIN after attempts run out on 429s', async () => {
    server = await startServer((_req, res) => json(res, 429, { message: 'exceeded our rate limiting' }));
    const s = new Scheduler({ maxAttempts: 4, baseDelayMs: 2, random: seededRandom() });
    const err = await expectCode(httpFetch(s, `${server.url}/x`), 'EAGAIN');
    expect(server.seen).toHaveLength(4);
    expect(err.retryable).toBe(true);
    expect(err.details).toMatchObject({ status: 429, providerMessage: 'exceeded our rate limiting' });
  });

  it.each([403, 404, 400, 409])('does not retry %i: the response goes back to the adapter', async (status) => {
    server = await startServer((_req, res) => json(res, status, { message: 'no' }));
    const s = fast();
    const res = await httpFetch(s, `${server.url}/nope`);
    expect(res.status).toBe(status);
    expect(await res.json()).toEqual({ message: 'no' });
    expect(server.seen).toHaveLength(1);
    expect(s.stats()).toMatchObject({ requests: 1, retries: 0, failures: 0, succeeded: 1 });
  });

  it('does not retry a non-retryable VfsError thrown by run or consume, and passes it through', async () => {
    server = await startServer((_req, res) => json(res, 200, { code: 40004, msg: 'object existed' }));
    const s = fast();
    const err = await expectCode(
      httpRequest(s, `${server.url}/api/v4/file/create`, { method: 'POST' }, async (res) => {
        const body = (await res.json()) as { code: number; msg: string };
        throw new VfsError('EEXIST', 'exists', { providerCode: body.code, providerMessage: body.msg });
      }),
      'EEXIST',
    );
    expect(err.details.providerCode).toBe(40004);
    expect(server.seen).toHaveLength(1);
    expect(s.stats()).toMatchObject({ requests: 1, retries: 0, rejected: 1, failures: 0 });
  });

  it('retries when consume asks for it (an HTTP-200 envelope with a retryable code)', async () => {
    server = await startServer((_req, res, _s, i) => json(res, 200, i < 2 ? { code: 50001, msg: 'try later' } : { code: 0, data: 'ok' }));
    const s = fast();
    const data = await httpRequest(s, `${server.url}/api/v4/x`, {}, async (res) => {
      const body = (await res.json()) as { code: number; msg?: string; data?: string };
      if (body.code !== 0) throw new VfsError('EIO', body.msg ?? 'error', { retryable: true, providerCode: body.code });
      return body.data;
    });
    expect(data).toBe('ok');
    expect(server.seen).toHaveLength(3);
  });

  it('retries a GET whose body is cut short mid-read (request consumes and retries as one unit)', async () => {
    const payload = pseudoRandomBytes(200_000, 3);
    server = await startServer((req, res, _s, i) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': payload.length });
      if (i === 0) {
        res.write(payload.subarray(0, 50_000), () => setTimeout(() => req.socket.destroy(), 10));
        return;
      }
      res.end(payload);
    });
    const s = fast();
    const got = await httpRequest(s, `${server.url}/file.bin`, {}, async (res) => Buffer.from(await res.arrayBuffer()));
    expect(got.equals(payload)).toBe(true);
    expect(server.seen).toHaveLength(2);
    expect(s.stats()).toMatchObject({ requests: 2, retries: 1 });
  });

  it('retries a GET whose connection is reset before any answer', async () => {
    server = await startServer((req, res, _s, i) => {
      if (i === 0) req.socket.destroy();
      else json(res, 200, { ok: 1 });
    });
    const s = fast();
    expect(await httpRequest(s, `${server.url}/r`, {}, (r) => r.json())).toEqual({ ok: 1 });
    expect(server.seen).toHaveLength(2);
  });

  it('retries a connection refused', async () => {
    const probe = await startServer((_req, res) => json(res, 200, {}));
    const deadUrl = probe.url;
    await probe.close();
    const s = new Scheduler({ maxAttempts: 2, baseDelayMs: 2, random: seededRandom() });
    const err = await expectCode(httpFetch(s, `${deadUrl}/x`, { method: 'POST' }), 'EIO');
    // A refused connection never reached the server, so even a POST is tried again.
    expect(s.stats()).toMatchObject({ requests: 2, retries: 1, failures: 1 });
    expect(err.message).toMatch(/ECONNREFUSED/);
  });

  it('does not resend a POST after a reset or a 500 unless the caller says it is idempotent', async () => {
    server = await startServer((req, res, _s, i) => {
      if (req.url === '/reset' && i === 0) return void req.socket.destroy();
      json(res, req.url === '/fail' ? 502 : 200, { ok: true });
    });
    const s = fast();
    await expectCode(httpFetch(s, `${server.url}/reset`, { method: 'POST', body: '{}' }), 'EIO');
    expect(server.seen).toHaveLength(1);
    await expectCode(httpFetch(s, `${server.url}/fail`, { method: 'POST', body: '{}' }), 'EIO');
    expect(server.seen).toHaveLength(2);
    // Same 502, but the caller vouches that resending is harmless: retried up to maxAttempts (5).
    await expectCode(httpFetch(s, `${server.url}/fail`, { method: 'POST', body: '{}', idempotent: true }), 'EIO');
    expect(server.seen).toHaveLength(7);
  });

  it('resends a POST that was throttled (the server refused it, nothing happened)', async () => {
    server = await startServer((_req, res, _s, i) => json(res, i === 0 ? 429 : 201, { ok: true }, { 'retry-after': '0' }));
    const s = fast();
    const res = await httpFetch(s, `${server.url}/create`, { method: 'POST', body: '{"name":"a"}' });
    expect(res.status).toBe(201);
    expect(server.seen.map((r) => r.body)).toEqual([12, 12]);
  });

  it('never retries a stream body passed directly once bytes went out', async () => {
    server = await startServer((_req, res) => json(res, 503, { message: 'capacity issue' }));
    const s = fast();
    const body = Readable.from([pseudoRandomBytes(64 * 1024, 1), pseudoRandomBytes(64 * 1024, 2)]);
    const err = await expectCode(httpFetch(s, `${server.url}/upload`, { method: 'PUT', body }), 'EAGAIN');
    expect(server.seen).toHaveLength(1);
    expect(server.seen[0]!.body).toBe(128 * 1024);
    expect(err.retryable).toBe(false);
  });

  it('retries an upload whose body is a function returning a fresh stream', async () => {
    server = await startServer((_req, res, _s, i) => json(res, i < 2 ? 503 : 201, {}));
    const s = fast();
    let made = 0;
    const res = await httpFetch(s, `${server.url}/upload`, {
      method: 'PUT',
      body: () => {
        made++;
        return Readable.from([pseudoRandomBytes(100_000, 5)]);
      },
    });
    expect(res.status).toBe(201);
    expect(made).toBe(3);
    expect(server.seen.map((r) => r.body)).toEqual([100_000, 100_000, 100_000]);
  });

  it('sends a byte body again on each attempt', async () => {
    server = await startServer((_req, res, _s, i) => json(res, i === 0 ? 502 : 200, {}));
    const s = fast();
    const res = await httpFetch(s, `${server.url}/put`, { method: 'PUT', body: pseudoRandomBytes(1000) });
    expect(res.status).toBe(200);
    expect(server.seen.map((r) => r.body)).toEqual([1000, 1000]);
  });

  it('waits at least retryAfterMs from a VfsError thrown by run', async () => {
    const s = fast();
    const starts: number[] = [];
    const value = await s.run(async (n) => {
      starts.push(performance.now());
      if (n === 1) throw new VfsError('EIO', 'busy', { retryable: true, retryAfterMs: 300 });
      return n;
    });
    expect(value).toBe(2);
    expect(starts[1]! - starts[0]!).toBeGreaterThanOrEqual(295);
  });

  it('turns an unexpected error from run into a VfsError without retrying', async () => {
    const s = fast();
    let calls = 0;
    const err = await expectCode(s.run(async () => {
      calls++;
      throw new SyntaxError('Unexpected token < in JSON');
    }, { label: 'GET /api/v4/user' }), 'EIO');
    expect(calls).toBe(1);
    expect(err.details.operation).toBe('GET /api/v4/user');
  });

  it('a Retry-After beyond maxRetryAfterMs fails at once with EAGAIN and the wait in retryAfterMs', async () => {
    server = await startServer((_req, res) => json(res, 429, { message: 'quota' }, { 'retry-after': '3600' }));
    const s = new Scheduler({ maxRetryAfterMs: 10_000, random: seededRandom() });
    const err = await expectCode(httpFetch(s, `${server.url}/x`), 'EAGAIN');
    expect(err.retryAfterMs).toBe(3_600_000);
    expect(server.seen).toHaveLength(1);
  });
});
