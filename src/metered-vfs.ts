/**
 * MeteredVfs: a pass-through Vfs that counts the file bytes moved each way, for `--stats`.
 */
import { Transform } from 'node:stream';
import type { Readable } from 'node:stream';
import { iterateBytes } from './streams.js';
import { VfsError } from './errors.js';
import type { DeadPropertyStore, Entry, MoveOptions, OpOptions, ReadOptions, RemoveOptions, ShareLinkStore, SpaceInfo, Vfs, VfsChange, WatchOptions, WriteData, WriteOptions } from './vfs.js';
import { forwardStores } from './forward.js';
import type { ForwardedStores } from './forward.js';

export class MeteredVfs implements Vfs {
  readonly name: string;
  /** File bytes handed to readers. */
  bytesDown = 0;
  /** File bytes accepted from writers. */
  bytesUp = 0;

  /** Present when the wrapped Vfs can set mtimes. */
  readonly setMtime?: (path: string, mtime: Date, options?: OpOptions) => Promise<Entry>;
  declare readonly getProps?: ForwardedStores['getProps'];
  declare readonly setProps?: ForwardedStores['setProps'];
  declare readonly createShare?: ForwardedStores['createShare'];
  declare readonly listShares?: ForwardedStores['listShares'];
  declare readonly removeShare?: ForwardedStores['removeShare'];

  constructor(private readonly inner: Vfs) {
    this.name = inner.name;
    if (inner.setMtime) this.setMtime = (path, mtime, options) => inner.setMtime!(path, mtime, options);
    forwardStores(this, inner);
  }

  get capabilities() {
    return this.inner.capabilities;
  }

  get scheduler() {
    return this.inner.scheduler;
  }

  stat(path: string, options?: OpOptions): Promise<Entry> {
    return this.inner.stat(path, options);
  }

  list(dir: string, options?: OpOptions): Promise<Entry[]> {
    return this.inner.list(dir, options);
  }

  async read(path: string, options?: ReadOptions): Promise<Readable> {
    const source = await this.inner.read(path, options);
    const counter = new Transform({
      transform: (chunk: Buffer, _enc, done) => {
        this.bytesDown += chunk.length;
        done(null, chunk);
      },
    });
    source.on('error', (e) => counter.destroy(e));
    counter.on('close', () => source.destroy());
    return source.pipe(counter);
  }

  write(path: string, data: WriteData, options?: WriteOptions): Promise<Entry> {
    const self = this;
    async function* counted() {
      for await (const chunk of iterateBytes(data)) {
        self.bytesUp += chunk.length;
        yield chunk;
      }
    }
    return this.inner.write(path, counted(), options);
  }

  mkdir(path: string, options?: OpOptions): Promise<Entry> {
    return this.inner.mkdir(path, options);
  }

  remove(path: string, options?: RemoveOptions): Promise<void> {
    return this.inner.remove(path, options);
  }

  rename(from: string, to: string, options?: MoveOptions): Promise<Entry> {
    return this.inner.rename(from, to, options);
  }

  copy(from: string, to: string, options?: MoveOptions): Promise<Entry> {
    return this.inner.copy(from, to, options);
  }

  watch(path: string, options?: WatchOptions): AsyncIterable<VfsChange> {
    if (!this.inner.watch) throw new VfsError('ENOTSUP', `${this.inner.name} cannot watch for changes`, { path });
    return this.inner.watch(path, options);
  }

  space(options?: OpOptions): Promise<SpaceInfo> {
    return this.inner.space(options);
  }

  async close(): Promise<void> {
    await this.inner.close?.();
  }
}
