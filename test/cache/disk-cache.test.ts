/**
 * The persistent disk cache (CachedVfs `cacheDir`) over CloudreveVfs and the Cloudreve emulator:
 * real HTTP, content requests counted in the emulator's log, real files in a temp folder.
 */
import { spawn } from 'node:child_process';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtemp, open, readdir, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CloudreveVfs, startCloudreveEmulator } from '../../adapters/cloudreve/index.js';
import type { CloudreveEmulator } from '../../adapters/cloudreve/index.js';
import { CachedVfs } from '../../src/cache.js';
import type { CacheOptions } from '../../src/cache.js';
import { collect, expectCode, pseudoRandomBytes, sha256 } from '../helpers.js';

const MiB = 1024 * 1024;
const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (closers.length > 0) await closers.pop()!().catch(() => undefined);
});

const contentRequests = (emu: CloudreveEmulator) => emu.requests('GET /file/content').length;

async function setup(seed: Record<string, Buffer>) {
  const emu = await startCloudreveEmulator({ seed, maxLogEntries: 1_000_000 });
  const dir = await mkdtemp(join(tmpdir(), 'cloudmount-disk-cache-'));
  closers.push(async () => {
    await emu.close();
    await rm(dir, { recursive: true, force: true });
  });
  const client = () => new CloudreveVfs({ baseUrl: emu.url, email: emu.email, password: emu.password });
  /** A CachedVfs on the cache folder, as a fresh process would have it (nothing in memory). */
  const open = (options: CacheOptions = {}) => {
    const cache = new CachedVfs(client(), { cacheDir: dir, cacheMinFreeSpace: 0, ...options });
    closers.push(() => cache.close());
    return cache;
  };
  return { emu, dir, client, open };
}

/** Bytes the cache folder's files take on disk (allocated, as du counts them). */
async function diskBytes(dir: string): Promise<number> {
  let total = 0;
  const walk = async (d: string) => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else if (e.name.endsWith('.data')) total += (await stat(p)).blocks * 512;
    }
  };
  await walk(join(dir, 'v1'));
  return total;
}

async function dataFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const shard of await readdir(join(dir, 'v1'))) {
    for (const name of await readdir(join(dir, 'v1', shard))) if (name.endsWith('.data')) out.push(join(dir, 'v1', shard, name));
  }
  return out;
}

