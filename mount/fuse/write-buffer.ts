/**
 * A write buffer: the local copy of one file being written through the mount. It takes random writes,
 * appends and truncates at local speed, is read back by readers of the same path, and is sent to the
 * Vfs on flush.
 *
 * Small files stay in memory (up to `memoryBytes` each, within a shared budget): writing 1000 small
 * files then costs no disk I/O at all. Anything bigger, or anything whose upload fails, lives in a
 * file in the spool folder (--spool-dir) with a JSON sidecar (sidecar.ts) that records what it is
 * for, so a new process can find and upload it after a crash. The sidecar says "dirty" before changed bytes reach the file, and is
 * deleted once they are uploaded.
 * (A crash loses only the bytes of a small file whose writer had not yet closed it — close() is when
 * a writer learns its data is safe, which it only is once uploaded.)
 */
import { randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, unlink } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { toVfsError } from '../../src/errors.js';
import { redact } from '../../src/redact.js';
import { iterateBytes } from '../../src/streams.js';
import type { WriteData } from '../../src/vfs.js';
import { spoolFiles, writeSidecar } from './sidecar.js';
import type { SpoolSidecar } from './sidecar.js';
import { JOURNAL_INLINE_MAX_BYTES } from '../write-back/journal.js';
import type { QueueJournal } from '../write-back/journal.js';

/**
 * Write-back: a spool file that grows by this much starts an fdatasync in the background, so the
 * one a close() must wait for finds most bytes on disk already (the disk works while the writer writes).
 */
const EARLY_SYNC_BYTES = 16 * 1024 * 1024;

export interface WriteBufferOwner {
  /** Vfs path the content is for. */
  path: string;
  vfsName: string;
  remote?: string;
  /** Size of the remote version the content replaces; null for a new file; undefined when unknown. */
  replacesSize?: number | null;
}

/** Memory shared by every in-memory write buffer of one mount. */
export class WriteBufferMemory {
  used = 0;
  constructor(readonly perFileBytes: number, readonly totalBytes: number) {}
}

const createdDirs = new Set<string>();

export class WriteBuffer {
  /** Bytes in the spool (tracked here so getattr needs no syscall). */
  size = 0;
  private sidecar: SpoolSidecar;
  /** In-memory content while the spool is small; undefined once it lives in a file. */
  private mem: Buffer | undefined;
  /** The in-memory content was handed to an upload as is: copy it before the next change (copy on write). */
  private memShared = false;
  private fh: FileHandle | undefined;
  private spilling: Promise<FileHandle> | undefined;
  private sidecarOnDisk = false;
  /** The content is broken (a write failed): no sidecar may describe it any more. */
  private forgotten = false;
  /** Write-back: the queue record (with the bytes) lives in the mount's journal, not in a sidecar file. */
  private journaled = false;
  private journal: QueueJournal | undefined;
  private unsyncedBytes = 0;
  private earlySync: Promise<void> | undefined;

  private constructor(readonly dir: string, owner: WriteBufferOwner, private readonly memory: WriteBufferMemory | undefined) {
    const now = new Date().toISOString();
    this.sidecar = {
      version: 1, id: randomUUID(), path: owner.path, vfsName: owner.vfsName, state: 'open', dirty: false,
      pid: process.pid, createdAt: now, updatedAt: now,
    };
    if (owner.remote !== undefined) this.sidecar.remote = owner.remote;
    if (owner.replacesSize !== undefined) this.sidecar.replacesSize = owner.replacesSize;
  }

  /**
   * A new empty spool. With `memory` it starts in memory when `expectedSize` fits; otherwise its file
   * (mode 0600) is created at once in `dir`.
   */
  static async create(dir: string, owner: WriteBufferOwner, options: { memory?: WriteBufferMemory; expectedSize?: number; dirty?: boolean; journal?: QueueJournal } = {}): Promise<WriteBuffer> {
    const spool = new WriteBuffer(dir, owner, options.memory);
    spool.journal = options.journal;
    spool.sidecar.dirty = options.dirty ?? false;
    if (options.memory && (options.expectedSize ?? 0) <= options.memory.perFileBytes) {
      spool.mem = Buffer.alloc(0);
    } else {
      await spool.toDisk();
    }
    return spool;
  }

  get id(): string {
    return this.sidecar.id;
  }

  /** Path of the spool data file (it exists once the spool left memory). */
  get file(): string {
    return spoolFiles(this.dir, this.id).data;
  }

