/**
 * Write-back (`--write-back[=delay]`): close() returns once a file's bytes and its queue record are
 * fsynced in the spool folder (OpenFile.persistForWriteBack); this queue uploads them in the
 * background after `delayMs`, at most `concurrency` at once, retrying retryable failures with capped
 * backoff up to `maxAttempts`. A queued file is a spool with a sidecar in state 'queued': the same
 * record `cloudmount pending list` reads, and what the next mount of the remote resumes after a crash.
 *
 * No lost update: just before uploading, the remote's current version is compared with the one the
 * change was made against (etag, else size + mtime). When it differs, our bytes go to a conflict
 * name beside it (`name.conflict-YYYYMMDDTHHMMSSZ.ext`) and a warning is logged; both versions stay.
 * A failure that is not retryable (or the last attempt) keeps the spool as a 'failed' pending upload.
 */
import { isVfsError, toVfsError } from '../../src/errors.js';
import type { Logger } from '../../src/log.js';
import type { Entry, Vfs } from '../../src/vfs.js';
import { changedSince, conflictPath } from '../write-back/conflict.js';
import { materializeDeadJournals } from '../write-back/journal.js';
import type { OpenFile } from './open-file.js';
import { ownerAlive, queuedOrphans } from './sidecar.js';
import type { SpoolSidecar } from './sidecar.js';

export interface WriteBackOptions {
  /** Wait after the last close before uploading, so save-rename-save settles first (default 5000 ms). */
  delayMs?: number;
  /** Uploads at once (default 4). */
  concurrency?: number;
  /** Attempts for retryable failures before the entry is kept as failed (default 20). */
  maxAttempts?: number;
  /** Backoff starts at 1 s, doubles, and is capped here (default 60 000 ms). */
  maxBackoffMs?: number;
}

export const WRITE_BACK_DEFAULTS: Required<WriteBackOptions> = { delayMs: 5000, concurrency: 4, maxAttempts: 20, maxBackoffMs: 60_000 };

/** What the queue needs from the filesystem that owns the files. */
export interface WriteBackHost {
  /** The uncached Vfs (the version check must see the remote as it is now). */
  fresh: Vfs;
  vfs: Vfs;
  logger: Logger;
  /** The file left the queue (uploaded, kept as failed, or dropped): stop serving it from the spool. */
  detach(file: OpenFile): void;
  /** An upload landed: `entry` at `entry.path` (the path, or a conflict name). */
  uploaded(entry: Entry, requestedMtime: Date | undefined): void;
  /** Our version went to a conflict name: what is cached about the path itself is stale. */
  conflicted(path: string): void;
}

export { changedSince, conflictPath } from '../write-back/conflict.js';

interface Item {
  file: OpenFile;
  timer?: NodeJS.Timeout;
  attempts: number;
  running?: Promise<void>;
}

export class WriteBackQueue {
  readonly options: Required<WriteBackOptions>;
  private readonly items = new Map<OpenFile, Item>();
  private readonly ready: Item[] = [];
  private active = 0;
  private closed = false;
  /** Unmounting: one more try each, no waiting out backoffs (what still fails stays queued on disk). */
  private draining = false;
  private idleWaiters: (() => void)[] = [];

  constructor(private readonly host: WriteBackHost, options: WriteBackOptions = {}) {
    this.options = { ...WRITE_BACK_DEFAULTS, ...options };
  }

  /** Number of files queued or uploading. */
  get size(): number {
    return this.items.size;
  }

  /** The last handle of a durable queued file closed: upload it after the delay (restarting a running delay). */
  enqueue(file: OpenFile, delayMs = this.options.delayMs): void {
    let item = this.items.get(file);
    if (!item) {
      item = { file, attempts: file.spoolFile?.record.attempts ?? 0 };
      this.items.set(file, item);
    }
    this.schedule(item, delayMs);
  }

  /** Upload everything now and wait (clean unmount). Entries that fail stay on disk as queued or failed. */
  async drain(): Promise<void> {
    for (const item of this.items.values()) if (!item.running) this.schedule(item, 0);
    this.draining = true;
    while (this.items.size > 0) {
      await new Promise<void>((ok) => this.idleWaiters.push(ok));
    }
    this.closed = true;
  }

  /** Stop without uploading (the records stay 'queued' on disk for the next mount). */
  stop(): void {
    this.closed = true;
    for (const item of this.items.values()) clearTimeout(item.timer);
  }

  private schedule(item: Item, delayMs: number): void {
    clearTimeout(item.timer);
    if (this.closed) return;
    item.timer = setTimeout(() => {
      item.timer = undefined;
      this.ready.push(item);
      this.pump();
    }, delayMs);
    item.timer.unref?.();
  }

  private pump(): void {
    while (this.active < this.options.concurrency && this.ready.length > 0) {
      const item = this.ready.shift()!;
      if (item.running || this.items.get(item.file) !== item) continue;
      this.active++;
      item.running = this.run(item).catch((e: unknown) => {
        this.host.logger.error('write-back: unexpected failure; the spool stays on disk', { path: item.file.path, error: e });
        this.forget(item);
      }).finally(() => {
        item.running = undefined;
        this.active--;
        this.pump();
        this.wakeIfIdle();
      });
    }
  }

  private wakeIfIdle(): void {
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }

  private forget(item: Item): void {
    if (this.items.get(item.file) === item) this.items.delete(item.file);
    clearTimeout(item.timer);
  }

