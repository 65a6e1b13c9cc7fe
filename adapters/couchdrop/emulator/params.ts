/**
 * Request parameters as Couchdrop reads them (Flask-style `request.values` plus JSON): from the query
 * string, an urlencoded form, a multipart form field, or a JSON body. The query string wins on a clash.
 */
import type { IncomingMessage } from 'node:http';

/** Largest parameter body the emulator reads (params are small; file bytes never come this way). */
const MAX_PARAM_BODY = 1024 * 1024;

/** Read the whole (small) body of a non-upload request. Over the limit → RangeError. */
export async function readSmallBody(req: IncomingMessage): Promise<Buffer> {
  const parts: Buffer[] = [];
  let total = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    total += chunk.length;
    if (total > MAX_PARAM_BODY) throw new RangeError('request body too large for parameters');
    parts.push(chunk);
  }
  return Buffer.concat(parts);
}

/** Merge the parameters of the query string and of `body` (by its Content-Type). */
export async function parseParams(url: URL, contentType: string | undefined, body: Buffer): Promise<Map<string, string>> {
  const params = new Map<string, string>();
  const type = (contentType ?? '').toLowerCase();
  if (body.length > 0) {
    if (type.startsWith('application/json')) {
      const parsed: unknown = JSON.parse(body.toString('utf8'));
      if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) {
        for (const [k, v] of Object.entries(parsed)) {
          if (v !== null && v !== undefined) params.set(k, typeof v === 'string' ? v : JSON.stringify(v));
        }
      }
    } else if (type.startsWith('application/x-www-form-urlencoded') || type.startsWith('multipart/form-data')) {
      // undici's Request parses both urlencoded and multipart bodies into FormData.
      const form = await new Request('http://emulator.invalid/', {
        method: 'POST',
        headers: { 'content-type': contentType! },
        body,
      }).formData();
      for (const [k, v] of form) if (typeof v === 'string') params.set(k, v);
    }
  }
  for (const [k, v] of url.searchParams) params.set(k, v);
  return params;
}
