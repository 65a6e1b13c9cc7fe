/**
 * WriteBackVfs: write-back as a Vfs layer, so a frontend gets it by wrapping the Vfs it serves (the
 * WebDAV share does; its handlers only ever see a Vfs, so PUT, PROPFIND, GET, MOVE, DELETE, COPY,
 * LOCK and If need no change).
 *
 * - write() streams the bytes into a local data file, fsyncs it and makes its queue record durable
 *   (store.ts), then resolves with the new entry: the upload runs later in the background, after
 *   `delayMs`, at most `concurrency` at once, retried with capped backoff while it fails for a
 *   retryable reason, up to `maxAttempts` (then, or at once for a non-retryable failure, the entry is
 *   kept as 'failed': still served here, listed by `cloudmount pending list`, never dropped).
 * - stat/list/read see queued files as they will be (size, mtime, bytes from the local copy).
 * - remove/rename/copy of a queued file (or of a folder holding some) apply to the queue: no upload
 *   of a deleted file, no orphan on the provider.
 * - No lost update (conflict.ts): a remote change made since our base goes untouched; our bytes are
 *   uploaded under a conflict name beside it and a warning is logged.
 * - A full local disk never loses a body: write() falls back to uploading before it resolves, sending
 *   what reached the disk followed by the rest of the stream.
 * - resume() picks up what a dead owner of the same remote left queued (call it before serving).
 */
import { copyFile, open } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { VfsError, isVfsError, toVfsError } from '../../src/errors.js';
import { ForwardingVfs } from '../../src/forward.js';
import { silentLogger } from '../../src/log.js';
import type { Logger } from '../../src/log.js';
import { baseName, isSameOrInside, normalizePath, parentPath } from '../../src/path.js';
import { counted, iterateBytes } from '../../src/streams.js';
import type { Entry, MoveOptions, OpOptions, ReadOptions, RemoveOptions, Vfs, VfsCapabilities, WriteData, WriteOptions } from '../../src/vfs.js';
import { baseOf, changedSince, conflictPath } from './conflict.js';
import type { BaseVersion } from './conflict.js';
import type { QueuedUpload, WriteBackStore } from './store.js';

export interface WriteBackQueueOptions {
  /** Wait after the last write of a path before uploading, so save-rename-save settles first (default 5000 ms). */
  delayMs?: number;
  /** Uploads at once (default 4: enough to fill a link with small files, few enough not to starve reads). */
  concurrency?: number;
  /** Attempts for retryable failures before the entry is kept as failed (default 20: about 15 min at the backoff cap). */
  maxAttempts?: number;
  /** Backoff starts at 1 s, doubles, and is capped here (default 60 000 ms). */
  maxBackoffMs?: number;
}

export const WRITE_BACK_QUEUE_DEFAULTS: Required<WriteBackQueueOptions> = { delayMs: 5000, concurrency: 4, maxAttempts: 20, maxBackoffMs: 60_000 };

export interface WriteBackVfsOptions extends WriteBackQueueOptions {
  store: WriteBackStore;
  /**
   * The uncached Vfs under `inner` (default `inner`): the version check before an upload must see the
   * remote as it is now, not as a cache remembers it.
   */
  fresh?: Vfs;
  logger?: Logger;
}

interface Item {
  rec: QueuedUpload;
  /** What stat/list show while queued. */
  entry: Entry;
  timer?: NodeJS.Timeout;
  /** The upload running now, and how to stop it. */
  running?: { abort: AbortController; done: Promise<void> };
  /** A remove/rename/copy holds the item: a finishing upload leaves the record to it. */
  held: number;
  /** Set by an upload that finished while held: the remote path (not a conflict name) has these bytes. */
  landed?: Entry;
  /** No longer the queued version of its path (deleted, or replaced by a newer write). */
  gone?: boolean;
}

export class WriteBackVfs extends ForwardingVfs {
  readonly options: Required<WriteBackQueueOptions>;

