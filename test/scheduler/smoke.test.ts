import { afterEach, describe, expect, it } from 'vitest';
import { Scheduler } from '../../src/scheduler.js';
import { json, startServer } from './server.js';
import type { TestServer } from './server.js';

let server: TestServer | undefined;
afterEach(async () => { await server?.close(); server = undefined; });

describe('smoke', () => {
  it('retries a 503 then succeeds', async () => {
    server = await startServer((_req, res, _s, i) => (i < 2 ? json(res, 503, { message: 'capacity issue token=abc123456' }) : json(res, 200, { ok: true })));
    const s = new Scheduler({ baseDelayMs: 10 });
    const res = await s.fetch(server.url + '/x?sign=secret');
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ ok: true });
    expect(s.stats()).toMatchObject({ requests: 3, retries: 2, throttled: 2, failures: 0 });
  });
  it('gives up with EAGAIN', async () => {
    server = await startServer((_req, res) => json(res, 429, { message: 'exceeded our rate limiting' }, { 'retry-after': '0' }));
    const s = new Scheduler({ baseDelayMs: 10, maxAttempts: 3 });
    const err = await s.fetch(server.url + '/x').catch((e) => e);
    console.log(err, err.details);
    expect(err.code).toBe('EAGAIN');
  });
});
