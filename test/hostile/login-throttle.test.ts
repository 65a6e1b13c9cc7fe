/**
 * The failed-login throttle under a spray of addresses: it must stay bounded in memory without ever
 * forgetting a throttled address wholesale (it used to clear its whole table at 10 000 addresses),
 * count an IPv6 client by its /64, and slow the checks of one user name guessed from many addresses.
 * The counts are driven through BasicAuth directly; one test goes over real HTTP from 127.0.0.x.
 */
import { describe, expect, it } from 'vitest';
import { MemoryVfs } from '../../adapters/memory/index.js';
import { serveWebdav } from '../../mount/webdav.js';
import { BasicAuth } from '../../mount/webdav/auth.js';
import { addressGroup } from '../../mount/webdav/connections.js';
import { statusOf } from '../webdav/helpers.js';
import { connect } from 'node:net';

/** Fail `times` logins from `address` (as the router does: gate, then failed). */
function fail(auth: BasicAuth, address: string, times = 1, user?: string): void {
  for (let i = 0; i < times; i++) {
    auth.gate(address, user);
    auth.failed(address, user);
  }
}

const waitOf = (g: ReturnType<BasicAuth['gate']>) => ('wait' in g ? g.wait : Infinity);

describe('failed-login throttle table', () => {
  it('a spray of 30 000 addresses does not reset a throttled address, and memory stays bounded', () => {
    const auth = new BasicAuth({ dave: 'pw-dave-long' });
    fail(auth, '198.51.100.7', 6);
    expect(waitOf(auth.gate('198.51.100.7'))).toBeGreaterThan(0);
    auth.failed('198.51.100.7');
    for (let i = 0; i < 30_000; i++) fail(auth, `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);
    expect(waitOf(auth.gate('198.51.100.7'))).toBeGreaterThan(0);
    expect(auth.trackedAddresses).toBeLessThanOrEqual(20_000);
  });

  it('10 500 throttled addresses: the table stays bounded, evicting the oldest one at a time (never all)', () => {
    const auth = new BasicAuth({ dave: 'pw-dave-long' });
    const ip = (i: number) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
    for (let i = 0; i < 10_500; i++) fail(auth, ip(i), 6);
    // The 9 000th is among the most recent 10 000: still throttled (a whole-table reset forgot it).
    expect(waitOf(auth.gate(ip(9_000)))).toBeGreaterThan(0);
    expect(auth.trackedAddresses).toBeLessThanOrEqual(20_000);
    expect(waitOf(auth.gate(ip(10_499)))).toBeGreaterThan(0);
  });

  it('counts an IPv6 client by its /64, and IPv4-mapped addresses as IPv4', () => {
    expect(addressGroup('2001:db8:1:2::1')).toBe(addressGroup('2001:0db8:0001:0002:ffff:1:2:3'));
    expect(addressGroup('2001:db8:1:2::1')).not.toBe(addressGroup('2001:db8:1:3::1'));
    expect(addressGroup('::ffff:192.0.2.1')).toBe('192.0.2.1');
    expect(addressGroup('fe80::1%eth0')).toBe(addressGroup('fe80::2'));
    const auth = new BasicAuth({ dave: 'pw-dave-long' });
    // Six different addresses of one /64: one client.
    for (let i = 1; i <= 6; i++) fail(auth, `2001:db8:1:2::${i.toString(16)}`);
    expect(waitOf(auth.gate('2001:db8:1:2:abcd::99'))).toBeGreaterThan(0);
    expect(waitOf(auth.gate('2001:db8:1:3::1'))).toBe(0);
    // A spray over the /64's 2^64 addresses is one entry, still throttled.
    for (let i = 0; i < 12_000; i++) fail(auth, `2001:db8:1:2:${i.toString(16)}::1`);
    expect(waitOf(auth.gate('2001:db8:1:2::7'))).toBeGreaterThan(0);
    expect(auth.trackedAddresses).toBeLessThanOrEqual(3);
  });

  it('many addresses guessing one user name slow that name, boundedly; its known addresses and other names are not slowed', () => {
    const auth = new BasicAuth({ dave: 'pw-dave-long', erin: 'pw-erin-long' });
    // dave logged in from his usual address before the attack.
    auth.gate('192.0.2.10', 'dave');
    auth.succeeded('192.0.2.10', 'dave');
    // One guess each from 60 addresses: no address is throttled, the name is.
    for (let i = 0; i < 60; i++) auth.failed(`203.0.113.${i}`, 'dave');
    const waits: number[] = [];
    for (let i = 0; i < 30; i++) {
      const w = waitOf(auth.gate(`198.18.0.${i}`, 'dave'));
      waits.push(w);
      auth.failed(`198.18.0.${i}`, 'dave');
    }
    // The first paced check runs at once, each later one a turn (500 ms) after the one before.
    expect(waits[1]).toBeGreaterThan(0);
    expect(Math.max(...waits)).toBeLessThanOrEqual(5_000); // a bounded delay, never a refusal
    expect(waits.every((w) => Number.isFinite(w))).toBe(true);
    expect(waits[29]).toBeGreaterThan(waits[0]!); // the checks are spaced out, not run together
    expect(waitOf(auth.gate('192.0.2.10', 'dave'))).toBe(0);
    expect(waitOf(auth.gate('198.18.1.1', 'erin'))).toBe(0);
    // Names that are no user are not tracked (a spray of names cannot evict dave's count).
    for (let i = 0; i < 20_000; i++) fail(auth, `198.19.${(i >> 8) & 255}.${i & 255}`, 1, `nobody-${i}`);
    expect(waitOf(auth.gate('198.18.2.1', 'dave'))).toBeGreaterThan(0);
  });
});

const basic = (user: string, password: string) => 'Basic ' + Buffer.from(`${user}:${password}`).toString('base64');

/** One GET from `localAddress` with Connection: close; resolves with the status. */
function getFrom(port: number, localAddress: string, auth: string): Promise<number> {
  return new Promise((resolve) => {
    const s = connect({ port, host: '127.0.0.1', localAddress });
    let text = '';
    s.on('data', (d) => (text += d.toString('latin1')));
    s.on('error', () => {});
    s.on('close', () => resolve(statusOf(text)));
    s.write(`GET /f.txt HTTP/1.1\r\nHost: x\r\nAuthorization: ${auth}\r\nConnection: close\r\n\r\n`);
  });
}

describe('failed-login throttle over HTTP', () => {
  it('a throttled address stays throttled while 300 other addresses fail; guesses of one name from many addresses are slowed', async () => {
    const vfs = await MemoryVfs.fromTree({ 'f.txt': 'hello' });
    const server = await serveWebdav(vfs, { users: { dave: 'the right password' }, cache: false, protectProcess: false });
    try {
      const throttled = '127.0.0.2';
      for (let i = 0; i < 7; i++) expect(await getFrom(server.port, throttled, basic('mallory', `guess-${i}`))).toBe(401);
      for (let i = 0; i < 300; i++) expect(await getFrom(server.port, `127.1.${i >> 8}.${i & 255}`, basic(`name-${i}`, 'x'))).toBe(401);
      // Still throttled: of two parallel attempts, one is refused unchecked.
      const pair = await Promise.all([getFrom(server.port, throttled, basic('dave', 'a')), getFrom(server.port, throttled, basic('dave', 'b'))]);
      expect(pair.sort()).toEqual([401, 429]);

      // dave logs in from his usual address, then 50 addresses guess his password once each.
      expect(await getFrom(server.port, '127.0.0.3', basic('dave', 'the right password'))).toBe(200);
      for (let i = 0; i < 50; i++) expect(await getFrom(server.port, `127.2.0.${i + 1}`, basic('dave', `guess-${i}`))).toBe(401);
      // Ten more guesses from fresh addresses, in parallel: each waits its turn (500 ms apart).
      const t0 = Date.now();
      const statuses = await Promise.all(Array.from({ length: 10 }, (_, i) => getFrom(server.port, `127.3.0.${i + 1}`, basic('dave', `late-${i}`))));
      expect(statuses.every((s) => s === 401)).toBe(true);
      expect(Date.now() - t0).toBeGreaterThanOrEqual(4_000); // the tenth waited 4.5 s (a lower bound: a delay is never shorter)
      // dave, from his usual address, is not queued behind them (and gets in).
      expect(await getFrom(server.port, '127.0.0.3', basic('dave', 'the right password'))).toBe(200);
    } finally {
      await server.close();
    }
  }, 60_000);
});