  /** True while the content is held in memory. */
  get inMemory(): boolean {
    return this.mem !== undefined;
  }

  /** Copy a stream (the existing remote content) into the spool from offset 0, chunk by chunk. */
  async fillFrom(stream: AsyncIterable<Uint8Array>): Promise<void> {
    let at = 0;
    for await (const chunk of iterateBytes(stream as WriteData)) {
      await this.write(chunk, chunk.length, at);
      at += chunk.length;
    }
  }

  /** Read up to `length` bytes at `position` straight into `buf`; returns the count. */
  async read(buf: Buffer, length: number, position: number): Promise<number> {
    const want = Math.min(length, this.size - position);
    if (want <= 0) return 0;
    if (this.mem) return this.mem.copy(buf, 0, position, position + want);
    const fh = await this.handle();
    let done = 0;
    while (done < want) {
      const { bytesRead } = await fh.read(buf, done, want - done, position + done);
      if (bytesRead === 0) break;
      done += bytesRead;
    }
    return done;
  }

  /** Write `length` bytes of `buf` at `position`. */
  async write(buf: Buffer, length: number, position: number): Promise<void> {
    const end = position + length;
    if (this.mem && !this.spilling && this.growMemory(end)) {
      this.unshare();
      if (position > this.size) this.mem.fill(0, this.size, position); // a hole reads as zeros
      buf.copy(this.mem, position, 0, length);
      this.size = Math.max(this.size, end);
      return;
    }
    const fh = await this.handle();
    let done = 0;
    while (done < length) {
      const { bytesWritten } = await fh.write(buf, done, length - done, position + done);
      done += bytesWritten;
    }
    this.size = Math.max(this.size, end);
    if (this.journal) {
      this.unsyncedBytes += length;
      if (this.unsyncedBytes >= EARLY_SYNC_BYTES && !this.earlySync) {
        this.unsyncedBytes = 0;
        this.earlySync = fh.datasync().catch(() => undefined).finally(() => (this.earlySync = undefined));
      }
    }
  }

  /** Append an end-of-entry line for a journaled record (it was uploaded, kept as a file, or dropped). */
  private unjournal(): void {
    if (!this.journaled) return;
    this.journaled = false;
    void this.journal!.append({ id: this.id, removed: true }, { sync: 'soon' }).catch(() => undefined);
  }

  /** Cut or extend (with zeros) to `size` bytes. */
  async truncate(size: number): Promise<void> {
    if (this.mem && !this.spilling && this.growMemory(size)) {
      this.unshare();
      if (size > this.size) this.mem.fill(0, this.size, size);
      this.size = size;
      return;
    }
    await (await this.handle()).truncate(size);
    this.size = size;
  }

  /**
   * The whole content for an upload: the memory itself (a write that comes while it is being sent
   * copies it first), or a fresh stream of the file (a second fd, so writes may go on).
   */
  uploadData(): WriteData {
    if (this.mem) {
      this.memShared = true;
      return this.mem.subarray(0, this.size);
    }
    if (this.size === 0) return Buffer.alloc(0);
    return createReadStream(this.file, { start: 0, end: this.size - 1, highWaterMark: 256 * 1024 });
  }

  /**
   * A write into this spool failed, so its content is not what the writer meant: delete the sidecar
   * now (deleting needs no disk space), so no later process lists the bytes as a pending upload.
   */
  forget(): void {
    this.forgotten = true;
    this.unjournal();
    if (!this.sidecarOnDisk) return;
    this.sidecarOnDisk = false;
    void unlink(spoolFiles(this.dir, this.id).sidecar).catch(() => undefined);
  }

  /** Record whether the spool holds bytes the remote lacks (and the mtime to give them); a clean spool has no sidecar. */
  async setDirty(dirty: boolean, mtime?: Date): Promise<void> {
    if (this.forgotten) return;
    this.sidecar = { ...this.sidecar, dirty, state: 'open', updatedAt: new Date().toISOString() };
    if (mtime) this.sidecar.mtime = mtime.toISOString();
    else delete this.sidecar.mtime;
    delete this.sidecar.error;
    if (!dirty) this.unjournal();
    if (this.mem) return; // nothing on disk to describe
    if (dirty) {
      await writeSidecar(this.dir, this.sidecar);
      this.sidecarOnDisk = true;
    } else if (this.sidecarOnDisk) {
      this.sidecarOnDisk = false;
      await unlink(spoolFiles(this.dir, this.id).sidecar).catch(() => undefined);
    }
  }

