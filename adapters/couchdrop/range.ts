/** Cutting a byte range out of a download stream locally, for a service that ignores `Range`. */

/**
 * Yield the bytes of `source` from `skip` on, at most `limit` of them (all when undefined), without
 * holding more than one chunk. Stops reading as soon as the range is complete; `done` then runs so
 * the caller can abort the rest of the download.
 */
export async function* cutRange(
  source: AsyncIterable<Uint8Array>,
  skip: number,
  limit: number | undefined,
  done?: () => void,
): AsyncGenerator<Buffer> {
  let toSkip = skip;
  let left = limit ?? Infinity;
  try {
    if (left <= 0) return;
    for await (const raw of source) {
      let chunk = Buffer.isBuffer(raw) ? raw : Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
      if (toSkip > 0) {
        if (chunk.length <= toSkip) {
          toSkip -= chunk.length;
          continue;
        }
        chunk = chunk.subarray(toSkip);
        toSkip = 0;
      }
      if (chunk.length >= left) {
        yield chunk.subarray(0, left);
        left = 0;
        return;
      }
      left -= chunk.length;
      yield chunk;
    }
  } finally {
    done?.();
  }
}