  private readonly store: WriteBackStore;
  private readonly fresh: Vfs;
  private readonly logger: Logger;
  /** The queued version of each path (the newest write). */
  private readonly byPath = new Map<string, Item>();
  /** Every item with a record, including superseded ones still finishing an upload. */
  private readonly items = new Set<Item>();
  private readonly ready: Item[] = [];
  private active = 0;
  private stopped = false;
  private draining = false;
  private idleWaiters: (() => void)[] = [];
  /** Shared store: the periodic takeover of a dead instance's uploads. */
  private poller: NodeJS.Timeout | undefined;
  private polling = false;

  constructor(inner: Vfs, options: WriteBackVfsOptions) {
    super(inner);
    // A queued file's time can be set whatever the provider can do (it rides on the upload).
    delete (this as { setMtime?: unknown }).setMtime;
    this.store = options.store;
    this.fresh = options.fresh ?? inner;
    this.logger = (options.logger ?? silentLogger).child({ layer: 'write-back' });
    const { store: _s, fresh: _f, logger: _l, ...queue } = options;
    this.options = { ...WRITE_BACK_QUEUE_DEFAULTS, ...Object.fromEntries(Object.entries(queue).filter(([, v]) => v !== undefined)) };
  }

  override get capabilities(): VfsCapabilities {
    // The body is spooled here whatever its length, so a frontend need not spool it first.
    return { ...this.inner.capabilities, needsSizeForWrite: false };
  }

  /** Files queued or uploading (failed ones included). */
  get queued(): number {
    return this.byPath.size;
  }

  /**
   * Take over what a dead owner of this remote left queued; resolves to the count (uploads start at
   * once). With a shared store this repeats every `takeoverPollMs` while the queue runs: an instance
   * killed later has its uploads done by a survivor, with no command.
   */
  async resume(): Promise<number> {
    const count = await this.takeOver('resuming uploads queued by an earlier run');
    const every = this.store.takeoverPollMs;
    if (every !== undefined && !this.poller && !this.stopped) {
      this.poller = setInterval(() => {
        if (this.polling || this.stopped) return;
        this.polling = true;
        this.takeOver('taking over uploads queued by an instance that stopped renewing its lease')
          .catch((e: unknown) => this.logger.warn('write-back: cannot look for uploads of stopped instances', { error: e }))
          .finally(() => { this.polling = false; });
      }, every);
      this.poller.unref();
    }
    return count;
  }

  private async takeOver(why: string): Promise<number> {
    const orphans = await this.store.orphans();
    for (const rec of orphans) {
      if (this.stopped) break; // still owned by us: a survivor takes it once our lease lapses
      const item = this.track(rec);
      this.schedule(item, 0);
    }
    if (orphans.length) this.logger.info(`write-back: ${why}`, { count: orphans.length });
    return orphans.length;
  }

  /** Upload everything now and wait (clean shutdown); what still fails stays on disk for the next run. */
  async drain(): Promise<void> {
    this.draining = true;
    for (const item of this.items) if (!item.running && item.rec.state === 'queued') this.schedule(item, 0);
    // Uploads of items no longer queued (deleted, superseded) are waited for too: each decides what stays on the provider.
    while (this.active > 0 || [...this.items].some((i) => i.rec.state === 'queued')) {
      await new Promise<void>((ok) => this.idleWaiters.push(ok));
    }
    this.stop();
  }

  /** Stop without uploading: the records stay queued on disk for the next run. */
  stop(): void {
    this.stopped = true;
    clearInterval(this.poller);
    this.poller = undefined;
    for (const item of this.items) clearTimeout(item.timer);
  }

  override async close(): Promise<void> {
    this.stop();
  }

  // ---- reads: queued entries overlay the remote ----

  override async stat(path: string, options?: OpOptions): Promise<Entry> {
    const p = normalizePath(path);
    const queued = await this.queuedAt(p);
    if (queued) return { ...queued.entry };
    return this.inner.stat(p, options);
  }

