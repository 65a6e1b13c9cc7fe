/**
 * The FUSE mount over CloudreveVfs and its emulator (real HTTP, real Scheduler, real kernel mount):
 * trees copied in and out byte for byte, request counts for `ls -l` over paginated listings,
 * refused uploads kept as pending, and 503s from a proxy in front of the server.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { CloudreveVfs, startCloudreveEmulator } from '../../adapters/cloudreve/index.js';
import type { CloudreveEmulator } from '../../adapters/cloudreve/index.js';
import { listPendingUploads, retryPendingUpload } from '../../mount/fuse.js';
import { fuseSkipReason, mountTemp, q, sh, shOk } from './harness.js';
import type { TestMount } from './harness.js';
import { TREE_FILES, writeTree } from './tree.js';

const PAGE = 100;

describe.skipIf(!!fuseSkipReason)('FUSE mount over CloudreveVfs (emulator)', () => {
  let emu: CloudreveEmulator;
  let vfs: CloudreveVfs;
  let m: TestMount;

  beforeAll(async () => {
    const many: Record<string, string> = {};
    for (let i = 0; i < 500; i++) many[`f${i}.txt`] = `file ${i}`;
    emu = await startCloudreveEmulator({ seed: { many }, quota: 4 * 1024 * 1024 * 1024 });
    vfs = new CloudreveVfs({ baseUrl: emu.url, email: emu.email, password: emu.password, pageSize: PAGE, maxAttempts: 6,
      schedulerOptions: { baseDelayMs: 10, maxDelayMs: 200, adaptive: false } });
    m = await mountTemp(vfs, { remote: 'cloudreve-test' });
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
      expect((await vfs.stat(`/tree/${rel}`)).size, rel).toBe(size);
    }
    await shOk(`cp -r ${q(m.dir + '/tree')} ${q(m.scratch + '/back')}`);
    await shOk(`diff -r ${q(m.scratch + '/tree')} ${q(m.scratch + '/back')}`);
  });

  it('answers ls -l of 500 files with the listing pages and a few more requests', async () => {
    emu.clearLog();
    const out = await shOk(`ls -l ${q(m.dir + '/many')}`);
    expect(out.trim().split('\n')).toHaveLength(501);
    const pages = emu.requests('GET /file').filter((e) => e.route === 'GET /file').length;
    expect(pages).toBe(500 / PAGE);
    expect(emu.log.length).toBeLessThanOrEqual(pages + 3);
  });

  it('keeps a refused upload as a pending spool file that uploads once the provider is back', async () => {
    // As many 503s as the client makes attempts (maxAttempts), so the upload gives up.
    emu.injectFault('proxy503', { route: /^(PUT \/file\/content|PUT \/file\/upload|POST \/file\/upload)/, times: 6 });
    const r = await sh(`cp ${q(m.scratch + '/tree/readme.txt')} ${q(m.dir + '/refused.txt')}`);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('Input/output error');
    const pending = await vi.waitFor(async () => {
      const list = (await listPendingUploads(m.spoolDir)).filter((p) => p.path === '/refused.txt');
      if (list.length === 0) throw new Error('not kept yet');
      return list;
    }, { timeout: 15_000, interval: 50 });
    expect(pending[0]).toMatchObject({ size: TREE_FILES['readme.txt'], reason: 'failed', remote: 'cloudreve-test' });
  });

  it('survives a proxy answering 503s', async () => {
    const pending = (await listPendingUploads(m.spoolDir)).filter((p) => p.path === '/refused.txt');
    emu.injectFault('proxy503', { times: 1 });
    await shOk(`cp -r ${q(m.scratch + '/tree')} ${q(m.dir + '/flaky')}`);
    emu.injectFault('proxy503', { times: 1 });
    await shOk(`cp -r ${q(m.dir + '/flaky')} ${q(m.scratch + '/flaky-back')}`);
    await shOk(`diff -r ${q(m.scratch + '/tree')} ${q(m.scratch + '/flaky-back')}`);
    expect(emu.log.some((e) => e.status === 503)).toBe(true);
    for (const p of pending) await retryPendingUpload(m.spoolDir, p.id, vfs);
    expect((await vfs.stat('/refused.txt')).size).toBe(TREE_FILES['readme.txt']);
  }, 90_000);
});