  private async run(item: Item): Promise<void> {
    const { file } = item;
    if (file.refs > 0) {
      // Open again: its last close queues it anew.
      this.forget(item);
      return;
    }
    if (file.unlinked || !file.dirty) {
      // Detached in the same tick as the check: an open() from now on makes a fresh OpenFile.
      this.forget(item);
      this.host.detach(file);
      await file.finish().catch(() => undefined);
      return;
    }
    const spool = file.spoolFile;
    if (!spool) {
      this.forget(item);
      this.host.detach(file);
      return;
    }
    item.attempts++;
    const startedAt = new Date().toISOString();
    let lastWrite = 0;
    let writing: Promise<void> = spool.persistQueued({ attempts: item.attempts, uploading: { bytesSent: 0, startedAt } }, { sync: false }).catch(() => undefined);
    const progress = (bytes: number) => {
      const now = Date.now();
      if (now - lastWrite < 1000) return;
      lastWrite = now;
      writing = writing.then(() => spool.persistQueued({ uploading: { bytesSent: bytes, startedAt } }, { sync: false })).catch(() => undefined);
    };
    const requestedMtime = file.explicitMtime;
    try {
      const base = spool.record.base;
      let current: Entry | undefined;
      try {
        current = await this.host.fresh.stat(file.path);
      } catch (e) {
        if (!isVfsError(e, 'ENOENT')) throw e;
      }
      const conflict = changedSince(base, current);
      const target = conflict ? conflictPath(file.path, new Date()) : file.path;
      if (conflict) {
        this.host.logger.warn('write-back: the remote file changed since it was opened here; this version is uploaded under a conflict name', {
          path: file.path, conflictPath: target,
        });
      }
      const startGeneration = file.generation;
      const { entry, clean } = await file.uploadQueued(target, progress);
      await writing;
      if (file.unlinked && !conflict) {
        // Deleted while its upload ran: no orphan on the provider.
        await this.host.vfs.remove(target).catch(() => undefined);
      }
      this.host.uploaded(entry, conflict ? undefined : requestedMtime);
      if (conflict) this.host.conflicted(file.path);
      // Changed after the upload took its bytes — even after it ended, while the lines above awaited (a
      // fast writer reopens, writes and closes in that time, and its close queued this same item).
      if ((!clean || file.generation !== startGeneration) && !conflict) {
        // Our earlier version is the remote's now: the queued change replaces it (no conflict with ourselves).
        if (file.queuedOnDisk) await file.rebase(entry).catch(() => undefined);
        // Changed meanwhile: the new content is queued by its own close (or here, when already closed).
        if (file.refs === 0) this.schedule(item, this.options.delayMs);
        else this.forget(item);
        return;
      }
      this.forget(item);
      if (file.refs > 0) {
        // Reopened while uploading: from now on its content is the open file's business; the record
        // stays as it is until the next close (a conflict copy is already safe on the provider).
        if (conflict) await this.rebase(file, current);
        return;
      }
      file.dirty = false;
      file.queuedOnDisk = false;
      this.host.detach(file); // before any await: a reopen must not find a spool being removed
      await file.finish().catch(() => undefined);
    } catch (e) {
      await writing;
      if (file.unlinked) {
        this.forget(item); // deleted meanwhile: nothing to keep
        this.host.detach(file);
        return;
      }
      const err = toVfsError(e, { provider: this.host.vfs.name, operation: 'writeBack', path: file.path });
      if (err.retryable && item.attempts < this.options.maxAttempts && !this.closed && !this.draining) {
        const backoff = Math.min(this.options.maxBackoffMs, Math.max(err.retryAfterMs ?? 0, 1000 * 2 ** Math.min(item.attempts - 1, 16)));
        this.host.logger.warn('write-back: upload failed; retrying', { path: file.path, code: err.code, attempt: item.attempts, retryInMs: backoff });
        await spool.persistQueued({ uploading: undefined, error: { code: err.code, message: err.message.slice(0, 500) } }, { sync: false }).catch(() => undefined);
        this.schedule(item, backoff);
        return;
      }
      this.forget(item);
      if (err.retryable && (this.closed || this.draining)) {
        // Unmounting: keep it queued for the next mount rather than calling it failed.
        await spool.persistQueued({ uploading: undefined, error: { code: err.code, message: err.message.slice(0, 500) } }, { sync: false }).catch(() => undefined);
        await spool.abandon();
      } else {
        this.host.logger.error('write-back: upload failed; the local copy is kept as a failed pending upload', { path: file.path, code: err.code });
        await spool.keep(err).catch((k: unknown) => this.host.logger.error('write-back: upload failed AND the record could not be updated', { path: file.path, error: k }));
      }
      file.queuedOnDisk = false;
      this.host.detach(file);
    }
  }

  /** After a conflict copy while the file is open again: the remote's current version is the new base. */
  private async rebase(file: OpenFile, current: Entry | undefined): Promise<void> {
    file.remoteEntry = current;
    file.remoteSize = current ? current.size : null;
    file.queuedOnDisk = false;
  }
}

/** Queued records a dead mount left in `spoolDir` for this remote (resumed before serving). */
export async function orphanedQueue(spoolDir: string, vfsName: string, remote: string | undefined): Promise<SpoolSidecar[]> {
  // Small files a dead mount queued in its journal become plain spool files first (journal.ts).
  await materializeDeadJournals(spoolDir, ownerAlive);
  return queuedOrphans(spoolDir, vfsName, remote);
}

