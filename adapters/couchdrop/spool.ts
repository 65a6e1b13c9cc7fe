/**
 * Spool files: a write's bytes land in a temp file first, so an upload that must be re-sent after a
 * 429 or a dropped connection can send the WHOLE body again (a stream can be read only once).
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { Readable as NodeReadable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { iterateBytes } from '../../src/streams.js';
import type { WriteData } from '../../src/vfs.js';

/** A finished spool file: its size, a way to read it again, and cleanup. */
export interface Spool {
  size: number;
  /** A fresh stream over the whole file (one per upload attempt). */
  open(): Readable;
  /** Delete the file (safe to call twice). */
  dispose(): Promise<void>;
}

/** Copy `data` to a new temp file under `dir` (default the OS temp dir). A failing source leaves nothing behind. */
export async function spoolToFile(data: WriteData, options: { dir?: string | undefined; signal?: AbortSignal | undefined } = {}): Promise<Spool> {
  // A configured spool folder may not exist yet (first run, fresh --spool-dir): create it, private.
  if (options.dir) await mkdir(options.dir, { recursive: true, mode: 0o700 });
  const folder = await mkdtemp(join(options.dir ?? tmpdir(), 'cloudmount-couchdrop-'));
  const file = join(folder, 'spool');
  const dispose = () => rm(folder, { recursive: true, force: true });
  let size = 0;
  try {
    await pipeline(
      NodeReadable.from(iterateBytes(data)),
      async function* count(source: AsyncIterable<Buffer>) {
        for await (const chunk of source) {
          size += chunk.length;
          yield chunk;
        }
      },
      createWriteStream(file),
      ...(options.signal ? [{ signal: options.signal }] : []),
    );
  } catch (e) {
    await dispose();
    throw e;
  }
  return { size, open: () => createReadStream(file, { highWaterMark: 256 * 1024 }), dispose };
}
