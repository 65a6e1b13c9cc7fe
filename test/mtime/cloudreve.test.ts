/**
 * Issue 19 item 3 on Cloudreve v4 (emulator, real HTTP): an upload session's `last_modified` (ms)
 * becomes the file's `updated_at` (Cloudreve 4.4.0+, inventory/file.go UpgradePlaceholder), PUT
 * /file/content takes none, and every later update of the row (rename, move) stamps it now
 * (ent/schema/file.go Hooks). So the adapter routes a write that carries a time through an upload
 * session, and `cp -p` through the mount keeps the time on the provider.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CloudreveVfs, startCloudreveEmulator } from '../../adapters/cloudreve/index.js';
import type { CloudreveEmulator } from '../../adapters/cloudreve/index.js';
import { mtimeSupportOf } from '../../src/vfs.js';
import { fuseSkipReason, mountTemp, q, sh, shOk } from '../fuse/harness.js';
import type { TestMount } from '../fuse/harness.js';

const T2003 = Date.parse('2003-03-03T03:03:03Z');
const T2005 = Date.parse('2005-05-05T05:05:05Z');

const rsyncMissing = (await sh('command -v rsync')).code !== 0;

describe('Cloudreve keeps the time of an upload (emulator)', () => {
  let emu: CloudreveEmulator;
  let vfs: CloudreveVfs;
  const fresh = () => new CloudreveVfs({ baseUrl: emu.url, email: emu.email, password: emu.password });
  const stored = async (path: string) => {
    const other = fresh();
    try {
      return (await other.stat(path)).mtime.getTime();
    } finally {
      await other.close();
    }
  };

  beforeAll(async () => {
    emu = await startCloudreveEmulator();
    vfs = fresh();
  });

  afterAll(async () => {
    await vfs?.close();
    await emu?.close();
  });

  it('capability: on upload, no setMtime', () => {
    expect(vfs.capabilities.mtime).toBe('on-upload');
    expect(vfs.capabilities.preservesMtime).toBe(true);
    expect(mtimeSupportOf(vfs)).toBe('on-upload');
    expect(vfs.setMtime).toBeUndefined();
  });

  it('a small file with a time goes through an upload session and keeps it', async () => {
    emu.clearLog();
    const entry = await vfs.write('/small.txt', Buffer.from('small'), { mtime: new Date(T2003) });
    expect(entry.mtime.getTime()).toBe(T2003);
    expect(await stored('/small.txt')).toBe(T2003);
    expect(emu.log.some((e) => e.method === 'PUT' && e.path.startsWith('/api/v4/file/content'))).toBe(false);
  });

  it('a small file without a time still takes the one-request path', async () => {
    emu.clearLog();
    await vfs.write('/plain.txt', Buffer.from('plain'));
    expect(emu.log.filter((e) => e.method === 'PUT' && e.path.startsWith('/api/v4/file/content'))).toHaveLength(1);
  });

  it('a large file and an overwrite keep theirs', async () => {
    const big = Buffer.alloc(600 * 1024, 7);
    await vfs.write('/big.bin', big, { mtime: new Date(T2003) });
    expect(await stored('/big.bin')).toBe(T2003);
    await vfs.write('/big.bin', big, { mtime: new Date(T2005) });
    expect(await stored('/big.bin')).toBe(T2005);
  });

  it('a rename or move stamps the time now, as the server does', async () => {
    await vfs.write('/moved.txt', Buffer.from('moved'), { mtime: new Date(T2003) });
    await vfs.rename('/moved.txt', '/renamed.txt');
    expect(Math.abs((await stored('/renamed.txt')) - Date.now())).toBeLessThan(3600_000);
    await vfs.write('/m2.txt', Buffer.from('m2'), { mtime: new Date(T2003) });
    await vfs.mkdir('/dir');
    await vfs.rename('/m2.txt', '/dir/m2.txt');
    expect(Math.abs((await stored('/dir/m2.txt')) - Date.now())).toBeLessThan(3600_000);
  });
});

describe.skipIf(!!fuseSkipReason)('cp -p through the mount keeps times on Cloudreve (emulator)', () => {
  let emu: CloudreveEmulator;
  let vfs: CloudreveVfs;
  let m: TestMount;

  beforeAll(async () => {
    emu = await startCloudreveEmulator();
    vfs = new CloudreveVfs({ baseUrl: emu.url, email: emu.email, password: emu.password });
    m = await mountTemp(vfs);
  });

  afterAll(async () => {
    await m?.close();
    await vfs?.close();
    await emu?.close();
  });

  it('cp -p of a new file: the provider stores its modification time', async () => {
    const src = m.scratch + '/src.txt';
    await shOk(`printf 'kept times' > ${q(src)} && touch -a -d @${T2005 / 1000} ${q(src)} && touch -m -d @${T2003 / 1000} ${q(src)}`);
    await shOk(`cp -p ${q(src)} ${q(m.dir + '/copied.txt')}`);
    const other = new CloudreveVfs({ baseUrl: emu.url, email: emu.email, password: emu.password });
    try {
      expect((await other.stat('/copied.txt')).mtime.getTime()).toBe(T2003);
    } finally {
      await other.close();
    }
  });
});

describe.skipIf(!!fuseSkipReason)('rsync -a through a write-back mount keeps times on Cloudreve (emulator)', () => {
  let emu: CloudreveEmulator;

  beforeAll(async () => {
    emu = await startCloudreveEmulator();
  });

  afterAll(async () => {
    await emu?.close();
  });

  it('its temp file is renamed before the upload, so the time goes with the upload (a rename after it would stamp now)', async () => {
    if (rsyncMissing) {
      console.log('skipped: rsync is not installed (apt-get install rsync)');
      return;
    }
    const src = await mkdtemp(join(tmpdir(), 'cloudmount-rsync-cr-'));
    const vfs = new CloudreveVfs({ baseUrl: emu.url, email: emu.email, password: emu.password });
    let m: TestMount | undefined;
    try {
      await shOk(`printf one > ${q(src + '/one.txt')} && touch -d @${T2003 / 1000} ${q(src + '/one.txt')}`);
      m = await mountTemp(vfs, { remote: 'mtime-cr-wb', writeBack: { delayMs: 2000 } });
      await shOk(`rsync -a ${q(src + '/')} ${q(m.dir + '/rs/')}`);
      await m.close(); // drains the queue
      m = undefined;
      const other = new CloudreveVfs({ baseUrl: emu.url, email: emu.email, password: emu.password });
      try {
        expect((await other.stat('/rs/one.txt')).mtime.getTime()).toBe(T2003);
      } finally {
        await other.close();
      }
    } finally {
      await m?.close();
      await vfs.close();
      await rm(src, { recursive: true, force: true });
    }
  });
});
