/**
 * CouchdropVfs under the conditions the issue names: injected 429s (uploads re-send whole bodies),
 * a real rate limit, 403s that must not be retried, a login token expiring mid-run, 422 upstream
 * errors, 500/503 retries, and awkward names — all over real HTTP against the emulator.
 */
import { Readable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { CouchdropVfs } from '../../adapters/couchdrop/index.js';
import { collect, expectCode, pseudoRandomBytes, sha256 } from '../helpers.js';
import { harness } from './fixtures.js';
import type { Harness } from './fixtures.js';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

const text = (s: string) => Buffer.from(s, 'utf8');
const downloadsOf = (hh: Harness) => hh.emu.log.filter((e) => e.route === '/file/download');
const readText = async (vfs: CouchdropVfs, p: string) => (await collect(await vfs.read(p))).toString('utf8');

describe('CouchdropVfs: throttling and retries', { timeout: 60_000 }, () => {
  it('every 5th request answered 429: every operation still succeeds and each upload attempt carried the whole body', async () => {
    h = await harness({ faults: [{ kind: 429, every: 5 }] });
    const { vfs, emu } = h;
    const files = new Map<string, Buffer>();
    await vfs.mkdir('/work');
    for (let i = 0; i < 6; i++) {
      const data = pseudoRandomBytes(100_000 + i * 7_919, i + 11);
      files.set(`/work/f${i}.bin`, data);
      // Alternate bytes and streams: a stream must be re-sent from the spool file.
      await vfs.write(`/work/f${i}.bin`, i % 2 ? data : Readable.from([data.subarray(0, 5000), data.subarray(5000)]));
    }
    expect((await vfs.list('/work')).map((e) => e.name).sort()).toEqual([...files.keys()].map((p) => p.slice(6)).sort());
    for (const [p, data] of files) {
      expect((await vfs.stat(p)).size).toBe(data.length);
      expect((await collect(await vfs.read(p))).equals(data)).toBe(true);
    }
    await vfs.rename('/work/f0.bin', '/work/renamed.bin');
    await vfs.copy('/work/f1.bin', '/work/copied.bin');
    expect((await collect(await vfs.read('/work/copied.bin'))).equals(files.get('/work/f1.bin')!)).toBe(true);
    await vfs.remove('/work', { recursive: true });
    await expectCode(vfs.stat('/work'), 'ENOENT');

    const throttled = emu.log.filter((e) => e.status === 429);
    expect(throttled.length).toBeGreaterThanOrEqual(Math.floor(emu.log.length / 5) - 1);
    const uploads = emu.log.filter((e) => e.route === '/file/upload');
    const rejectedUploads = uploads.filter((e) => e.status === 429);
    expect(rejectedUploads.length, 'some upload attempts were answered 429').toBeGreaterThan(0);
    const expected = new Map([...files.values()].map((d) => [sha256(d), d.length]));
    for (const u of uploads) {
      // Every attempt, refused or not, sent exactly `size` bytes with the file's real hash.
      expect(u.bytesIn, `upload #${u.seq} (${u.status})`).toBe(u.sizeParam);
      expect(expected.get(u.sha256!), `upload #${u.seq} (${u.status}) sent a complete body`).toBe(u.bytesIn);
    }
    expect(vfs.scheduler.stats().throttled).toBe(throttled.length);
  });

  it('an upload refused with 429 three times in a row is re-sent whole each time', async () => {
    h = await harness({ faults: [{ kind: 429, every: 1, limit: 3, routes: ['/file/upload'] }] });
    const data = pseudoRandomBytes(1_234_567, 5);
    async function* source() {
      for (let at = 0; at < data.length; at += 65_536) yield new Uint8Array(data.subarray(at, at + 65_536));
    }
    await h.vfs.write('/big.bin', source());
    const uploads = h.emu.log.filter((e) => e.route === '/file/upload');
    expect(uploads.map((u) => u.status)).toEqual([429, 429, 429, 200]);
    for (const u of uploads) expect([u.bytesIn, u.sha256]).toEqual([data.length, sha256(data)]);
    expect((await collect(await h.emu.store.read('/big.bin'))).equals(data)).toBe(true);
  });

  it('a rate limit of 20 req/s with 60 parallel stats: all succeed with few 429s', async () => {
    h = await harness({ seed: { 'f.txt': 'x' }, rateLimit: { ratePerSec: 20, burst: 20 } }, { requestsPerSecond: 20, scheduler: { adaptive: true } });
    const results = await Promise.all(Array.from({ length: 60 }, () => h!.vfs.stat('/f.txt')));
    expect(results.every((e) => e.size === 1)).toBe(true);
    const throttled = h.emu.log.filter((e) => e.status === 429).length;
    expect(throttled).toBeLessThanOrEqual(6);
    expect(h.emu.log.filter((e) => e.status === 200).length).toBe(60);
  });

  it('without a configured rate, the scheduler finds the limit: 60 parallel stats all succeed', async () => {
    // The real backoff (250 ms base), not the tests' fast one: quick retries would only hammer the limit.
    h = await harness({ seed: { 'f.txt': 'x' }, rateLimit: { ratePerSec: 20, burst: 20 } }, { scheduler: { adaptive: true, baseDelayMs: 250, maxDelayMs: 5_000, maxAttempts: 10 } });
    const results = await Promise.all(Array.from({ length: 60 }, () => h!.vfs.stat('/f.txt')));
    expect(results).toHaveLength(60);
    const throttled = h.emu.log.filter((e) => e.status === 429).length;
    // Learning the limit costs some 429s (about a dozen here), far fewer than the 40 of an unpaced burst.
    expect(throttled).toBeLessThan(30);
    expect(h.emu.log.filter((e) => e.status === 200).length).toBe(60);
  });

  it('500 is retried briefly; when it persists the caller gets EIO with the service\'s message', async () => {
    h = await harness({ seed: { 'f.txt': 'x' }, faults: [{ kind: 500, every: 2 }] });
    for (let i = 0; i < 4; i++) expect((await h.vfs.stat('/f.txt')).size).toBe(1);
    h.emu.setFaults([{ kind: 500, every: 1 }]);
    h.emu.clearLog();
    const e = await expectCode(h.vfs.stat('/f.txt'), 'EIO');
    expect(e.details).toMatchObject({ provider: 'couchdrop', status: 500, providerMessage: 'we encountered an error' });
    expect(h.emu.log.length).toBe(8); // maxAttempts in the test scheduler
  });

  it('503 backs off like 429 and ends in EAGAIN when the service stays at capacity', async () => {
    h = await harness({ seed: { 'f.txt': 'x' }, faults: [{ kind: 503, every: 1, limit: 2 }] });
    expect((await h.vfs.stat('/f.txt')).size).toBe(1);
    expect(h.emu.log.map((e) => e.status)).toEqual([503, 503, 200]);
    h.emu.setFaults([{ kind: 503, every: 1 }]);
    const e = await expectCode(h.vfs.stat('/f.txt'), 'EAGAIN');
    expect(e.details.status).toBe(503);
  });

  it('a slow reply past the per-attempt timeout is abandoned and retried', async () => {
    h = await harness({ seed: { 'f.txt': 'x' }, faults: [{ kind: 'slow', every: 2, delayMs: 1_000 }] }, { scheduler: { timeoutMs: 250 } });
    for (let i = 0; i < 3; i++) expect((await h.vfs.stat('/f.txt')).size).toBe(1);
    expect(h.vfs.scheduler.stats().retries).toBeGreaterThanOrEqual(1);
  });

  it('mkdir is re-sent after a 500 only once a look says the folder is not there (never "exists"), and says EIO when the 500s persist', async () => {
    h = await harness({ faults: [{ kind: 500, every: 1, routes: ['/file/mkdir'] }] });
    await expectCode(h.vfs.mkdir('/d'), 'EIO');
    // src/settle.ts: MAX_SENDS sends in all, each after an lstat that found nothing.
    expect(h.emu.log.filter((e) => e.route === '/file/mkdir')).toHaveLength(4);
  });
});

describe('CouchdropVfs: dropped connections', { timeout: 60_000 }, () => {
  for (const rangeRequests of [false, true]) {
    it(`a download cut off mid-body is resumed from where it stopped (Range ${rangeRequests ? 'honoured' : 'ignored'})`, async () => {
      h = await harness({ rangeRequests });
      const data = pseudoRandomBytes(3 * 1024 * 1024 + 17, 8);
      await h.emu.store.write('/big.bin', data);
      const resetNext = () => h!.emu.setFaults([{ kind: 'reset', every: 1, limit: 1, routes: ['/file/download'] }]);
      resetNext();
      expect(sha256(await collect(await h.vfs.read('/big.bin')))).toBe(sha256(data));
      resetNext();
      const part = await collect(await h.vfs.read('/big.bin', { offset: 1_000_000, length: 1_500_000 }));
      expect(part.equals(data.subarray(1_000_000, 2_500_000))).toBe(true);
      const log = downloadsOf(h);
      expect(log.map((d) => d.fault)).toEqual(['reset', undefined, 'reset', undefined]);
      const startOf = (range: string | undefined) => Number(/^bytes=(\d+)-/.exec(range ?? '')?.[1] ?? 0);
      // Each resume asks only for the rest: from a byte past where the broken download began.
      expect(log[1]!.range).toMatch(/^bytes=\d+-$/);
      expect(startOf(log[1]!.range)).toBeGreaterThan(0);
      expect(log[3]!.range).toMatch(/^bytes=\d+-2499999$/);
      expect(startOf(log[3]!.range)).toBeGreaterThan(1_000_000);
      expect(log[0]!.bytesOut).toBeLessThan(data.length);
    });
  }

  it('a download that keeps breaking off fails with EIO after a few resumes', async () => {
    h = await harness({ faults: [{ kind: 'reset', every: 1, routes: ['/file/download'] }] });
    await h.emu.store.write('/big.bin', pseudoRandomBytes(2 * 1024 * 1024, 8));
    await expect(collect(await h.vfs.read('/big.bin'))).rejects.toMatchObject({ code: 'EIO' });
    expect(downloadsOf(h)).toHaveLength(4);
  });

  it('an upload whose connection drops halfway is sent again, whole', async () => {
    h = await harness({ faults: [{ kind: 'reset', every: 1, limit: 1, routes: ['/file/upload'] }] });
    const data = pseudoRandomBytes(2 * 1024 * 1024, 12);
    await h.vfs.write('/up.bin', Readable.from([data]));
    const uploads = h.emu.log.filter((e) => e.route === '/file/upload');
    expect(uploads).toHaveLength(2);
    expect(uploads[0]!.bytesIn).toBeLessThan(data.length);
    expect([uploads[1]!.status, uploads[1]!.bytesIn, uploads[1]!.sha256]).toEqual([200, data.length, sha256(data)]);
    expect((await collect(await h.emu.store.read('/up.bin'))).equals(data)).toBe(true);
  });

  it('an upload aborted while in flight is ECANCELED and never leaves a partial file', async () => {
    h = await harness({ seed: { 'f.bin': 'old content' }, faults: [{ kind: 'slow', every: 1, delayMs: 400, routes: ['/file/upload'] }] });
    const data = pseudoRandomBytes(8 * 1024 * 1024, 2);
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 100);
    await expectCode(h.vfs.write('/f.bin', Readable.from([data]), { signal: controller.signal }), 'ECANCELED');
    await new Promise((r) => setTimeout(r, 600)); // let the emulator finish with the abandoned request
    // Whatever reached the server: the old file, or (if every byte had already gone out) the new one.
    const stored = await collect(await h.emu.store.read('/f.bin'));
    expect(stored.toString() === 'old content' || stored.equals(data)).toBe(true);
  });

  it('a metadata call whose connection drops is retried', async () => {
    h = await harness({ seed: { 'f.txt': 'x' }, faults: [{ kind: 'reset', every: 2 }] });
    for (let i = 0; i < 4; i++) expect((await h.vfs.stat('/f.txt')).size).toBe(1);
    expect(h.emu.log.filter((e) => e.fault === 'reset').length).toBeGreaterThanOrEqual(2);
    expect(h.emu.log.filter((e) => e.status === 200)).toHaveLength(4);
  });
});

