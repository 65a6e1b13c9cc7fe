/**
 * Issue 19 item 3 through a real kernel mount over the Couchdrop emulator (real HTTP): the times that
 * `touch -d`, `cp -p` and `rsync -a` set reach the provider, checked by a fresh stat through a new
 * CouchdropVfs (not the mount's cache). Couchdrop stores a time only with an upload (`modtime`, Unix
 * seconds), so a time set after a file was closed and uploaded can be stored only while its upload is
 * still to come: in write-back mode (rsync sets its times after close, then renames).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CouchdropVfs } from '../../adapters/couchdrop/index.js';
import { startCouchdropEmulator } from '../../adapters/couchdrop/emulator/index.js';
import type { CouchdropEmulator } from '../../adapters/couchdrop/emulator/index.js';
import { fuseSkipReason, mountTemp, q, sh, shOk } from '../fuse/harness.js';
import type { TestMount } from '../fuse/harness.js';

const T2003 = Date.parse('2003-03-03T03:03:03Z') / 1000;
const T2005 = Date.parse('2005-05-05T05:05:05Z') / 1000;
const T2007 = Date.parse('2007-07-07T07:07:07Z') / 1000;

const rsyncMissing = (await sh('command -v rsync')).code !== 0;

describe.skipIf(!!fuseSkipReason)('mtimes through the mount reach Couchdrop (emulator)', () => {
  let emu: CouchdropEmulator;
  let vfs: CouchdropVfs;
  let m: TestMount;
  /** A second client of the same account: what the provider stores, not what the mount remembers. */
  let fresh: () => CouchdropVfs;
  const storedMtime = async (path: string) => {
    const other = fresh();
    try {
      return (await other.stat(path)).mtime.getTime() / 1000;
    } finally {
      await other.close();
    }
  };

  beforeAll(async () => {
    emu = await startCouchdropEmulator({ randomSeed: 19 });
    fresh = () => new CouchdropVfs({ token: emu.token, apiUrl: emu.apiUrl, fileioUrl: emu.fileioUrl });
    vfs = fresh();
    m = await mountTemp(vfs, { remote: 'mtime-couchdrop' });
  });

  afterAll(async () => {
    await m?.close();
    await vfs?.close();
    await emu?.close();
  });

  it('capability: times ride on uploads only', () => {
    expect(vfs.capabilities.mtime).toBe('on-upload');
    expect(vfs.setMtime).toBeUndefined();
  });

  it('touch -d 2001-02-03 of a new file', async () => {
    const want = Number((await shOk('date -d 2001-02-03 +%s')).trim());
    await shOk(`touch -d 2001-02-03 ${q(m.dir + '/touched.txt')}`);
    expect(await storedMtime('/touched.txt')).toBe(want);
    expect(Number((await shOk(`stat -c %Y ${q(m.dir + '/touched.txt')}`)).trim())).toBe(want);
  });

  it('cp -p stores the modification time, not the access time', async () => {
    const src = m.scratch + '/src.txt';
    await shOk(`printf 'kept times' > ${q(src)} && touch -a -d @${T2005} ${q(src)} && touch -m -d @${T2003} ${q(src)}`);
    await shOk(`cp -p ${q(src)} ${q(m.dir + '/copied.txt')}`);
    expect(await storedMtime('/copied.txt')).toBe(T2003);
  });

  it('rsync -a: upload before close cannot take a time set after it; the mount shows it for the session', async () => {
    if (rsyncMissing) {
      console.log('skipped: rsync is not installed (apt-get install rsync)');
      return;
    }
    const src = m.scratch + '/rs';
    await shOk(`mkdir -p ${q(src)} && printf one > ${q(src + '/one.txt')} && touch -d @${T2007} ${q(src + '/one.txt')}`);
    await shOk(`rsync -a ${q(src + '/')} ${q(m.dir + '/rs/')}`);
    expect(Number((await shOk(`stat -c %Y ${q(m.dir + '/rs/one.txt')}`)).trim())).toBe(T2007);
    expect(await storedMtime('/rs/one.txt')).not.toBe(T2007);
  });
});

