/**
 * Spooling for uploads that arrive without a length (chunked PUT) when the Vfs needs the size up
 * front: the body goes to a private temp file first, then to the Vfs with its exact size.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { isVfsError, toVfsError } from '../../src/errors.js';

export interface Spooled {
  size: number;
  /** A fresh stream of the spooled bytes. */
  open(): Readable;
  /** Delete the temp file. */
  dispose(): Promise<void>;
}

/** Write `body` to a temp file under `dir`; the file is removed again when spooling fails. */
export async function spoolToFile(body: AsyncIterable<Uint8Array>, dir: string, signal?: AbortSignal): Promise<Spooled> {
  // A configured spool folder may not exist yet (first run, fresh --spool-dir): create it, private.
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const tmp = await mkdtemp(join(dir, 'cloudmount-put-'));
  const file = join(tmp, 'body');
  const dispose = () => rm(tmp, { recursive: true, force: true });
  try {
    await pipeline(body, createWriteStream(file, { mode: 0o600 }), signal ? { signal } : {});
    const { size } = await stat(file);
    return { size, open: () => createReadStream(file, { highWaterMark: 1024 * 1024 }), dispose };
  } catch (e) {
    await dispose();
    // A full spool disk is the server's storage running out: ENOSPC/EDQUOT (507), never a bare 500.
    if (isVfsError(e)) throw e;
    const code = (e as NodeJS.ErrnoException | undefined)?.code;
    if (code === 'ENOSPC' || code === 'EDQUOT') throw toVfsError(e, { provider: 'webdav', operation: 'spool' });
    throw e;
  }
}
