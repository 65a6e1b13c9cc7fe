/** AdapterVfs: the contract's rules are checked before an adapter's own code runs, and optional members stay optional. */
import { describe, expect, it } from 'vitest';
import { Readable } from 'node:stream';
import { AdapterVfs, LOCAL_STORE_CAPABILITIES } from '../src/adapter-vfs.js';
import type { CheckedReadOptions } from '../src/adapter-vfs.js';
import { opError } from '../src/errors.js';
import { hasDeadPropertyStore, hasShareLinks } from '../src/vfs.js';
import type { Entry, MoveOptions, SpaceInfo, VfsCapabilities } from '../src/vfs.js';
import { MemoryVfs } from '../adapters/memory/index.js';
import { LocalVfs } from '../adapters/local/index.js';
import { CloudreveVfs } from '../adapters/cloudreve/index.js';
import { CouchdropVfs } from '../adapters/couchdrop/index.js';
import { expectCode } from './helpers.js';

/** An adapter that notes which of its methods ran, each answering with a fixed entry. */
class Recorder extends AdapterVfs {
  readonly name = 'recorder';
  readonly capabilities: VfsCapabilities;
  readonly calls: string[] = [];

  constructor(capabilities: Partial<VfsCapabilities> = {}) {
    super();
    this.capabilities = { ...LOCAL_STORE_CAPABILITIES, ...capabilities };
  }

  private entry(op: string, p: string): Entry {
    this.calls.push(`${op} ${p}`);
    return { path: p, name: p.slice(1), type: 'file', size: 0, mtime: new Date(0) };
  }

  protected async doStat(p: string) { return this.entry('stat', p); }
  protected async doList(p: string) { this.entry('list', p); return []; }
  protected async doRead(p: string, o: CheckedReadOptions) { this.entry(`read@${o.offset}`, p); return Readable.from([]); }
  protected async doWrite(p: string) { return this.entry('write', p); }
  protected async doMkdir(p: string) { return this.entry('mkdir', p); }
  protected async doRemove(p: string) { this.entry('remove', p); }
  protected async doRename(src: string, dst: string, _o: MoveOptions) { return this.entry('rename', `${src}>${dst}`); }
  protected async doCopy(src: string, dst: string) { return this.entry('copy', `${src}>${dst}`); }
  protected async doSpace(): Promise<SpaceInfo> { throw opError('ENOTSUP', 'no quota', 'space'); }
}

describe('AdapterVfs', () => {
  it('hands the adapter normalised paths and a checked offset', async () => {
    const vfs = new Recorder();
    await vfs.stat('//a/./b/../c');
    await vfs.read('/f');
    await vfs.rename('/x/', '/y//z');
    expect(vfs.calls).toEqual(['stat /a/c', 'read@0 /f', 'rename /x>/y/z']);
  });

  it('refuses bad arguments, root changes and moves into themselves without calling the adapter', async () => {
    const vfs = new Recorder();
    await expectCode(vfs.read('/f', { offset: -1 }), 'EINVAL');
    await expectCode(vfs.read('/f', { length: 0.5 }), 'EINVAL');
    await expectCode(vfs.write('/f', new Uint8Array(0), { size: Number.NaN }), 'EINVAL');
    await expectCode(vfs.write('/f', new Uint8Array(0), { mtime: new Date('nonsense') }), 'EINVAL');
    await expectCode(vfs.write('/', new Uint8Array(0)), 'EISDIR');
    await expectCode(vfs.read('/'), 'EISDIR');
    await expectCode(vfs.mkdir('/'), 'EEXIST');
    await expectCode(vfs.remove('/'), 'EBUSY');
    await expectCode(vfs.rename('/', '/a'), 'EBUSY');
    await expectCode(vfs.copy('/a', '/'), 'EBUSY');
    await expectCode(vfs.rename('/a', '/a/b'), 'EINVAL');
    await expectCode(vfs.copy('/a/b', '/a'), 'EINVAL');
    await expectCode(vfs.copy('/a', '/a'), 'EINVAL');
    await expectCode(vfs.stat('relative'), 'EINVAL');
    const controller = new AbortController();
    controller.abort();
    await expectCode(vfs.write('/f', new Uint8Array(0), { signal: controller.signal }), 'ECANCELED');
    expect(vfs.calls).toEqual([]);
  });

  it('compares paths the way the provider does when it ignores case', async () => {
    const vfs = new Recorder({ caseSensitive: false });
    await expectCode(vfs.rename('/Dir', '/dir/sub'), 'EINVAL');
    // A change of case only is a real rename there, not a no-op.
    await vfs.rename('/Dir', '/dir');
    expect(vfs.calls).toEqual(['rename /Dir>/dir']);
  });

  it('refuses mutations of a read-only store with EROFS, and still reads', async () => {
    const vfs = new Recorder({ readOnly: true });
    await expectCode(vfs.write('/f', new Uint8Array(0)), 'EROFS');
    await expectCode(vfs.mkdir('/d'), 'EROFS');
    await expectCode(vfs.remove('/f'), 'EROFS');
    await expectCode(vfs.rename('/f', '/g'), 'EROFS');
    await expectCode(vfs.copy('/f', '/g'), 'EROFS');
    await vfs.stat('/f');
    expect(vfs.calls).toEqual(['stat /f']);
  });

  it('names the call in the error fields, and the provider in the details', async () => {
    const e = await expectCode(new Recorder().space(), 'ENOTSUP');
    expect({ syscall: e.syscall, provider: e.details.provider }).toEqual({ syscall: 'space', provider: 'recorder' });
  });

  it('adds no optional member an adapter lacks, and hides none it has', () => {
    const memory = new MemoryVfs();
    expect([hasDeadPropertyStore(memory), hasShareLinks(memory), 'watch' in memory, typeof memory.setMtime]).toEqual([false, false, false, 'function']);
    expect([hasDeadPropertyStore(new Recorder()), 'setMtime' in new Recorder(), 'watch' in new Recorder()]).toEqual([false, false, false]);
    expect(typeof new LocalVfs({ root: '/tmp' }).setMtime).toBe('function');
    const cloudreve = new CloudreveVfs({ baseUrl: 'http://127.0.0.1:9', email: 'a@b.c', password: 'p', stateDir: false });
    expect([hasDeadPropertyStore(cloudreve), hasShareLinks(cloudreve), typeof cloudreve.watch, cloudreve.scheduler !== undefined]).toEqual([true, true, 'function', true]);
    const couchdrop = new CouchdropVfs({ token: 't', apiUrl: 'http://127.0.0.1:9', fileioUrl: 'http://127.0.0.1:9' });
    expect([hasDeadPropertyStore(couchdrop), typeof couchdrop.watch, couchdrop.scheduler !== undefined]).toEqual([false, 'function', true]);
    return Promise.all([cloudreve.close(), couchdrop.close()]);
  });
});
