/**
 * The filesystem behind the mount: every kernel request as an async method over a Vfs. Reads of
 * untouched files stream from the Vfs; writes land in a spool per open file (open-file.ts) and are
 * uploaded on flush/fsync/close; metadata comes from a readdir-fed cache (lookup-cache.ts) so `ls -l`
 * costs one listing. Every failure is a VfsError; operations.ts turns it into a negative errno.
 */
import { constants } from 'node:fs';
import { VfsError, isVfsError } from '../../src/errors.js';
import type { Logger } from '../../src/log.js';
import { isSameOrInside, normalizePath, parentPath } from '../../src/path.js';
import { mtimeSupportOf } from '../../src/vfs.js';
import type { Entry, SpaceInfo, Vfs } from '../../src/vfs.js';
import type { FuseStat, FuseStatfs } from './binding.js';
import { LookupCache } from './lookup-cache.js';
import { OpenFile } from './open-file.js';
import type { OpenFileContext } from './open-file.js';
import { RemoteReader } from './remote-reader.js';
import { SessionTimes } from './session-times.js';
import { WriteBuffer, WriteBufferMemory } from './write-buffer.js';
import { WriteBackQueue, orphanedQueue } from './write-back.js';
import { QueueJournal } from '../write-back/journal.js';
import type { WriteBackOptions } from './write-back.js';
import { CachedVfs } from '../../src/cache.js';
import { entryStat, spaceStatfs } from './stat.js';
import type { StatOwner } from './stat.js';

/**
 * Read-only is not an option here but the Vfs's capability (a ReadonlyVfs): the filesystem reads it
 * to refuse writable opens and changes early, before a spool file exists.
 */
export interface FilesystemOptions {
  uid: number;
  gid: number;
  spoolDir: string;
  /** How long a listing or stat answers lookups without asking the Vfs again (0 = never). */
  metadataTtlMs: number;
  /** How long a `space()` answer serves statfs. */
  spaceTtlMs: number;
  /** Small files are spooled in memory up to this many bytes each (0 = always a spool file), within `spoolMemoryTotalBytes`. */
  spoolMemoryBytes: number;
  spoolMemoryTotalBytes: number;
  /** Label recorded in spool sidecars (e.g. the CLI's remote name). */
  remote?: string;
  /** Upload closed files in the background (write-back.ts); undefined: upload before close() returns. */
  writeBack?: WriteBackOptions;
  logger: Logger;
}

interface Handle {
  file: OpenFile;
  writable: boolean;
  reader?: RemoteReader;
  /**
   * Opened with O_TRUNC and not written since. A shell's `> file` opens, dup2()s the descriptor onto
   * stdout and closes the original: that first close flushes an empty file before any byte is written.
   * Such a flush uploads nothing; the last close (release) does, unless a write failed meanwhile.
   */
  truncatedUnwritten?: boolean;
}

const O_ACCMODE = 3;
/**
 * "Not there" as a fresh listing says: the answer to most lookups while files are created, so it is
 * one shared error (only its errno reaches the kernel) rather than a new one with a stack each time.
 */
const KNOWN_MISSING = new VfsError('ENOENT', 'no such file or directory (from a fresh listing)', { provider: 'fuse', operation: 'lookup' });
const O_TRUNC_FLAG = constants.O_TRUNC;

/**
 * The kernel's paths are already absolute and clean ("/a/b"); a short one with no empty, "." or
 * ".." segment is returned as is (every segment of a path of ≤ 85 UTF-16 units is ≤ 255 UTF-8
 * bytes), anything else goes through normalizePath and its checks.
 */
function kernelPath(path: string): string {
  if (path.length <= 85 && path.charCodeAt(0) === 47 && (path.length === 1 || (!path.endsWith('/') && !path.includes('//') && !path.includes('/.') && !path.includes('\0')))) {
    return path;
  }
  return normalizePath(path);
}