describe('CouchdropVfs: permissions and tokens', { timeout: 60_000 }, () => {
  it('403 with a static token is never retried', async () => {
    h = await harness({ seed: { 'f.txt': 'x' }, tokens: [{ token: 'read-only-static-token', permissions: { write: false, delete: false } }] }, { token: 'read-only-static-token' });
    expect(await readText(h.vfs, '/f.txt')).toBe('x');
    h.emu.clearLog();
    const e = await expectCode(h.vfs.write('/g.txt', text('nope')), 'EACCES');
    expect(e.details).toMatchObject({ status: 403, providerMessage: 'you cannot write to that folder' });
    expect(h.emu.log.map((x) => `${x.route} ${x.status}`)).toEqual(['/file/upload 403']);
    h.emu.clearLog();
    await expectCode(h.vfs.remove('/f.txt'), 'EACCES');
    expect(h.emu.log.filter((x) => x.status === 403)).toHaveLength(1);
    expect(h.vfs.scheduler.stats().retries).toBe(0);
    expect(await readText(h.vfs, '/f.txt')).toBe('x');
  });

  it('an unknown static token is EACCES after one request', async () => {
    h = await harness({}, { token: 'not-a-valid-token-at-all' });
    const e = await expectCode(h.vfs.list('/'), 'EACCES');
    expect(h.emu.log).toHaveLength(1);
    expect(e.message).not.toContain('not-a-valid-token-at-all');
  });

  it('a 403 with a login token logs in once more, then fails EACCES (no loop)', async () => {
    h = await harness({ seed: { 'f.txt': 'x' }, userPermissions: { write: false } }, { login: true });
    await expectCode(h.vfs.write('/g.txt', text('y')), 'EACCES');
    expect(h.emu.log.map((x) => `${x.route} ${x.status}`)).toEqual(['/authenticate 200', '/file/upload 403', '/authenticate 200', '/file/upload 403']);
  });

  it('a login token expiring mid-run is renewed once for a burst of requests', async () => {
    h = await harness({ seed: { d: { 'a.txt': 'A', 'b.txt': 'BB' } } }, { login: true });
    const { vfs, emu } = h;
    expect((await vfs.list('/d')).length).toBe(2);
    expect(emu.expireLoginTokens()).toBe(1);
    const stats = await Promise.all(Array.from({ length: 12 }, (_, i) => vfs.stat(i % 2 ? '/d/a.txt' : '/d/b.txt')));
    expect(stats.map((s) => s.size).sort()).toEqual([...Array(6).fill(1), ...Array(6).fill(2)]);
    await vfs.write('/d/c.txt', Readable.from([text('after renewal')]));
    expect(await readText(vfs, '/d/c.txt')).toBe('after renewal');
    expect(emu.log.filter((x) => x.route === '/authenticate')).toHaveLength(2);
    expect(vfs.client.tokens.logins).toBe(2);
  });

  it('a burst of first requests logs in once', async () => {
    h = await harness({ seed: { 'f.txt': 'x' } }, { login: true });
    await Promise.all(Array.from({ length: 10 }, () => h!.vfs.stat('/f.txt')));
    expect(h.emu.log.filter((x) => x.route === '/authenticate')).toHaveLength(1);
  });

  it('a login token that runs out by its TTL is renewed transparently (upload re-sent whole)', async () => {
    h = await harness({ loginTokenTtlMs: 400 }, { login: true });
    const data = pseudoRandomBytes(300_000, 3);
    await h.vfs.mkdir('/t');
    await new Promise((r) => setTimeout(r, 500));
    await h.vfs.write('/t/after-expiry.bin', Readable.from([data]));
    expect((await collect(await h.emu.store.read('/t/after-expiry.bin'))).equals(data)).toBe(true);
    const uploads = h.emu.log.filter((x) => x.route === '/file/upload');
    expect(uploads.map((u) => u.status)).toEqual([403, 200]);
    for (const u of uploads) expect(u.sha256).toBe(sha256(data));
  });

  it('a 2FA user gets EACCES explaining that an API token is needed; a wrong password EACCES', async () => {
    h = await harness({ users: [{ username: 'tfa-user', password: 'tfa-password-1', twoFactor: true }] });
    const tfa = new CouchdropVfs({ username: 'tfa-user', password: 'tfa-password-1', apiUrl: h.emu.apiUrl, fileioUrl: h.emu.fileioUrl });
    const e = await expectCode(tfa.list('/'), 'EACCES');
    expect(e.message).toMatch(/two-factor/);
    expect(e.details.status).toBe(401);
    const wrong = new CouchdropVfs({ username: h.emu.username, password: 'wrong-password-1', apiUrl: h.emu.apiUrl, fileioUrl: h.emu.fileioUrl });
    const e2 = await expectCode(wrong.stat('/'), 'EACCES');
    expect(e2.message).toMatch(/login refused/);
    expect(e2.message).not.toContain('wrong-password-1');
  });
});

