/**
 * A body landed in a private temp file, for when the bytes are needed again or their size first: an
 * upload that a retry must send whole again, a PUT without a length for a provider that wants one.
 * The file sits in a fresh 0700 folder of its own (mode 0600), and goes when disposed or when
 * spooling fails. A full disk is the storage running out (ENOSPC/EDQUOT), never a bare error.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import type { Readable as ReadableType } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { isVfsError, throwIfAborted, toVfsError } from '../errors.js';
import { iterateBytes } from '../streams.js';
import type { WriteData } from '../vfs.js';

/** A finished temp file: its size, fresh streams over it, and cleanup. */
export interface TempFile {
  readonly path: string;
  readonly size: number;
  /** A fresh stream over the whole file, or bytes `start`..`end` inclusive (one per upload attempt). */
  open(range?: { start: number; end: number }): ReadableType;
  /** Delete the file and its folder (safe to call twice). */
  dispose(): Promise<void>;
}

export interface TempFileOptions {
  /** Whose file (names the folder `cloudmount-<owner>-…`, and the provider of a disk-full error). */
  owner: string;
  /** Parent folder (created, private, when missing); default the OS temp dir. */
  dir?: string | undefined;
  signal?: AbortSignal | undefined;
  /** Read-back chunk size (default 1 MiB). */
  highWaterMark?: number;
}

/** Copy `data` into a new temp file. A failing or aborted source leaves nothing behind. */
export async function spoolToTempFile(data: WriteData, options: TempFileOptions): Promise<TempFile> {
  // A configured spool folder may not exist yet (first run, fresh --spool-dir): create it, private.
  if (options.dir) await mkdir(options.dir, { recursive: true, mode: 0o700 });
  const folder = await mkdtemp(join(options.dir ?? tmpdir(), `cloudmount-${options.owner}-`));
  const path = join(folder, 'body');
  const dispose = () => rm(folder, { recursive: true, force: true });
  const { signal } = options;
  let size = 0;
  try {
    const counted = Readable.from((async function* () {
      for await (const piece of iterateBytes(data)) {
        throwIfAborted(signal);
        size += piece.length;
        yield piece;
      }
    })());
    await pipeline(counted, createWriteStream(path, { mode: 0o600 }), signal ? { signal } : {});
  } catch (e) {
    await dispose();
    if (isVfsError(e)) throw e;
    const code = (e as NodeJS.ErrnoException | undefined)?.code;
    if (code === 'ENOSPC' || code === 'EDQUOT') throw toVfsError(e, { provider: options.owner, operation: 'spool' });
    throw e;
  }
  const highWaterMark = options.highWaterMark ?? 1024 * 1024;
  return { path, size, open: (range) => createReadStream(path, { highWaterMark, ...range }), dispose };
}