  /** The writer set the file's size (truncate/ftruncate): recorded so a crash report can say how much is missing. */
  async setIntendedSize(size: number): Promise<void> {
    const intended = size > 0 ? size : undefined;
    if (this.sidecar.intendedSize === intended) return;
    this.sidecar = { ...this.sidecar, updatedAt: new Date().toISOString() };
    if (intended === undefined) delete this.sidecar.intendedSize;
    else this.sidecar.intendedSize = intended;
    if (this.sidecarOnDisk && !this.forgotten) await writeSidecar(this.dir, this.sidecar);
  }

  /** The content reached the remote: it is now the version any later change replaces. */
  uploaded(size: number): void {
    this.sidecar = { ...this.sidecar, replacesSize: size };
    delete this.sidecar.intendedSize;
  }

  /** The Vfs path changed (rename while open): the sidecar must follow. */
  async setPath(path: string): Promise<void> {
    this.sidecar = { ...this.sidecar, path, updatedAt: new Date().toISOString() };
    if (this.journaled && !this.forgotten) await this.journal!.append(this.sidecar, { sync: false });
    if (this.sidecarOnDisk && !this.forgotten) await writeSidecar(this.dir, this.sidecar);
  }

  /** Give up on uploading for now: move the bytes to disk if needed, mark them failed, close the file. */
  async keep(error: unknown): Promise<void> {
    const e = toVfsError(error);
    this.sidecar = {
      ...this.sidecar, state: 'failed', dirty: true, updatedAt: new Date().toISOString(),
      error: { code: e.code, message: redact(e.message).slice(0, 500) },
    };
    const fh = await this.handle();
    await writeSidecar(this.dir, this.sidecar);
    this.sidecarOnDisk = true;
    this.unjournal();
    await fh.close().catch(() => undefined);
  }

  /** The sidecar as it stands (write-back reads and updates its queue fields). */
  get record(): Readonly<SpoolSidecar> {
    return this.sidecar;
  }

  /**
   * Write-back: make the content and its queue record durable (data fsynced, then the sidecar written,
   * fsynced and renamed into place, then the folder fsynced). After this a crash loses nothing: the
   * next mount of the remote finds the record and uploads the bytes.
   */
  async persistQueued(fields: Partial<Pick<SpoolSidecar, 'base' | 'mtime' | 'attempts' | 'uploading' | 'error'>>, options: { sync?: boolean } = {}): Promise<void> {
    if (this.forgotten) return;
    const sync = options.sync !== false;
    const next: SpoolSidecar = { ...this.sidecar, ...fields, state: 'queued', dirty: true, pid: process.pid, updatedAt: new Date().toISOString() };
    for (const key of Object.keys(fields) as (keyof typeof fields)[]) if (fields[key] === undefined) delete next[key];
    if (!sync && !this.journaled && !this.sidecarOnDisk) {
      // A progress note with no durable record to update (e.g. just after the upload ended): never create one.
      this.sidecar = next;
      return;
    }
    if (this.journal && this.mem && !this.spilling && (this.journaled || (sync && this.size <= JOURNAL_INLINE_MAX_BYTES))) {
      // A small file: its bytes and record in one journal line, one shared fdatasync (journal.ts).
      this.sidecar = next;
      this.journaled = true;
      await this.journal.append(sync ? { ...next, data: this.mem.subarray(0, this.size).toString('base64') } : next, { sync });
      return;
    }
    const fh = await this.handle();
    if (sync) {
      // fdatasync: the bytes and the size (an mtime of the spool file is worth no flush); the folder
      // fsync after the record's rename covers the data file's name too.
      await this.earlySync;
      await fh.datasync();
    }
    this.sidecar = next;
    await writeSidecar(this.dir, this.sidecar, { durable: sync });
    this.sidecarOnDisk = true;
    this.unjournal();
  }

  /** A queued record is about to be changed by new writes: mark it 'open' (a crash now means "interrupted"). */
  async reopen(): Promise<void> {
    if (this.forgotten || this.sidecar.state !== 'queued') return;
    this.sidecar = { ...this.sidecar, state: 'open', dirty: true, updatedAt: new Date().toISOString() };
    delete this.sidecar.uploading;
    // Journaled bytes are a copy, untouched by new writes: the last closed version stays queued until the next close.
    if (this.journaled) return;
    await writeSidecar(this.dir, this.sidecar);
  }

