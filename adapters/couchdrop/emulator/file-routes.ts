/**
 * The emulator's `/file/*` handlers, over a MemoryVfs store. Answers follow the reference
 * (docs/api couchdrop.md §3, §4, §8): `{"error": "..."}` bodies, 404 `parent-folder-not-found` for a
 * missing parent, 422 for failures "in the storage provider", raw bytes for downloads.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Readable } from 'node:stream';
import type { MemoryVfs } from '../../memory/index.js';
import { VfsError } from '../../../src/errors.js';
import { isSameOrInside, normalizePath, parentPath } from '../../../src/path.js';
import type { Entry } from '../../../src/vfs.js';
import type { CouchdropProvisionalRoutes } from '../routes.js';
import { PARENT_FOLDER_NOT_FOUND } from '../wire.js';
import type { CouchdropWireEntry } from '../wire.js';
import type { RequestLogEntry } from './request-log.js';
import type { TokenPermissions } from './tokens.js';

/** Behaviour switches of the file routes; mutable at run time through the emulator handle. */
export interface FileRouteSettings {
  /** Key of the size field in ls/lstat entries: `size` (default) or the docs' literal `"size:"`. */
  sizeKey: 'size' | 'size:';
  /** Answer `Range` requests with 206 (default false: the reference does not document ranges). */
  rangeRequests: boolean;
  /** Status for a missing path on ls/lstat/download/rename/delete (default 404; some providers say 422). */
  notFoundStatus: 404 | 422;
  /** Answer to mkdir on an existing path (default 422 `folder already exists`). */
  mkdirExisting: { status: number; error: string };
  /** ls of a file: an `error` (422 `not a folder`, default) or a listing of the file `self`. */
  lsOfFile: 'error' | 'self';
  /** Delete of a non-empty folder: removes it all (`recursive`, default) or refuses with 422. */
  deleteNonEmpty: 'recursive' | 'refuse';
  /** An upload whose `size` differs from the bytes received fails with 422 and is not stored (default true). */
  strictSize: boolean;
  /** PROVISIONAL rename/delete routes. */
  routes: CouchdropProvisionalRoutes;
  /**
   * Answer downloads with a 302 to a signed storage URL on the same server (`same-origin`) or on a
   * second port, i.e. another origin (`cross-origin`); default `none` (bytes in the 200 body).
   * The reference cannot tell whether Couchdrop redirects (§7.4); this checks the adapter copes and
   * never sends its token to another origin.
   */
  downloadRedirect: 'none' | 'same-origin' | 'cross-origin';
  /**
   * A folder notification's webhook URI (`notifications__webhook_uri`): every successful upload,
   * through any route, is POSTed there as Couchdrop's outbound webhook body (default: none).
   */
  webhookUrl?: string | undefined;
}

/** One handler's answer. */
export type Reply =
  | { status: number; json: unknown; headers?: Record<string, string> }
  | {
      status: number;
      stream: Readable;
      length: number;
      headers?: Record<string, string>;
      /** Injected `reset`: drop the connection after this many body bytes. */
      breakAfter?: number;
    }
  /** Injected `reset`: drop the connection without an answer. */
  | { status: 0; reset: true };

/** What a handler gets to work with. */
export interface FileRequest {
  params: Map<string, string>;
  permissions: Required<TokenPermissions>;
  req: IncomingMessage;
  log: RequestLogEntry;
  store: MemoryVfs;
  settings: FileRouteSettings;
  /** A signed storage URL for a store path (set when downloads redirect). */
  storageUrl?: (storePath: string) => string;
}

const NO_READ = 'you do not have the right permissions';
const NO_WRITE = 'you cannot write to that folder';
const SERVER_ERROR = 'we encountered an error';

const error = (status: number, message: string): Reply => ({ status, json: { error: message } });

