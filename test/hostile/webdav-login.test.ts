/**
 * Password guessing against a share with users: failed logins from one address are slowed down,
 * and the slowdown must hold for guesses sent in parallel too (otherwise 1000 connections make
 * 1000 guesses per delay, and the one right guess is answered at once).
 */
import { describe, expect, it } from 'vitest';
import { MemoryVfs } from '../../adapters/memory/index.js';
import { serveWebdav } from '../../mount/webdav.js';
import { rawRequest, statusOf } from '../webdav/helpers.js';

const basic = (user: string, password: string) => 'Basic ' + Buffer.from(`${user}:${password}`).toString('base64');

describe('failed-login throttling', () => {
  // Regression: credentials used to be checked before the delay, and parallel attempts were not
  // limited, so a burst of guesses got its answers at once (a right one with 200 straight away).
  it('a burst of parallel guesses from a throttled address is refused unchecked, and the owner still gets in', async () => {
    const vfs = await MemoryVfs.fromTree({ 'f.txt': 'hello' });
    const server = await serveWebdav(vfs, { users: { dave: 'the right password' }, cache: false });
    try {
      const get = (auth: string) => fetch(server.url + 'f.txt', { headers: { Authorization: auth } });
      // Free failures, then a few throttled ones (sequential, as a patient guesser would).
      for (let i = 0; i < 7; i++) expect((await get(basic('dave', `guess-${i}`))).status).toBe(401);
      // Now 20 at once, the right password among them.
      const burst = await Promise.all(
        Array.from({ length: 20 }, (_, i) => get(basic('dave', i === 19 ? 'the right password' : `burst-${i}`)).then(async (r) => {
          await r.arrayBuffer();
          return r.status;
        })),
      );
      const evaluated = burst.filter((s) => s === 200 || s === 401).length;
      const refused = burst.filter((s) => s === 429).length;
      expect(evaluated, `statuses: ${burst.join(',')}`).toBeLessThanOrEqual(1);
      expect(refused, `statuses: ${burst.join(',')}`).toBeGreaterThanOrEqual(19);
      // The owner, trying again one at a time, gets in (after the delay).
      let status = 0;
      for (let i = 0; i < 5 && status !== 200; i++) {
        const r = await get(basic('dave', 'the right password'));
        status = r.status;
        if (status === 429) await new Promise((resolve) => setTimeout(resolve, Number(r.headers.get('retry-after') ?? 1) * 1000));
      }
      expect(status).toBe(200);
    } finally {
      await server.close();
    }
  }, 60_000);

  it('Expect: 100-continue from a throttled address is not answered before the delay (no fast oracle)', async () => {
    const vfs = await MemoryVfs.fromTree({});
    const server = await serveWebdav(vfs, { users: { erin: 'erin-password-long' }, cache: false });
    try {
      for (let i = 0; i < 6; i++) expect((await fetch(server.url, { headers: { Authorization: basic('erin', `nope-${i}`) } })).status).toBe(401);
      // The right password with Expect: the 100 (and the 201) come only after the throttle's wait.
      const t0 = Date.now();
      const answer = await rawRequest(server.port, `PUT /x.bin HTTP/1.1\r\nHost: x\r\nAuthorization: ${basic('erin', 'erin-password-long')}\r\nContent-Length: 2\r\nExpect: 100-continue\r\nConnection: close\r\n\r\nok`, 3000);
      expect(Date.now() - t0).toBeGreaterThanOrEqual(450); // the 7th attempt waits 500 ms before it is checked
      expect(statusOf(answer.replace(/^HTTP\/1\.1 100 Continue\r\n\r\n/, ''))).toBe(201);
      expect(await (await fetch(server.url + 'x.bin', { headers: { Authorization: basic('erin', 'erin-password-long') } })).text()).toBe('ok');
    } finally {
      await server.close();
    }
  });
});
