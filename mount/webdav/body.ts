/** Request bodies the handlers read whole (XML, bounded) or drop. */
import type { IncomingMessage } from 'node:http';
import { HttpError } from './reply.js';

/** Read a small request body (XML), refusing more than `max` bytes with 413. */
export async function readSmallBody(req: IncomingMessage, max: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > max) throw new HttpError(413, `request body larger than ${max} bytes`, { Connection: 'close' });
  const parts: Buffer[] = [];
  let total = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    total += chunk.length;
    if (total > max) throw new HttpError(413, `request body larger than ${max} bytes`, { Connection: 'close' });
    parts.push(chunk);
  }
  return Buffer.concat(parts);
}

/** Drain and discard a request body (so keep-alive keeps working after an early answer). */
export function discardBody(req: IncomingMessage): void {
  if (!req.complete) req.resume();
}