export class FuseFilesystem {
  readonly meta: LookupCache;
  private readonly owner: StatOwner;
  private readonly ctx: OpenFileContext;
  /** Open files by their current path. */
  private readonly files = new Map<string, OpenFile>();
  /** Files whose last handle closed and whose upload/cleanup is still running. */
  private readonly closing = new Map<string, Promise<unknown>>();
  private readonly handles = new Map<number, Handle>();
  private nextFd = 1;
  private readonly statsInFlight = new Map<string, Promise<Entry>>();
  private space: { at: number; value: Promise<SpaceInfo | undefined> } | undefined;
  /** mtimes set on a provider that cannot store them: kept for this session (session-times.ts). */
  private readonly times = new SessionTimes();
  private warnedTimes = false;
  /** Background uploads, in write-back mode. */
  readonly writeBack: WriteBackQueue | undefined;

  constructor(readonly vfs: Vfs, private readonly options: FilesystemOptions) {
    this.meta = new LookupCache(options.metadataTtlMs);
    this.owner = { uid: options.uid, gid: options.gid, readOnly: vfs.capabilities.readOnly };
    this.ctx = {
      vfs, spoolDir: options.spoolDir, logger: options.logger,
      ...(options.spoolMemoryBytes > 0 ? { memory: new WriteBufferMemory(options.spoolMemoryBytes, options.spoolMemoryTotalBytes) } : {}),
      ...(options.remote !== undefined ? { remote: options.remote } : {}),
      ...(options.writeBack ? { journal: new QueueJournal(options.spoolDir) } : {}),
    };
    if (options.writeBack) {
      this.writeBack = new WriteBackQueue({
        vfs, fresh: vfs instanceof CachedVfs ? vfs.inner : vfs, logger: options.logger,
        detach: (file) => {
          if (this.files.get(file.path) === file && file.refs === 0) this.files.delete(file.path);
        },
        uploaded: (entry, requested) => this.uploaded(entry, requested),
        conflicted: (path) => this.meta.forgetTree(path), // the path now shows the other client's version
      }, options.writeBack);
    }
  }

  /**
   * Write-back: take over the queue a dead mount of this remote left in the spool folder (kill -9,
   * reboot), before the mount serves: the files are visible with their queued content at once and
   * upload without any command.
   */
  async resumeWriteBack(): Promise<number> {
    if (!this.writeBack) return 0;
    let resumed = 0;
    for (const record of await orphanedQueue(this.options.spoolDir, this.vfs.name, this.options.remote)) {
      if (this.files.has(record.path)) continue;
      try {
        const spool = await WriteBuffer.adopt(this.options.spoolDir, record);
        const file = OpenFile.fromQueued({ ...this.ctx, onUploaded: (e, requested) => this.uploaded(e, requested) }, spool);
        this.files.set(file.path, file);
        this.writeBack.enqueue(file, 0);
        resumed++;
      } catch (e) {
        this.options.logger.error('write-back: a queued upload left by an earlier mount could not be resumed; see cloudmount pending list', { path: record.path, error: e });
      }
    }
    if (resumed > 0) this.options.logger.info('write-back: resuming uploads queued by an earlier mount', { count: resumed });
    return resumed;
  }

  /** An entry as `stat` should show it: with the session's mtime when one was set and could not be stored. */
  private shown(e: Entry): Entry {
    return this.times.size === 0 ? e : this.times.apply(e);
  }

  /** After an upload: cache the entry; a time the upload was asked to keep but the provider did not is kept for the session. */
  private uploaded(entry: Entry, requested: Date | undefined): void {
    this.meta.put(entry);
    this.times.forget(entry.path);
    if (requested && Math.abs(entry.mtime.getTime() - requested.getTime()) >= Math.max(1000, this.vfs.capabilities.mtimeResolutionMs)) {
      this.times.set(entry, requested);
    }
  }

  /** Number of open handles (for tests and shutdown). */
  get openHandles(): number {
    return this.handles.size;
  }

  // ---- metadata ------------------------------------------------------------------------------

  async getattr(path: string): Promise<FuseStat> {
    const p = kernelPath(path);
    const open = this.files.get(p);
    if (open && (open.spooled || open.dirty || open.remoteSize === null)) {
      return entryStat({ type: 'file', size: open.size, mtime: open.explicitMtime ?? open.mtime }, this.owner);
    }
    return entryStat(this.shown(await this.entry(p)), this.owner);
  }

