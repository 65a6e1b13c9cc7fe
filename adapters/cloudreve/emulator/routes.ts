/**
 * The emulated /api/v4 routes. Each handler returns the envelope's `data` (code 0), throws an
 * EmuError (its code), or answers by itself and returns HANDLED (content, redirects).
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { EmuAuth } from './auth.js';
import { USER_HASH_ID, rfc3339 } from './auth.js';
import type { UrlSigner } from './content.js';
import { serveContent } from './content.js';
import { EmuError, emuFail, paramError } from './errors.js';
import type { RequestLogEntry } from './http.js';
import { readBody, readJson, sendText } from './http.js';
import { MY_CAPABILITY, fileJson, policyJson } from './responses.js';
import type { DriveStore, FsNode } from './store.js';
import { parseUri } from './uri.js';
import type { ParsedUri } from './uri.js';

/** Knobs the routes read (resolved emulator options). */
export interface RouteSettings {
  defaultPageSize: number;
  maxPageSize: number;
  chunkSize: number;
  sessionTtlMs: number;
  urlTtlMs: number;
  /** Added to the `expires` the URL route reports (a server clock that is off; default 0). */
  urlExpiresSkewMs: number;
  maxEditSize: number;
  maxBatch: number;
  cursorPagination: boolean;
  /** The admin "site URL" content URLs are built on. */
  siteUrl: () => string;
  /** Storage policy type of the root folder ('local' unless a test wants a direct-to-storage one). */
  policyType: string;
  /** Called with each content body: lets fault injection cut it short. */
  onContentBody?: (res: ServerResponse, body: Buffer) => void;
}

export interface RouteContext {
  req: IncomingMessage;
  res: ServerResponse;
  entry: RequestLogEntry;
  url: URL;
  params: string[];
  store: DriveStore;
  auth: EmuAuth;
  signer: UrlSigner;
  settings: RouteSettings;
}

/** Returned by handlers that wrote the response themselves. */
export const HANDLED = Symbol('handled');
type Handler = (ctx: RouteContext) => Promise<unknown>;

export interface Route {
  method: string;
  pattern: RegExp;
  /** Template for the request log. */
  name: string;
  handler: Handler;
}

const route = (method: string, pattern: RegExp, name: string, handler: Handler): Route => ({ method, pattern, name, handler });

// ---- helpers ----------------------------------------------------------------------------------

/** 401 for anonymous callers (LoginRequired and the `my` navigator). */
function requireUser(ctx: RouteContext): void {
  if (ctx.auth.caller(header(ctx.req, 'authorization')).kind !== 'user') emuFail(401, 'Login required');
}

