/**
 * Issue 16 item 7 on a provider that cannot set an mtime on an existing file (Cloudreve v4: no such
 * API; a time rides only on an upload, capability mtime 'on-upload'): `touch -d` of a stored file shows
 * the time for the mount's session (so `rsync -a` sees its own times), and no upload is made just to
 * change a date. `cp -p` stores it with the upload (test/mtime/cloudreve.test.ts checks the provider).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CloudreveVfs, startCloudreveEmulator } from '../../adapters/cloudreve/index.js';
import type { CloudreveEmulator } from '../../adapters/cloudreve/index.js';
import { fuseSkipReason, mountTemp, q, shOk } from './harness.js';
import type { TestMount } from './harness.js';

const T2001 = Date.parse('2001-02-03T04:05:06Z') / 1000;
const T2003 = Date.parse('2003-03-03T03:03:03Z') / 1000;
const T2005 = Date.parse('2005-05-05T05:05:05Z') / 1000;
const statMtime = async (path: string) => Number((await shOk(`stat -c %Y ${q(path)}`)).trim());

describe.skipIf(!!fuseSkipReason)('mtimes through the mount over Cloudreve (emulator)', () => {
  let emu: CloudreveEmulator;
  let vfs: CloudreveVfs;
  let m: TestMount;

  beforeAll(async () => {
    emu = await startCloudreveEmulator({ seed: { 'old.txt': 'stored' } });
    vfs = new CloudreveVfs({ baseUrl: emu.url, email: emu.email, password: emu.password });
    m = await mountTemp(vfs);
  });

  afterAll(async () => {
    await m?.close();
    await vfs?.close();
    await emu?.close();
  });

  it('touch -d on a closed file: the time shows for the session, and nothing is uploaded', async () => {
    expect(vfs.setMtime).toBeUndefined();
    await shOk(`cat ${q(m.dir + '/old.txt')} >/dev/null`);
    emu.clearLog();
    await shOk(`touch -d @${T2001} ${q(m.dir + '/old.txt')}`);
    expect(await statMtime(m.dir + '/old.txt')).toBe(T2001);
    expect(emu.log.some((e) => /upload|PUT/i.test(`${e.method} ${e.path}`))).toBe(false);
  });

  it('cp -p: the modification time (not the access time) shows for the session', async () => {
    const src = m.scratch + '/src.txt';
    await shOk(`printf copied > ${q(src)} && touch -a -d @${T2005} ${q(src)} && touch -m -d @${T2003} ${q(src)}`);
    await shOk(`cp -p ${q(src)} ${q(m.dir + '/copied.txt')}`);
    expect(await statMtime(m.dir + '/copied.txt')).toBe(T2003);
    expect((await vfs.stat('/copied.txt')).size).toBe(6);
  });
});
