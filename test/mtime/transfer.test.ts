/**
 * Issue 19 item 3, transfers inside one Cloudreve account (emulator): its server-side copy is stamped
 * now and nothing can set it back, so `sync` there compares by size, and a second sync copies nothing.
 * Between a local folder and Cloudreve the upload keeps the time, so size and mtime are compared.
 */
import { mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CloudreveVfs, startCloudreveEmulator } from '../../adapters/cloudreve/index.js';
import type { CloudreveEmulator } from '../../adapters/cloudreve/index.js';
import { LocalVfs } from '../../adapters/local/index.js';
import { compareModeOf, syncTrees } from '../../src/transfer.js';

const T2003 = Date.parse('2003-03-03T03:03:03Z');

describe('sync and mtimes on Cloudreve (emulator)', () => {
  let emu: CloudreveEmulator;
  let vfs: CloudreveVfs;
  let dir: string;

  beforeAll(async () => {
    emu = await startCloudreveEmulator({ seed: { from: { 'a.txt': 'alpha', 'b.txt': 'beta' } } });
    vfs = new CloudreveVfs({ baseUrl: emu.url, email: emu.email, password: emu.password });
    dir = await mkdtemp(join(tmpdir(), 'cloudmount-mtime-sync-'));
  });

  afterAll(async () => {
    await vfs?.close();
    await emu?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('within one account: compared by size, and the second sync copies nothing', async () => {
    expect(compareModeOf(vfs, false, vfs)).toBe('size');
    const first = await syncTrees({ vfs, path: '/from' }, { vfs, path: '/to' }, { mode: 'copy' });
    expect(first.copied).toBe(2);
    const second = await syncTrees({ vfs, path: '/from' }, { vfs, path: '/to' }, { mode: 'copy' });
    expect(second.copied).toBe(0);
    expect(second.unchanged).toBe(2);
  });

  it('from local disk: compared by size and mtime, which the upload kept', async () => {
    const local = new LocalVfs({ root: dir });
    await writeFile(join(dir, 'c.txt'), 'gamma');
    await utimes(join(dir, 'c.txt'), T2003 / 1000, T2003 / 1000);
    expect(compareModeOf(vfs, false, local)).toBe('size-mtime');
    expect((await syncTrees({ vfs: local, path: '/' }, { vfs, path: '/up' }, { mode: 'copy' })).copied).toBe(1);
    expect((await vfs.stat('/up/c.txt')).mtime.getTime()).toBe(T2003);
    const again = await syncTrees({ vfs: local, path: '/' }, { vfs, path: '/up' }, { mode: 'copy' });
    expect(again.copied).toBe(0);
  });
});
