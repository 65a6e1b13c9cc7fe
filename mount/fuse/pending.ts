/**
 * Pending uploads: spool files whose content never reached the remote (an upload that failed after
 * its retries, or a mount that crashed with unsaved writes). A new process lists them, retries them
 * against a Vfs, or discards them — this is what `cloudmount` offers for "nothing is lost".
 */
import { createReadStream } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { readFile, readdir, stat, unlink } from 'node:fs/promises';
import { VfsError, toVfsError } from '../../src/errors.js';
import { normalizePath } from '../../src/path.js';
import type { Entry, Vfs } from '../../src/vfs.js';
import { spoolFiles, writeSidecar } from './sidecar.js';
import type { SpoolSidecar } from './sidecar.js';

/** One kept spool file, as `listPendingUploads` reports it. */
export interface PendingUpload {
  id: string;
  /** The Vfs path the bytes are for. */
  path: string;
  /** Bytes in the spool file. */
  size: number;
  vfsName: string;
  remote?: string;
  /** 'failed': an upload gave up; 'interrupted': the mount that owned it died before uploading. */
  reason: 'failed' | 'interrupted';
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
    const size = await stat(data).then((s) => s.size, () => -1);
    if (size < 0) continue; // sidecar without data: nothing to upload
    const item: PendingUpload = {
      id: sidecar.id, path: sidecar.path, size, vfsName: sidecar.vfsName, reason,
      createdAt: new Date(sidecar.createdAt), updatedAt: new Date(sidecar.updatedAt), spoolFile: data,
    };
    if (sidecar.remote !== undefined) item.remote = sidecar.remote;
    if (sidecar.error) item.error = sidecar.error;
    if (sidecar.mtime) item.mtime = new Date(sidecar.mtime);
    out.push(item);
  }
  return out.sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime());
}

export interface RetryOptions {
  /** Upload to this path instead of the recorded one. */
  path?: string;
  signal?: AbortSignal;
}

/** Upload a kept spool file to `vfs` (at its recorded path); on success delete it. Rejects with the upload's VfsError. */
export async function retryPendingUpload(spoolDir: string, id: string, vfs: Vfs, options: RetryOptions = {}): Promise<Entry> {
  const sidecar = await requirePending(spoolDir, id);
  const path = normalizePath(options.path ?? sidecar.path);
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
  let sidecar: SpoolSidecar;
  try {
    sidecar = await readSidecar(spoolDir, id);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new VfsError('ENOENT', `no pending upload ${id} in ${spoolDir}`);
    throw toVfsError(e, { provider: 'fuse', operation: 'readSidecar' });
  }
  if (!pendingReason(sidecar)) {
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
  if (sidecar.state === 'failed') return 'failed';
  if (isAlive(sidecar.pid)) return undefined;
  return sidecar.dirty ? 'interrupted' : undefined;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function removeFiles(spoolDir: string, id: string): Promise<void> {
  const files = spoolFiles(spoolDir, id);
  await unlink(files.data).catch(() => undefined);
  await unlink(files.sidecar).catch(() => undefined);
}
