/**
 * Pending uploads: spool files whose content never reached the remote (an upload that failed after
 * its retries, or a mount that crashed with unsaved writes). A new process lists them, retries them
 * against a Vfs, or discards them — this is what `cloudmount` offers for "nothing is lost".
 */
import { createReadStream } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { readFile, readdir, stat, unlink } from 'node:fs/promises';
import { VfsError, isVfsError, toVfsError } from '../../src/errors.js';
import { normalizePath } from '../../src/path.js';
import type { Entry, Vfs } from '../../src/vfs.js';
import { processAlive, spoolFiles, writeSidecar } from './sidecar.js';
import { changedSince, conflictPath } from './write-back.js';
import { journalFiles, materializeDeadJournals, readJournal } from '../write-back/journal.js';
import type { SpoolSidecar } from './sidecar.js';

/** One kept spool file, as `listPendingUploads` reports it. */
export interface PendingUpload {
  id: string;
  /** The Vfs path the bytes are for. */
  path: string;
  /** Length of the spool file (what an upload would send). */
  size: number;
  /**
   * Bytes of it actually stored on disk (the file's allocated blocks, at most `size`): less than
   * `size` when the writer set a size (ftruncate) and wrote only part of it, the rest being a hole.
   */
  storedBytes: number;
  /** The size the writer set with truncate/ftruncate (to more than 0), when it did: what it meant the file to be. */
  intendedSize?: number;
  /** Bytes of the remote version an upload would replace (as it was when the file was opened); null: a new file. */
  replacesSize?: number | null;
  vfsName: string;
  remote?: string;
  /**
   * 'failed': an upload gave up (the content was complete when the file was closed);
   * 'interrupted': the mount that owned it died while it was open, so the content may be cut short
   * (it is only uploaded with `forceInterrupted`).
   */
  reason: 'failed' | 'interrupted' | 'queued';
  /**
   * Write-back entries ('queued'): 'waiting' for its delay or a retry, 'uploading' with bytes sent so
   * far (updated about once a second), or 'orphaned' when the mount that queued it is gone (the next
   * mount of the remote resumes it; `retry` uploads it now).
   */
  queue?: { state: 'waiting' | 'uploading' | 'orphaned'; attempts: number; bytesSent?: number };
  /** Why the last upload failed, when one was tried. */
  error?: { code: string; message: string };
  /** Modification time to give the upload, when one was set. */
  mtime?: Date;
  createdAt: Date;
  updatedAt: Date;
  /** Local file holding the bytes (to inspect or copy by hand). */
  spoolFile: string;
}

/** The spool directory used when none is given: $XDG_CACHE_HOME/cloudmount/spool (~/.cache/…), else the temp dir. */
export function defaultSpoolDir(): string {
  const base = process.env.XDG_CACHE_HOME || (safeHome() ? join(safeHome()!, '.cache') : '');
  if (base) return join(base, 'cloudmount', 'spool');
  return join(tmpdir(), `cloudmount-spool-${process.getuid?.() ?? 'user'}`);
}

function safeHome(): string | undefined {
  try {
    return homedir() || undefined;
  } catch {
    return undefined;
  }
}

