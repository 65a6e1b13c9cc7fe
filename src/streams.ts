/** Small stream helpers shared by adapters and frontends. */
import { Readable } from 'node:stream';
import type { WriteData } from './vfs.js';

/** Iterate the bytes of any `WriteData` as Buffers (no copy of the chunks themselves). */
export async function* iterateBytes(data: WriteData): AsyncGenerator<Buffer> {
  if (data instanceof Uint8Array) {
    yield Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    return;
  }
  for await (const chunk of data as AsyncIterable<Uint8Array | string>) {
    if (typeof chunk === 'string') yield Buffer.from(chunk);
    else yield Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  }
}

/** A byte-mode Readable over any iterable of buffers. */
export function readableFrom(chunks: Iterable<Uint8Array> | AsyncIterable<Uint8Array>): Readable {
  return Readable.from(chunks, { objectMode: false, highWaterMark: 64 * 1024 });
}

/** Read a whole stream into one Buffer. Only for small bodies (JSON, tests): never for file content. */
export async function readAll(stream: AsyncIterable<Uint8Array | string>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of stream) parts.push(typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.from(chunk));
  return Buffer.concat(parts);
}

/** The bytes of `data`, telling `progress` the running total as they are consumed (an upload's bytes sent). */
export async function* counted(data: WriteData, progress: (bytes: number) => void): AsyncGenerator<Buffer> {
  let sent = 0;
  for await (const chunk of iterateBytes(data)) {
    yield chunk;
    sent += chunk.length;
    progress(sent);
  }
}
