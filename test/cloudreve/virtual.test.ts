/**
 * Cloudreve's trash and versions as read-only virtual folders (adapters/cloudreve/virtual.ts), over
 * the emulator, directly and behind CachedVfs (which must not call them missing because the root
 * listing does not show them).
 */
import { describe, expect, it } from 'vitest';
import { CachedVfs } from '../../src/cache.js';
import type { Vfs } from '../../src/vfs.js';
import { collect, expectCode } from '../helpers.js';
import { setup } from './fixtures.js';

const text = (s: string) => Buffer.from(s);

for (const cached of [false, true]) {
  describe(`Cloudreve trash and versions folders${cached ? ' behind CachedVfs' : ''}`, () => {
    const open = async (vfsOptions = {}) => {
      const { emu, vfs: raw } = await setup({ seed: { docs: { 'a.txt': 'one' } } }, { stateDir: false, ...vfsOptions });
      const vfs: Vfs = cached ? new CachedVfs(raw) : raw;
      return { emu, vfs, raw };
    };

    it('are not in the root listing but answer by path; switched off they are gone', async () => {
      const { vfs } = await open();
      expect((await vfs.list('/')).map((e) => e.name)).toEqual(['docs']);
      expect((await vfs.stat('/.Trash')).type).toBe('directory');
      expect((await vfs.stat('/.versions')).type).toBe('directory');
      expect((await vfs.list('/.versions')).map((e) => [e.name, e.type])).toEqual([['docs', 'directory']]);
      const { vfs: off } = await open({ virtualFolders: false });
      await expectCode(off.stat('/.Trash'), 'ENOENT');
      await expectCode(off.stat('/.versions'), 'ENOENT');
    });

    it('delete → listed in /.Trash → mv back restores it at its old path; rm there deletes for good', async () => {
      const { emu, vfs } = await open();
      await vfs.remove('/docs/a.txt');
      await expectCode(vfs.stat('/docs/a.txt'), 'ENOENT');
      expect((await vfs.list('/.Trash')).map((e) => [e.name, e.type, e.size])).toEqual([['a.txt', 'file', 3]]);
      await expectCode(vfs.read('/.Trash/a.txt'), 'EACCES');
      await expectCode(vfs.write('/.Trash/new.txt', text('x')), 'EROFS');
      await vfs.rename('/.Trash/a.txt', '/docs/a.txt');
      expect((await collect(await vfs.read('/docs/a.txt'))).toString()).toBe('one');
      expect(await vfs.list('/.Trash')).toEqual([]);

      // Restored and moved elsewhere in one mv.
      await vfs.remove('/docs/a.txt');
      await vfs.rename('/.Trash/a.txt', '/moved.txt');
      expect((await collect(await vfs.read('/moved.txt'))).toString()).toBe('one');
      await expectCode(vfs.stat('/docs/a.txt'), 'ENOENT');

      await vfs.remove('/moved.txt');
      await vfs.remove('/.Trash/moved.txt');
      expect(await vfs.list('/.Trash')).toEqual([]);
      expect(emu.store.trash).toHaveLength(0);
    });

    it('three overwrites leave their versions readable under /.versions/<path>/', async () => {
      const { vfs } = await open();
      for (const v of ['two', 'three', 'four']) await vfs.write('/docs/a.txt', text(v));
      const versions = await vfs.list('/.versions/docs/a.txt');
      expect(versions).toHaveLength(4);
      const contents = [];
      for (const e of versions) {
        expect(e.type).toBe('file');
        contents.push((await collect(await vfs.read(e.path))).toString());
      }
      expect(contents).toEqual(['one', 'two', 'three', 'four']);
      expect((await vfs.stat(versions[0]!.path)).size).toBe(3);
      await expectCode(vfs.write('/.versions/docs/a.txt/x', text('x')), 'EROFS');
      await expectCode(vfs.remove(versions[0]!.path), 'EROFS');
      await expectCode(vfs.stat('/.versions/docs/a.txt/nope'), 'ENOENT');
    });
  });
}

describe('content URLs after another client overwrites (the server keeps old versions)', () => {
  it('a stat or listing that shows the new content drops the cached URL of the old one', async () => {
    const { emu, vfs: a } = await setup({ seed: { 'f.txt': 'old' } }, { stateDir: false });
    const { CloudreveVfs } = await import('../../adapters/cloudreve/index.js');
    const b = new CloudreveVfs({ baseUrl: emu.url, email: emu.email, password: emu.password, stateDir: false });
    try {
      expect((await collect(await b.read('/f.txt'))).toString()).toBe('old');
      await a.write('/f.txt', text('new!'));
      await b.stat('/f.txt');
      expect((await collect(await b.read('/f.txt'))).toString()).toBe('new!');
      await a.write('/f.txt', text('newer'));
      await b.list('/');
      expect((await collect(await b.read('/f.txt'))).toString()).toBe('newer');
    } finally {
      await b.close();
    }
  });
});
