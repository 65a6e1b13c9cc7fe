/** Helpers shared by the test suites. */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { expect } from 'vitest';
import { VfsError } from '../src/errors.js';
import type { ErrnoCode } from '../src/errors.js';

/** Read a whole stream into a Buffer. */
export async function collect(stream: AsyncIterable<Uint8Array | string>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of stream) parts.push(typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.from(chunk));
  return Buffer.concat(parts);
}

/** Assert that `promise` rejects with a VfsError whose code is one of `codes`. */
export async function expectCode(promise: Promise<unknown>, ...codes: ErrnoCode[]): Promise<VfsError> {
  let error: unknown;
  try {
    await promise;
  } catch (e) {
    error = e;
  }
  expect(error, `expected a VfsError ${codes.join('|')}, but the call succeeded`).toBeDefined();
  expect(error, `expected a VfsError, got ${String(error)}`).toBeInstanceOf(VfsError);
  expect(codes, `got ${(error as VfsError).code}: ${(error as Error).message}`).toContain((error as VfsError).code);
  return error as VfsError;
}

/** Deterministic pseudo-random bytes (xorshift), so big test files need no fixtures. */
export function pseudoRandomBytes(size: number, seed = 1): Buffer {
  const out = Buffer.allocUnsafe(Math.ceil(size / 4) * 4);
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < out.length; i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out.writeUInt32LE(x >>> 0, i);
  }
  return out.subarray(0, size);
}

/** A Readable that yields `size` pseudo-random bytes in `chunkSize` pieces without holding them all. */
export function pseudoRandomStream(size: number, chunkSize = 256 * 1024, seed = 7): { stream: Readable; sha256: () => string } {
  const hash = createHash('sha256');
  let sent = 0;
  let n = seed;
  const stream = new Readable({
    read() {
      if (sent >= size) {
        this.push(null);
        return;
      }
      const len = Math.min(chunkSize, size - sent);
      const chunk = pseudoRandomBytes(len, n++);
      hash.update(chunk);
      sent += len;
      this.push(chunk);
    },
  });
  let digest: string | undefined;
  return { stream, sha256: () => (digest ??= hash.digest('hex')) };
}

export function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** sha256 of a stream, without holding it. */
export async function sha256Stream(stream: AsyncIterable<Uint8Array>): Promise<{ hex: string; bytes: number }> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of stream) {
    hash.update(chunk);
    bytes += chunk.length;
  }
  return { hex: hash.digest('hex'), bytes };
}