/** Spool files in `spoolDir` that hold content the remote lacks, oldest first. Live mounts' files are not listed. */
export async function listPendingUploads(spoolDir: string = defaultSpoolDir()): Promise<PendingUpload[]> {
  let names: string[];
  try {
    names = await readdir(spoolDir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw toVfsError(e, { provider: 'fuse', operation: 'listPendingUploads' });
  }
  const out: PendingUpload[] = [];
  for (const name of names) {
    if (!name.endsWith('.json')) continue;
    const sidecar = await readSidecar(spoolDir, name.slice(0, -'.json'.length)).catch(() => undefined);
    if (!sidecar) continue;
    const reason = pendingReason(sidecar);
    if (!reason) continue;
    const data = spoolFiles(spoolDir, sidecar.id).data;
    const info = await stat(data).catch(() => undefined);
    if (!info) continue; // sidecar without data: nothing to upload
    const size = info.size;
    const item: PendingUpload = {
      id: sidecar.id, path: sidecar.path, size, storedBytes: Math.min(size, info.blocks * 512), vfsName: sidecar.vfsName, reason,
      createdAt: new Date(sidecar.createdAt), updatedAt: new Date(sidecar.updatedAt), spoolFile: data,
    };
    if (reason === 'queued') {
      const live = processAlive(sidecar.pid);
      item.queue = { state: !live ? 'orphaned' : sidecar.uploading ? 'uploading' : 'waiting', attempts: sidecar.attempts ?? 0 };
      if (live && sidecar.uploading) item.queue.bytesSent = sidecar.uploading.bytesSent;
    }
    if (sidecar.remote !== undefined) item.remote = sidecar.remote;
    if (sidecar.error) item.error = sidecar.error;
    if (sidecar.mtime) item.mtime = new Date(sidecar.mtime);
    if (typeof sidecar.intendedSize === 'number') item.intendedSize = sidecar.intendedSize;
    if (sidecar.replacesSize !== undefined) item.replacesSize = sidecar.replacesSize;
    out.push(item);
  }
  // Small files a write-back mount queued in its journal (journal.ts): listed as they stand, not moved.
  for (const { file, pid } of await journalFiles(spoolDir)) {
    const live = processAlive(pid);
    for (const { record, data } of await readJournal(spoolDir, file)) {
      if (record.state !== 'queued') continue;
      const dataFile = spoolFiles(spoolDir, record.id).data;
      const size = data ? data.length : (await stat(dataFile).catch(() => undefined))?.size;
      if (size === undefined) continue;
      const item: PendingUpload = {
        id: record.id, path: record.path, size, storedBytes: size, vfsName: record.vfsName, reason: 'queued',
        createdAt: new Date(record.createdAt), updatedAt: new Date(record.updatedAt), spoolFile: data ? file : dataFile,
        queue: { state: !live ? 'orphaned' : record.uploading ? 'uploading' : 'waiting', attempts: record.attempts ?? 0 },
      };
      if (live && record.uploading) item.queue!.bytesSent = record.uploading.bytesSent;
      if (record.remote !== undefined) item.remote = record.remote;
      if (record.error) item.error = record.error;
      if (record.mtime) item.mtime = new Date(record.mtime);
      if (record.replacesSize !== undefined) item.replacesSize = record.replacesSize;
      out.push(item);
    }
  }
  return out.sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime());
}

export interface RetryOptions {
  /** Upload to this path instead of the recorded one. */
  path?: string;
  /**
   * Upload an 'interrupted' entry too. Its writer never closed the file (the mount died), so the
   * bytes may be a cut-short version of what was meant; without this flag it is refused (EPERM)
   * and the remote keeps its version. Check the spool file first.
   */
  forceInterrupted?: boolean;
  signal?: AbortSignal;
}

