/**
 * Reading a JSON (or error) answer's body with a ceiling: a provider or proxy that sends an endless
 * or enormous body must end in a clear error, not in a process that buffers until it runs out of
 * memory. File content is never read this way (it is streamed).
 */

/** Largest JSON answer read (a 2000-entry listing page is about 1 MiB). */
export const MAX_JSON_BYTES = 64 * 1024 * 1024;

/** Thrown when a body passes its ceiling (the rest is not read; the connection is dropped). */
export class BodyTooLargeError extends Error {
  constructor(readonly limit: number) {
    super(`the answer is larger than ${limit} bytes`);
    this.name = 'BodyTooLargeError';
  }
}

/** The body of `res` as UTF-8 text, failing with BodyTooLargeError past `limit` bytes. */
export async function readBoundedText(res: Response, limit = MAX_JSON_BYTES): Promise<string> {
  if (!res.body) return '';
  const declared = Number(res.headers.get('content-length') ?? NaN);
  if (declared > limit) {
    await res.body.cancel().catch(() => undefined);
    throw new BodyTooLargeError(limit);
  }
  const reader = res.body.getReader();
  const parts: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > limit) {
      await reader.cancel().catch(() => undefined);
      throw new BodyTooLargeError(limit);
    }
    parts.push(value);
  }
  return Buffer.concat(parts, total).toString('utf8');
}
