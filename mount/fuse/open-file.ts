/**
 * One file that is open through the mount, shared by every handle on its path: the spool that holds
 * its new content (created on the first write or truncate, filled with the old content first when the
 * write does not replace it), whether that content still has to be uploaded, and the upload itself.
 */
import type { Logger } from '../../src/log.js';
import { isVfsError } from '../../src/errors.js';
import { counted } from '../../src/streams.js';
import type { Entry, Vfs, WriteData } from '../../src/vfs.js';
import { WriteBuffer } from './write-buffer.js';
import type { WriteBufferMemory } from './write-buffer.js';
import type { QueueJournal } from '../write-back/journal.js';

export interface OpenFileContext {
  vfs: Vfs;
  spoolDir: string;
  remote?: string;
  logger: Logger;
  /** Memory small spools may use (none: every spool is a file). */
  memory?: WriteBufferMemory;
  /** Write-back: the mount's queue journal (small closed files become durable with one shared fdatasync). */
  journal?: QueueJournal;
  /** Told of every successful upload and the mtime it asked for (the frontend refreshes its metadata cache). */
  onUploaded?: (entry: Entry, requestedMtime: Date | undefined) => void;
}

export class OpenFile {
  /** Handles open on this file. */
  refs = 0;
  /** Bytes the remote holds for this path when opened; null when the file exists only here (just created). */
  remoteSize: number | null;
  /** Remote metadata when opened (used for getattr while nothing was written). */
  remoteEntry: Entry | undefined;
  /** True while the spool holds content the remote lacks. */
  dirty = false;
  /** Bumped by every change, so an upload only marks clean the content it actually sent. */
  generation = 0;
  /** Last local change (getattr's mtime while dirty). */
  mtime = new Date();
  /** An mtime set by utimens while dirty, given to the upload. */
  explicitMtime: Date | undefined;
  /** The path was unlinked (or replaced by a rename) while open: never upload it. */
  unlinked = false;
  /** The upload of this generation failed; release keeps the spool instead of trying again. */
  failedGeneration = -1;
  lastError: unknown;
  /**
   * A write or truncate failed locally (disk full, I/O error…): the spool no longer holds what the
   * writer meant, so it is never uploaded. flush/fsync/close report this error, and the last close
   * drops the spool; the remote keeps its previous version.
   */
  poisoned: unknown;

  /** Write-back: the spool's durable queue record describes the current content (write-back.ts). */
  queuedOnDisk = false;

  private spool: WriteBuffer | undefined;
  private spoolPromise: Promise<WriteBuffer> | undefined;
  private uploading: Promise<Entry | undefined> | undefined;
  private dirtyMark: Promise<void> = Promise.resolve();

  constructor(public path: string, private readonly ctx: OpenFileContext, remote: Entry | undefined) {
    this.remoteEntry = remote;
    this.remoteSize = remote ? remote.size : null;
    if (!remote) this.dirty = true; // created here: even an empty file must reach the remote
  }

  /** The spool, when one exists (readers of this path read from it). */
  get spoolFile(): WriteBuffer | undefined {
    return this.spool;
  }

  /** Whether reads must come from the spool (it exists or is being made). */
  get spooled(): boolean {
    return this.spoolPromise !== undefined;
  }

  /** Size a getattr should report. */
  get size(): number {
    if (this.spool) return this.spool.size;
    return this.remoteSize ?? 0;
  }

  /** The spool, creating it; `keepContent` first copies the remote's bytes in (streamed, never whole in memory). */
  ensureSpool(keepContent: boolean): Promise<WriteBuffer> {
    if (!this.spoolPromise) {
      const make = async (): Promise<WriteBuffer> => {
        const fill = keepContent && !!this.remoteSize;
        const spool = await WriteBuffer.create(this.ctx.spoolDir, {
          path: this.path, vfsName: this.ctx.vfs.name, ...(this.ctx.remote ? { remote: this.ctx.remote } : {}),
          replacesSize: this.remoteSize,
        }, { ...(this.ctx.memory ? { memory: this.ctx.memory } : {}), ...(this.ctx.journal ? { journal: this.ctx.journal } : {}), expectedSize: fill ? this.remoteSize! : 0, dirty: this.dirty });
        try {
          if (fill) await spool.fillFrom(await this.ctx.vfs.read(this.path));
        } catch (e) {
          await spool.remove();
          throw e;
        }
        this.spool = spool;
        return spool;
      };
      this.spoolPromise = make();
      this.spoolPromise.catch(() => {
        this.spoolPromise = undefined;
      });
    }
    return this.spoolPromise;
  }

  /** Wait for a spool being made (for readers), or undefined when there is none. */
  async currentSpool(): Promise<WriteBuffer | undefined> {
    return this.spoolPromise ? await this.spoolPromise : undefined;
  }

