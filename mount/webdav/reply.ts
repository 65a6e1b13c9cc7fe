/**
 * Answers: a failure's HTTP status (the errno table in status.ts, with the per-method choices it
 * leaves open), short plain-text error bodies (never a stack), XML bodies.
 */
import type { ServerResponse } from 'node:http';
import { VfsError, isVfsError, toVfsError } from '../../src/errors.js';
import type { Dav } from './context.js';
import { httpStatusFor } from './status.js';

/** A failure that already knows its HTTP answer (for protocol errors that are not Vfs errors). */
export class HttpError extends Error {
  constructor(readonly status: number, message: string, readonly headers: Record<string, string> = {}, readonly xmlBody?: string) {
    super(message);
  }
}

const READ_METHODS = new Set(['GET', 'HEAD', 'PROPFIND', 'DELETE', 'PROPPATCH', 'UNLOCK', 'COPY', 'MOVE']);

/** HTTP status for an error, with the per-method choices the errno table leaves open. */
export function statusFor(e: unknown, method: string): number {
  if (e instanceof HttpError) return e.status;
  if (isVfsError(e, 'EEXIST')) return method === 'COPY' || method === 'MOVE' ? 412 : 405;
  // "/file.txt/x" does not exist: for a lookup that is a 404, not the 409 a create would get.
  if (isVfsError(e, 'ENOTDIR') && READ_METHODS.has(method)) return 404;
  return httpStatusFor(e);
}

/** Answer with an error: status from the errno table, a short plain-text reason (never a stack). */
export function sendError(dav: Pick<Dav, 'res' | 'method' | 'state'>, e: unknown): void {
  const { res } = dav;
  const status = statusFor(e, dav.method);
  if (status >= 500 && !(e instanceof HttpError)) dav.state.logger.warn('webdav request failed', { method: dav.method, error: e });
  if (res.headersSent) {
    res.destroy();
    return;
  }
  if (e instanceof HttpError && e.xmlBody) {
    sendXml(res, status, e.xmlBody, e.headers);
    return;
  }
  const headers: Record<string, string> = e instanceof HttpError ? { ...e.headers } : {};
  if (isVfsError(e) && e.retryAfterMs !== undefined) headers['Retry-After'] = String(Math.ceil(e.retryAfterMs / 1000));
  else if (status === 503) headers['Retry-After'] = '5';
  sendText(res, status, reasonOf(e), headers);
}

/** A one-line reason for a client: the provider's message when there is one, never a stack. */
function reasonOf(e: unknown): string {
  if (e instanceof HttpError) return e.message;
  const v = e instanceof VfsError ? e : toVfsError(e);
  return (v.details.providerMessage ?? `${v.code}: ${v.message}`).split('\n')[0]!.slice(0, 300);
}

export function sendText(res: ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  const body = Buffer.from(text + '\n');
  res.writeHead(status, { ...headers, 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': body.length });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}

export function sendXml(res: ServerResponse, status: number, xml: string, headers: Record<string, string> = {}): void {
  const body = Buffer.from(xml);
  res.writeHead(status, { ...headers, 'Content-Type': 'application/xml; charset=utf-8', 'Content-Length': body.length });
  res.end(body);
}

/** `<D:error>` body for a failed precondition such as lock-token-submitted. */
export function errorXml(inner: string): string {
  return `<?xml version="1.0" encoding="utf-8"?>\n<D:error xmlns:D="DAV:">${inner}</D:error>`;
}