  /**
   * getattr answered without waiting, when the answer is already known: a stat for an open file or a
   * cached entry, `null` when a fresh listing says the path does not exist, undefined when the Vfs
   * must be asked (call `getattr`). Throws for a malformed path. Kernel lookups of `ls -l`/`find`
   * land here, so this path builds no promise.
   */
  getattrNow(path: string): FuseStat | null | undefined {
    const p = kernelPath(path);
    const open = this.files.get(p);
    if (open && (open.spooled || open.dirty || open.remoteSize === null)) {
      return entryStat({ type: 'file', size: open.size, mtime: open.explicitMtime ?? open.mtime }, this.owner);
    }
    const cached = this.meta.lookup(p);
    return cached ? entryStat(this.shown(cached), this.owner) : cached;
  }

  /** Metadata of a path: the cache, else one (coalesced) Vfs stat. */
  async entry(p: string): Promise<Entry> {
    const cached = this.meta.lookup(p);
    if (cached === null) throw KNOWN_MISSING;
    if (cached) return cached;
    let pending = this.statsInFlight.get(p);
    if (!pending) {
      pending = this.vfs.stat(p).then((e) => {
        this.meta.put(e);
        return e;
      });
      this.statsInFlight.set(p, pending);
      pending.then(() => this.statsInFlight.delete(p), () => this.statsInFlight.delete(p));
    }
    return pending;
  }

  /** Names in a folder (with "." and ".."), and their stats in the same order. */
  async readdir(path: string): Promise<{ names: string[]; stats: FuseStat[] }> {
    const p = kernelPath(path);
    let children = this.meta.listing(p);
    if (!children) {
      children = await this.vfs.list(p);
      this.meta.putListing(p, children);
    }
    const names = ['.', '..'];
    const dirStat = entryStat({ type: 'directory', size: 0, mtime: new Date() }, this.owner);
    const stats: FuseStat[] = [dirStat, dirStat];
    const seen = new Set<string>();
    for (const child of children) {
      seen.add(child.name);
      names.push(child.name);
      const open = this.files.get(child.path);
      stats.push(open && open.spooled ? entryStat({ type: 'file', size: open.size, mtime: open.mtime }, this.owner) : entryStat(this.shown(child), this.owner));
    }
    // Files created through the mount but not uploaded yet are there too.
    for (const [filePath, open] of this.files) {
      if (open.remoteSize !== null || parentPath(filePath) !== p || filePath === p) continue;
      const name = filePath.slice(p === '/' ? 1 : p.length + 1);
      if (seen.has(name)) continue;
      names.push(name);
      stats.push(entryStat({ type: 'file', size: open.size, mtime: open.mtime }, this.owner));
    }
    return { names, stats };
  }

  async statfs(): Promise<FuseStatfs> {
    const now = Date.now();
    if (!this.space || now - this.space.at > this.options.spaceTtlMs) {
      const value = this.vfs.space().catch((e: unknown) => {
        // No quota known (ENOTSUP) or a transient failure: df still gets an answer (the large fallback).
        if (!isVfsError(e, 'ENOTSUP')) this.options.logger.debug('space() failed; statfs reports the fallback', { error: e });
        return undefined;
      });
      this.space = { at: now, value };
    }
    return spaceStatfs(await this.space.value);
  }

  async access(path: string, mode: number): Promise<void> {
    const p = kernelPath(path);
    const stat = await this.getattr(p);
    if (mode & constants.W_OK) this.checkWritable('access', p);
    if (mode & constants.X_OK && (stat.mode & 0o040000) === 0) {
      throw new VfsError('EACCES', 'files on this drive are not executable', { path: p, operation: 'access' });
    }
  }

  // ---- file handles -------------------------------------------------------------------------

  async open(path: string, flags: number): Promise<number> {
    const p = kernelPath(path);
    const writable = (flags & O_ACCMODE) !== constants.O_RDONLY;
    if (writable) this.checkWritable('open', p);
    const file = await this.acquire(p, false);
    try {
      if (writable && flags & O_TRUNC_FLAG) await file.truncate(0);
    } catch (e) {
      await this.releaseFile(file);
      throw e;
    }
    const fd = this.addHandle(file, writable);
    if (writable && flags & O_TRUNC_FLAG) this.handles.get(fd)!.truncatedUnwritten = true;
    return fd;
  }

  async create(path: string): Promise<number> {
    const p = kernelPath(path);
    this.checkWritable('create', p);
    const file = await this.acquire(p, true);
    return this.addHandle(file, true);
  }

