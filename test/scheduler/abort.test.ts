/** Abort and per-attempt timeouts: an aborted call leaves the queue or cancels its request at once. */
import { getEventListeners } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { VfsError } from '../../src/errors.js';
import { Scheduler } from '../../src/scheduler/index.js';
import { httpFetch, httpRequest } from '../../src/http/fetch.js';
import { expectCode } from '../helpers.js';
import { seededRandom } from './seeded.js';
import { json, startServer, waitFor } from './server.js';
import type { TestServer } from './server.js';

let server: TestServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('Scheduler abort and timeout', () => {
  it('an aborted queued call leaves the queue at once and never reaches the server', async () => {
    const closed: string[] = [];
    server = await startServer((req) => {
      req.socket.on('close', () => closed.push(req.url ?? ''));
      // never answers: the first call holds the only slot
    });
    const s = new Scheduler({ concurrency: 1, timeoutMs: 0, random: seededRandom() });
    const holder = new AbortController();
    const first = httpFetch(s, `${server.url}/slow`, { signal: holder.signal });
    first.catch(() => undefined);
    await waitFor(() => server!.seen.length === 1);
    const queued = new AbortController();
    const second = httpFetch(s, `${server.url}/queued`, { signal: queued.signal });
    await waitFor(() => s.stats().queued === 1);
    expect(s.stats()).toMatchObject({ inFlight: 1, queued: 1 });
    queued.abort();
    await expectCode(second, 'ECANCELED');
    expect(s.stats().queued).toBe(0);
    // Now cancel the running one: its request is torn down too.
    holder.abort();
    await expectCode(first, 'ECANCELED');
    await waitFor(() => closed.includes('/slow'));
    await sleep(50);
    expect(server.seen.map((r) => r.path)).toEqual(['/slow']);
    expect(s.stats()).toMatchObject({ cancelled: 2, failures: 0, inFlight: 0, requests: 1 });
  });

  it('an abort during the backoff delay ends the call at once', async () => {
    server = await startServer((_req, res) => json(res, 500, { message: 'oops' }));
    // random → 0.999…: the backoff before attempt 2 would be ~60 s, far beyond the test timeout.
    const s = new Scheduler({ baseDelayMs: 60_000, maxDelayMs: 60_000, random: () => 0.999 });
    const ac = new AbortController();
    const retrying = new Promise<void>((resolve) => s.once('retry', () => resolve()));
    const call = httpFetch(s, `${server.url}/x`, { signal: ac.signal });
    await retrying;
    ac.abort();
    await expectCode(call, 'ECANCELED');
    expect(server.seen).toHaveLength(1);
  });

  it('a run attempt that ignores its signal still rejects at once on abort', async () => {
    const s = new Scheduler({ random: seededRandom() });
    const ac = new AbortController();
    const call = s.run(() => new Promise<never>(() => undefined), { signal: ac.signal, label: 'stuck' });
    await sleep(20);
    ac.abort();
    await expectCode(call, 'ECANCELED');
    expect(s.stats().inFlight).toBe(0);
  });

  it('an already-aborted signal fails before any request', async () => {
    server = await startServer((_req, res) => json(res, 200, {}));
    const s = new Scheduler();
    await expectCode(httpFetch(s, `${server.url}/x`, { signal: AbortSignal.abort() }), 'ECANCELED');
    expect(server.seen).toHaveLength(0);
  });

  it('times out a hung attempt and retries it', async () => {
    server = await startServer((_req, res, _s, i) => {
      if (i > 0) json(res, 200, { ok: true });
    });
    const s = new Scheduler({ timeoutMs: 800, baseDelayMs: 1, random: seededRandom() });
    const res = await httpFetch(s, `${server.url}/hang-once`);
    expect(await res.json()).toEqual({ ok: true });
    // Two on an idle machine; a starved one may time out the good attempt too.
    expect(server.seen.length).toBeGreaterThanOrEqual(2);
    expect(s.stats().requests).toBe(server.seen.length);
  });

  it('fails ETIMEDOUT when every attempt times out', async () => {
    server = await startServer(() => undefined);
    const s = new Scheduler({ maxAttempts: 2, baseDelayMs: 1, random: seededRandom() });
    const err = await expectCode(httpFetch(s, `${server.url}/hang`, { timeoutMs: 300 }), 'ETIMEDOUT');
    expect(err.retryable).toBe(true);
    expect(err.message).toContain('2 attempts');
    expect(s.stats()).toMatchObject({ requests: 2, retries: 1, failures: 1 });
  });

  it('the timeout of fetch covers the wait for headers, not the caller reading the body later', async () => {
    server = await startServer(async (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('a');
      await sleep(1500);
      res.end('b');
    });
    // Headers come at once (even on a loaded machine, well within 700 ms); the body takes 1.5 s.
    const s = new Scheduler({ timeoutMs: 700, random: seededRandom() });
    const res = await httpFetch(s, `${server.url}/slow-body`);
    expect(await res.text()).toBe('ab');
    expect(server.seen).toHaveLength(1);
  });

  it('the caller signal still cancels a body being read after fetch returned', async () => {
    server = await startServer(async (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('a');
      // never ends
    });
    const s = new Scheduler({ random: seededRandom() });
    const ac = new AbortController();
    const res = await httpFetch(s, `${server.url}/endless`, { signal: ac.signal });
    const reading = res.text();
    setTimeout(() => ac.abort(), 50);
    await expect(reading).rejects.toThrow();
  });

  it('request: the timeout covers consuming the body, and a timed-out read is retried', async () => {
    server = await startServer(async (_req, res, _s, i) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('x');
      if (i === 0) return; // stalls mid-body
      res.end('y');
    });
    const s = new Scheduler({ timeoutMs: 800, baseDelayMs: 1, random: seededRandom() });
    expect(await httpRequest(s, `${server.url}/stall`, {}, (r) => r.text())).toBe('xy');
    expect(server.seen.length).toBeGreaterThanOrEqual(2);
  });

  it('a long-lived signal shared by many calls keeps no listeners once they finish', async () => {
    server = await startServer((_req, res, _s, i) => json(res, i % 3 === 0 ? 503 : 200, { i }, { 'retry-after': '0' }));
    // Not adaptive: a third of requests failing would (rightly) slow the pace, and this is about listeners.
    const s = new Scheduler({ concurrency: 4, adaptive: false, random: seededRandom() });
    const shutdown = new AbortController(); // e.g. one signal for a whole mount
    await Promise.all(Array.from({ length: 60 }, (_, i) =>
      i % 2 === 0
        ? httpRequest(s, `${server!.url}/r/${i}`, { signal: shutdown.signal }, (r) => r.json())
        : s.run(async (_n, signal) => (await fetch(`${server!.url}/x/${i}`, { signal })).text(), { signal: shutdown.signal })));
    expect(getEventListeners(shutdown.signal, 'abort')).toHaveLength(0);
  });

  it('ECANCELED carries no retry promise', async () => {
    const s = new Scheduler();
    const err = await s.run(async () => 1, { signal: AbortSignal.abort() }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(VfsError);
    expect((err as VfsError).retryable).toBe(false);
  });
});
