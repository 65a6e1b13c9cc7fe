/**
 * The FUSE mount over CouchdropVfs and its emulator (real HTTP, real Scheduler, real kernel mount):
 * trees copied in and out byte for byte, request counts for `ls -l`, refused uploads kept as pending,
 * and a provider that is slow once or answers 503s.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { CouchdropVfs } from '../../adapters/couchdrop/index.js';
import { startCouchdropEmulator } from '../../adapters/couchdrop/emulator/index.js';
import type { CouchdropEmulator } from '../../adapters/couchdrop/emulator/index.js';
import { listPendingUploads, retryPendingUpload } from '../../mount/fuse.js';
import { readAll } from '../../src/streams.js';
import { fuseSkipReason, mountTemp, q, sh, shOk } from './harness.js';
import type { TestMount } from './harness.js';
import { TREE_FILES, writeTree } from './tree.js';

describe.skipIf(!!fuseSkipReason)('FUSE mount over CouchdropVfs (emulator)', () => {
  let emu: CouchdropEmulator;
  let vfs: CouchdropVfs;
  let m: TestMount;

  beforeAll(async () => {
    emu = await startCouchdropEmulator({ randomSeed: 7 });
    vfs = new CouchdropVfs({
      token: emu.token, apiUrl: emu.apiUrl, fileioUrl: emu.fileioUrl,
      // Fast retries, and no adaptive pacing: these tests are about the mount surviving faults; after a
      // few 503s the pacer would slow the rest of the file to a crawl on a busy machine.
      scheduler: { baseDelayMs: 10, maxDelayMs: 200, maxAttempts: 6, adaptive: false },
    });
    m = await mountTemp(vfs, { remote: 'couchdrop-test' });
    await writeTree(join(m.scratch, 'tree'));
  });

  afterAll(async () => {
    await m?.close();
    await vfs?.close();
    await emu?.close();
  });

  it('copies a tree in with cp -r and out again, byte-identical', async () => {
    await shOk(`cp -r ${q(m.scratch + '/tree')} ${q(m.dir + '/tree')}`);
    for (const [rel, size] of Object.entries(TREE_FILES)) {
      expect((await emu.store.stat(`/tree/${rel}`)).size, rel).toBe(size);
    }
    await shOk(`cp -r ${q(m.dir + '/tree')} ${q(m.scratch + '/back')}`);
    await shOk(`diff -r ${q(m.scratch + '/tree')} ${q(m.scratch + '/back')}`);
  });

  it('answers ls -l of 500 files with the listing request and a few more', async () => {
    await emu.store.mkdir('/many');
    for (let i = 0; i < 500; i++) await emu.store.write(`/many/f${i}.txt`, Buffer.from(`file ${i}`));
    emu.clearLog();
    const out = await shOk(`ls -l ${q(m.dir + '/many')}`);
    expect(out.trim().split('\n')).toHaveLength(501);
    const listings = emu.log.filter((e) => e.route === '/file/ls').length;
    expect(listings).toBe(1); // the emulator, like Couchdrop, lists a folder in one page
    expect(emu.log.length).toBeLessThanOrEqual(listings + 3);
  });

  it('keeps a refused upload as a pending spool file that uploads once the provider is back', async () => {
    emu.setFaults([{ kind: 503, every: 1, routes: ['/file/upload'] }]);
    try {
      const r = await sh(`cp ${q(m.scratch + '/tree/readme.txt')} ${q(m.dir + '/refused.txt')}`);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain('Input/output error');
    } finally {
      emu.setFaults([]);
    }
    const pending = await vi.waitFor(async () => {
      const list = (await listPendingUploads(m.spoolDir)).filter((p) => p.path === '/refused.txt');
      if (list.length === 0) throw new Error('not kept yet');
      return list;
    }, { timeout: 15_000, interval: 50 });
    expect(pending[0]).toMatchObject({ size: TREE_FILES['readme.txt'], reason: 'failed', remote: 'couchdrop-test' });
    await expect(emu.store.stat('/refused.txt')).rejects.toMatchObject({ code: 'ENOENT' });
    await retryPendingUpload(m.spoolDir, pending[0]!.id, vfs);
    expect((await emu.store.stat('/refused.txt')).size).toBe(TREE_FILES['readme.txt']);
  });

  it('survives a download that takes more than 15 s', async () => {
    await emu.store.write('/slow.txt', Buffer.from('slow but sure'));
    emu.setFaults([{ kind: 'slow', every: 1, delayMs: 16_000, limit: 1, routes: ['/file/download'] }]);
    try {
      const r = await sh(`cat ${q(m.dir + '/slow.txt')}`, { timeoutMs: 90_000 });
      expect(r.stderr).toBe('');
      expect(r.stdout).toBe('slow but sure');
    } finally {
      emu.setFaults([]);
    }
    expect((await readAll(await vfs.read('/slow.txt'))).toString()).toBe('slow but sure');
  }, 90_000);

  it('survives a provider that answers 503s', async () => {
    emu.setFaults([{ kind: 503, every: 4, limit: 3 }]);
    try {
      await shOk(`cp -r ${q(m.scratch + '/tree')} ${q(m.dir + '/flaky')}`);
      await shOk(`cp -r ${q(m.dir + '/flaky')} ${q(m.scratch + '/flaky-back')}`);
      expect(emu.log.some((e) => e.status === 503)).toBe(true);
    } finally {
      emu.setFaults([]);
    }
    await shOk(`diff -r ${q(m.scratch + '/tree')} ${q(m.scratch + '/flaky-back')}`);
  }, 90_000);
});
