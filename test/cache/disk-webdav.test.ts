/**
 * The disk cache behind a WebDAV share (serveWebdav with `cache.cacheDir`), over real HTTP to the
 * Cloudreve emulator: a share stopped and started again in the same process (its close() releases
 * the cache folder) serves ranged GETs of what it read before with zero content requests.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CloudreveVfs, startCloudreveEmulator } from '../../adapters/cloudreve/index.js';
import { serveWebdav } from '../../mount/webdav.js';
import { pseudoRandomBytes, sha256 } from '../helpers.js';

const MiB = 1024 * 1024;
const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (closers.length > 0) await closers.pop()!().catch(() => undefined);
});

describe('disk cache behind serve webdav', { timeout: 60_000 }, () => {
  it('a restarted share answers ranged GETs from the cache folder with zero content requests', async () => {
    const data = pseudoRandomBytes(3 * MiB + 9, 40);
    const emu = await startCloudreveEmulator({ seed: { 'song.flac': data } });
    const dir = await mkdtemp(join(tmpdir(), 'cloudmount-disk-webdav-'));
    const vfs = new CloudreveVfs({ baseUrl: emu.url, email: emu.email, password: emu.password });
    closers.push(async () => {
      await vfs.close?.();
      await emu.close();
      await rm(dir, { recursive: true, force: true });
    });
    const get = async (url: string, range: string) => {
      const r = await fetch(`${url}song.flac`, { headers: { Range: range } });
      expect(r.status).toBe(206);
      return Buffer.from(await r.arrayBuffer());
    };
    const ranges: Array<[string, Buffer]> = [
      ['bytes=0-262143', data.subarray(0, 262144)],
      [`bytes=${data.length - 65536}-`, data.subarray(data.length - 65536)],
    ];
    for (let round = 0; round < 2; round++) {
      const share = await serveWebdav(vfs, { cache: { cacheDir: dir, cacheMinFreeSpace: 0 } });
      emu.clearLog();
      for (const [range, expected] of ranges) expect(sha256(await get(share.url, range))).toBe(sha256(expected));
      const content = emu.requests('GET /file/content').length;
      if (round === 0) expect(content).toBeGreaterThan(0);
      else expect(content).toBe(0);
      await share.close();
    }
  });
});
