/**
 * The JSON sidecar kept beside every spool file: which Vfs path the bytes belong to and in what state
 * they are, so that a NEW process (the CLI after a crash) can find and upload them. Never a secret:
 * only the path, a remote label, sizes, times, a pid and a redacted error message.
 */
import { open, readFile, readdir, rename, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * 'open' while a live mount holds the spool; 'failed' once an upload gave up and the bytes were kept;
 * 'queued' once a write-back mount made the closed file durable and owes its upload (write-back.ts).
 */
export type SpoolState = 'open' | 'failed' | 'queued';

export interface SpoolSidecar {
  version: 1;
  /** Random id; the spool file is `<id>.spool`, the sidecar `<id>.json`. */
  id: string;
  /** The Vfs path the content is meant for. */
  path: string;
  /** Name of the Vfs (e.g. "cloudreve") and the caller's label for the remote (e.g. a CLI remote name). */
  vfsName: string;
  remote?: string;
  state: SpoolState;
  /** True when the spool holds bytes the remote does not have yet. */
  dirty: boolean;
  /** Process that owns an 'open' spool; a dead pid means the mount crashed. */
  pid: number;
  /** Bytes of the remote version this content replaces (when the file was opened); null: a new file. */
  replacesSize?: number | null;
  /**
   * The size the writer itself set with truncate/ftruncate (to more than 0), the last time it did:
   * what a program that preallocates (downloaders, databases, `truncate -s`) means the file to be.
   */
  intendedSize?: number;
  /** Modification time to give the upload, ISO string, when one was set (utimens). */
  mtime?: string;
  createdAt: string;
  updatedAt: string;
  /** The content was interrupted (its mount died while it was open) before an upload was tried: it stays so after a failed retry. */
  interrupted?: boolean;
  /** Why the last upload failed (errno name and redacted message). */
  error?: { code: string; message: string };
  /**
   * Write-back: the remote version the change was made against (null: the file did not exist), so an
   * upload can tell that someone else changed the remote meanwhile (no lost update).
   */
  base?: { etag?: string; size: number; mtime: string } | null;
  /** Write-back: upload attempts so far, and bytes sent by the one running (for `pending list`). */
  attempts?: number;
  uploading?: { bytesSent: number; startedAt: string };
}

/** File names of a spool id. */
export function spoolFiles(dir: string, id: string): { data: string; sidecar: string } {
  return { data: join(dir, `${id}.spool`), sidecar: join(dir, `${id}.json`) };
}

/** Write a sidecar atomically (temp file + rename), so a crash never leaves half a JSON file. */
export async function writeSidecar(dir: string, sidecar: SpoolSidecar, options: { durable?: boolean } = {}): Promise<void> {
  const { sidecar: file } = spoolFiles(dir, sidecar.id);
  const text = JSON.stringify(sidecar, null, 2) + '\n';
  if (options.durable) {
    // A write-back queue record: on disk (file and its name) before close() returns.
    await replaceDurably(file, text);
    await syncDir(dir);
    return;
  }
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    await writeFile(tmp, text, { mode: 0o600 });
    await rename(tmp, file);
  } catch (e) {
    // A full disk fails the write half-way: leave no stray temp file behind.
    await unlink(tmp).catch(() => undefined);
    throw e;
  }
}

/**
 * Replace `file` with `data` so that a crash leaves the old file or the new one, never a torn one: a
 * temp file (mode 600) flushed to disk, then renamed over it (`dataOnly`: fdatasync, the bytes and the
 * size without the times). The temp file is removed when this fails (a full disk).
 */
export async function replaceDurably(file: string, data: string | Uint8Array, options: { dataOnly?: boolean } = {}): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    const fh = await open(tmp, 'w', 0o600);
    try {
      await fh.writeFile(data);
      await (options.dataOnly ? fh.datasync() : fh.sync());
    } finally {
      await fh.close();
    }
    await rename(tmp, file);
  } catch (e) {
    await unlink(tmp).catch(() => undefined);
    throw e;
  }
}

/** fsync a directory, so a rename or a new file in it survives a power cut. */
export async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Whether a record's owner is another process that still runs (this process resumes its own leftovers). */
export function ownerAlive(pid: number): boolean {
  return pid !== process.pid && processAlive(pid);
}

/** Whether process `pid` runs (EPERM: it does, under another user). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * The 'queued' records in `dir` that a dead owner left for this Vfs and remote (oldest first): what
 * the next owner of the same remote resumes. Unreadable or foreign records are skipped, never removed.
 */
export async function queuedOrphans(dir: string, vfsName: string, remote: string | undefined): Promise<SpoolSidecar[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return [];
  }
  const out: SpoolSidecar[] = [];
  for (const name of names) {
    if (!name.endsWith('.json')) continue;
    const id = name.slice(0, -5);
    let record: SpoolSidecar;
    try {
      record = JSON.parse(await readFile(spoolFiles(dir, id).sidecar, 'utf8')) as SpoolSidecar;
    } catch {
      continue;
    }
    if (record.version !== 1 || record.id !== id || record.state !== 'queued' || typeof record.path !== 'string') continue;
    if (record.vfsName !== vfsName || record.remote !== remote || ownerAlive(record.pid)) continue;
    out.push(record);
  }
  return out.sort((a, b) => a.createdAt.localeCompare(b.createdAt));
}
