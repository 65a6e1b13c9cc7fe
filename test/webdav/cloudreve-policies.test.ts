/**
 * PUT/GET through the WebDAV share into folders on the S3 and OneDrive policies of the Cloudreve
 * emulator: the bytes go to the emulated storage (parts, ranges), not through the master.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CloudreveVfs, startCloudreveEmulator } from '../../adapters/cloudreve/index.js';
import type { CloudreveEmulator } from '../../adapters/cloudreve/index.js';
import { serveWebdav } from '../../mount/webdav.js';
import { pseudoRandomBytes, sha256 } from '../helpers.js';

const MiB = 1024 * 1024;

describe('WebDAV share over CloudreveVfs on direct-to-storage policies', () => {
  let emu: CloudreveEmulator;
  let vfs: CloudreveVfs;
  let server: Awaited<ReturnType<typeof serveWebdav>>;

  beforeAll(async () => {
    emu = await startCloudreveEmulator({
      seed: { s3: {}, onedrive: {} },
      policies: [{ id: 'd', type: 'local' }, { id: 's', type: 's3', chunk_size: 5 * MiB, chunk_concurrency: 3 }, { id: 'o', type: 'onedrive', chunk_size: 5 * MiB }],
      folderPolicies: { '/s3': 's', '/onedrive': 'o' },
    });
    vfs = new CloudreveVfs({ baseUrl: emu.url, email: emu.email, password: emu.password, stateDir: false });
    server = await serveWebdav(vfs);
  });
  afterAll(async () => {
    await server?.close();
    await vfs?.close();
    await emu?.close();
  });

  for (const type of ['s3', 'onedrive'] as const) {
    it(`${type}: 0 B, 1 B and 12 MiB PUT then GET byte-identical`, async () => {
      for (const [name, data] of [['e.bin', Buffer.alloc(0)], ['o.bin', Buffer.from('1')], ['big.bin', pseudoRandomBytes(12 * MiB, 4)]] as const) {
        const put = await fetch(`${server.url}${type}/${name}`, { method: 'PUT', body: data });
        expect(put.status, name).toBeLessThan(300);
        const got = Buffer.from(await (await fetch(`${server.url}${type}/${name}`)).arrayBuffer());
        expect(sha256(got), name).toBe(sha256(data));
      }
      expect(emu.requests(`STORAGE PUT ${type}`).length).toBeGreaterThanOrEqual(3);
      expect(emu.store.sessions.size).toBe(0);
    }, 60_000);
  }
});
