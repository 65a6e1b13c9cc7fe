/** Byte routes: signed download URLs and the content route, upload sessions and chunks, one-shot PUT /file/content. */
import { randomUUID } from 'node:crypto';
import { rfc3339 } from '../auth.js';
import { serveContent } from '../content.js';
import { EmuError, emuFail, paramError } from '../errors.js';
import { readBody, readJson, sendText } from '../http.js';
import { fileJson, policyJson } from '../responses.js';
import { HANDLED, checkBatch, header, myUri, requireUser, requireUserBatch, stringList } from './context.js';
import type { Handler } from './context.js';

export const downloadUrl: Handler = async (ctx) => {
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
      urls.push({ url: ctx.signer.url(ctx.settings.siteUrl(), node.entity, node.name, expiresMs, body.download === true, ctx.settings.downloadSpeed), stream_saver_display_name: node.name });
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

export const createSession: Handler = async (ctx) => {
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

export const uploadChunk: Handler = async (ctx) => {
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

export const cancelSession: Handler = async (ctx) => {
  const body = await readJson(ctx.req, ctx.entry);
  if (typeof body.id !== 'string' || body.id === '') paramError('ID cannot be empty');
  const uri = myUri(body.uri);
  requireUser(ctx);
  ctx.store.sweepSessions();
  // manager/upload.go CancelUploadSession + dbfs/upload.go CancelUploadSession: the file must exist
  // (else 40016); a known session for another file is 404; an unknown one (expired, completed) takes
  // the file's lock like any change (40073 while another session holds it) and is then a no-op.
  const node = ctx.store.get(uri.segments);
  const session = ctx.store.sessions.get(body.id);
  if (!session) {
    ctx.store.checkLock('/' + uri.segments.join('/'), false, uri.authorityPrefix);
    if (node.metadata['sys:upload_session_id'] === body.id) delete node.metadata['sys:upload_session_id'];
    return undefined;
  }
  if (session.node !== node) emuFail(404, 'Upload session not found');
  ctx.store.cancelSession(session);
  return undefined;
};

export const putContent: Handler = async (ctx) => {
  const uri = myUri(ctx.url.searchParams.get('uri'));
  requireUser(ctx);
  // Without Content-Length the server reads nothing and stores an empty file (SniffContentLength).
  const declared = header(ctx.req, 'content-length');
  const length = declared === undefined ? 0 : Number(declared);
  if (length > ctx.settings.maxEditSize) emuFail(40049, 'File too large');
  // The new version goes through the same validation as an upload (policy max_size).
  if (ctx.store.options.maxFileSize > 0 && length > ctx.store.options.maxFileSize) emuFail(40049, 'File too large');
  const data = declared === undefined ? Buffer.alloc(0) : await readBody(ctx.req, length, ctx.entry);
  const previous = ctx.url.searchParams.get('previous');
  const existing = ctx.store.find(uri.segments);
  if (previous && existing?.entity && existing.entity.hashId !== previous) emuFail(40076, 'Stale version');
  ctx.store.checkLock('/' + uri.segments.join('/'), false);
  const node = ctx.store.putContent(uri.segments, data);
  return fileJson(ctx.store, node, uri.authorityPrefix);
};

export const content: Handler = async (ctx) => {
  const [entityHash, speed, name] = ctx.params as [string, string, string];
  ctx.signer.check(entityHash, speed, ctx.url.searchParams.get('sign'));
  const entity = ctx.store.findEntity(entityHash);
  if (!entity) {
    sendText(ctx.res, ctx.entry, 404, '404 page not found');
    return HANDLED;
  }
  serveContent(ctx.req, ctx.res, ctx.entry, entity, decodeURIComponent(name), ctx.url.searchParams.get('download') === 'true',
    (res, body) => ctx.settings.onContentBody?.(res, body, Number(speed) || 0));
  return HANDLED;
};