  override async list(dir: string, options?: OpOptions): Promise<Entry[]> {
    const d = normalizePath(dir);
    const entries = await this.inner.list(d, options);
    const overlay = (await this.queuedAll()).filter((q) => parentPath(q.rec.path) === d && q.rec.path !== '/');
    if (overlay.length === 0) return entries;
    const names = new Map(overlay.map((q) => [q.entry.name, q]));
    const out = entries.filter((e) => !names.has(e.name));
    for (const q of overlay) out.push({ ...q.entry });
    return out;
  }

  override async read(path: string, options: ReadOptions = {}): Promise<Readable> {
    const p = normalizePath(path);
    const item = await this.queuedAt(p);
    if (item) {
      let fh: FileHandle | undefined;
      try {
        fh = await open(item.rec.dataFile, 'r');
      } catch (e) {
        // Uploaded and deleted in between: the remote has it now.
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw toVfsError(e, { provider: 'write-back', operation: 'read', path: p });
      }
      if (fh) {
        const size = item.rec.size;
        const start = Math.min(options.offset ?? 0, size);
        const end = options.length !== undefined ? Math.min(size, start + options.length) : size;
        if (end <= start) {
          await fh.close();
          return Readable.from([]);
        }
        const stream = fh.createReadStream({ start, end: end - 1, highWaterMark: 256 * 1024, autoClose: true });
        if (options.signal) options.signal.addEventListener('abort', () => stream.destroy(), { once: true });
        return stream;
      }
    }
    return this.inner.read(p, options);
  }

  // ---- writes ----

  override async write(path: string, data: WriteData, options: WriteOptions = {}): Promise<Entry> {
    const p = normalizePath(path);
    if (p === '/') throw new VfsError('EISDIR', 'cannot write "/"', { provider: 'write-back', path: p });
    if (this.stopped) return this.inner.write(p, data, options);
    const previous = this.byPath.get(p);
    let base: BaseVersion;
    if (previous) {
      if (options.overwrite === false) throw new VfsError('EEXIST', `${p} exists`, { provider: 'write-back', path: p });
      // Still replacing what the queued version replaced (rebased if that upload lands first).
      base = previous.rec.base;
    } else {
      const parent = await this.inner.stat(parentPath(p), options);
      if (parent.type !== 'directory') throw new VfsError('ENOTDIR', `${parentPath(p)} is not a directory`, { provider: 'write-back', path: p });
      const existing = await this.statOrUndefined(this.inner, p, options);
      if (existing?.type === 'directory') throw new VfsError('EISDIR', `${p} is a directory`, { provider: 'write-back', path: p });
      if (existing && options.overwrite === false) throw new VfsError('EEXIST', `${p} exists`, { provider: 'write-back', path: p });
      base = baseOf(existing);
    }
    const { id, dataFile } = await this.store.allocate();
    const spooled = await this.spool(p, dataFile, data, options);
    if ('entry' in spooled) return spooled.entry; // the local disk was full: uploaded before answering
    let rec: QueuedUpload;
    try {
      rec = await this.store.enqueue(id, { path: p, size: spooled.size, base, ...(options.mtime ? { mtime: options.mtime } : {}) });
    } catch (e) {
      // No durable record (the disk filled up at the last step): upload now from the data file.
      this.logger.warn('write-back: cannot queue on local disk; uploading before answering', { path: p, error: e });
      try {
        return await this.inner.write(p, this.fileStream(dataFile, spooled.size), { ...options, size: spooled.size });
      } finally {
        await this.store.remove(id).catch(() => undefined);
      }
    }
    if (previous) this.supersede(previous);
    const item = this.track(rec);
    this.schedule(item, this.options.delayMs);
    return { ...item.entry };
  }

  override async mkdir(path: string, options?: OpOptions): Promise<Entry> {
    const p = normalizePath(path);
    if (await this.queuedAt(p)) throw new VfsError('EEXIST', `${p} exists`, { provider: 'write-back', path: p });
    return this.inner.mkdir(p, options);
  }

  override async setMtime(path: string, mtime: Date, options?: OpOptions): Promise<Entry> {
    const p = normalizePath(path);
    const item = this.byPath.get(p);
    if (item) {
      await this.store.update(item.rec.id, { mtime });
      item.rec.mtime = mtime;
      item.entry = { ...item.entry, mtime };
      return { ...item.entry };
    }
    if (!this.inner.setMtime) throw new VfsError('ENOTSUP', 'this provider cannot set modification times', { provider: this.inner.name, path: p });
    return this.inner.setMtime(p, mtime, options);
  }

