/** Byte routes: signed download URLs and the content route, upload sessions and chunks, one-shot PUT /file/content. */
import { randomUUID } from 'node:crypto';
import { rfc3339 } from '../auth.js';
import { serveContent } from '../content.js';
import { EmuError, emuFail, paramError } from '../errors.js';
import { readBody, readJson, sendText } from '../http.js';
import { fileJson } from '../responses.js';
import { checkSuffix, policyJsonOf } from '../storage/policies.js';
import { CallbackError } from '../storage/server.js';
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
      // `entity` (one URI only) picks a version: service/explorer/file.go FileURLService.
      const wanted = typeof body.entity === 'string' && body.entity !== '' && uris.length === 1 ? body.entity : undefined;
      const entity = wanted ? [node.entity, ...(node.versions ?? [])].find((e) => e.hashId === wanted) ?? emuFail(40077, 'Entity not exist') : node.entity;
      urls.push({ url: ctx.signer.url(ctx.settings.siteUrl(), entity, node.name, expiresMs, body.download === true, ctx.settings.downloadSpeed), stream_saver_display_name: node.name });
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
  // The parent folder's policy (per-folder in the emulator's seed; the user's group's on a real open-source server).
  const policy = s.policies.forFolder(uri.segments.slice(0, -1));
  if (uri.segments.length > 0) checkSuffix(policy, uri.segments[uri.segments.length - 1]!);
  // Upyun has no parts: its driver answers chunk_size 0 (the whole file at once).
  const chunkSize = policy.type === 'upyun' ? 0 : policy.chunk_size ?? s.chunkSize;
  const session = ctx.store.openSession(uri.segments, size, entityType === 'version', chunkSize, s.sessionTtlMs, lastModified, policy.max_size ?? 0);
  const direct = policy.type !== 'local' && !policy.relay;
  return {
    session_id: session.id,
    upload_id: '',
    chunk_size: chunkSize,
    expires: Math.floor(session.expiresAt / 1000),
    storage_policy: policyJsonOf(policy),
    uri: body.uri,
    callback_secret: session.callbackSecret,
    mime_type: 'application/octet-stream',
    // Other policies upload straight to the storage provider, each its own way (storage/server.ts).
    ...(direct ? s.storage.sessionFields(session, policy, s.siteUrl()) : {}),
  };
};

/** GET /callback/{s3|ks3|cos}/{session}/{key}, POST /callback/onedrive/{session}/{key} (no login: the key is the proof). */
export const uploadCallback: Handler = async (ctx) => {
  const [type, sid, key] = ctx.params as [string, string, string];
  try {
    ctx.settings.storage.clientCallback(type, sid, key);
  } catch (e) {
    if (!(e instanceof CallbackError) && !(e instanceof EmuError)) throw e;
    // middleware/auth.go CallbackFailedStatusCode (401) for the session checks, ProcessCallback's 400 otherwise.
    const status = e instanceof CallbackError ? e.status : 400;
    const code = e instanceof CallbackError ? e.code : e.code;
    const text = JSON.stringify({ code, msg: e.message, data: null });
    ctx.entry.status = status;
    ctx.entry.code = code;
    ctx.res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
    ctx.res.end(text);
    return HANDLED;
  }
  return undefined;
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
  const policy = ctx.settings.policies.forFolder(uri.segments.slice(0, -1));
  if ((policy.max_size ?? 0) > 0 && length > policy.max_size!) emuFail(40049, 'File too large');
  if (uri.segments.length > 0) checkSuffix(policy, uri.segments[uri.segments.length - 1]!);
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