  /** Take over a queued spool a dead mount left behind (write-back resume): this process owns it now. */
  static async adopt(dir: string, sidecar: SpoolSidecar): Promise<WriteBuffer> {
    const spool = new WriteBuffer(dir, { path: sidecar.path, vfsName: sidecar.vfsName }, undefined);
    const fh = await open(spoolFiles(dir, sidecar.id).data, 'r+');
    spool.fh = fh;
    spool.size = (await fh.stat()).size;
    spool.sidecar = { ...sidecar, pid: process.pid, updatedAt: new Date().toISOString() };
    delete spool.sidecar.uploading;
    await writeSidecar(dir, spool.sidecar, { durable: true });
    spool.sidecarOnDisk = true;
    return spool;
  }

  /** Close the spool file and leave file and sidecar as they are on disk (what a crash leaves behind). */
  async abandon(): Promise<void> {
    const fh = this.fh ?? (this.spilling ? await this.spilling.catch(() => undefined) : undefined);
    await fh?.close().catch(() => undefined);
    this.release();
  }

  /** Drop the content (it is safely uploaded, or unwanted): free the memory, or delete the file and sidecar. */
  async remove(): Promise<void> {
    this.unjournal();
    if (this.mem) {
      this.release();
      return;
    }
    const fh = this.fh ?? (this.spilling ? await this.spilling.catch(() => undefined) : undefined);
    await fh?.close().catch(() => undefined);
    const files = spoolFiles(this.dir, this.id);
    await unlink(files.data).catch(() => undefined);
    if (this.sidecarOnDisk) await unlink(files.sidecar).catch(() => undefined);
  }

  /** Make room for `end` bytes in memory; false when the spool must move to disk instead. */
  private growMemory(end: number): boolean {
    const mem = this.mem!;
    if (end <= mem.length) return true;
    const memory = this.memory!;
    if (end > memory.perFileBytes) return false;
    // Exactly the first write's size to start with (most small files are written in one piece), then doubling.
    const capacity = Math.min(memory.perFileBytes, Math.max(end, mem.length * 2));
    if (memory.used - mem.length + capacity > memory.totalBytes) return false;
    const grown = Buffer.alloc(capacity);
    mem.copy(grown, 0, 0, this.size);
    memory.used += capacity - mem.length;
    this.mem = grown;
    this.memShared = false;
    return true;
  }

  /** Before changing memory an upload was given: take a private copy (same size, same budget). */
  private unshare(): void {
    if (!this.memShared || !this.mem) return;
    const copy = Buffer.alloc(this.mem.length);
    this.mem.copy(copy, 0, 0, this.size);
    this.mem = copy;
    this.memShared = false;
  }

  private release(): void {
    if (this.mem && this.memory) this.memory.used -= this.mem.length;
    this.mem = undefined;
  }

  /** The open spool file, moving the content out of memory first when needed. */
  private handle(): Promise<FileHandle> {
    if (this.fh) return Promise.resolve(this.fh);
    // A spill that failed (full disk) may be tried again later; the content is still in memory.
    this.spilling ??= this.toDisk().catch((e: unknown) => {
      this.spilling = undefined;
      throw e;
    });
    return this.spilling;
  }

  /** Create the spool file (and, when dirty, its sidecar FIRST), then copy the in-memory content into it. */
  private async toDisk(): Promise<FileHandle> {
    if (!createdDirs.has(this.dir)) {
      await mkdir(this.dir, { recursive: true, mode: 0o700 });
      createdDirs.add(this.dir);
    }
    const fh = await open(this.file, 'w+', 0o600);
    try {
      if (this.sidecar.dirty) {
        await writeSidecar(this.dir, this.sidecar);
        this.sidecarOnDisk = true;
      }
      if (this.mem && this.size > 0) await fh.write(this.mem, 0, this.size, 0);
    } catch (e) {
      await fh.close().catch(() => undefined);
      await unlink(this.file).catch(() => undefined);
      if (this.sidecarOnDisk) {
        this.sidecarOnDisk = false;
        await unlink(spoolFiles(this.dir, this.id).sidecar).catch(() => undefined);
      }
      throw e;
    }
    this.release();
    this.fh = fh;
    return fh;
  }
}