/** Turn a client path into a store path under the token's root; undefined when malformed. */
function storePath(raw: string | undefined, root: string): string | undefined {
  if (raw === undefined || raw === '') return undefined;
  try {
    const p = normalizePath(raw.startsWith('/') ? raw : '/' + raw);
    return root === '/' ? p : normalizePath(root + p);
  } catch {
    return undefined;
  }
}

async function statOrUndefined(store: MemoryVfs, p: string): Promise<Entry | undefined> {
  try {
    return await store.stat(p);
  } catch (e) {
    if (e instanceof VfsError && (e.code === 'ENOENT' || e.code === 'ENOTDIR')) return undefined;
    throw e;
  }
}

function wireEntry(entry: Entry, settings: FileRouteSettings): CouchdropWireEntry {
  const isDir = entry.type === 'directory';
  // The docs' example gives folders size 0 and modtime 0.
  const out = { filename: entry.name, modtime: isDir ? 0 : Math.floor(entry.mtime.getTime() / 1000), is_dir: isDir } as CouchdropWireEntry;
  out[settings.sizeKey] = isDir ? 0 : entry.size;
  return out;
}

function requirePath(r: FileRequest, name = 'path'): string | Reply {
  const raw = r.params.get(name);
  if (raw === undefined || raw === '') return error(400, `missing parameter: ${name}`);
  const p = storePath(raw, r.permissions.root);
  return p ?? error(400, `invalid path in ${name}`);
}

const notFound = (r: FileRequest) => error(r.settings.notFoundStatus, 'no such file or folder');

/** `POST /file/ls`: direct children of a folder. */
export async function ls(r: FileRequest): Promise<Reply> {
  if (!r.permissions.read) return error(403, NO_READ);
  const p = requirePath(r);
  if (typeof p !== 'string') return p;
  const entry = await statOrUndefined(r.store, p);
  if (!entry) return notFound(r);
  if (entry.type === 'file') {
    return r.settings.lsOfFile === 'self' ? { status: 200, json: { ls: [wireEntry(entry, r.settings)] } } : error(422, 'not a folder');
  }
  const children = await r.store.list(p);
  return { status: 200, json: { ls: children.map((c) => wireEntry(c, r.settings)) } };
}

/** `POST /file/lstat`: one entry. */
export async function lstat(r: FileRequest): Promise<Reply> {
  if (!r.permissions.read) return error(403, NO_READ);
  const p = requirePath(r);
  if (typeof p !== 'string') return p;
  const entry = await statOrUndefined(r.store, p);
  if (!entry) return notFound(r);
  return { status: 200, json: { lstat: wireEntry(entry, r.settings) } };
}

/** `POST /file/download` (GET tolerated): the raw bytes, or a single range when ranges are switched on. */
export async function download(r: FileRequest): Promise<Reply> {
  if (!r.permissions.read) return error(403, NO_READ);
  const p = requirePath(r);
  if (typeof p !== 'string') return p;
  const entry = await statOrUndefined(r.store, p);
  if (!entry) return notFound(r);
  if (entry.type === 'directory') return error(422, 'cannot download a folder');
  if (r.settings.downloadRedirect !== 'none' && r.storageUrl) {
    return { status: 302, json: {}, headers: { location: r.storageUrl(p) } };
  }
  return serveBytes(r.store, p, entry.size, r.settings.rangeRequests, r.req.headers.range);
}

/** The bytes of a stored file: whole (200), or the requested range (206/416) when ranges are on. */
export async function serveBytes(store: MemoryVfs, p: string, size: number, ranges: boolean, rangeHeader: string | undefined): Promise<Reply> {
  const headers = { 'content-type': 'application/octet-stream', 'accept-ranges': ranges ? 'bytes' : 'none' };
  const range = ranges ? parseRange(rangeHeader, size) : undefined;
  if (range === 'unsatisfiable') {
    return { status: 416, stream: await store.read(p, { length: 0 }), length: 0, headers: { 'content-range': `bytes */${size}` } };
  }
  if (range) {
    const length = range.end - range.start + 1;
    return {
      status: 206,
      stream: await store.read(p, { offset: range.start, length }),
      length,
      headers: { ...headers, 'content-range': `bytes ${range.start}-${range.end}/${size}` },
    };
  }
  return { status: 200, stream: await store.read(p), length: size, headers };
}

