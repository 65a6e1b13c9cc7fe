/**
 * What every handler shares: the server state (Vfs, locks, dead properties, options), the request
 * being served, and the helpers that answer it (errors as short plain text, hrefs, body reading,
 * the If/lock precondition check).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { VfsError, isVfsError, toVfsError } from '../../src/errors.js';
import { httpStatusFor } from './status.js';
import type { Logger } from '../../src/log.js';
import { normalizePath, parentPath } from '../../src/path.js';
import type { Entry, Vfs } from '../../src/vfs.js';
import { evaluateIf, parseIfHeader, submittedTokens } from './if-header.js';
import type { IfList } from './if-header.js';
import type { LockStore } from './locks.js';
import type { DeadPropStore } from './props.js';
import { decodeSegment, encodeSegment } from './segment.js';
import { escapeXml } from './xml.js';

/** State shared by all requests of one server. */
export interface ServerState {
  vfs: Vfs;
  locks: LockStore;
  props: DeadPropStore;
  /** URL prefix without trailing slash ("" or "/dav"). */
  basePath: string;
  isJunk: (name: string) => boolean;
  readOnly: boolean;
  logger: Logger;
  /** Where chunked uploads without a length are spooled when the Vfs needs a size first. */
  spoolDir: string;
  /** Largest XML request body accepted. */
  maxXmlBytes: number;
}

/** One request in flight. */
export interface Dav {
  state: ServerState;
  req: IncomingMessage;
  res: ServerResponse;
  method: string;
  /** The Vfs path the request URL names. */
  path: string;
  /** The URL path ended with "/". */
  trailingSlash: boolean;
  /** Aborted when the client goes away. */
  signal: AbortSignal;
  user?: string;
}

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

/**
 * A one-line reason for a client: the provider's message when there is one, else the errno and the
 * message (`ENOENT: no such file or directory, stat "/a"`, the code being a field of the error);
 * never a stack.
 */
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

/** The href of a Vfs path as the client sees it (percent-encoded, collections end with "/"). */
export function hrefFor(state: ServerState, path: string, isDir: boolean): string {
  if (path === '/') return state.basePath + '/';
  let out = state.basePath;
  for (const seg of path.slice(1).split('/')) out += '/' + encodeSegment(seg);
  return isDir ? out + '/' : out;
}

/** Percent-encode one segment; keeps the characters every client accepts unencoded (lone surrogates as WTF-8). */
export { encodeSegment } from './segment.js';

/**
 * The Vfs path of a URL (request target, Destination header or If tag), or undefined when it lies
 * outside the share. EINVAL for encodings that would smuggle `..`, `/` or NUL into a name.
 */