/** Upload a kept spool file to `vfs` (at its recorded path); on success delete it. Rejects with the upload's VfsError. */
export async function retryPendingUpload(spoolDir: string, id: string, vfs: Vfs, options: RetryOptions = {}): Promise<Entry> {
  const sidecar = await requirePending(spoolDir, id);
  if (pendingReason(sidecar) === 'interrupted' && !options.forceInterrupted) {
    throw new VfsError('EPERM', `pending upload ${id} (${sidecar.path}) was interrupted while being written and may be incomplete; `
      + 'not uploaded without forceInterrupted', { provider: 'fuse', operation: 'retryPendingUpload', path: sidecar.path });
  }
  let path = normalizePath(options.path ?? sidecar.path);
  if (sidecar.state === 'queued' && sidecar.base !== undefined && options.path === undefined) {
    // A write-back entry knows the version it replaces: never overwrite a remote change (write-back.ts).
    let current: Entry | undefined;
    try {
      current = await vfs.stat(path, options.signal ? { signal: options.signal } : {});
    } catch (e) {
      if (!isVfsError(e, 'ENOENT')) throw toVfsError(e, { provider: vfs.name, operation: 'retryPendingUpload', path });
    }
    if (changedSince(sidecar.base, current)) path = conflictPath(path, new Date());
  }
  const files = spoolFiles(spoolDir, id);
  const size = (await stat(files.data)).size;
  let entry: Entry;
  try {
    const writeOptions: Parameters<Vfs['write']>[2] = { size, overwrite: true };
    if (sidecar.mtime) writeOptions.mtime = new Date(sidecar.mtime);
    if (options.signal) writeOptions.signal = options.signal;
    entry = await vfs.write(path, createReadStream(files.data, { highWaterMark: 1 << 20 }), writeOptions);
  } catch (e) {
    const err = toVfsError(e, { provider: vfs.name, operation: 'retryPendingUpload', path });
    await writeSidecar(spoolDir, {
      ...sidecar, state: 'failed', dirty: true, updatedAt: new Date().toISOString(),
      // A forced retry that failed must not turn possibly-cut-short bytes into an ordinary 'failed' entry.
      ...(pendingReason(sidecar) === 'interrupted' ? { interrupted: true } : {}),
      error: { code: err.code, message: err.message.slice(0, 500) },
    }).catch(() => undefined);
    throw err;
  }
  await removeFiles(spoolDir, id);
  return entry;
}

/** Delete a kept spool file and its sidecar without uploading (the user does not want those bytes). */
export async function discardPendingUpload(spoolDir: string, id: string): Promise<void> {
  await requirePending(spoolDir, id);
  await removeFiles(spoolDir, id);
}

async function requirePending(spoolDir: string, id: string): Promise<SpoolSidecar> {
  if (!/^[A-Za-z0-9-]{1,64}$/.test(id)) throw new VfsError('EINVAL', `not a spool id: ${JSON.stringify(id.slice(0, 80))}`);
  // An entry in a dead mount's journal becomes a plain spool file first (a live mount's stays its own: EBUSY below).
  await materializeDeadJournals(spoolDir, processAlive);
  let sidecar: SpoolSidecar;
  try {
    sidecar = await readSidecar(spoolDir, id);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new VfsError('ENOENT', `no pending upload ${id} in ${spoolDir}`);
    throw toVfsError(e, { provider: 'fuse', operation: 'readSidecar' });
  }
  if (!pendingReason(sidecar) || (sidecar.state === 'queued' && processAlive(sidecar.pid))) {
    throw new VfsError('EBUSY', `spool ${id} (${sidecar.path}) belongs to a running mount (pid ${sidecar.pid})`);
  }
  return sidecar;
}

async function readSidecar(spoolDir: string, id: string): Promise<SpoolSidecar> {
  const parsed = JSON.parse(await readFile(spoolFiles(spoolDir, id).sidecar, 'utf8')) as SpoolSidecar;
  if (parsed.version !== 1 || typeof parsed.path !== 'string' || parsed.id !== id) throw new Error('not a cloudmount sidecar');
  return parsed;
}

/** Why a sidecar counts as pending, or undefined when a live mount still owns it (or it is clean). */
function pendingReason(sidecar: SpoolSidecar): PendingUpload['reason'] | undefined {
  if (sidecar.state === 'queued') return 'queued';
  if (sidecar.state === 'failed') return sidecar.interrupted ? 'interrupted' : 'failed';
  if (processAlive(sidecar.pid)) return undefined;
  return sidecar.dirty ? 'interrupted' : undefined;
}


async function removeFiles(spoolDir: string, id: string): Promise<void> {
  const files = spoolFiles(spoolDir, id);
  await unlink(files.data).catch(() => undefined);
  await unlink(files.sidecar).catch(() => undefined);
}
