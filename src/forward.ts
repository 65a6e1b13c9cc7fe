/**
 * ForwardingVfs: the base of every pass-through layer (CachedVfs, SubtreeVfs, MeteredVfs,
 * ReadonlyVfs, the coherence wrappers). It forwards each Vfs method to the Vfs it wraps, so a layer
 * overrides only what it changes. The optional members (setMtime, watch, the dead-property and
 * share-link stores) exist on the layer when and only when the inner Vfs has them: callers detect
 * them by presence (`vfs.setMtime`, `hasDeadPropertyStore`), so a layer must not claim what its
 * inner Vfs cannot do. A layer that re-roots paths overrides `down`, `up` and `upLink`, and `watch`
 * (which changes lie outside its root is its own rule).
 */
import type { Readable } from 'node:stream';
import type {
  DeadProperty, DeadPropertyPatch, Entry, MoveOptions, OpOptions, ReadOptions, RemoveOptions, ShareLink, ShareLinkOptions, SpaceInfo, Vfs,
  VfsCapabilities, VfsChange, WatchOptions, WriteData, WriteOptions,
} from './vfs.js';

/** The optional members of Vfs, each present on a layer only when present on its inner Vfs. */
const OPTIONAL = ['setMtime', 'watch', 'getProps', 'setProps', 'createShare', 'listShares', 'removeShare'] as const;

export class ForwardingVfs implements Vfs {
  readonly name: string;

  constructor(readonly inner: Vfs, name?: string) {
    this.name = name ?? inner.name;
    // Hide each optional method the inner Vfs lacks (an own `undefined` shadows the prototype's),
    // overrides in subclasses included: they refine the inner method, they do not add one.
    for (const key of OPTIONAL) {
      if (typeof inner[key] !== 'function') Object.defineProperty(this, key, { value: undefined, configurable: true });
    }
  }

  get capabilities(): VfsCapabilities {
    return this.inner.capabilities;
  }

  get scheduler(): Vfs['scheduler'] {
    return this.inner.scheduler;
  }

  /** The inner Vfs's path for a path of this layer (identity unless the layer re-roots). */
  protected down(path: string): string {
    return path;
  }

  /** An entry of the inner Vfs as this layer shows it. */
  protected up(entry: Entry): Entry {
    return entry;
  }

  /** A share link of the inner Vfs as this layer shows it. */
  protected upLink(link: ShareLink): ShareLink {
    return link;
  }

  async stat(path: string, options?: OpOptions): Promise<Entry> {
    return this.up(await this.inner.stat(this.down(path), options));
  }

  async list(dir: string, options?: OpOptions): Promise<Entry[]> {
    return (await this.inner.list(this.down(dir), options)).map((e) => this.up(e));
  }

  read(path: string, options?: ReadOptions): Promise<Readable> {
    return this.inner.read(this.down(path), options);
  }

  async write(path: string, data: WriteData, options?: WriteOptions): Promise<Entry> {
    return this.up(await this.inner.write(this.down(path), data, options));
  }

  async mkdir(path: string, options?: OpOptions): Promise<Entry> {
    return this.up(await this.inner.mkdir(this.down(path), options));
  }

  remove(path: string, options?: RemoveOptions): Promise<void> {
    return this.inner.remove(this.down(path), options);
  }

  async rename(from: string, to: string, options?: MoveOptions): Promise<Entry> {
    return this.up(await this.inner.rename(this.down(from), this.down(to), options));
  }

  async copy(from: string, to: string, options?: MoveOptions): Promise<Entry> {
    return this.up(await this.inner.copy(this.down(from), this.down(to), options));
  }

  space(options?: OpOptions): Promise<SpaceInfo> {
    return this.inner.space(options);
  }

  async setMtime?(path: string, mtime: Date, options?: OpOptions): Promise<Entry> {
    return this.up(await this.inner.setMtime!(this.down(path), mtime, options));
  }

  watch?(path: string, options?: WatchOptions): AsyncIterable<VfsChange> {
    return this.inner.watch!(this.down(path), options);
  }

  getProps?(path: string, options?: OpOptions): Promise<DeadProperty[]> {
    return this.inner.getProps!(this.down(path), options);
  }

  setProps?(path: string, patch: DeadPropertyPatch, options?: OpOptions): Promise<void> {
    return this.inner.setProps!(this.down(path), patch, options);
  }

  async createShare?(path: string, options?: ShareLinkOptions): Promise<ShareLink> {
    return this.upLink(await this.inner.createShare!(this.down(path), options));
  }

  async listShares?(options?: OpOptions): Promise<ShareLink[]> {
    return (await this.inner.listShares!(options)).map((l) => this.upLink(l));
  }

  removeShare?(id: string, options?: OpOptions): Promise<void> {
    return this.inner.removeShare!(id, options);
  }

  async close(): Promise<void> {
    await this.inner.close?.();
  }
}