  override async remove(path: string, options: RemoveOptions = {}): Promise<void> {
    const p = normalizePath(path);
    if (p === '/') return this.inner.remove(p, options);
    const affected = this.under(p);
    const elsewhere = await this.queuedElsewhere(p);
    const own = this.byPath.get(p) ?? elsewhere.find((r) => r.path === p);
    if ((affected.length > 0 || elsewhere.length > 0) && !own && !options.recursive) {
      // A folder holding queued files: its emptiness is decided as the provider would, counting them.
      throw new VfsError('ENOTEMPTY', `${p} is not empty`, { provider: 'write-back', path: p });
    }
    await this.hold(affected, async () => {
      for (const item of affected) await this.drop(item);
      // Queued by another instance: its job goes (that instance's claim then finds it gone and drops it).
      for (const rec of elsewhere) await this.store.remove(rec.id);
      // A queued file the remote never had (or a copy of ours that landed meanwhile) is gone now too.
      try {
        await this.inner.remove(p, options);
      } catch (e) {
        if (!(own && isVfsError(e, 'ENOENT'))) throw e;
      }
    });
  }

  override async rename(from: string, to: string, options: MoveOptions = {}): Promise<Entry> {
    const src = normalizePath(from);
    const dst = normalizePath(to);
    await this.refuseQueuedElsewhere(src);
    const moving = this.under(src);
    const replaced = this.under(dst).filter((i) => !moving.includes(i));
    if (moving.length === 0) {
      if (replaced.length && options.overwrite === false) throw new VfsError('EEXIST', `${dst} exists`, { provider: 'write-back', path: dst });
      return this.hold(replaced, async () => {
        const entry = await this.inner.rename(src, dst, options);
        for (const item of replaced) await this.drop(item);
        return entry;
      });
    }
    if (src === dst) return this.stat(src);
    if (isSameOrInside(src, dst)) throw new VfsError('EINVAL', `cannot move ${src} into itself`, { provider: 'write-back', path: src });
    const own = this.byPath.get(src);
    return this.hold([...moving, ...replaced], async () => {
      if (own) {
        // A queued file: the remote's old version (if any) moves along, then the record follows.
        if (options.overwrite === false && (replaced.length || await this.statOrUndefined(this.inner, dst, options))) {
          throw new VfsError('EEXIST', `${dst} exists`, { provider: 'write-back', path: dst });
        }
        const parent = await this.inner.stat(parentPath(dst), options);
        if (parent.type !== 'directory') throw new VfsError('ENOTDIR', `${parentPath(dst)} is not a directory`, { provider: 'write-back', path: dst });
        let moved: Entry | undefined;
        if (own.landed || own.rec.base) {
          try {
            moved = await this.inner.rename(src, dst, { ...options, overwrite: true });
          } catch (e) {
            if (!isVfsError(e, 'ENOENT')) throw e;
          }
        }
        for (const item of replaced) await this.drop(item);
        if (own.landed && moved) {
          // Its upload finished while we waited: the bytes are on the provider and moved with it.
          await this.finishLanded(own);
          return moved;
        }
        const base = moved ? baseOf(moved) : baseOf(await this.statOrUndefined(this.inner, dst, options));
        await this.repath(own, dst, base);
        return { ...own.entry };
      }
      // A folder holding queued files: the folder moves on the provider, the records follow.
      const entry = await this.inner.rename(src, dst, options);
      for (const item of replaced) await this.drop(item);
      for (const item of moving) {
        const next = dst + item.rec.path.slice(src.length);
        if (item.landed) {
          await this.finishLanded(item);
          continue;
        }
        const base = item.rec.base ? baseOf(await this.statOrUndefined(this.inner, next, options)) : null;
        await this.repath(item, next, base);
      }
      return entry;
    });
  }

