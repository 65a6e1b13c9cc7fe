/**
 * Files copied through the FUSE mount into folders on the S3 and OneDrive policies of the Cloudreve
 * emulator reach the emulated storage directly, and read back byte-identical.
 */
import { join } from 'node:path';
import { writeFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CloudreveVfs, startCloudreveEmulator } from '../../adapters/cloudreve/index.js';
import type { CloudreveEmulator } from '../../adapters/cloudreve/index.js';
import { pseudoRandomBytes } from '../helpers.js';
import { fuseSkipReason, mountTemp, q, shOk } from './harness.js';
import type { TestMount } from './harness.js';

const MiB = 1024 * 1024;

describe.skipIf(!!fuseSkipReason)('FUSE mount over CloudreveVfs on direct-to-storage policies', () => {
  let emu: CloudreveEmulator;
  let vfs: CloudreveVfs;
  let m: TestMount;

  beforeAll(async () => {
    emu = await startCloudreveEmulator({
      seed: { s3: {}, onedrive: {} },
      policies: [{ id: 'd', type: 'local' }, { id: 's', type: 's3', chunk_size: 5 * MiB, chunk_concurrency: 3 }, { id: 'o', type: 'onedrive', chunk_size: 5 * MiB }],
      folderPolicies: { '/s3': 's', '/onedrive': 'o' },
    });
    vfs = new CloudreveVfs({ baseUrl: emu.url, email: emu.email, password: emu.password, stateDir: false });
    m = await mountTemp(vfs, { remote: 'cloudreve-policies' });
    await writeFile(join(m.scratch, 'e.bin'), Buffer.alloc(0));
    await writeFile(join(m.scratch, 'o.bin'), Buffer.from('1'));
    await writeFile(join(m.scratch, 'big.bin'), pseudoRandomBytes(12 * MiB, 5));
  });
  afterAll(async () => {
    await m?.close();
    await vfs?.close();
    await emu?.close();
  });

  for (const type of ['s3', 'onedrive'] as const) {
    it(`${type}: cp of 0 B, 1 B and 12 MiB files in and out, byte-identical`, async () => {
      for (const name of ['e.bin', 'o.bin', 'big.bin']) {
        await shOk(`cp ${q(join(m.scratch, name))} ${q(join(m.dir, type, name))}`);
        await shOk(`cp ${q(join(m.dir, type, name))} ${q(join(m.scratch, `${type}-${name}`))}`);
        await shOk(`cmp ${q(join(m.scratch, name))} ${q(join(m.scratch, `${type}-${name}`))}`);
      }
      expect(emu.requests(`STORAGE PUT ${type}`).length).toBeGreaterThanOrEqual(3);
      expect(emu.store.find([type, 'big.bin'])?.entity?.data.length).toBe(12 * MiB);
    }, 90_000);
  }
});
