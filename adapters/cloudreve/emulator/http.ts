/** Request/response plumbing of the emulator: body reading, the envelope, byte counting. */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { EmuError, paramError } from './errors.js';

/** One line of the request log: what tests assert on ("served about 1 KiB"). */
export interface RequestLogEntry {
  time: number;
  method: string;
  /** Route template, e.g. "POST /file/upload/{session}/{index}" or "GET /file/content". */
  route: string;
  /** URL path without the query (no signatures). */
  path: string;
  status: number;
  /** Envelope code for JSON answers. */
  code?: number;
  /** Request body bytes received. */
  bytesIn: number;
  /** Response bytes sent (headers excluded). */
  bytesOut: number;
  /** The Range header, when there was one. */
  range?: string;
  /** The injected fault, if any. */
  fault?: string;
  /** The X-Cr-Client-Id header, when there was one. */
  clientId?: string;
}

/** Count response body bytes into `entry.bytesOut`. */
export function countBytesOut(res: ServerResponse, entry: RequestLogEntry): void {
  const write = res.write.bind(res) as (...args: unknown[]) => boolean;
  const end = res.end.bind(res) as (...args: unknown[]) => ServerResponse;
  const size = (chunk: unknown) => (typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk instanceof Uint8Array ? chunk.length : 0);
  (res as { write: unknown }).write = (chunk: unknown, ...rest: unknown[]) => {
    entry.bytesOut += size(chunk);
    return write(chunk, ...rest);
  };
  (res as { end: unknown }).end = (chunk?: unknown, ...rest: unknown[]) => {
    if (chunk !== undefined && typeof chunk !== 'function') entry.bytesOut += size(chunk);
    return end(chunk, ...rest);
  };
}

/** Read the whole request body, refusing more than `limit` bytes. */
export async function readBody(req: IncomingMessage, limit: number, entry: RequestLogEntry): Promise<Buffer> {
  const parts: Buffer[] = [];
  let total = 0;
  for await (const chunk of req) {
    total += (chunk as Buffer).length;
    entry.bytesIn = total;
    if (total > limit) throw new EmuError(40013, `Request body too large (limit ${limit})`);
    parts.push(chunk as Buffer);
  }
  return Buffer.concat(parts);
}

/** Parse a JSON body (any Content-Type, as gin's binding does); malformed → 40001. */
export async function readJson<T = Record<string, unknown>>(req: IncomingMessage, entry: RequestLogEntry): Promise<T> {
  const body = await readBody(req, 4 * 1024 * 1024, entry);
  if (body.length === 0) return {} as T;
  try {
    const value = JSON.parse(body.toString('utf8')) as unknown;
    if (typeof value !== 'object' || value === null || Array.isArray(value)) paramError('invalid JSON body');
    return value as T;
  } catch (e) {
    if (e instanceof EmuError) throw e;
    return paramError('invalid JSON body');
  }
}

/** Send the envelope with HTTP 200. `data` is omitted when undefined. */
export function sendEnvelope(res: ServerResponse, entry: RequestLogEntry, code: number, data?: unknown, msg = '', extra: Record<string, unknown> = {}): void {
  const body: Record<string, unknown> = { code };
  if (data !== undefined) body.data = data;
  body.msg = msg;
  Object.assign(body, extra);
  entry.code = code;
  entry.status = 200;
  const text = JSON.stringify(body);
  res.writeHead(200, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

/** Send an EmuError as the server would (correlation id unless it is a binding error). */
export function sendError(res: ServerResponse, entry: RequestLogEntry, e: EmuError, correlation?: string): void {
  const extra: Record<string, unknown> = {};
  if (e.aggregated) extra.aggregated_error = e.aggregated;
  if (!e.noCorrelation) extra.correlation_id = correlation ?? randomUUID();
  sendEnvelope(res, entry, e.code, e.data, e.message, extra);
}

/** Plain-text answer (gin's 404 page, proxy errors). */
export function sendText(res: ServerResponse, entry: RequestLogEntry, status: number, text: string, headers: Record<string, string> = {}): void {
  entry.status = status;
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(text), ...headers });
  res.end(text);
}