  override async copy(from: string, to: string, options: MoveOptions = {}): Promise<Entry> {
    const src = normalizePath(from);
    const dst = normalizePath(to);
    await this.refuseQueuedElsewhere(src);
    const copying = [...this.under(src)].filter((i) => i.rec.state === 'queued' || i.rec.state === 'failed');
    const replaced = this.under(dst).filter((i) => !copying.includes(i));
    if (replaced.length && options.overwrite === false) throw new VfsError('EEXIST', `${dst} exists`, { provider: 'write-back', path: dst });
    if (copying.length && isSameOrInside(src, dst)) throw new VfsError('EINVAL', `cannot copy ${src} into itself`, { provider: 'write-back', path: src });
    return this.hold(replaced, async () => {
      const own = this.byPath.get(src);
      let entry: Entry;
      if (own) {
        // Our bytes are local: the copy is a new queued file (its own data file and record).
        if (options.overwrite === false && await this.statOrUndefined(this.inner, dst, options)) {
          throw new VfsError('EEXIST', `${dst} exists`, { provider: 'write-back', path: dst });
        }
        const parent = await this.inner.stat(parentPath(dst), options);
        if (parent.type !== 'directory') throw new VfsError('ENOTDIR', `${parentPath(dst)} is not a directory`, { provider: 'write-back', path: dst });
        for (const item of replaced) await this.drop(item);
        return this.enqueueCopy(own, dst, baseOf(await this.statOrUndefined(this.inner, dst, options)));
      }
      entry = await this.inner.copy(src, dst, options);
      for (const item of replaced) await this.drop(item);
      for (const item of copying) {
        const next = dst + item.rec.path.slice(src.length);
        await this.enqueueCopy(item, next, baseOf(await this.statOrUndefined(this.inner, next, options)));
      }
      return entry;
    });
  }

  // ---- what is queued, here or (shared store) on another instance ----

  /**
   * The queued version of `p` to serve. Alone: this instance's. With a shared store the store decides
   * (one `find`, two Redis round trips, per stat/read): another instance may have queued a newer
   * version, or dropped ours; this instance's own item is used when it is that job.
   */
  private async queuedAt(p: string): Promise<Served | undefined> {
    const local = this.byPath.get(p);
    if (!this.store.find) return local;
    let rec: QueuedUpload | undefined;
    try {
      rec = await this.store.find(p);
    } catch (e) {
      // The shared store is unreachable: serve what this instance knows.
      this.logger.warn('write-back: cannot ask the shared queue; serving this instance\'s view', { path: p, error: e });
      return local;
    }
    if (!rec) return undefined;
    return local?.rec.id === rec.id ? local : served(rec);
  }

  /** Every queued file to overlay: this instance's, or (shared store) every instance's (one `list` per listing). */
  private async queuedAll(): Promise<Served[]> {
    const local = [...this.byPath.values()];
    if (!this.store.list) return local;
    let recs: QueuedUpload[];
    try {
      recs = await this.store.list();
    } catch (e) {
      this.logger.warn('write-back: cannot ask the shared queue; listing this instance\'s view', { error: e });
      return local;
    }
    const mine = new Map(local.map((i) => [i.rec.id, i]));
    // Oldest first: a path's newest job wins (the store keeps one per path; this guards a race).
    const byPath = new Map<string, Served>();
    for (const rec of recs) byPath.set(rec.path, mine.get(rec.id) ?? served(rec));
    return [...byPath.values()];
  }

  /** Jobs at or under `p` that another instance queued (shared store only). */
  private async queuedElsewhere(p: string): Promise<QueuedUpload[]> {
    if (!this.store.list) return [];
    const mine = new Set([...this.items].map((i) => i.rec.id));
    return (await this.store.list()).filter((r) => !mine.has(r.id) && isSameOrInside(p, r.path));
  }

  /**
   * Moving or copying a file another instance queued would need its bytes and its job moved under
   * that instance's feet: refused (retryable) until it is uploaded.
   */
  private async refuseQueuedElsewhere(p: string): Promise<void> {
    if ((await this.queuedElsewhere(p)).length > 0) {
      throw new VfsError('EBUSY', `${p} is queued for upload by another instance; retry once it is uploaded`, { provider: 'write-back', path: p, retryable: true });
    }
  }