/** Batch routes wrap the 401 into a 40081 aggregate, one entry per URI. */
function requireUserBatch(ctx: RouteContext, uris: string[]): void {
  if (ctx.auth.caller(header(ctx.req, 'authorization')).kind === 'user') return;
  const agg: Record<string, { code: number; msg: string; correlation_id: string }> = {};
  for (const u of uris) agg[u] = { code: 401, msg: 'Login required', correlation_id: randomUUID() };
  throw new EmuError(40081, 'Batch operation not fully completed', undefined, agg);
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** A `my` URI (other filesystems are out of this emulator's scope → 403 for writes). */
function myUri(raw: unknown): ParsedUri {
  const u = parseUri(raw);
  if (u.fs !== 'my') emuFail(403, 'Operation not supported on this filesystem');
  return u;
}

function stringList(v: unknown, field: string): string[] {
  if (!Array.isArray(v) || v.length === 0 || !v.every((x) => typeof x === 'string')) paramError(`${field} cannot be empty`);
  return v as string[];
}

function checkBatch(ctx: RouteContext, n: number): void {
  if (n > ctx.settings.maxBatch) emuFail(40074, `Maximum number of URIs exceeded (${ctx.settings.maxBatch})`);
}

// ---- pagination -------------------------------------------------------------------------------

function encodeCursor(offset: number): string {
  return Buffer.from(JSON.stringify({ o: offset, n: randomUUID().slice(0, 8) })).toString('base64url');
}

function decodeCursor(token: string): number {
  try {
    const { o } = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as { o: unknown };
    if (typeof o === 'number' && Number.isInteger(o) && o >= 0) return o;
  } catch {
    /* fall through */
  }
  // No AppError in the chain → CodeNotSet.
  throw new EmuError(-1, '');
}

function sortChildren(nodes: FsNode[], orderBy: string, direction: string): FsNode[] {
  const dir = direction === 'desc' ? -1 : 1;
  const key = (n: FsNode): number | string => {
    switch (orderBy) {
      case 'name': return n.name;
      case 'size': return n.entity?.data.length ?? 0;
      case 'updated_at': return n.updatedAt.getTime();
      case 'created_at': return n.createdAt.getTime();
      default: return n.id;
    }
  };
  return [...nodes].sort((a, b) => {
    if (a.type !== b.type) return b.type - a.type; // folders first
    const ka = key(a);
    const kb = key(b);
    const c = ka < kb ? -1 : ka > kb ? 1 : 0;
    return c !== 0 ? c * dir : (a.id - b.id) * dir;
  });
}

// ---- handlers -----------------------------------------------------------------------------------

const list: Handler = async (ctx) => {
  const q = ctx.url.searchParams;
  const uri = parseUri(q.get('uri'));
  requireUser(ctx);
  const s = ctx.settings;
  let pageSize = Number(q.get('page_size') ?? '') || s.defaultPageSize;
  if (pageSize <= 0) pageSize = s.defaultPageSize;
  pageSize = Math.min(pageSize, s.maxPageSize);
  const prefix = uri.authorityPrefix;
  let parent: Record<string, unknown>;
  let children: FsNode[];
  if (uri.fs === 'trash') {
    children = ctx.store.trash.map((t) => t.node);
    parent = { type: 1, id: '', name: '', path: 'cloudreve://trash', size: 0, metadata: null, created_at: rfc3339(0), updated_at: rfc3339(0) };
  } else if (uri.fs !== 'my') {
    emuFail(403, 'Filesystem not supported by the emulator');
  } else {
    const folder = ctx.store.get(uri.segments);
    if (folder.type !== 1) emuFail(40016, 'Path not exist');
    if (uri.query !== undefined) {
      // A search URI: recursive, filtered by `name` (substring, case-folded).
      const sp = new URLSearchParams(uri.query);
      const names = sp.getAll('name').map((n) => n.toLowerCase());
      children = [];
      const walk = (n: FsNode) => {
        for (const c of n.children.values()) {
          if (names.length === 0 || names.some((x) => c.name.toLowerCase().includes(x))) children.push(c);
          if (c.type === 1) walk(c);
        }
      };
      walk(folder);
    } else {
      children = [...folder.children.values()];
    }
    parent = fileJson(ctx.store, folder, prefix);
  }
  const sorted = sortChildren(children, q.get('order_by') ?? 'name', q.get('order_direction') ?? 'asc');
  let offset: number;
  let page = 0;
  if (s.cursorPagination) {
    const token = q.get('next_page_token');
    offset = token ? decodeCursor(token) : 0;
  } else {
    page = Math.max(0, Number(q.get('page') ?? '0') || 0);
    offset = page * pageSize;
  }
  const files = sorted.slice(offset, offset + pageSize).map((n) => fileJson(ctx.store, n, prefix));
  const pagination: Record<string, unknown> = { page, page_size: pageSize };
  if (s.cursorPagination) {
    pagination.is_cursor = true;
    if (offset + pageSize < sorted.length) pagination.next_token = encodeCursor(offset + pageSize);
  } else {
    pagination.total_items = sorted.length;
  }
  return {
    files,
    parent,
    pagination,
    props: {
      capability: MY_CAPABILITY,
      max_page_size: s.maxPageSize,
      order_by_options: ['name', 'size', 'updated_at', 'created_at'],
      order_direction_options: ['asc', 'desc'],
    },
    context_hint: randomUUID(),
    mixed_type: false,
    storage_policy: policyJson(ctx.store.options.maxFileSize, ctx.settings.policyType),
  };
};

const info: Handler = async (ctx) => {
  const q = ctx.url.searchParams;
  let node: FsNode | undefined;
  let prefix = '';
  requireUserFirst(ctx, () => {
    if (q.get('id')) {
      node = findById(ctx.store.root, q.get('id')!);
      if (!node) emuFail(40016, 'Path not exist');
    } else {
      const uri = myUri(q.get('uri'));
      prefix = uri.authorityPrefix;
      if (uri.segments.length === 0) emuFail(403, 'Cannot operate root file');
      node = ctx.store.get(uri.segments);
    }
  });
  const out = fileJson(ctx.store, node!, prefix);
  if (q.get('extended') === 'true') {
    out.extended_info = {
      storage_policy: policyJson(ctx.store.options.maxFileSize, ctx.settings.policyType),
      storage_used: node!.entity?.data.length ?? 0,
      entities: node!.entity
        ? [{ id: node!.entity.hashId, size: node!.entity.data.length, type: 0, created_at: node!.entity.createdAt.toISOString() }]
        : [],
    };
  }
  if (q.get('folder_summary') === 'true' && node!.type === 1) {
    let size = 0, files = 0, folders = 0;
    const walk = (n: FsNode) => {
      for (const c of n.children.values()) {
        if (c.type === 1) { folders++; walk(c); } else { files++; size += c.entity?.data.length ?? 0; }
      }
    };
    walk(node!);
    out.folder_summary = { size, files, folders, completed: true, calculated_at: new Date().toISOString() };
  }
  return out;
};

/** Validate the parameters first where binding comes first, then the login. */
function requireUserFirst(ctx: RouteContext, body: () => void): void {
  requireUser(ctx);
  body();
}

function findById(node: FsNode, id: string): FsNode | undefined {
  if (node.hashId === id) return node;
  for (const c of node.children.values()) {
    const hit = findById(c, id);
    if (hit) return hit;
  }
  return undefined;
}

const create: Handler = async (ctx) => {
  const body = await readJson(ctx.req, ctx.entry);
  const uri = myUri(body.uri);
  if (body.type !== 'file' && body.type !== 'folder') paramError("Key: 'CreateFileService.Type' Error:Field validation for 'Type' failed on the 'eq=file|eq=folder' tag");
  requireUser(ctx);
  const node = ctx.store.create(uri.segments, body.type === 'folder' ? 1 : 0, body.err_on_conflict === true);
  return fileJson(ctx.store, node, uri.authorityPrefix);
};

const rename: Handler = async (ctx) => {
  const body = await readJson(ctx.req, ctx.entry);
  const uri = myUri(body.uri);
  if (typeof body.new_name !== 'string' || body.new_name.length === 0 || [...body.new_name].length > 255) paramError('NewName must be 1-255 characters');
  requireUser(ctx);
  const node = ctx.store.rename(uri.segments, body.new_name);
  return fileJson(ctx.store, node, uri.authorityPrefix);
};

const move: Handler = async (ctx) => {
  const body = await readJson(ctx.req, ctx.entry);
  const uris = stringList(body.uris, 'Uris');
  checkBatch(ctx, uris.length);
  const dst = myUri(body.dst);
  const sources = uris.map((u) => ({ uri: u, segments: myUri(u).segments }));
  requireUser(ctx);
  ctx.store.move(sources, dst.segments, body.copy === true);
  return undefined;
};

const remove: Handler = async (ctx) => {
  const body = await readJson(ctx.req, ctx.entry);
  const uris = stringList(body.uris, 'Uris');
  checkBatch(ctx, uris.length);
  const targets = uris.map((u) => ({ uri: u, segments: myUri(u).segments }));
  requireUserBatch(ctx, uris);
  if (body.unlink === true) emuFail(403, 'Advance delete is not allowed for your group');
  ctx.store.delete(targets, body.skip_soft_delete === true);
  return undefined;
};

const restore: Handler = async (ctx) => {
  const body = await readJson(ctx.req, ctx.entry);
  const uris = stringList(body.uris, 'Uris');
  checkBatch(ctx, uris.length);
  requireUserBatch(ctx, uris);
  ctx.store.restore(uris.map((u) => {
    const p = parseUri(u);
    return p.segments[p.segments.length - 1] ?? '';
  }));
  return undefined;
};

const emptyTrash: Handler = async (ctx) => {
  requireUser(ctx);
  ctx.store.trash.splice(0);
  return undefined;
};

const downloadUrl: Handler = async (ctx) => {
  const body = await readJson(ctx.req, ctx.entry);
  const uris = stringList(body.uris, 'Uris');
  checkBatch(ctx, uris.length);
  requireUserBatch(ctx, uris);
  const expiresMs = Date.now() + ctx.settings.urlTtlMs;
  const urls: Array<{ url: string; stream_saver_display_name?: string }> = [];
  const agg: Record<string, { code: number; msg: string; correlation_id: string }> = {};
  for (const u of uris) {
    try {
      const p = myUri(u);
      const node = ctx.store.get(p.segments);
      if (node.type !== 0 || !node.entity) emuFail(40077, 'Entity not exist');
      urls.push({ url: ctx.signer.url(ctx.settings.siteUrl(), node.entity, node.name, expiresMs, body.download === true), stream_saver_display_name: node.name });
    } catch (e) {
      if (!(e instanceof EmuError)) throw e;
      if (body.skip_error === true) urls.push({ url: '' });
      else agg[u] = { code: e.code, msg: e.message, correlation_id: randomUUID() };
    }
  }
  if (Object.keys(agg).length > 0) throw new EmuError(40081, 'Batch operation not fully completed', undefined, agg);
  if (body.redirect === true && urls.length === 1) {
    ctx.entry.status = 302;
    ctx.res.writeHead(302, { Location: urls[0]!.url, 'Content-Length': 0 });
    ctx.res.end();
    return HANDLED;
  }
  return { urls, expires: rfc3339(expiresMs + ctx.settings.urlExpiresSkewMs) };
};

const createSession: Handler = async (ctx) => {
  const body = await readJson(ctx.req, ctx.entry);
  const uri = myUri(body.uri);
  const size = body.size;
  if (typeof size !== 'number' || !Number.isInteger(size) || size < 0) paramError('Size must be a non-negative integer');
  const entityType = body.entity_type ?? '';
  if (entityType !== '' && entityType !== 'version') emuFail(40016, 'Path not exist'); // only "version" may create
  requireUser(ctx);
  const s = ctx.settings;
  const lastModified = typeof body.last_modified === 'number' && body.last_modified > 0 ? body.last_modified : undefined;
  const session = ctx.store.openSession(uri.segments, size, entityType === 'version', s.chunkSize, s.sessionTtlMs, lastModified);
  return {
    session_id: session.id,
    upload_id: '',
    chunk_size: s.chunkSize,
    expires: Math.floor(session.expiresAt / 1000),
    storage_policy: policyJson(ctx.store.options.maxFileSize, ctx.settings.policyType),
    uri: body.uri,
    callback_secret: session.callbackSecret,
    mime_type: 'application/octet-stream',
    // Non-local policies upload straight to the storage provider (S3-like: one URL per chunk).
    ...(s.policyType !== 'local'
      ? { upload_urls: Array.from({ length: session.chunkCount }, (_, i) => `${s.siteUrl()}/emulated-storage/${session.id}/${i}`), credential: 'emulated-credential' }
      : {}),
  };
};

const uploadChunk: Handler = async (ctx) => {
  const [sid, indexText] = ctx.params as [string, string];
  requireUser(ctx);
  const session = ctx.store.session(sid);
  const index = Number(indexText);
  if (!Number.isInteger(index) || index < 0 || index >= session.chunkCount) emuFail(40012, 'Chunk index out of range');
  const chunk = session.chunkSize > 0 ? session.chunkSize : Math.max(1, session.size);
  const expected = index === session.chunkCount - 1 ? session.size - index * chunk : chunk;
  const declared = header(ctx.req, 'content-length') ?? header(ctx.req, 'x-expected-entity-length');
  if (declared === undefined || Number(declared) !== expected) emuFail(40013, `Invalid Content-Length (expected: ${expected})`);
  const data = await readBody(ctx.req, expected, ctx.entry);
  if (data.length !== expected) emuFail(40013, `Invalid Content-Length (expected: ${expected})`);
  ctx.store.writeChunk(session, index, data);
  return undefined;
};

const cancelSession: Handler = async (ctx) => {
  const body = await readJson(ctx.req, ctx.entry);
  if (typeof body.id !== 'string' || body.id === '') paramError('ID cannot be empty');
  const uri = myUri(body.uri);
  requireUser(ctx);
  ctx.store.sweepSessions();
  const session = ctx.store.sessions.get(body.id);
  if (!session) {
    ctx.store.get(uri.segments); // missing URI → 40016 first
    emuFail(404, 'Upload session not found');
  }
  if (session.key !== '/' + uri.segments.join('/')) emuFail(404, 'Upload session not found');
  ctx.store.cancelSession(session);
  return undefined;
};

const putContent: Handler = async (ctx) => {
  const uri = myUri(ctx.url.searchParams.get('uri'));
  requireUser(ctx);
  // Without Content-Length the server reads nothing and stores an empty file (SniffContentLength).
  const declared = header(ctx.req, 'content-length');
  const length = declared === undefined ? 0 : Number(declared);
  if (length > ctx.settings.maxEditSize) emuFail(40049, 'File too large');
  const data = declared === undefined ? Buffer.alloc(0) : await readBody(ctx.req, length, ctx.entry);
  const previous = ctx.url.searchParams.get('previous');
  const existing = ctx.store.find(uri.segments);
  if (previous && existing?.entity && existing.entity.hashId !== previous) emuFail(40076, 'Stale version');
  ctx.store.checkLock('/' + uri.segments.join('/'), false);
  const node = ctx.store.putContent(uri.segments, data);
  return fileJson(ctx.store, node, uri.authorityPrefix);
};

const releaseLocks: Handler = async (ctx) => {
  const body = await readJson(ctx.req, ctx.entry);
  const tokens = stringList(body.tokens, 'Tokens');
  requireUser(ctx);
  for (const t of tokens) {
    if (!ctx.store.locks.has(t)) paramError('Invalid lock token');
  }
  for (const t of tokens) ctx.store.locks.delete(t);
  return undefined;
};

const content: Handler = async (ctx) => {
  const [entityHash, , name] = ctx.params as [string, string, string];
  ctx.signer.check(entityHash, ctx.url.searchParams.get('sign'));
  const entity = ctx.store.findEntity(entityHash);
  if (!entity) {
    sendText(ctx.res, ctx.entry, 404, '404 page not found');
    return HANDLED;
  }
  serveContent(ctx.req, ctx.res, ctx.entry, entity, decodeURIComponent(name), ctx.url.searchParams.get('download') === 'true', ctx.settings.onContentBody);
  return HANDLED;
};

const login: Handler = async (ctx) => {
  const body = await readJson(ctx.req, ctx.entry);
  const result = ctx.auth.login(body.email, body.password);
  if ('twoFactor' in result) throw new EmuError(203, '', result.twoFactor, undefined, true);
  return { user: userJson(ctx), token: result.pair };
};

const login2fa: Handler = async (ctx) => {
  const body = await readJson(ctx.req, ctx.entry);
  return { user: userJson(ctx), token: ctx.auth.loginTwoFactor(body.otp, body.session_id) };
};

const refresh: Handler = async (ctx) => {
  const body = await readJson(ctx.req, ctx.entry);
  return ctx.auth.refresh(body.refresh_token);
};

const logout: Handler = async (ctx) => {
  const body = await readJson(ctx.req, ctx.entry);
  ctx.auth.logout(body.refresh_token);
  return '';
};

function userJson(ctx: RouteContext): Record<string, unknown> {
  return {
    id: USER_HASH_ID, email: ctx.auth.options.email, nickname: ctx.auth.options.email.split('@')[0], status: 'active',
    created_at: new Date(0).toISOString(), group: { id: 'vxHj', name: 'User' }, language: 'en-US',
  };
}

const prepareLogin: Handler = async (ctx) => {
  const email = ctx.url.searchParams.get('email') ?? '';
  if (email.toLowerCase() !== ctx.auth.options.email.toLowerCase()) emuFail(404, 'User not found');
  return { webauthn_enabled: false, password_enabled: true };
};

const capacity: Handler = async (ctx) => {
  requireUser(ctx);
  return { total: ctx.store.options.quota, used: ctx.store.used() };
};

const me: Handler = async (ctx) => {
  requireUser(ctx);
  return userJson(ctx);
};

const ping: Handler = async () => '4.18.0-emulator';

const siteConfig: Handler = async (ctx) => {
  const section = ctx.params[0];
  if (section === 'login') return {};
  if (section === 'explorer') return { max_batch_size: ctx.settings.maxBatch };
  return { instance_id: 'cloudmount-emulator', title: 'Cloudreve (emulated)', captcha_type: 'normal', user: { id: '', nickname: '', anonymous: true }, themes: '{}' };
};

/** Every route the emulator serves, under /api/v4. */
export const ROUTES: Route[] = [
  route('GET', /^\/site\/ping$/, 'GET /site/ping', ping),
  route('GET', /^\/site\/config\/([^/]+)$/, 'GET /site/config/{section}', siteConfig),
  route('GET', /^\/session\/prepare$/, 'GET /session/prepare', prepareLogin),
  route('POST', /^\/session\/token$/, 'POST /session/token', login),
  route('POST', /^\/session\/token\/2fa$/, 'POST /session/token/2fa', login2fa),
  route('POST', /^\/session\/token\/refresh$/, 'POST /session/token/refresh', refresh),
  route('DELETE', /^\/session\/token$/, 'DELETE /session/token', logout),
  route('GET', /^\/user\/capacity$/, 'GET /user/capacity', capacity),
  route('GET', /^\/user\/me$/, 'GET /user/me', me),
  route('GET', /^\/file$/, 'GET /file', list),
  route('GET', /^\/file\/info$/, 'GET /file/info', info),
  route('POST', /^\/file\/create$/, 'POST /file/create', create),
  route('POST', /^\/file\/rename$/, 'POST /file/rename', rename),
  route('POST', /^\/file\/move$/, 'POST /file/move', move),
  route('DELETE', /^\/file$/, 'DELETE /file', remove),
  route('POST', /^\/file\/restore$/, 'POST /file/restore', restore),
  route('DELETE', /^\/file\/trash$/, 'DELETE /file/trash', emptyTrash),
  route('POST', /^\/file\/url$/, 'POST /file/url', downloadUrl),
  route('PUT', /^\/file\/upload$/, 'PUT /file/upload', createSession),
  route('POST', /^\/file\/upload\/([^/]+)\/([^/]+)$/, 'POST /file/upload/{session}/{index}', uploadChunk),
  route('DELETE', /^\/file\/upload$/, 'DELETE /file/upload', cancelSession),
  route('PUT', /^\/file\/content$/, 'PUT /file/content', putContent),
  route('DELETE', /^\/file\/lock$/, 'DELETE /file/lock', releaseLocks),
  route('GET', /^\/file\/content\/([^/]+)\/([^/]+)\/([^/]+)$/, 'GET /file/content', content),
  route('HEAD', /^\/file\/content\/([^/]+)\/([^/]+)\/([^/]+)$/, 'HEAD /file/content', content),
];