/** One `bytes=a-b` / `a-` / `-n` range; multiple ranges or garbage → undefined (whole body). */
function parseRange(header: string | undefined, size: number): { start: number; end: number } | 'unsatisfiable' | undefined {
  const m = header?.match(/^bytes=(\d*)-(\d*)$/);
  if (!m || (m[1] === '' && m[2] === '')) return undefined;
  let start: number;
  let end: number;
  if (m[1] === '') {
    const suffix = Number(m[2]);
    if (suffix === 0) return 'unsatisfiable';
    start = Math.max(0, size - suffix);
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
    if (m[2] !== '' && Number(m[2]) < start) return undefined;
  }
  if (start >= size) return 'unsatisfiable';
  return { start, end };
}

/**
 * The body of an upload as it arrives, counted and hashed into the log entry (complete or not),
 * so the log proves what a client really sent on every attempt.
 */
export async function* uploadBody(req: IncomingMessage, log: RequestLogEntry): AsyncGenerator<Buffer> {
  const hash = createHash('sha256');
  try {
    for await (const chunk of req as AsyncIterable<Buffer>) {
      hash.update(chunk);
      log.bytesIn += chunk.length;
      yield chunk;
    }
  } finally {
    log.sha256 = hash.digest('hex');
  }
}

/** Read about `bytes` of an upload body (for a connection dropped mid-upload), counting them. */
export async function readSome(req: IncomingMessage, log: RequestLogEntry, bytes: number): Promise<void> {
  if (bytes <= 0) return;
  try {
    for await (const _ of uploadBody(req, log)) if (log.bytesIn >= bytes) return;
  } catch {
    // the client went away first
  }
}

/** Read and discard an upload body (an error answer still lets the client finish sending). */
export async function drainUpload(req: IncomingMessage, log: RequestLogEntry): Promise<void> {
  try {
    for await (const _ of uploadBody(req, log));
  } catch {
    // the client went away; nothing to answer
  }
}

/** Couchdrop's outbound upload webhook (shared/api/couchdrop.md "Outbound webhooks"); fire and forget. */
function sendWebhook(url: string, filename: string, size: number): void {
  const body = {
    account: 'emulator', filename, authenticated_user: 'emulator-user', event_type: 'upload', ip_address: '127.0.0.1',
    success: true, total_size: size, additional_info: '', system: 'api', transaction_id: randomUUID(),
  };
  void fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) })
    .then((res) => res.body?.cancel())
    .catch(() => undefined);
}