  async read(fd: number, buf: Buffer, length: number, offset: number): Promise<number> {
    const handle = this.handle(fd);
    const spool = await handle.file.currentSpool();
    if (spool) return spool.read(buf, length, offset);
    if (handle.file.remoteSize === null) return 0;
    handle.reader ??= new RemoteReader(this.vfs, handle.file.path);
    handle.reader.setPath(handle.file.path);
    return handle.reader.read(buf, length, offset);
  }

  async write(fd: number, buf: Buffer, length: number, offset: number): Promise<number> {
    const handle = this.handle(fd);
    if (!handle.writable) throw new VfsError('EBADF', 'file not open for writing', { path: handle.file.path });
    handle.truncatedUnwritten = false;
    await handle.file.write(buf, length, offset);
    return length;
  }

  async ftruncate(fd: number, size: number): Promise<void> {
    const handle = this.handle(fd);
    this.checkWritable('truncate', handle.file.path);
    handle.truncatedUnwritten = false;
    await handle.file.truncate(size);
  }

  /** flush (every close) and fsync: upload the file's new content; the error goes to close()/fsync(). */
  async flush(fd: number): Promise<void> {
    const handle = this.handles.get(fd);
    if (!handle || !handle.writable || handle.truncatedUnwritten) return;
    if (this.writeBack) {
      // close()/fsync() return once the bytes and their queue record are on local disk.
      try {
        await handle.file.persistForWriteBack();
        return;
      } catch (e) {
        if (handle.file.poisoned !== undefined) throw e;
        // The spool disk refused the record (full): upload now, as without write-back; close() gets its outcome.
        this.options.logger.warn('write-back: cannot queue on local disk; uploading before close() returns', { path: handle.file.path, error: e });
      }
    }
    await handle.file.upload();
  }

  async release(fd: number): Promise<void> {
    const handle = this.handles.get(fd);
    if (!handle) return;
    this.handles.delete(fd);
    handle.reader?.close();
    await this.releaseFile(handle.file);
  }

  async truncate(path: string, size: number): Promise<void> {
    const p = kernelPath(path);
    this.checkWritable('truncate', p);
    const file = await this.acquire(p, false);
    try {
      await file.truncate(size);
      // While a writer holds the file open (the kernel's truncate for `> file` arrives this way), its
      // close uploads the result: uploading here would replace a good file by an empty one before a
      // write that may still fail (full spool disk).
      if (![...this.handles.values()].some((h) => h.writable && h.file === file)) await file.upload();
    } finally {
      await this.releaseFile(file);
    }
  }

  /**
   * Set a modification time. While the file has unsent content, the time rides on its upload.
   * Otherwise the Vfs sets it in place (`setMtime`). A provider that takes times only with uploads
   * gets it with one more upload when the file is still open and its bytes are all here (`touch -d`
   * of a new file: its first close already uploaded it empty). Else the time is kept for this
   * session (SessionTimes), never by downloading and re-uploading the file.
   */
  async utimens(path: string, mtimeMs: number): Promise<void> {
    const p = kernelPath(path);
    this.checkWritable('utimens', p);
    const mtime = new Date(mtimeMs);
    // Past what a Date holds (±275 000 years): refused, as utimensat refuses an invalid time.
    if (Number.isNaN(mtime.getTime())) throw new VfsError('EINVAL', 'time out of range', { provider: 'fuse', operation: 'utimens', path: p });
    const open = this.files.get(p);
    if (open && open.dirty && !open.unlinked) {
      open.explicitMtime = mtime;
      return;
    }
    const entry = await this.entry(p);
    if (this.vfs.setMtime) {
      try {
        const updated = await this.vfs.setMtime(p, mtime);
        this.meta.put(updated);
        this.times.forget(p);
        if (open) open.mtime = mtime;
        return;
      } catch (e) {
        if (!isVfsError(e, 'ENOTSUP')) throw e;
      }
    }
    if (open && mtimeSupportOf(this.vfs) === 'on-upload' && await open.retimeForUpload(mtime)) return;
    if (!this.warnedTimes) {
      this.warnedTimes = true;
      this.options.logger.warn('this provider cannot store modification times on existing files; times set are shown for this mount session only', { vfs: this.vfs.name });
    }
    this.times.set(entry, mtime);
    if (open) open.mtime = mtime;
  }