export function pathFromUrl(state: ServerState, raw: string): string | undefined {
  let target = raw;
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(target)) {
    const afterScheme = target.indexOf('//') + 2;
    const slash = target.indexOf('/', afterScheme);
    target = slash < 0 ? '/' : target.slice(slash);
  }
  const cut = target.search(/[?#]/);
  if (cut >= 0) target = target.slice(0, cut);
  if (!target.startsWith('/')) throw new VfsError('EINVAL', 'request path must be absolute', { provider: 'webdav' });
  if (state.basePath) {
    if (target === state.basePath) target = '/';
    else if (target.startsWith(state.basePath + '/')) target = target.slice(state.basePath.length);
    else return undefined;
  }
  const segments: string[] = [];
  for (const rawSeg of target.split('/')) {
    if (rawSeg === '') continue;
    const seg = decodeSegment(rawSeg);
    // Decoding must not create new structure: an encoded "/" or NUL, or a decoded "." / "..".
    if (seg.includes('/') || seg.includes('\0') || seg === '.' || seg === '..') {
      throw new VfsError('EINVAL', 'path segment not allowed', { provider: 'webdav' });
    }
    segments.push(seg);
  }
  const path = '/' + segments.join('/');
  // Segments are clean already; only the byte-length limits are left to check, and a path of at
  // most 85 UTF-16 units cannot break them (3 UTF-8 bytes per unit at most).
  return path.length <= 85 ? path : normalizePath(path);
}

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

/** Stat that says undefined instead of ENOENT. */
export async function statOrNull(dav: Dav, path: string): Promise<Entry | undefined> {
  try {
    return await dav.state.vfs.stat(path, { signal: dav.signal });
  } catch (e) {
    if (isVfsError(e, 'ENOENT', 'ENOTDIR')) return undefined;
    throw e;
  }
}

/** The quoted ETag clients see for an entry (derived from size and mtime when the Vfs has none). */
export function etagOf(entry: Entry): string {
  const raw = entry.etag ?? `${entry.size.toString(16)}-${entry.mtime.getTime().toString(16)}`;
  return `"${raw.replace(/["\\]/g, '')}"`;
}

/** The parsed If header of a request, memoised; 400 when it is malformed. */
export function ifListsOf(dav: Dav): IfList[] | undefined {
  const cached = (dav as Dav & { _if?: IfList[] | null })._if;
  if (cached !== undefined) return cached ?? undefined;
  const header = dav.req.headers.if;
  const lists = typeof header === 'string' && header.trim() !== '' ? parseIfHeader(header) : undefined;
  (dav as Dav & { _if?: IfList[] | null })._if = lists ?? null;
  return lists;
}

export interface WriteCheck {
  /** The path being changed. */
  path: string;
  /** The change covers everything below `path` (DELETE/MOVE of a collection, COPY onto one). */
  tree?: boolean;
  /** The change adds or removes `path` from its parent. */
  membership?: boolean;
}

/**
 * The preconditions of a modifying request: its If header must hold (else 412) and it must submit
 * the token of every lock protecting what it changes (else 423 with lock-token-submitted).
 */
export async function checkWritable(dav: Dav, targets: WriteCheck[]): Promise<void> {
  const { state } = dav;
  if (state.readOnly) throw new VfsError('EROFS', 'this share is read-only', { provider: 'webdav' });
  const lists = ifListsOf(dav);
  if (lists) {
    const holds = await evaluateIf(lists, {
      pathOf: (tag) => (tag === undefined ? dav.path : pathFromUrlSafe(state, tag)),
      tokenCovers: async (token, path) => (await state.locks.covering(path)).some((l) => l.token === token),
      etagOf: async (path) => {
        const e = await statOrNull(dav, path);
        return e ? etagOf(e) : undefined;
      },
    });
    if (!holds) throw new HttpError(412, 'the If header conditions do not hold');
  }
  if (state.locks.empty) return;
  const submitted = lists ? submittedTokens(lists) : new Set<string>();
  for (const t of targets) {
    for (const lock of await state.locks.protecting(t.path, t)) {
      // A token counts only for the user who took the lock (when the share has users).
      if (!submitted.has(lock.token) || (lock.user !== undefined && lock.user !== dav.user)) {
        const href = escapeXml(hrefFor(state, lock.root, false));
        throw new HttpError(423, `locked: ${lock.root}`, {}, errorXml(`<D:lock-token-submitted><D:href>${href}</D:href></D:lock-token-submitted>`));
      }
    }
  }
}

function pathFromUrlSafe(state: ServerState, url: string): string | undefined {
  try {
    return pathFromUrl(state, url);
  } catch {
    return undefined;
  }
}

/** ENOENT of the parent while creating something is a 409 Conflict in WebDAV. */
export async function parentConflict(dav: Dav, path: string, e: unknown): Promise<never> {
  if (isVfsError(e, 'ENOENT', 'ENOTDIR')) {
    const parent = await statOrNull(dav, parentPath(path));
    if (!parent || parent.type !== 'directory') throw new HttpError(409, 'the parent collection does not exist');
  }
  throw e;
}