/** `POST /file/upload?path=&size=&modtime=`: the raw body, stored verbatim, replacing a file. */
export async function upload(r: FileRequest): Promise<Reply> {
  const drainThen = async (reply: Reply) => {
    await drainUpload(r.req, r.log);
    return reply;
  };
  if (!r.permissions.write) return drainThen(error(403, NO_WRITE));
  const p = requirePath(r);
  if (typeof p !== 'string') return drainThen(p);
  if (p === '/' || p === r.permissions.root) return drainThen(error(422, 'a folder exists at that path'));
  const parent = await statOrUndefined(r.store, parentPath(p));
  if (!parent || parent.type !== 'directory') return drainThen(error(404, PARENT_FOLDER_NOT_FOUND));
  const existing = await statOrUndefined(r.store, p);
  if (existing?.type === 'directory') return drainThen(error(422, 'a folder exists at that path'));

  const sizeRaw = r.params.get('size');
  const size = sizeRaw === undefined || sizeRaw === '' ? undefined : Number(sizeRaw);
  const modRaw = r.params.get('modtime');
  const modtime = modRaw === undefined || modRaw === '' ? undefined : Number(modRaw);
  if ((size !== undefined && !(Number.isInteger(size) && size >= 0)) || (modtime !== undefined && !Number.isFinite(modtime))) {
    return drainThen(error(400, 'size and modtime must be numbers'));
  }

  // MemoryVfs commits only when the body ended well, so a short or broken upload stores nothing.
  const strict = r.settings.strictSize && size !== undefined;
  let mismatch = false;
  const body = uploadBody(r.req, r.log);
  const checked = async function* (log: RequestLogEntry) {
    yield* body;
    // A connection that dropped mid-body must never commit a partial file.
    if (!r.req.complete) throw new Error('upload cut short');
    if (strict && log.bytesIn !== size) {
      mismatch = true;
      throw new Error('size mismatch');
    }
  };
  try {
    await r.store.write(p, checked(r.log), modtime === undefined ? {} : { mtime: new Date(modtime * 1000) });
  } catch (e) {
    if (mismatch) return error(422, `upload incomplete: size says ${size} bytes, received ${r.log.bytesIn}`);
    throw e;
  }
  if (r.settings.webhookUrl) sendWebhook(r.settings.webhookUrl, p, r.log.bytesIn);
  return { status: 200, json: {} };
}

/** `POST /file/mkdir?path=`: one level; a missing parent is 404, an existing path the configured answer. */
export async function mkdir(r: FileRequest): Promise<Reply> {
  if (!r.permissions.write) return error(403, NO_WRITE);
  const p = requirePath(r);
  if (typeof p !== 'string') return p;
  if (await statOrUndefined(r.store, p)) return error(r.settings.mkdirExisting.status, r.settings.mkdirExisting.error);
  const parent = await statOrUndefined(r.store, parentPath(p));
  if (!parent || parent.type !== 'directory') return error(404, PARENT_FOLDER_NOT_FOUND);
  await r.store.mkdir(p);
  return { status: 200, json: {} };
}

/** PROVISIONAL rename/move: full old and new paths; refuses an existing destination. */
export async function rename(r: FileRequest): Promise<Reply> {
  if (!r.permissions.write) return error(403, NO_WRITE);
  const { fromParam, toParam } = r.settings.routes.rename;
  const from = requirePath(r, fromParam);
  if (typeof from !== 'string') return from;
  const to = requirePath(r, toParam);
  if (typeof to !== 'string') return to;
  if (!(await statOrUndefined(r.store, from))) return notFound(r);
  if (from === to) return { status: 200, json: {} };
  if (isSameOrInside(from, to)) return error(422, 'cannot move a folder into itself');
  const parent = await statOrUndefined(r.store, parentPath(to));
  if (!parent || parent.type !== 'directory') return error(404, PARENT_FOLDER_NOT_FOUND);
  if (await statOrUndefined(r.store, to)) return error(422, 'destination already exists');
  await r.store.rename(from, to);
  return { status: 200, json: {} };
}

/** PROVISIONAL delete: a file, or a folder (recursively by default). */
export async function remove(r: FileRequest): Promise<Reply> {
  if (!r.permissions.delete) return error(403, NO_READ);
  const p = requirePath(r, r.settings.routes.delete.pathParam);
  if (typeof p !== 'string') return p;
  if (p === '/' || p === r.permissions.root) return error(422, 'cannot delete the root folder');
  const entry = await statOrUndefined(r.store, p);
  if (!entry) return notFound(r);
  if (entry.type === 'directory' && r.settings.deleteNonEmpty === 'refuse' && (await r.store.list(p)).length > 0) {
    return error(422, 'folder is not empty');
  }
  await r.store.remove(p, { recursive: true });
  return { status: 200, json: {} };
}

/** The generic 500 body the docs show. */
export const serverError = (): Reply => error(500, SERVER_ERROR);
