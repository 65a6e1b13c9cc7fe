/**
 * The JSON sidecar kept beside every spool file: which Vfs path the bytes belong to and in what state
 * they are, so that a NEW process (the CLI after a crash) can find and upload them. Never a secret:
 * only the path, a remote label, sizes, times, a pid and a redacted error message.
 */
import { rename, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** 'open' while a live mount holds the spool; 'failed' once an upload gave up and the bytes were kept. */
export type SpoolState = 'open' | 'failed';

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
}

/** File names of a spool id. */
export function spoolFiles(dir: string, id: string): { data: string; sidecar: string } {
  return { data: join(dir, `${id}.spool`), sidecar: join(dir, `${id}.json`) };
}

/** Write a sidecar atomically (temp file + rename), so a crash never leaves half a JSON file. */
export async function writeSidecar(dir: string, sidecar: SpoolSidecar): Promise<void> {
  const { sidecar: file } = spoolFiles(dir, sidecar.id);
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    await writeFile(tmp, JSON.stringify(sidecar, null, 2) + '\n', { mode: 0o600 });
    await rename(tmp, file);
  } catch (e) {
    // A full disk fails the write half-way: leave no stray temp file behind.
    await unlink(tmp).catch(() => undefined);
    throw e;
  }
}