  /** Record a change of content: the sidecar says "dirty" BEFORE the bytes land, so a crash cannot hide them. */
  async markChanging(spool: WriteBuffer): Promise<void> {
    this.generation++;
    this.mtime = new Date();
    if (!this.dirty) {
      this.dirty = true;
      this.dirtyMark = spool.setDirty(true, this.explicitMtime);
    } else if (this.queuedOnDisk) {
      // Reopened while queued: the record must stop promising closed, complete content before the bytes change.
      this.queuedOnDisk = false;
      this.dirtyMark = spool.reopen();
    }
    await this.dirtyMark;
  }

  /** Write bytes at an offset (the spool is made, with the old content, on the first write). */
  async write(buf: Buffer, length: number, offset: number): Promise<void> {
    this.throwIfPoisoned();
    try {
      const spool = await this.ensureSpool(true);
      await this.markChanging(spool);
      await spool.write(buf, length, offset);
    } catch (e) {
      throw this.poison(e);
    }
  }

  /**
   * Give this file's next upload the mtime `mtime` (a provider that stores times only with an upload),
   * sending again only what this mount holds: an empty file or the spool of content written here,
   * never the remote's bytes fetched for it. False when that is not the case (nothing changed).
   */
  async retimeForUpload(mtime: Date): Promise<boolean> {
    if (this.unlinked || this.poisoned !== undefined) return false;
    if (!this.spoolPromise && this.size !== 0) return false;
    const spool = await this.ensureSpool(false);
    this.explicitMtime = mtime;
    await this.markChanging(spool);
    return true;
  }

  /** Cut or extend to `size`; truncating to 0 never downloads the old content. */
  async truncate(size: number): Promise<void> {
    this.throwIfPoisoned();
    if (!this.spoolPromise && size === this.remoteSize && !this.dirty) return;
    try {
      const spool = await this.ensureSpool(size > 0);
      await this.markChanging(spool);
      await spool.truncate(size);
      await spool.setIntendedSize(size);
    } catch (e) {
      throw this.poison(e);
    }
  }

  /**
   * Remember that the content is broken (the first error wins) and tell the sidecar at once, so that
   * even a crash before close() can never offer these bytes as a pending upload. Returns the error.
   */
  private poison(e: unknown): unknown {
    if (this.poisoned === undefined) {
      this.poisoned = e;
      this.ctx.logger.error('a write failed locally; this file will not be uploaded and keeps its previous version', {
        path: this.path, code: isVfsError(e) ? e.code : (e as NodeJS.ErrnoException)?.code ?? 'EIO',
      });
      this.spool?.forget();
    }
    return e;
  }

  private throwIfPoisoned(): void {
    if (this.poisoned !== undefined) throw this.poisoned;
  }

  /** Upload the content if it changed; resolves to the new remote Entry (undefined when nothing was sent). */
  async upload(): Promise<Entry | undefined> {
    while (this.uploading) await this.uploading.catch(() => undefined);
    this.throwIfPoisoned();
    if (!this.dirty || this.unlinked) return undefined;
    this.uploading = this.uploadNow();
    try {
      return await this.uploading;
    } finally {
      this.uploading = undefined;
    }
  }

  /**
   * Write-back: make the closed content durable with its queue record before close() returns.
   * Resolves false when there is nothing to queue (clean, unlinked).
   */
  async persistForWriteBack(): Promise<boolean> {
    while (this.uploading) await this.uploading.catch(() => undefined);
    this.throwIfPoisoned();
    if (!this.dirty || this.unlinked) return false;
    if (this.queuedOnDisk) return true;
    const generation = this.generation;
    try {
      const spool = await this.ensureSpool(false);
      const base = this.remoteEntry ? { size: this.remoteEntry.size, mtime: this.remoteEntry.mtime.toISOString(), ...(this.remoteEntry.etag ? { etag: this.remoteEntry.etag } : {}) } : null;
      await spool.persistQueued({ base, mtime: this.explicitMtime?.toISOString() });
      if (generation === this.generation) this.queuedOnDisk = true;
      else await spool.reopen();
    } catch (e) {
      this.ctx.logger.error('write-back: could not make the closed file durable on local disk', { path: this.path, error: e });
      throw e;
    }
    return true;
  }

  /** Wait for a running upload to end (its outcome is the upload's business). */
  async settled(): Promise<void> {
    while (this.uploading) await this.uploading.catch(() => undefined);
  }

  /** Write-back: the remote version the queued change now replaces (after a rename onto an existing file). */
  async rebase(entry: Entry | undefined): Promise<void> {
    this.remoteEntry = entry;
    this.remoteSize = entry ? entry.size : null;
    if (this.queuedOnDisk && this.spool) {
      await this.spool.persistQueued({ base: entry ? { size: entry.size, mtime: entry.mtime.toISOString(), ...(entry.etag ? { etag: entry.etag } : {}) } : null });
    }
  }