  // ---- namespace ----------------------------------------------------------------------------

  async mkdir(path: string): Promise<void> {
    const p = kernelPath(path);
    this.checkWritable('mkdir', p);
    const entry = await this.vfs.mkdir(p);
    this.meta.put(entry);
    this.meta.putListing(p, []); // a new folder is empty: lookups in it need no request
  }

  async rmdir(path: string): Promise<void> {
    const p = kernelPath(path);
    this.checkWritable('rmdir', p);
    try {
      await this.vfs.remove(p);
    } catch (e) {
      this.meta.forgetTree(p);
      throw e;
    }
    this.meta.remove(p);
    this.times.forgetTree(p);
  }

  async unlink(path: string): Promise<void> {
    const p = kernelPath(path);
    this.checkWritable('unlink', p);
    const open = this.files.get(p);
    try {
      await this.vfs.remove(p);
    } catch (e) {
      // A file created here and not uploaded yet exists only in its spool.
      if (!(open && open.remoteSize === null && isVfsError(e, 'ENOENT'))) {
        this.meta.forgetTree(p);
        throw e;
      }
    }
    if (open) {
      open.unlinked = true;
      this.files.delete(p);
      // Write-back: drop the queued record now, so a crash cannot resurrect a deleted file.
      if (this.writeBack && open.refs === 0) await open.finish().catch(() => undefined);
    }
    this.meta.remove(p);
    this.times.forget(p);
  }

  async rename(from: string, to: string): Promise<void> {
    const [src, dst] = [kernelPath(from), kernelPath(to)];
    this.checkWritable('rename', src);
    // A file with unsent content (or one that exists only here) is uploaded first, so the move
    // carries the new bytes; the error of that upload is the rename's error.
    if (this.writeBack) return this.renameWriteBack(src, dst);
    for (const [p, file] of this.files) {
      if (isSameOrInside(src, p) && file.dirty && !file.unlinked) await file.upload();
    }
    const entry = await this.renameRemote(src, dst);
  }

  /**
   * Write-back rename: queued content is not uploaded first; the queue follows the move. A file that
   * exists only here is renamed locally (no request); its upload then replaces what `dst` held.
   */
  private async renameWriteBack(src: string, dst: string): Promise<void> {
    for (const [p, file] of this.files) if (isSameOrInside(src, p)) await file.settled();
    const local = this.files.get(src);
    if (local && !local.unlinked && local.remoteSize === null) {
      let replacedRemote: Entry | undefined;
      try {
        replacedRemote = await this.vfs.stat(dst);
      } catch (e) {
        if (!isVfsError(e, 'ENOENT')) throw e;
      }
      if (replacedRemote?.type === 'directory') throw new VfsError('EISDIR', `is a directory: ${dst}`, { path: dst, operation: 'rename' });
      await this.renamed(src, dst, undefined);
      await local.rebase(replacedRemote);
      return;
    }
    const entry = await this.renameRemote(src, dst);
    const moved = this.files.get(dst);
    if (moved && moved.dirty && entry.type === 'file') await moved.rebase(entry);
  }

  /** Rename on the provider, then the bookkeeping; a failure leaves both trees uncached (unknown state). */
  private async renameRemote(src: string, dst: string): Promise<Entry> {
    let entry: Entry;
    try {
      entry = await this.vfs.rename(src, dst, { overwrite: true });
    } catch (e) {
      this.meta.forgetTree(src);
      this.meta.forgetTree(dst);
      throw e;
    }
    await this.renamed(src, dst, entry);
    return entry;
  }

  /** Bookkeeping after a rename: open files follow, the one replaced is dropped, caches are told. */
  private async renamed(src: string, dst: string, entry: Entry | undefined): Promise<void> {
    const replaced = this.files.get(dst);
    if (replaced && replaced !== this.files.get(src)) {
      replaced.unlinked = true;
      this.files.delete(dst);
      if (this.writeBack && replaced.refs === 0) await replaced.finish().catch(() => undefined);
    }
    for (const [p, file] of [...this.files]) {
      if (!isSameOrInside(src, p)) continue;
      const moved = dst + p.slice(src.length);
      this.files.delete(p);
      this.files.set(moved, file);
      await file.moved(moved);
    }
    this.meta.remove(src);
    this.meta.remove(dst);
    if (entry) this.meta.put(entry);
    else this.meta.forgetTree(parentPath(dst));
    this.times.forgetTree(dst);
    this.times.move(src, dst);
  }

