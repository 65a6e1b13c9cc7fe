/**
 * File content the soak workload writes, described instead of stored: a file is a list of segments
 * (seed, length) whose bytes are regenerated on demand. So a 50 MiB file costs a few bytes of memory,
 * an append is one more segment, and any version can be streamed again (WebDAV appends re-PUT it) or
 * hashed for the final check. Plain JS so the workload child process runs it without a transpiler.
 */
import { createHash } from 'node:crypto';

const CHUNK = 256 * 1024;

/** Bytes of one segment, in chunks of at most 256 KiB (xorshift32 from the seed). */
export function* segmentChunks(segment) {
  let x = (segment.seed * 2654435761) >>> 0 || 1;
  for (let at = 0; at < segment.length; at += CHUNK) {
    const len = Math.min(CHUNK, segment.length - at);
    const out = Buffer.allocUnsafe(Math.ceil(len / 4) * 4);
    for (let i = 0; i < out.length; i += 4) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      out.writeUInt32LE(x >>> 0, i);
    }
    yield out.subarray(0, len);
  }
}

/** Bytes of a whole file (its segments one after the other). */
export function* contentChunks(segments) {
  for (const s of segments) yield* segmentChunks(s);
}

/** Total length of a segment list. */
export function contentSize(segments) {
  return segments.reduce((n, s) => n + s.length, 0);
}

/** sha256 (hex) of a segment list's bytes. */
export function contentSha256(segments) {
  const hash = createHash('sha256');
  for (const chunk of contentChunks(segments)) hash.update(chunk);
  return hash.digest('hex');
}