describe.skipIf(!!fuseSkipReason)('rsync -a through a write-back mount keeps mtimes on Couchdrop (emulator)', () => {
  let emu: CouchdropEmulator;

  beforeAll(async () => {
    emu = await startCouchdropEmulator({ randomSeed: 20 });
  });

  afterAll(async () => {
    await emu?.close();
  });

  it('rsync -a of a tree: the provider keeps every time, so a second rsync after a remount sends nothing', async () => {
    if (rsyncMissing) {
      console.log('skipped: rsync is not installed (apt-get install rsync)');
      return;
    }
    const src = await mkdtemp(join(tmpdir(), 'cloudmount-rsync-src-'));
    const vfs = new CouchdropVfs({ token: emu.token, apiUrl: emu.apiUrl, fileioUrl: emu.fileioUrl });
    let m: TestMount | undefined;
    try {
      await shOk(`mkdir -p ${q(src + '/sub')} && printf one > ${q(src + '/one.txt')} && printf two > ${q(src + '/sub/two.txt')}`);
      await shOk(`touch -d @${T2003} ${q(src + '/one.txt')} && touch -d @${T2005} ${q(src + '/sub/two.txt')}`);
      m = await mountTemp(vfs, { remote: 'mtime-wb', writeBack: { delayMs: 2000 } });
      await shOk(`rsync -a ${q(src + '/')} ${q(m.dir + '/rs/')}`);
      await m.close(); // drains the queue
      m = undefined;
      const other = new CouchdropVfs({ token: emu.token, apiUrl: emu.apiUrl, fileioUrl: emu.fileioUrl });
      try {
        expect((await other.stat('/rs/one.txt')).mtime.getTime() / 1000).toBe(T2003);
        expect((await other.stat('/rs/sub/two.txt')).mtime.getTime() / 1000).toBe(T2005);
      } finally {
        await other.close();
      }
      m = await mountTemp(vfs, { remote: 'mtime-wb2' });
      const changes = await shOk(`rsync -a --itemize-changes ${q(src + '/')} ${q(m.dir + '/rs/')}`);
      expect(changes.split('\n').filter((l) => /^[<>]f/.test(l))).toEqual([]);
    } finally {
      await m?.close();
      await vfs.close();
      await rm(src, { recursive: true, force: true });
    }
  });
});

describe.skipIf(!!fuseSkipReason)('hostile times through the mount (Couchdrop emulator)', () => {
  let emu: CouchdropEmulator;
  let vfs: CouchdropVfs;
  let m: TestMount;

  beforeAll(async () => {
    emu = await startCouchdropEmulator({ randomSeed: 21 });
    vfs = new CouchdropVfs({ token: emu.token, apiUrl: emu.apiUrl, fileioUrl: emu.fileioUrl });
    m = await mountTemp(vfs, { remote: 'mtime-hostile' });
  });

  afterAll(async () => {
    await m?.close();
    await vfs?.close();
    await emu?.close();
  });

  it('a time before 1970 or past what a Date holds never loses the file: stored, readable, and the mount keeps serving', async () => {
    for (const [i, when] of ['@-86400', '@99999999999999', '@253402300800', '@0', '@-99999999999999'].entries()) {
      const src = `${m.scratch}/odd-${i}.txt`;
      await shOk(`printf 'content ${i}' > ${q(src)}`);
      await sh(`touch -d ${when} ${q(src)}`); // the local filesystem may clamp or refuse it
      await sh(`cp -p ${q(src)} ${q(m.dir + `/odd-${i}.txt`)}`);
      await sh(`touch -d ${when} ${q(m.dir + `/new-${i}.txt`)}`);
      expect((await shOk(`cat ${q(m.dir + `/odd-${i}.txt`)}`)).trim(), when).toBe(`content ${i}`);
      const other = new CouchdropVfs({ token: emu.token, apiUrl: emu.apiUrl, fileioUrl: emu.fileioUrl });
      try {
        expect((await other.stat(`/odd-${i}.txt`)).size, when).toBe(`content ${i}`.length);
        expect((await other.stat(`/new-${i}.txt`)).size, when).toBe(0);
      } finally {
        await other.close();
      }
    }
    expect(await shOk(`ls ${q(m.dir)}`)).toContain('odd-0.txt');
  });
});