  // ---- the queue ----

  private track(rec: QueuedUpload): Item {
    const item: Item = { ...served(rec), held: 0 };
    const previous = this.byPath.get(rec.path);
    if (previous) this.supersede(previous);
    this.byPath.set(rec.path, item);
    this.items.add(item);
    return item;
  }

  /** Every item at `path` or below it. */
  private under(path: string): Item[] {
    return [...this.byPath.values()].filter((i) => isSameOrInside(path, i.rec.path));
  }

  /** A newer write replaced this item: it stops being served; a running upload may finish (and rebase the newer one). */
  private supersede(item: Item): void {
    item.gone = true;
    if (this.byPath.get(item.rec.path) === item) this.byPath.delete(item.rec.path);
    clearTimeout(item.timer);
    if (!item.running) this.forget(item);
  }

  /** Deleted (or replaced by a move/copy onto its path): never uploaded, record and bytes removed. */
  private async drop(item: Item): Promise<void> {
    item.gone = true;
    clearTimeout(item.timer);
    if (this.byPath.get(item.rec.path) === item) this.byPath.delete(item.rec.path);
    this.forget(item);
  }

  private forget(item: Item): void {
    this.items.delete(item);
    void this.store.remove(item.rec.id).catch((e: unknown) => this.logger.warn('write-back: could not remove a queue record', { path: item.rec.path, error: e }));
    this.wake();
  }

  /** Run `step` with the items' uploads stopped (aborted and settled) and none starting; reschedule after. */
  private async hold<T>(items: Item[], step: () => Promise<T>): Promise<T> {
    for (const item of items) {
      item.held++;
      clearTimeout(item.timer);
      item.running?.abort.abort();
    }
    try {
      for (const item of items) await item.running?.done;
      return await step();
    } finally {
      for (const item of items) {
        item.held--;
        if (!item.gone && item.held === 0 && item.rec.state === 'queued') {
          if (item.landed) await this.finishLanded(item);
          else this.schedule(item, this.options.delayMs);
        }
      }
    }
  }

  private async finishLanded(item: Item): Promise<void> {
    item.gone = true;
    if (this.byPath.get(item.rec.path) === item) this.byPath.delete(item.rec.path);
    this.forget(item);
  }

  private async repath(item: Item, path: string, base: BaseVersion): Promise<void> {
    await this.store.update(item.rec.id, { path, base });
    if (this.byPath.get(item.rec.path) === item) this.byPath.delete(item.rec.path);
    const replaced = this.byPath.get(path);
    if (replaced && replaced !== item) await this.drop(replaced);
    item.rec = { ...item.rec, path, base };
    item.landed = undefined; // whatever landed is not at the new path
    item.entry = { ...item.entry, path, name: baseName(path) };
    this.byPath.set(path, item);
  }

  private async enqueueCopy(item: Item, path: string, base: BaseVersion): Promise<Entry> {
    const { id, dataFile } = await this.store.allocate();
    await copyFile(item.rec.dataFile, dataFile);
    const fh = await open(dataFile, 'r+');
    try {
      await fh.datasync();
    } finally {
      await fh.close();
    }
    const rec = await this.store.enqueue(id, { path, size: item.rec.size, base, ...(item.rec.mtime ? { mtime: item.rec.mtime } : {}) });
    const copy = this.track(rec);
    this.schedule(copy, this.options.delayMs);
    return { ...copy.entry };
  }

  private schedule(item: Item, delayMs: number): void {
    clearTimeout(item.timer);
    if (this.stopped || item.gone || item.held > 0) return;
    item.timer = setTimeout(() => {
      item.timer = undefined;
      this.ready.push(item);
      this.pump();
    }, this.draining ? 0 : delayMs);
    item.timer.unref?.();
  }

