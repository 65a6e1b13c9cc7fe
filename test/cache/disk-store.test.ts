/** DiskCache on its own: the bound on blocks waiting for the disk, and blocks written in the background read back checked. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DiskCache, MAX_PENDING_WRITE_BYTES } from '../../src/cache/disk-cache.js';
import { pseudoRandomBytes } from '../helpers.js';

const MiB = 1024 * 1024;
const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (closers.length > 0) await closers.pop()!().catch(() => undefined);
});

describe('DiskCache', () => {
  it('makes a producer wait once MAX_PENDING_WRITE_BYTES of blocks are waiting for the disk, and keeps them all', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cloudmount-disk-store-'));
    const disk = new DiskCache({ dir, blockSize: MiB, maxBytes: 1024 * MiB, maxAgeMs: 3600_000, minFreeBytes: 0, scope: 'test' });
    closers.push(async () => {
      await disk.close();
      await rm(dir, { recursive: true, force: true });
    });
    const blocks = MAX_PENDING_WRITE_BYTES / MiB + 8;
    const version = { path: '/big.bin', id: '/big.bin', size: blocks * MiB, key: 'v1' };
    const file = (await disk.openFile(version))!;
    expect(file).toBeDefined();
    const data = pseudoRandomBytes(MiB, 3);
    let drained = false;
    void disk.drained().then(() => (drained = true));
    await Promise.resolve();
    expect(drained).toBe(true);
    for (let i = 0; i < blocks; i++) disk.store(file, i, data);
    // Stored in this tick: no write can have finished (that takes I/O), so a producer must wait…
    let waited = false;
    const wait = disk.drained().then(() => (waited = true));
    for (let i = 0; i < 5; i++) await Promise.resolve();
    expect(waited).toBe(false);
    // …until the disk has taken enough of them.
    await wait;
    expect(waited).toBe(true);
    await disk.close();
    const again = new DiskCache({ dir, blockSize: MiB, maxBytes: 1024 * MiB, maxAgeMs: 3600_000, minFreeBytes: 0, scope: 'test' });
    closers.push(() => again.close());
    const reopened = (await again.openFile(version))!;
    for (let i = 0; i < blocks; i++) expect((await again.readBlock(reopened, i))?.equals(data)).toBe(true);
  });
});