describe('CachedVfs disk cache over the Cloudreve emulator', { timeout: 60_000 }, () => {
  it('a file read once is read again after a restart with zero content requests', async () => {
    const data = pseudoRandomBytes(5 * MiB + 123, 1);
    const { emu, open } = await setup({ 'movie.mkv': data });
    const first = open();
    // A prober: the head and the tail.
    const head = await collect(await first.read('/movie.mkv', { offset: 0, length: 256 * 1024 }));
    const tail = await collect(await first.read('/movie.mkv', { offset: data.length - 65536, length: 65536 }));
    expect(sha256(head)).toBe(sha256(data.subarray(0, 256 * 1024)));
    expect(sha256(tail)).toBe(sha256(data.subarray(data.length - 65536)));
    const whole = await collect(await first.read('/movie.mkv'));
    expect(sha256(whole)).toBe(sha256(data));
    expect(contentRequests(emu)).toBeGreaterThan(0);
    await first.close();

    emu.clearLog();
    const second = open();
    expect(sha256(await collect(await second.read('/movie.mkv', { offset: 0, length: 256 * 1024 })))).toBe(sha256(head));
    expect(sha256(await collect(await second.read('/movie.mkv', { offset: data.length - 65536 })))).toBe(sha256(tail));
    expect(sha256(await collect(await second.read('/movie.mkv')))).toBe(sha256(data));
    expect(contentRequests(emu)).toBe(0);
  });

  it('a change made by another client (same size) is never served from the old blocks', async () => {
    const before = pseudoRandomBytes(3 * MiB, 2);
    const after = pseudoRandomBytes(3 * MiB, 3);
    const { emu, open, client } = await setup({ 'a.bin': before });
    const first = open();
    expect(sha256(await collect(await first.read('/a.bin')))).toBe(sha256(before));
    await first.close();
    const other = client();
    await other.write('/a.bin', after);
    await other.close?.();
    emu.clearLog();
    const second = open();
    expect(sha256(await collect(await second.read('/a.bin')))).toBe(sha256(after));
    expect(contentRequests(emu)).toBeGreaterThan(0);
    await second.close();
    // …and the new version is what the cache now holds.
    emu.clearLog();
    const third = open();
    expect(sha256(await collect(await third.read('/a.bin')))).toBe(sha256(after));
    expect(contentRequests(emu)).toBe(0);
  });

  it('eviction keeps the folder under cacheMaxSize, least recently used first', async () => {
    const files: Record<string, Buffer> = {};
    for (let i = 0; i < 6; i++) files[`f${i}.bin`] = pseudoRandomBytes(MiB, 10 + i);
    const { emu, dir, open } = await setup(files);
    for (let i = 0; i < 6; i++) {
      // Each file read by a fresh CachedVfs (a restart), closed so its writes are finished.
      const cache = open({ cacheMaxSize: 3 * MiB });
      expect(sha256(await collect(await cache.read(`/f${i}.bin`)))).toBe(sha256(files[`f${i}.bin`]!));
      await cache.close();
      expect(await diskBytes(dir)).toBeLessThanOrEqual(3 * MiB);
    }
    // The last files read are the ones kept.
    emu.clearLog();
    const again = open({ cacheMaxSize: 3 * MiB });
    expect(sha256(await collect(await again.read('/f5.bin')))).toBe(sha256(files['f5.bin']!));
    expect(contentRequests(emu)).toBe(0);
    expect(sha256(await collect(await again.read('/f0.bin')))).toBe(sha256(files['f0.bin']!));
    expect(contentRequests(emu)).toBe(1);
  });

  it('a file not read for longer than cacheMaxAge is not served from disk', async () => {
    const data = pseudoRandomBytes(MiB, 8);
    const { emu, dir, open } = await setup({ 'a.bin': data });
    const first = open();
    expect(sha256(await collect(await first.read('/a.bin')))).toBe(sha256(data));
    await first.close();
    // Last read two hours ago (the record's mtime is the last use).
    const [file] = await dataFiles(dir);
    const then = new Date(Date.now() - 2 * 3600_000);
    await utimes(file!.replace(/\.data$/, '.meta'), then, then);
    emu.clearLog();
    const second = open({ cacheMaxAge: 3600_000 });
    expect(sha256(await collect(await second.read('/a.bin')))).toBe(sha256(data));
    expect(contentRequests(emu)).toBe(1);
    await second.close();
    // Read again just now: fresh, so kept.
    emu.clearLog();
    const third = open({ cacheMaxAge: 3600_000 });
    expect(sha256(await collect(await third.read('/a.bin')))).toBe(sha256(data));
    expect(contentRequests(emu)).toBe(0);
  });

  it('a file an open stream is reading is not evicted to make room', async () => {
    const a = pseudoRandomBytes(2 * MiB, 9);
    const b = pseudoRandomBytes(MiB, 10);
    const { emu, open } = await setup({ 'a.bin': a, 'b.bin': b });
    const first = open();
    expect(sha256(await collect(await first.read('/a.bin')))).toBe(sha256(a));
    await first.close();
    // Only A fits; A is being read (its stream open, 1 byte consumed) while B is read.
    const second = open({ cacheMaxSize: 2 * MiB });
    const reading = await second.read('/a.bin');
    await new Promise<void>((resolve) => reading.once('readable', () => resolve()));
    expect(reading.read(1)).not.toBeNull();
    expect(sha256(await collect(await second.read('/b.bin')))).toBe(sha256(b));
    reading.destroy();
    await second.close();
    emu.clearLog();
    const third = open({ cacheMaxSize: 2 * MiB });
    expect(sha256(await collect(await third.read('/a.bin')))).toBe(sha256(a));
    expect(contentRequests(emu)).toBe(0);
  });

  it('a cache file corrupted or truncated on disk is detected and fetched again', async () => {
    const data = pseudoRandomBytes(3 * MiB + 5, 4);
    const { emu, dir, open } = await setup({ 'a.bin': data });
    const first = open();
    expect(sha256(await collect(await first.read('/a.bin')))).toBe(sha256(data));
    await first.close();
    const [file] = await dataFiles(dir);
    // Flip bytes in the middle of block 1.
    const handle = await open_(file!);
    await handle.write(Buffer.from('garbage!'), 0, 8, MiB + 1000);
    await handle.close();
    emu.clearLog();
    const second = open();
    expect(sha256(await collect(await second.read('/a.bin')))).toBe(sha256(data));
    expect(contentRequests(emu)).toBe(1);
    await second.close();
    // Repaired: served from disk again.
    emu.clearLog();
    const third = open();
    expect(sha256(await collect(await third.read('/a.bin')))).toBe(sha256(data));
    expect(contentRequests(emu)).toBe(0);
    await third.close();
    // Truncated to 1.5 MiB: blocks 1..3 are gone.
    const cut = await open_(file!);
    await cut.truncate(MiB + MiB / 2);
    await cut.close();
    emu.clearLog();
    const fourth = open();
    expect(sha256(await collect(await fourth.read('/a.bin')))).toBe(sha256(data));
    expect(contentRequests(emu)).toBeGreaterThan(0);
  });

  it('a torn record line or a block written without its record is never served', async () => {
    const data = pseudoRandomBytes(2 * MiB, 5);
    const { emu, dir, open } = await setup({ 'a.bin': data });
    const first = open();
    expect(sha256(await collect(await first.read('/a.bin')))).toBe(sha256(data));
    await first.close();
    const [file] = await dataFiles(dir);
    const meta = file!.replace(/\.data$/, '.meta');
    // What kill -9 between the data write and the record could leave: garbage bytes, a half line.
    const text = (await import('node:fs/promises')).readFile;
    const lines = (await text(meta, 'utf8')).split('\n');
    await writeFile(meta, `${lines[0]}\n${lines[1]}\n${lines[2]!.slice(0, 3)}`);
    const h = await open_(file!);
    await h.write(Buffer.alloc(4096, 0x55), 0, 4096, lines[2]!.startsWith('1') ? MiB : 0);
    await h.close();
    emu.clearLog();
    const second = open();
    expect(sha256(await collect(await second.read('/a.bin')))).toBe(sha256(data));
    expect(contentRequests(emu)).toBe(1);
  });

  it('a second CachedVfs on the same folder is refused with one line; a dead owner\'s lock is taken over', async () => {
    const { dir, open } = await setup({ 'a.bin': Buffer.from('x') });
    const first = open();
    const e = await expectCode(Promise.resolve().then(() => open()), 'EBUSY');
    expect(e.message).toMatch(new RegExp(`in use by process ${process.pid}`));
    expect(e.message).not.toMatch(/\n/);
    await first.close();
    // Another live process owns it.
    const other = spawn('sleep', ['30'], { stdio: 'ignore' });
    closers.push(async () => void other.kill('SIGKILL'));
    await writeFile(join(dir, 'lock'), `${other.pid}\n`);
    const refused = await expectCode(Promise.resolve().then(() => open()), 'EBUSY');
    expect(refused.message).toContain(`process ${other.pid}`);
    // It dies (kill -9): its lock is stale and taken over.
    const died = new Promise((r) => other.once('exit', r));
    other.kill('SIGKILL');
    await died;
    const taken = open();
    expect((await collect(await taken.read('/a.bin'))).toString()).toBe('x');
  });

  it('a full disk under the cache folder degrades to no caching, not errors', async (ctx) => {
    if (process.getuid?.() !== 0) {
      console.warn('full-disk test skipped: mounting a small tmpfs needs root');
      ctx.skip();
    }
    const data = pseudoRandomBytes(6 * MiB, 6);
    const { emu, client } = await setup({ 'big.bin': data });
    const small = await mkdtemp(join(tmpdir(), 'cloudmount-full-'));
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', small]);
    closers.push(async () => {
      execFileSync('umount', ['-l', small]);
      await rm(small, { recursive: true, force: true });
    });
    const cache = new CachedVfs(client(), { cacheDir: small, cacheMinFreeSpace: 0, cacheMaxSize: 100 * MiB });
    closers.push(() => cache.close());
    expect(sha256(await collect(await cache.read('/big.bin')))).toBe(sha256(data));
    for (let offset = 0; offset < data.length; offset += MiB) {
      const part = await collect(await cache.read('/big.bin', { offset, length: 4096 }));
      expect(sha256(part)).toBe(sha256(data.subarray(offset, offset + 4096)));
    }
    await cache.close();
    // Whatever fitted is served from disk, the rest fetched: right bytes either way.
    emu.clearLog();
    const again = new CachedVfs(client(), { cacheDir: small, cacheMinFreeSpace: 0, cacheMaxSize: 100 * MiB });
    closers.push(() => again.close());
    expect(sha256(await collect(await again.read('/big.bin')))).toBe(sha256(data));
    await again.close();
    // Something else fills the disk to the last byte while a cache runs: its writes fail with ENOSPC.
    await rm(join(small, 'v1'), { recursive: true, force: true });
    const full = new CachedVfs(client(), { cacheDir: small, cacheMinFreeSpace: 0, cacheMaxSize: 100 * MiB });
    closers.push(() => full.close());
    spawnSync('dd', ['if=/dev/zero', `of=${join(small, 'filler')}`, 'bs=4k'], { stdio: 'ignore' });
    emu.clearLog();
    expect(sha256(await collect(await full.read('/big.bin')))).toBe(sha256(data));
    expect(sha256(await collect(await full.read('/big.bin', { offset: 3 * MiB, length: 10 })))).toBe(sha256(data.subarray(3 * MiB, 3 * MiB + 10)));
    expect(contentRequests(emu)).toBeGreaterThan(0);
    await full.close();
    // And at start: no room even for the lock file. Still no errors.
    await rm(join(small, 'v1'), { recursive: true, force: true });
    spawnSync('dd', ['if=/dev/zero', `of=${join(small, 'filler2')}`, 'bs=4k'], { stdio: 'ignore' });
    const none = new CachedVfs(client(), { cacheDir: small, cacheMinFreeSpace: 0, cacheMaxSize: 100 * MiB });
    closers.push(() => none.close());
    expect(sha256(await collect(await none.read('/big.bin')))).toBe(sha256(data));
  });

  it('keeps the minimum free space: nothing is written when the disk has less', async () => {
    const data = pseudoRandomBytes(2 * MiB, 7);
    const { emu, dir, open } = await setup({ 'a.bin': data });
    const cache = open({ cacheMinFreeSpace: Number.MAX_SAFE_INTEGER });
    expect(sha256(await collect(await cache.read('/a.bin')))).toBe(sha256(data));
    await cache.close();
    expect(await diskBytes(dir)).toBe(0);
    emu.clearLog();
    const again = open();
    expect(sha256(await collect(await again.read('/a.bin')))).toBe(sha256(data));
    expect(contentRequests(emu)).toBeGreaterThan(0);
  });
});

function open_(path: string) {
  return open(path, 'r+');
}