  private pump(): void {
    while (this.active < this.options.concurrency && this.ready.length > 0) {
      const item = this.ready.shift()!;
      if (item.running || item.gone || item.held > 0 || !this.items.has(item)) continue;
      this.active++;
      const abort = new AbortController();
      const done = this.upload(item, abort.signal)
        .catch((e: unknown) => this.logger.error('write-back: unexpected failure; the local copy stays queued', { path: item.rec.path, error: e }))
        .finally(() => {
          item.running = undefined;
          this.active--;
          this.pump();
          this.wake();
        });
      item.running = { abort, done };
    }
  }

  private wake(): void {
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }

  private async upload(item: Item, signal: AbortSignal): Promise<void> {
    const rec = item.rec;
    const attempts = rec.attempts + 1;
    rec.attempts = attempts;
    try {
      await this.store.claim(rec.id, attempts);
    } catch (e) {
      if (isVfsError(e, 'ESTALE', 'ENOENT')) {
        // A shared store says another instance queued a newer version, or deleted the file: not ours to upload.
        await this.drop(item);
        return;
      }
      if (isVfsError(e, 'EBUSY')) {
        // An older version of the path is still being uploaded (by another instance): after it.
        rec.attempts = attempts - 1;
        this.schedule(item, 1000);
        return;
      }
      // A local store's bookkeeping failed: the upload itself can still go on.
    }
    let lastReport = 0;
    let reporting: Promise<void> = Promise.resolve();
    const progress = (bytes: number) => {
      const now = Date.now();
      if (now - lastReport < 1000) return;
      lastReport = now;
      reporting = reporting.then(() => this.store.progress(rec.id, bytes)).catch(() => undefined);
    };
    let conflict = false;
    try {
      const current = await this.statOrUndefined(this.fresh, rec.path, { signal });
      conflict = changedSince(rec.base, current);
      const target = conflict ? conflictPath(rec.path, new Date()) : rec.path;
      if (conflict) {
        this.logger.warn('write-back: the remote file changed since it was written here; this version is uploaded under a conflict name', {
          path: rec.path, conflictPath: target,
        });
      }
      const entry = await this.inner.write(target, counted(this.fileStream(rec.dataFile, rec.size), progress), {
        size: rec.size, overwrite: true, signal, ...(rec.mtime ? { mtime: rec.mtime } : {}),
      });
      await reporting;
      const successor = this.byPath.get(rec.path);
      if (!conflict && successor && successor !== item && successor.rec.base === rec.base) {
        // A newer write of the path was made against the version this upload replaced: ours is its base now.
        const base = baseOf(entry);
        await this.store.update(successor.rec.id, { base });
        successor.rec = { ...successor.rec, base };
      }
      if (item.held > 0 && !item.gone) {
        // A move or delete waits for this upload: it decides, knowing the bytes are on the provider.
        if (!conflict) item.landed = entry;
        else await this.finishLanded(item);
        return;
      }
      if (item.gone && !conflict && !successor) {
        // Deleted while its upload ran: no orphan on the provider.
        await this.inner.remove(target).catch(() => undefined);
      }
      await this.finishLanded(item);
    } catch (e) {
      await reporting;
      if (item.gone) {
        this.forget(item);
        return;
      }
      const err = toVfsError(e, { provider: this.inner.name, operation: 'writeBack', path: rec.path });
      if (item.held > 0) {
        // Stopped by a move or delete: not a failure; it reschedules the item when done.
        await this.store.fail(rec.id, err, false).catch(() => undefined);
        return;
      }
      if (err.retryable && attempts < this.options.maxAttempts && !this.stopped && !this.draining) {
        const backoff = Math.min(this.options.maxBackoffMs, Math.max(err.retryAfterMs ?? 0, 1000 * 2 ** Math.min(attempts - 1, 16)));
        this.logger.warn('write-back: upload failed; retrying', { path: rec.path, code: err.code, attempt: attempts, retryInMs: backoff });
        await this.store.fail(rec.id, err, false).catch(() => undefined);
        this.schedule(item, backoff);
        return;
      }
      if (err.retryable && (this.stopped || this.draining)) {
        // Shutting down: keep it queued for the next run rather than calling it failed.
        await this.store.fail(rec.id, err, false).catch(() => undefined);
        this.items.delete(item);
        return;
      }
      this.logger.error('write-back: upload failed; the local copy is kept (still served here) as a failed pending upload', { path: rec.path, code: err.code });
      await this.store.fail(rec.id, err, true).catch((k: unknown) => this.logger.error('write-back: upload failed AND its record could not be updated', { path: rec.path, error: k }));
      item.rec = { ...item.rec, state: 'failed', error: { code: err.code, message: err.message } };
      this.items.delete(item);
    }
  }

