// The content path (node:http under the Scheduler): retried like fetch, counted, abortable mid-body.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { contentRequest } from '../../src/http/content.js';
import { Scheduler } from '../../src/scheduler/index.js';

let server: http.Server;
let base = '';
let hits = 0;
let closedEarly = 0;

beforeAll(async () => {
  server = http.createServer((req, res) => {
    hits++;
    if (req.url === '/flaky' && hits % 2 === 1) {
      res.writeHead(503, { 'retry-after': '0' }).end('busy');
      return;
    }
    if (req.url === '/endless') {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      const chunk = Buffer.alloc(64 * 1024, 1);
      const pump = () => { while (res.write(chunk)); };
      res.on('drain', pump);
      res.on('close', () => { if (!res.writableEnded) closedEarly++; });
      pump();
      return;
    }
    res.writeHead(206, { 'content-range': 'bytes 0-4/5' }).end('hello');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

describe('contentRequest', () => {
  it('retries a 503 through the Scheduler and counts both attempts', async () => {
    hits = 0;
    const s = new Scheduler({ baseDelayMs: 1 });
    const res = await contentRequest(s, `${base}/flaky`, { headers: { Range: 'bytes=0-4' } });
    expect(res.status).toBe(206);
    expect(await res.text()).toBe('hello');
    expect(s.stats()).toMatchObject({ requests: 2, retries: 1, succeeded: 1 });
  });

  it('the caller\'s signal still stops the body after the Scheduler returned', async () => {
    closedEarly = 0;
    const s = new Scheduler();
    const ac = new AbortController();
    const res = await contentRequest(s, `${base}/endless`, { signal: ac.signal });
    let got = 0;
    await expect((async () => {
      for await (const chunk of res.body) {
        got += (chunk as Buffer).length;
        if (got > 1024 * 1024) ac.abort();
      }
    })()).rejects.toThrow();
    await new Promise((r) => setTimeout(r, 50));
    await expect.poll(() => closedEarly).toBe(1);
  });

  it('aborting before the headers arrive is ECANCELED', async () => {
    const s = new Scheduler();
    const ac = new AbortController();
    ac.abort();
    await expect(contentRequest(s, `${base}/x`, { signal: ac.signal })).rejects.toMatchObject({ code: 'ECANCELED' });
  });
});