  /** chmod/chown: the store keeps no owners or modes; accepted without effect so cp -p, rsync -a and tar work. */
  async setOwnerOrMode(path: string, op: string): Promise<void> {
    const p = kernelPath(path);
    this.checkWritable(op, p);
    await this.getattr(p);
  }

  // ---- lifecycle ----------------------------------------------------------------------------

  /** Finish every open file (upload or keep its spool); resolves to the number of files kept as pending. */
  async shutdown(): Promise<number> {
    const files = new Set([...this.handles.values()].map((h) => h.file));
    this.handles.clear();
    let kept = 0;
    if (this.writeBack) {
      // Unmount: what is still open is queued like any closed file, then the queue is uploaded now.
      for (const file of files) {
        file.refs = 0;
        if (await file.persistForWriteBack().catch(() => false)) {
          this.writeBack.enqueue(file, 0);
          files.delete(file);
        }
      }
      await this.writeBack.drain();
    }
    for (const file of files) {
      file.refs = 0;
      if (await file.finish().catch(() => true)) kept++;
    }
    await Promise.allSettled([...this.closing.values()]);
    this.files.clear();
    await this.ctx.journal?.close(); // deleted when nothing in it is still queued
    return kept;
  }

  // ---- internals ----------------------------------------------------------------------------

  /** The open file of `p` (one per path), opening it; `create` makes a new empty one when missing. */
  private async acquire(p: string, create: boolean): Promise<OpenFile> {
    for (;;) {
      const closing = this.closing.get(p);
      if (closing) await closing.catch(() => undefined);
      const existing = this.files.get(p);
      if (existing && !existing.unlinked) {
        existing.refs++;
        return existing;
      }
      let entry: Entry | undefined;
      if (create) {
        entry = undefined;
      } else {
        entry = await this.entry(p);
        if (entry.type === 'directory') throw new VfsError('EISDIR', `is a directory: ${p}`, { path: p, operation: 'open' });
      }
      if (this.files.has(p) || this.closing.has(p)) continue; // someone else opened it meanwhile
      const file = new OpenFile(p, { ...this.ctx, onUploaded: (e, requested) => this.uploaded(e, requested) }, entry);
      file.refs = 1;
      this.files.set(p, file);
      return file;
    }
  }

  private addHandle(file: OpenFile, writable: boolean): number {
    const fd = this.nextFd;
    // fuse-native treats fh 0 as "not set"; wrap well before 2^31.
    this.nextFd = this.nextFd >= 0x7fffffff ? 1 : this.nextFd + 1;
    this.handles.set(fd, { file, writable });
    return fd;
  }

  private handle(fd: number): Handle {
    const handle = this.handles.get(fd);
    if (!handle) throw new VfsError('EBADF', `no open file with handle ${fd}`);
    return handle;
  }

  /** Drop one reference; the last one uploads what is left and removes (or keeps) the spool. */
  private async releaseFile(file: OpenFile): Promise<void> {
    file.refs--;
    if (file.refs > 0) return;
    if (this.writeBack && !file.unlinked && file.poisoned === undefined) {
      let queued = false;
      try {
        queued = await file.persistForWriteBack();
      } catch {
        // Could not make it durable locally (disk full): upload it now instead, as without write-back.
      }
      if (queued) {
        this.writeBack.enqueue(file); // stays in `files`: stat and reads see the queued content
        return;
      }
    }
    const path = file.path;
    const done = file.finish().finally(() => {
      if (this.files.get(file.path) === file) this.files.delete(file.path);
      if (this.closing.get(path) === done) this.closing.delete(path);
    });
    if (!file.unlinked) this.closing.set(path, done);
    await done;
  }

  /** Refuse a change before a spool file or an upload is started for it. */
  private checkWritable(op: string, p: string): void {
    if (this.owner.readOnly) throw new VfsError('EROFS', 'read-only file system', { provider: 'fuse', operation: op, path: p });
  }
}
