/** stats() and events add up to what the server saw; logs explain retries without leaking secrets. */
import { afterEach, describe, expect, it } from 'vitest';
import { VfsError } from '../../src/errors.js';
import { createLogger } from '../../src/log.js';
import { registerSecret } from '../../src/redact.js';
import { Scheduler } from '../../src/scheduler/index.js';
import { httpFetch, httpRequest } from '../../src/http/fetch.js';
import { seededRandom } from './seeded.js';
import { json, startServer } from './server.js';
import type { TestServer } from './server.js';

let server: TestServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

describe('Scheduler stats, events and logs', () => {
  it('stats() adds up to what the server saw', async () => {
    const pick = seededRandom(99);
    server = await startServer((_req, res) => {
      const r = pick();
      if (r < 0.12) json(res, 429, { message: 'slow down' }, { 'retry-after': '0' });
      else if (r < 0.2) json(res, 503, { message: 'capacity issue' }, { 'retry-after': '0' });
      else if (r < 0.3) json(res, 500, { message: 'oops' });
      else if (r < 0.35) json(res, 404, { message: 'not found' });
      else json(res, 200, { ok: true });
    });
    const s = new Scheduler({ concurrency: 4, maxAttempts: 3, baseDelayMs: 1, maxDelayMs: 5, random: seededRandom(5), adaptive: false });
    const events = { request: 0, retry: 0, throttle: 0, failure: 0 };
    s.on('request', () => events.request++);
    s.on('retry', () => events.retry++);
    s.on('throttle', () => events.throttle++);
    s.on('failure', () => events.failure++);
    const outcomes = await Promise.allSettled(
      Array.from({ length: 80 }, (_, i) => httpRequest(s, `${server!.url}/item/${i}`, {}, async (res) => {
        if (res.status === 404) throw new VfsError('ENOENT', 'no such item', { status: 404 });
        return res.status;
      })),
    );
    const errors = outcomes.flatMap((o) => (o.status === 'rejected' ? [o.reason as VfsError] : []));
    const notFound = errors.filter((e) => e.code === 'ENOENT').length;
    const failed = errors.length - notFound;
    const st = s.stats();
    const seen = server.seen.length;
    const throttledAnswers = (server.statuses.get(429) ?? 0) + (server.statuses.get(503) ?? 0);
    expect(st.requests).toBe(seen);
    expect(st.throttled).toBe(throttledAnswers);
    expect(st.failures).toBe(failed);
    expect(st.rejected).toBe(notFound);
    expect(st.succeeded).toBe(80 - failed - notFound);
    expect(st.calls).toBe(80);
    // Every request beyond the first of each call is a retry.
    expect(st.retries).toBe(seen - 80);
    expect(st).toMatchObject({ inFlight: 0, queued: 0, cancelled: 0 });
    expect(events).toEqual({ request: seen, retry: st.retries, throttle: throttledAnswers, failure: failed });
    expect(failed).toBeGreaterThan(0); // the seeded script does exhaust some calls
    expect(notFound).toBeGreaterThan(0);
    expect(st.retries).toBeGreaterThan(10);
  });

  it('logs what was retried and why, without tokens or signed URLs', async () => {
    const password = 'hunter2-very-secret';
    registerSecret(password);
    server = await startServer((_req, res, _s, i) =>
      i === 0
        ? json(res, 503, { message: `backend said token=abcdef123456 for user with password ${password}` }, { 'retry-after': '0' })
        : i === 1
          ? json(res, 500, { error: { message: 'Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl leaked' } })
          : json(res, 200, {}));
    const lines: string[] = [];
    const logger = createLogger({ level: 'debug', write: (l) => lines.push(l) });
    const s = new Scheduler({ name: 'couchdrop', logger, baseDelayMs: 1, random: seededRandom() });
    const res = await httpFetch(s, `${server.url}/file/download?path=%2Fa.txt&sign=SIGNATURE-abc&token=tok-xyz-123`, {
      headers: { token: 'header-token-value' },
    });
    expect(res.status).toBe(200);
    const all = lines.join('\n');
    expect(all).toMatch(/retrying GET .*\/file\/download.*attempt 2\/5.*HTTP 503/);
    expect(all).toMatch(/attempt 3\/5.*HTTP 500/);
    expect(all).toMatch(/throttled.*pausing all requests/);
    for (const secret of ['SIGNATURE-abc', 'tok-xyz-123', 'abcdef123456', password, 'eyJhbGciOiJIUzI1NiJ9', 'header-token-value']) {
      expect(all).not.toContain(secret);
    }
  });

  it('error messages carry the redacted provider message, never the signed URL', async () => {
    server = await startServer((_req, res) => json(res, 502, { message: 'upstream https://s3.example/obj?X-Amz-Signature=deadbeef failed' }));
    const s = new Scheduler({ maxAttempts: 2, baseDelayMs: 1, random: seededRandom() });
    const err = (await httpFetch(s, `${server.url}/dl?sign=zzz-secret-sig`).catch((e: unknown) => e)) as Error & { details: { providerMessage?: string } };
    expect(err.message).not.toContain('zzz-secret-sig');
    expect(err.message).not.toContain('deadbeef');
    expect(err.details.providerMessage).toContain('upstream');
    expect(err.details.providerMessage).not.toContain('deadbeef');
  });

  it('finds an unannounced rate limit: lowers its pace on 429s and keeps most requests unthrottled', async () => {
    // A token bucket of 15 requests/s (burst 3) that answers 429 beyond it, no Retry-After. Low, so
    // that even a heavily loaded machine outruns it.
    const rate = 15;
    const burst = 3;
    let tokens = burst;
    let last = performance.now();
    server = await startServer((_req, res) => {
      const now = performance.now();
      tokens = Math.min(burst, tokens + ((now - last) / 1000) * rate);
      last = now;
      if (tokens >= 1) {
        tokens -= 1;
        json(res, 200, { ok: true });
      } else json(res, 429, { message: 'exceeded our rate limiting' });
    });
    const s = new Scheduler({ concurrency: 8, baseDelayMs: 50, maxDelayMs: 1000, maxAttempts: 8, random: seededRandom(3) });
    const rates: number[] = [];
    s.on('rate', (e) => rates.push(e.rate));
    // At least 6 s, and on until the server has pushed back a few times (at most 12 s). Learning a limit
    // costs a handful of 429s since one refusal alone is no longer a rate signal (issue 16 #17): 6 s
    // keeps the throttled share about the pace that was learnt, not about the learning.
    const begin = performance.now();
    const more = () => performance.now() < begin + 6000 || (s.stats().throttled < 3 && performance.now() < begin + 12_000);
    let ok = 0;
    await Promise.all(Array.from({ length: 20 }, async (_, w) => {
      while (more()) {
        await httpRequest(s, `${server!.url}/w/${w}`, {}, (r) => r.text());
        ok++;
      }
    }));
    const st = s.stats();
    expect(ok).toBeGreaterThan(0);
    expect(st.failures).toBe(0);
    expect(st.rate).not.toBeNull();
    // It learnt a pace in the right region (wide bounds: this machine may be loaded).
    expect(st.rate!).toBeLessThan(rate * 2);
    expect(st.rate!).toBeGreaterThan(rate / 8);
    expect(rates.length).toBeGreaterThan(0);
    // Unpaced, 20 callers would be throttled on nearly every request; paced, only a small share is.
    expect(st.throttled / st.requests).toBeLessThan(0.3);
  });
});