  // ---- helpers ----

  /**
   * Stream `data` into `dataFile` and fsync it. When the local disk fills up, the write becomes a
   * synchronous upload of what reached the disk followed by the rest of the stream (resolves `entry`).
   */
  private async spool(path: string, dataFile: string, data: WriteData, options: WriteOptions): Promise<{ size: number } | { entry: Entry }> {
    const fh = await open(dataFile, 'w', 0o600);
    const source = iterateBytes(data);
    let written = 0;
    let full: { chunk: Buffer; error: unknown } | undefined;
    try {
      // Pulled by hand: a for-await loop left with `break` would close the source, and the rest is still needed.
      for (let next = await source.next(); !next.done; next = await source.next()) {
        const chunk = next.value;
        try {
          let done = 0;
          while (done < chunk.length) done += (await fh.write(chunk, done, chunk.length - done, written + done)).bytesWritten;
          written += chunk.length;
        } catch (e) {
          if (!isFull(e)) throw e;
          full = { chunk: chunk.subarray(0), error: e };
          break;
        }
      }
      if (!full) {
        try {
          await fh.datasync();
        } catch (e) {
          if (!isFull(e)) throw e;
          full = { chunk: Buffer.alloc(0), error: e };
        }
      }
    } catch (e) {
      await fh.close().catch(() => undefined);
      await this.store.remove(baseName(dataFile).replace(/\.spool$/, '')).catch(() => undefined);
      throw e;
    }
    await fh.close().catch(() => undefined);
    if (!full) return { size: written };
    const id = baseName(dataFile).replace(/\.spool$/, '');
    this.logger.warn('write-back: the local disk is full; uploading before answering', { path, error: full.error });
    if (options.size === undefined && this.inner.capabilities.needsSizeForWrite) {
      await this.store.remove(id).catch(() => undefined);
      throw toVfsError(full.error, { provider: 'write-back', operation: 'spool', path });
    }
    const head = this.fileStream(dataFile, written);
    const rest = async function* (): AsyncGenerator<Buffer> {
      yield* iterateBytes(head);
      if (full!.chunk.length) yield full!.chunk;
      yield* source;
    };
    try {
      return { entry: await this.inner.write(path, rest(), options) };
    } finally {
      await this.store.remove(id).catch(() => undefined);
    }
  }

  private fileStream(file: string, size: number): WriteData {
    if (size === 0) return Buffer.alloc(0);
    return Readable.from((async function* () {
      const fh = await open(file, 'r');
      try {
        yield* fh.createReadStream({ start: 0, end: size - 1, highWaterMark: 1 << 20, autoClose: false }) as AsyncIterable<Buffer>;
      } finally {
        await fh.close();
      }
    })());
  }

  private async statOrUndefined(vfs: Vfs, path: string, options?: OpOptions): Promise<Entry | undefined> {
    try {
      return await vfs.stat(path, options?.signal ? { signal: options.signal } : {});
    } catch (e) {
      if (isVfsError(e, 'ENOENT', 'ENOTDIR')) return undefined;
      throw e;
    }
  }
}

/** What the overlay serves: an item of this queue, or a job another instance queued. */
type Served = Pick<Item, 'rec' | 'entry'>;

function served(rec: QueuedUpload): Served {
  return { rec, entry: { type: 'file', path: rec.path, name: baseName(rec.path), size: rec.size, mtime: rec.mtime ?? rec.createdAt, etag: `wb-${rec.id}` } };
}

function isFull(e: unknown): boolean {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOSPC' || code === 'EDQUOT';
}

