/**
 * CachedVfs over CloudreveVfs and the Cloudreve emulator: real HTTP, counting the requests the
 * emulator logged, so the cache's promises hold end to end and not only over MemoryVfs.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { CloudreveVfs, startCloudreveEmulator } from '../../adapters/cloudreve/index.js';
import type { CloudreveEmulator, CloudreveEmulatorOptions } from '../../adapters/cloudreve/index.js';
import { CachedVfs } from '../../src/cache.js';
import { collect, expectCode, pseudoRandomBytes, sha256 } from '../helpers.js';
import { describeContract } from '../contract/suite.js';

const MiB = 1024 * 1024;
const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (closers.length > 0) await closers.pop()!().catch(() => undefined);
});

async function setup(seed: CloudreveEmulatorOptions['seed']) {
  const emu: CloudreveEmulator = await startCloudreveEmulator({ seed, defaultPageSize: 100 });
  const raw = new CloudreveVfs({ baseUrl: emu.url, email: emu.email, password: emu.password, pageSize: 100 });
  const cache = new CachedVfs(raw);
  closers.push(async () => {
    await cache.close();
    await emu.close();
  });
  await raw.stat('/'); // the root needs no request; log in outside the counts below
  await raw.space().catch(() => undefined);
  emu.clearLog();
  return { emu, cache };
}

describe('CachedVfs over the Cloudreve emulator', { timeout: 60_000 }, () => {
  it('ls -l of a 250-entry folder at page size 100 is 3 requests cold and 0 warm', async () => {
    const folder: Record<string, string> = {};
    for (let i = 0; i < 250; i++) folder[`f${i}.txt`] = `#${i}`;
    const { emu, cache } = await setup({ big: folder });
    const entries = await cache.list('/big');
    for (const e of entries) expect((await cache.stat(e.path)).size).toBe(e.size);
    await expectCode(cache.stat('/big/not-there.txt'), 'ENOENT');
    expect(entries).toHaveLength(250);
    expect(emu.requests('GET /file').length).toBe(3);
    expect(emu.log.length).toBe(3);
    emu.clearLog();
    await cache.list('/big');
    for (const e of entries) await cache.stat(e.path);
    expect(emu.log.length).toBe(0);
  });

  it('sequential 128 KiB reads of a 12 MiB file are a handful of ranged downloads and the same bytes', async () => {
    const data = pseudoRandomBytes(12 * MiB + 333, 5);
    const { emu, cache } = await setup({ 'movie.bin': data });
    const parts: Buffer[] = [];
    for (let offset = 0; offset < data.length; offset += 128 * 1024) {
      parts.push(await collect(await cache.read('/movie.bin', { offset, length: 128 * 1024 })));
    }
    expect(sha256(Buffer.concat(parts))).toBe(sha256(data));
    const downloads = emu.requests('GET /file/content').length;
    expect(downloads).toBeLessThanOrEqual(12 + 2);
    expect(downloads).toBeGreaterThan(0);
    expect(cache.stats().bytesFetched).toBe(data.length);
  });

  it('a write through the cache is visible at once and its old blocks are gone', async () => {
    const { cache } = await setup({ docs: { 'a.txt': 'first version' } });
    expect((await collect(await cache.read('/docs/a.txt'))).toString()).toBe('first version');
    await cache.write('/docs/a.txt', Buffer.from('second, longer version'));
    expect((await cache.stat('/docs/a.txt')).size).toBe(22);
    expect((await collect(await cache.read('/docs/a.txt'))).toString()).toBe('second, longer version');
  });
});

describeContract('CachedVfs(CloudreveVfs on the emulator)', async () => {
  const emu = await startCloudreveEmulator({});
  const vfs = new CachedVfs(new CloudreveVfs({ baseUrl: emu.url, email: emu.email, password: emu.password }));
  return { vfs, cleanup: () => emu.close() };
}, { bigFileBytes: 3 * MiB });
