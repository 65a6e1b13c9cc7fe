/**
 * Range through a real provider path: serveWebdav(CloudreveVfs) over the Cloudreve emulator.
 * 1 KiB at the end of a 20 MiB file must move about 1 KiB from the emulator (webdav-server read
 * from byte 0 and discarded). Behind the default CachedVfs a read fetches whole aligned cache
 * blocks (1 MiB by default), still a small fraction of the file.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CloudreveVfs, startCloudreveEmulator } from '../../adapters/cloudreve/index.js';
import type { CloudreveEmulator } from '../../adapters/cloudreve/index.js';
import { serveWebdav } from '../../mount/webdav.js';
import { pseudoRandomBytes } from '../helpers.js';

const SIZE = 20 * 1024 * 1024;

describe('Range GET through CloudreveVfs over its emulator', () => {
  let emu: CloudreveEmulator;
  let vfs: CloudreveVfs;
  const data = pseudoRandomBytes(SIZE, 11);

  beforeAll(async () => {
    emu = await startCloudreveEmulator({ chunkSize: 8 * 1024 * 1024 });
    vfs = new CloudreveVfs({ baseUrl: emu.url, email: emu.email, password: emu.password });
    await vfs.write('/big.bin', data, { size: SIZE });
  }, 60_000);
  afterAll(async () => {
    await vfs?.close?.();
    await emu?.close();
  });

  it('moves about 1 KiB from the provider without the cache', async () => {
    const server = await serveWebdav(vfs, { cache: false });
    try {
      emu.clearLog();
      const res = await fetch(server.url + 'big.bin', { headers: { Range: `bytes=${SIZE - 1024}-` } });
      expect(res.status).toBe(206);
      expect(res.headers.get('content-range')).toBe(`bytes ${SIZE - 1024}-${SIZE - 1}/${SIZE}`);
      const body = Buffer.from(await res.arrayBuffer());
      expect(body.equals(data.subarray(SIZE - 1024))).toBe(true);
      const moved = emu.bytesOut('GET /file/content');
      expect(moved).toBeGreaterThanOrEqual(1024);
      expect(moved).toBeLessThan(16 * 1024);
    } finally {
      await server.close();
    }
  }, 60_000);

  it('moves at most a cache block or two through the default CachedVfs', async () => {
    const server = await serveWebdav(vfs);
    try {
      emu.clearLog();
      const res = await fetch(server.url + 'big.bin', { headers: { Range: `bytes=${SIZE - 1024}-` } });
      expect(res.status).toBe(206);
      expect(Buffer.from(await res.arrayBuffer()).equals(data.subarray(SIZE - 1024))).toBe(true);
      expect(emu.bytesOut('GET /file/content')).toBeLessThanOrEqual(2 * 1024 * 1024);
    } finally {
      await server.close();
    }
  }, 60_000);
});
