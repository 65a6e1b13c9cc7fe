/**
 * A Vfs wrapper for tests: counts calls per method and lets a test inject failures or delays in
 * front of any call (a provider that refuses uploads, answers slowly, or returns 503s).
 */
import type { Readable } from 'node:stream';
import type { Entry, MoveOptions, OpOptions, ReadOptions, RemoveOptions, SpaceInfo, Vfs, WriteData, WriteOptions } from '../../src/vfs.js';

export type VfsMethod = 'stat' | 'list' | 'read' | 'write' | 'mkdir' | 'remove' | 'rename' | 'copy' | 'space';

/** Runs before each call; throw to fail it, await to delay it. */
export type Hook = (method: VfsMethod, path: string) => void | Promise<void>;

export class ProbeVfs implements Vfs {
  readonly name: string;
  readonly calls: Record<VfsMethod, number> = { stat: 0, list: 0, read: 0, write: 0, mkdir: 0, remove: 0, rename: 0, copy: 0, space: 0 };
  hook: Hook | undefined;

  constructor(readonly inner: Vfs) {
    this.name = `probe(${inner.name})`;
  }

  get capabilities() {
    return this.inner.capabilities;
  }

  resetCounts(): void {
    for (const key of Object.keys(this.calls) as VfsMethod[]) this.calls[key] = 0;
  }

  private async before(method: VfsMethod, path: string): Promise<void> {
    this.calls[method]++;
    await this.hook?.(method, path);
  }

  async stat(path: string, o?: OpOptions): Promise<Entry> { await this.before('stat', path); return this.inner.stat(path, o); }
  async list(dir: string, o?: OpOptions): Promise<Entry[]> { await this.before('list', dir); return this.inner.list(dir, o); }
  async read(path: string, o?: ReadOptions): Promise<Readable> { await this.before('read', path); return this.inner.read(path, o); }
  async write(path: string, data: WriteData, o?: WriteOptions): Promise<Entry> {
    try {
      await this.before('write', path);
    } catch (e) {
      // A refused upload still consumes its body, as an HTTP client would.
      if (typeof (data as Readable).destroy === 'function') (data as Readable).destroy();
      throw e;
    }
    return this.inner.write(path, data, o);
  }
  async mkdir(path: string, o?: OpOptions): Promise<Entry> { await this.before('mkdir', path); return this.inner.mkdir(path, o); }
  async remove(path: string, o?: RemoveOptions): Promise<void> { await this.before('remove', path); return this.inner.remove(path, o); }
  async rename(from: string, to: string, o?: MoveOptions): Promise<Entry> { await this.before('rename', from); return this.inner.rename(from, to, o); }
  async copy(from: string, to: string, o?: MoveOptions): Promise<Entry> { await this.before('copy', from); return this.inner.copy(from, to, o); }
  async space(o?: OpOptions): Promise<SpaceInfo> { await this.before('space', '/'); return this.inner.space(o); }
}
