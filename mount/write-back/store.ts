/**
 * Where a write-back queue keeps its entries: the contract between the queue (vfs.ts) and its
 * storage, so that the local-disk store here and a shared job store (Redis, for several instances of
 * one share) are interchangeable. The bytes themselves always live in a local data file; the store
 * keeps the record that says what they are for and how far their upload got.
 *
 * FileWriteBackStore keeps each record as a JSON sidecar beside its data file in the spool folder,
 * in the format `cloudmount pending list|retry|discard` reads (mount/fuse/sidecar.ts), so a share's
 * queue is listed and recovered by the same commands as a FUSE mount's.
 */
import { randomUUID } from 'node:crypto';
import { open, unlink } from 'node:fs/promises';
import { toVfsError } from '../../src/errors.js';
import { redact } from '../../src/redact.js';
import { queuedOrphans, spoolFiles, writeSidecar } from '../fuse/sidecar.js';
import type { SpoolSidecar } from '../fuse/sidecar.js';
import type { BaseVersion } from '../../src/write-back-store.js';

export type { QueuedUpload, WriteBackStore } from '../../src/write-back-store.js';
import { folderOnce } from '../../src/write-back-store.js';
import type { QueuedUpload, WriteBackStore } from '../../src/write-back-store.js';

export interface FileStoreOptions {
  /** Spool folder (mode 0700 when created). */
  dir: string;
  /** Names the remote in every record, so only the next owner of the SAME remote resumes it. */
  vfsName: string;
  remote?: string;
}

/** Records as sidecar files in the spool folder (see the module comment). */
export class FileWriteBackStore implements WriteBackStore {
  private readonly records = new Map<string, SpoolSidecar>();
  private readonly chains = new Map<string, Promise<void>>();
  private readonly folderReady: () => Promise<void>;

  constructor(private readonly options: FileStoreOptions) {
    this.folderReady = folderOnce(options.dir);
  }

  async allocate(): Promise<{ id: string; dataFile: string }> {
    await this.folderReady();
    const id = randomUUID();
    return { id, dataFile: spoolFiles(this.options.dir, id).data };
  }

  async enqueue(id: string, fields: { path: string; size: number; base: BaseVersion; mtime?: Date }): Promise<QueuedUpload> {
    const now = new Date().toISOString();
    const record: SpoolSidecar = {
      version: 1, id, path: fields.path, vfsName: this.options.vfsName, state: 'queued', dirty: true, pid: process.pid,
      replacesSize: fields.base ? fields.base.size : null, base: fields.base, attempts: 0, createdAt: now, updatedAt: now,
      ...(this.options.remote !== undefined ? { remote: this.options.remote } : {}),
      ...(fields.mtime ? { mtime: fields.mtime.toISOString() } : {}),
    };
    await this.serial(id, () => writeSidecar(this.options.dir, record, { durable: true }));
    this.records.set(id, record);
    return { ...this.toQueued(record), size: fields.size };
  }

  async orphans(): Promise<QueuedUpload[]> {
    const out: SpoolSidecar[] = [];
    for (const record of await queuedOrphans(this.options.dir, this.options.vfsName, this.options.remote)) {
      if (record.base === undefined) continue;
      // Ours now: a `pending list` must not call it orphaned while this process uploads it.
      record.pid = process.pid;
      delete record.uploading;
      await writeSidecar(this.options.dir, record);
      this.records.set(record.id, record);
      out.push(record);
    }
    const sizes = await Promise.all(out.map(async (r) => {
      const fh = await open(spoolFiles(this.options.dir, r.id).data, 'r').catch(() => undefined);
      if (!fh) return -1;
      try {
        return (await fh.stat()).size;
      } finally {
        await fh.close();
      }
    }));
    return out
      .map((r, i) => ({ ...this.toQueued(r), size: sizes[i]! }))
      .filter((q) => q.size >= 0)
      .sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime());
  }

  async claim(id: string, attempts: number): Promise<void> {
    await this.patch(id, { attempts, uploading: { bytesSent: 0, startedAt: new Date().toISOString() } });
  }

  async progress(id: string, bytesSent: number): Promise<void> {
    const r = this.records.get(id);
    if (r?.uploading) await this.patch(id, { uploading: { ...r.uploading, bytesSent } });
  }

  async complete(id: string): Promise<void> {
    await this.remove(id);
  }

  async fail(id: string, error: unknown, final: boolean): Promise<void> {
    const e = toVfsError(error);
    await this.patch(id, {
      uploading: undefined, error: { code: e.code, message: redact(e.message).slice(0, 500) }, ...(final ? { state: 'failed' as const } : {}),
    });
  }

  async update(id: string, fields: { path?: string; base?: BaseVersion; mtime?: Date }): Promise<void> {
    const patch: Partial<SpoolSidecar> = {};
    if (fields.path !== undefined) patch.path = fields.path;
    if (fields.base !== undefined) {
      patch.base = fields.base;
      patch.replacesSize = fields.base ? fields.base.size : null;
    }
    if (fields.mtime !== undefined) patch.mtime = fields.mtime.toISOString();
    // A new path or base decides what the upload does: durable before the change is acknowledged.
    await this.patch(id, patch, true);
  }

  async remove(id: string): Promise<void> {
    this.records.delete(id);
    const files = spoolFiles(this.options.dir, id);
    await this.serial(id, async () => {
      // The record first: a crash in between leaves a data file no record offers for upload.
      await unlink(files.sidecar).catch(() => undefined);
      await unlink(files.data).catch(() => undefined);
    });
  }

  private async patch(id: string, fields: Partial<SpoolSidecar>, durable = false): Promise<void> {
    await this.serial(id, async () => {
      const r = this.records.get(id);
      if (!r) return; // removed meanwhile: never bring the record back
      const next: SpoolSidecar = { ...r, ...fields, updatedAt: new Date().toISOString() };
      for (const key of Object.keys(fields) as (keyof SpoolSidecar)[]) if (fields[key] === undefined) delete next[key];
      this.records.set(id, next);
      await writeSidecar(this.options.dir, next, { durable });
    });
  }

  /** One change of a record at a time (they share a temp file name, and a removal must come last). */
  private serial(id: string, step: () => Promise<void>): Promise<void> {
    const run = (this.chains.get(id) ?? Promise.resolve()).then(step, step);
    const tail = run.catch(() => undefined);
    this.chains.set(id, tail);
    void tail.then(() => {
      if (this.chains.get(id) === tail) this.chains.delete(id);
    });
    return run;
  }

  private toQueued(r: SpoolSidecar): QueuedUpload {
    const q: QueuedUpload = {
      id: r.id, path: r.path, dataFile: spoolFiles(this.options.dir, r.id).data, size: 0, base: r.base ?? null,
      state: r.state === 'failed' ? 'failed' : 'queued', attempts: r.attempts ?? 0, createdAt: new Date(r.createdAt),
    };
    if (r.mtime) q.mtime = new Date(r.mtime);
    if (r.error) q.error = r.error;
    return q;
  }
}