describe('CouchdropVfs: upstream errors and names', { timeout: 60_000 }, () => {
  it('a 422 surfaces the storage provider\'s message and is not retried', async () => {
    const upstream = "googledrive: The user's Drive storage quota has been exceeded.";
    h = await harness({ seed: { 'old.txt': 'old' }, faults: [{ kind: 422, every: 1, routes: ['/file/upload'], message: upstream }] });
    const e = await expectCode(h.vfs.write('/old.txt', text('new content')), 'EIO');
    expect(e.message).toContain(upstream);
    expect(e.details).toMatchObject({ provider: 'couchdrop', status: 422, providerMessage: upstream });
    expect(e.retryable).toBe(false);
    expect(h.emu.log.filter((x) => x.route === '/file/upload')).toHaveLength(1);
    expect(await readText(h.vfs, '/old.txt')).toBe('old');
  });

  it('a 422 on a listing surfaces its message too', async () => {
    h = await harness({ seed: { d: {} }, faults: [{ kind: 422, every: 1, routes: ['/file/ls'], message: 'dropbox: too_many_write_operations' }] });
    const e = await expectCode(h.vfs.list('/d'), 'EIO');
    expect(e.details.providerMessage).toBe('dropbox: too_many_write_operations');
  });

  it('awkward names reach the service byte for byte in the query string', async () => {
    h = await harness();
    const names = ['a+b c.txt', '100% #1 ?.txt', 'x&y=z;w.txt', 'ünï 漢字 🚀.txt', `q"u'o.txt`, '  spaced  .txt', 'back\\slash.txt'];
    await h.vfs.mkdir('/dir & co + 50%');
    for (const n of names) await h.vfs.write(`/dir & co + 50%/${n}`, text(n));
    expect((await h.emu.store.list('/dir & co + 50%')).map((e) => e.name).sort()).toEqual([...names].sort());
    const paths = h.emu.log.filter((x) => x.route === '/file/upload').map((x) => x.path);
    expect(paths.sort()).toEqual(names.map((n) => `/dir & co + 50%/${n}`).sort());
    await h.vfs.rename('/dir & co + 50%/a+b c.txt', '/dir & co + 50%/c+d e.txt');
    await h.vfs.copy('/dir & co + 50%', '/copy ? #');
    expect(await readText(h.vfs, '/copy ? #/c+d e.txt')).toBe('a+b c.txt');
    await h.vfs.remove('/dir & co + 50%', { recursive: true });
    expect((await h.vfs.list('/')).map((e) => e.name)).toEqual(['copy ? #']);
  });

  it('a write into a missing folder is ENOENT and creates no folder', async () => {
    h = await harness();
    await expectCode(h.vfs.write('/no/such/f.txt', text('x')), 'ENOENT');
    expect(h.emu.log.some((x) => x.route === '/file/mkdir')).toBe(false);
    expect(await h.emu.store.list('/')).toEqual([]);
  });
});
