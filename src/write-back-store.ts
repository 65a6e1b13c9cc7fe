/**
 * The contract between a write-back queue and where it keeps its entries (the queue itself is in
 * mount/write-back/): the local-disk store (mount/write-back/store.ts) and the shared Redis job store
 * (src/coordinator/upload-jobs.ts) both implement it, so either can back the queue. The bytes always
 * live in a local data file; the store keeps the record that says what they are for and how far
 * their upload got.
 */
import { mkdir } from 'node:fs/promises';

/** The remote version a queued change replaces (`null`: there was none); no lost update compares it. */
export type BaseVersion = { etag?: string; size: number; mtime: string } | null;

/** One queued upload as the queue sees it. */
export interface QueuedUpload {
  id: string;
  /** The Vfs path the bytes are for. */
  path: string;
  /** Local file holding the bytes. */
  dataFile: string;
  size: number;
  /** The remote version the change replaces (no lost update, conflict.ts). */
  base: BaseVersion;
  /** Modification time the upload asks for, when the writer gave one. */
  mtime?: Date;
  /** 'queued': owed (waiting, or uploading); 'failed': gave up, kept for `pending retry`. */
  state: 'queued' | 'failed';
  attempts: number;
  error?: { code: string; message: string };
  createdAt: Date;
}

/** What the queue needs from its storage. Every method resolves once the change is durable. */
export interface WriteBackStore {
  /** A fresh id and the local file to write its bytes into (not queued yet). */
  allocate(): Promise<{ id: string; dataFile: string }>;
  /** Queue the (already fsynced) data file of `id`: after this resolves a crash loses nothing. */
  enqueue(id: string, fields: { path: string; size: number; base: BaseVersion; mtime?: Date }): Promise<QueuedUpload>;
  /** Entries a dead owner left queued for this remote: the next owner resumes them (claiming them). */
  orphans(): Promise<QueuedUpload[]>;
  /** An upload attempt starts (bytes sent are reported by `progress`). */
  claim(id: string, attempts: number): Promise<void>;
  progress(id: string, bytesSent: number): Promise<void>;
  /** Uploaded: forget the record and delete the data file. */
  complete(id: string): Promise<void>;
  /** An attempt failed; `final`: give up (state 'failed', bytes kept), else it stays queued for a retry. */
  fail(id: string, error: unknown, final: boolean): Promise<void>;
  /** The queued file moved (rename) or the version it replaces changed. */
  update(id: string, fields: { path?: string; base?: BaseVersion; mtime?: Date }): Promise<void>;
  /** Drop without uploading (the file was deleted or replaced): record and data file. */
  remove(id: string): Promise<void>;
  /**
   * Set by a store several instances share (one spool folder every instance reads, records in Redis):
   * the queue then polls `orphans()` this often (a dead instance's uploads are taken over while this
   * one runs), and asks `find`/`list` for files other instances queued, so every instance serves them.
   * A shared store's `claim` refuses a job that is no longer the newest version of its path (ESTALE),
   * that another instance dropped (ENOENT), or whose path another upload holds (EBUSY).
   */
  readonly takeoverPollMs?: number;
  /** The newest queued version of `path`, whichever instance queued it (shared stores). */
  find?(path: string): Promise<QueuedUpload | undefined>;
  /** Every queued or failed upload of the remote, oldest first (shared stores). */
  list?(): Promise<QueuedUpload[]>;
}


/**
 * A store's spool folder made (mode 0700) on first use: every later call awaits the same attempt,
 * and a failed attempt (a full or read-only disk) is tried again by the next call.
 */
export function folderOnce(dir: string): () => Promise<void> {
  let ready: Promise<void> | undefined;
  return () =>
    (ready ??= mkdir(dir, { recursive: true, mode: 0o700 }).then(
      () => undefined,
      (e: unknown) => {
        ready = undefined;
        throw e;
      },
    ));
}