  /** Write-back resume: an OpenFile for a queued spool a dead mount left behind. */
  static fromQueued(ctx: OpenFileContext, spool: WriteBuffer): OpenFile {
    const record = spool.record;
    const base = record.base;
    const name = record.path.slice(record.path.lastIndexOf('/') + 1);
    const remote: Entry | undefined = base ? { type: 'file', path: record.path, name, size: base.size, mtime: new Date(base.mtime), ...(base.etag ? { etag: base.etag } : {}) } : undefined;
    const file = new OpenFile(record.path, ctx, remote);
    file.spool = spool;
    file.spoolPromise = Promise.resolve(spool);
    file.dirty = true;
    file.queuedOnDisk = true;
    file.generation = 1;
    if (record.mtime) file.explicitMtime = new Date(record.mtime);
    file.mtime = new Date(record.updatedAt);
    return file;
  }

  /** Write-back: upload the queued content to `target` (the path, or a conflict name); `progress` hears bytes sent. */
  async uploadQueued(target: string, progress: (bytes: number) => void): Promise<{ entry: Entry; clean: boolean }> {
    while (this.uploading) await this.uploading.catch(() => undefined);
    const generation = this.generation;
    const run = this.uploadNow(target, progress);
    this.uploading = run;
    try {
      const entry = (await run)!;
      return { entry, clean: generation === this.generation };
    } finally {
      if (this.uploading === run) this.uploading = undefined;
    }
  }

  private async uploadNow(target = this.path, progress?: (bytes: number) => void): Promise<Entry | undefined> {
    const generation = this.generation;
    const spool = this.spoolPromise ? await this.spoolPromise : undefined;
    const options: Parameters<Vfs['write']>[2] = { size: spool?.size ?? 0, overwrite: true };
    if (this.explicitMtime) options.mtime = this.explicitMtime;
    try {
      const data = spool ? spool.uploadData() : Buffer.alloc(0);
      const entry = await this.ctx.vfs.write(target, progress ? counted(data, progress) : data, options);
      if (target !== this.path) return entry; // a conflict copy: the path itself stays as it is
      // The remote holds this version now, whatever changed here meanwhile: it is what a later upload replaces.
      this.remoteSize = entry.size;
      this.remoteEntry = entry;
      if (generation === this.generation) {
        this.dirty = false;
        // The queue record is done with: a change from now on must be queued (made durable) afresh at its close.
        this.queuedOnDisk = false;
        spool?.uploaded(entry.size);
        await spool?.setDirty(false).catch(() => undefined);
      }
      this.lastError = undefined;
      this.ctx.onUploaded?.(entry, options.mtime);
      return entry;
    } catch (e) {
      this.failedGeneration = generation;
      this.lastError = e;
      this.ctx.logger.warn('upload failed; the spool file is kept', {
        path: this.path, code: isVfsError(e) ? e.code : 'EIO', spool: spool?.file,
      });
      throw e;
    }
  }

  /** The path changed (rename while open). */
  async moved(to: string): Promise<void> {
    this.path = to;
    await this.spool?.setPath(to).catch(() => undefined);
  }

  /**
   * Last handle closed: upload what is left (unless the last upload of this very content just failed),
   * then delete the spool; if the content cannot be uploaded, keep the spool as a pending upload.
   * Resolves to true when content had to be kept.
   */
  async finish(): Promise<boolean> {
    if (this.poisoned !== undefined) {
      // Never uploaded, never kept: the writer was told at write() and at close().
      const spool = this.spoolPromise ? await this.spoolPromise.catch(() => undefined) : undefined;
      await spool?.remove();
      return false;
    }
    if (this.dirty && !this.unlinked && !this.queuedOnDisk && this.failedGeneration !== this.generation) {
      await this.upload().catch(() => undefined);
    }
    const spool = this.spoolPromise ? await this.spoolPromise.catch(() => undefined) : undefined;
    if (this.dirty && !this.unlinked) {
      if (!spool) {
        // Nothing was written (an empty created file whose upload failed): nothing to keep.
        return false;
      }
      try {
        await spool.keep(this.lastError ?? new Error('upload did not complete'));
      } catch (e) {
        // The spool folder itself failed (disk full, removed): say so loudly, the bytes are at risk.
        this.ctx.logger.error('upload failed AND the content could not be kept', { path: this.path, spool: spool.file, error: e });
        throw e;
      }
      this.ctx.logger.error('upload failed; content kept as a pending upload', { path: this.path, spool: spool.file });
      return true;
    }
    await spool?.remove();
    return false;
  }
}

