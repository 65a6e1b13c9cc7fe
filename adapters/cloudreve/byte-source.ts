/**
 * Upload sources cut into the exact chunk sizes a Cloudreve upload session dictates. The size must
 * be known before the session opens, so a stream of unknown size is spooled to a temp file first.
 * Only one chunk is held in memory at a time (it is re-sent as is when a chunk request is retried).
 */
import { open } from 'node:fs/promises';
import { VfsError, throwIfAborted } from '../../src/errors.js';
import { spoolToTempFile } from '../../src/http/temp-file.js';
import { iterateBytes } from '../../src/streams.js';
import type { WriteData } from '../../src/vfs.js';

/** Bytes of known size that can be cut into chunks once. */
export interface ByteSource {
  readonly size: number;
  /** Can `chunks` be called again from the start (an upload session re-opened after its URLs expired)? */
  readonly restartable: boolean;
  /** Exactly ⌈size/chunkSize⌉ chunks (at least one, possibly empty); the last may be short. */
  chunks(chunkSize: number, signal?: AbortSignal): AsyncGenerator<Buffer>;
  /** Remove temp files. */
  dispose(): Promise<void>;
}

/** A source over `data`: bytes directly, a stream of declared `size`, or a spooled copy. */
export async function openByteSource(data: WriteData, size: number | undefined, spoolDir: string | undefined, signal?: AbortSignal): Promise<ByteSource> {
  if (data instanceof Uint8Array) return bufferSource(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
  if (size !== undefined) return streamSource(data, size);
  return spoolSource(data, spoolDir, signal);
}

function bufferSource(buf: Buffer): ByteSource {
  return {
    size: buf.length,
    restartable: true,
    async *chunks(chunkSize) {
      const step = chunkSize > 0 ? chunkSize : Math.max(1, buf.length);
      if (buf.length === 0) yield buf;
      for (let at = 0; at < buf.length; at += step) yield buf.subarray(at, Math.min(buf.length, at + step));
    },
    async dispose() {},
  };
}

/** A stream whose size the caller declared; a mismatch fails the upload (EINVAL). */
function streamSource(data: WriteData, size: number): ByteSource {
  return {
    size,
    restartable: false,
    async *chunks(chunkSize, signal) {
      const step = chunkSize > 0 ? chunkSize : Math.max(1, size);
      let chunk = Buffer.allocUnsafe(Math.min(step, size));
      let used = 0;
      let total = 0;
      let yielded = false;
      for await (const piece of iterateBytes(data)) {
        throwIfAborted(signal);
        total += piece.length;
        if (total > size) throw mismatch(size, `more than ${size}`);
        let at = 0;
        while (at < piece.length) {
          const n = Math.min(piece.length - at, chunk.length - used);
          piece.copy(chunk, used, at, at + n);
          used += n;
          at += n;
          if (used === chunk.length) {
            yield chunk;
            yielded = true;
            // A fresh buffer: the previous one may still be in flight (or be re-sent on retry).
            chunk = Buffer.allocUnsafe(Math.min(step, size - total + (piece.length - at)));
            used = 0;
          }
        }
      }
      if (total !== size) throw mismatch(size, String(total));
      if (!yielded) yield chunk.subarray(0, used);
    },
    async dispose() {},
  };
}

function mismatch(expected: number, got: string): VfsError {
  return new VfsError('EINVAL', `the data holds ${got} bytes but size said ${expected}`, { provider: 'cloudreve', operation: 'write' });
}

/** Copy the stream into a private temp file to learn its size; chunks are read back from it. */
async function spoolSource(data: WriteData, dir: string | undefined, signal?: AbortSignal): Promise<ByteSource> {
  const file = await spoolToTempFile(data, { owner: 'cloudreve', dir, signal });
  const { size } = file;
  return {
    size,
    restartable: true,
    async *chunks(chunkSize) {
      const step = chunkSize > 0 ? chunkSize : Math.max(1, size);
      const fh = await open(file.path, 'r');
      try {
        if (size === 0) yield Buffer.alloc(0);
        for (let at = 0; at < size; at += step) {
          const len = Math.min(step, size - at);
          const buf = Buffer.allocUnsafe(len);
          const { bytesRead } = await fh.read(buf, 0, len, at);
          if (bytesRead !== len) throw new VfsError('EIO', 'spool file shrank while uploading', { provider: 'cloudreve', operation: 'write' });
          yield buf;
        }
      } finally {
        await fh.close();
      }
    },
    dispose: file.dispose,
  };
}

/** All of `data`, which must hold exactly `size` bytes (small files only: this buffers). */
export async function readExactly(data: WriteData, size: number, signal?: AbortSignal): Promise<Uint8Array> {
  if (data instanceof Uint8Array) return data;
  const out = Buffer.allocUnsafe(size);
  let total = 0;
  for await (const piece of iterateBytes(data)) {
    throwIfAborted(signal);
    if (total + piece.length > size) throw mismatch(size, `more than ${size}`);
    piece.copy(out, total);
    total += piece.length;
  }
  if (total !== size) throw mismatch(size, String(total));
  return out;
}
