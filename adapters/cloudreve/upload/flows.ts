/**
 * Sending an upload session's bytes the way its storage policy wants them (one function per flow;
 * the sources are listed in adapters/cloudreve/README.md, "Upload flows per storage policy").
 *
 * Every request goes through the account's Scheduler: a 429/5xx (S3 `SlowDown` is a 503) or a reset
 * is retried per part with backoff, and a throttle pauses the queue. Parts run in parallel up to the
 * policy's `chunk_concurrency`, each held in memory only while in flight (it is re-sent as is on a
 * retry). Requests to the storage provider carry no Authorization header of ours: the presigned URL
 * or the session's own credential is the authority. Parts go over node:http as the Buffers they are
 * (src/http/upload.ts), each with its exact Content-Length (presigned URLs sign it), never chunked.
 */
import { Readable } from 'node:stream';
import { VfsError, isVfsError, opError, throwIfAborted } from '../../../src/errors.js';
import type { ErrnoCode } from '../../../src/errors.js';
import { readBoundedText } from '../../../src/bounded-text.js';
import { httpRequest } from '../../../src/http/fetch.js';
import { contentRange } from '../../../src/http/range.js';
import { contentUpload } from '../../../src/http/upload.js';
import type { Scheduler } from '../../../src/scheduler/index.js';
import { envelopeError } from '../api-error.js';
import type { ByteSource } from '../byte-source.js';
import type { CloudreveClient } from '../client.js';
import type { Envelope, StoragePolicy, UploadSessionResponse } from '../types.js';
import type { UploadFlow } from './policy.js';

/** Error body bytes read from a storage provider (its XML/JSON error is short). */
const MAX_STORAGE_ERROR = 16 * 1024;
/** Most parts in flight at once, whatever the policy says (each holds one chunk in memory). */
export const MAX_PART_CONCURRENCY = 16;

export interface FlowContext {
  client: CloudreveClient;
  scheduler: Scheduler;
  session: UploadSessionResponse;
  policy: StoragePolicy;
  flow: UploadFlow;
  source: ByteSource;
  path: string;
  signal?: AbortSignal | undefined;
  /** Override of the policy's chunk_concurrency (benchmarks: one part at a time). */
  concurrency?: number | undefined;
}

/**
 * True for the error of a presigned URL or storage upload that has expired, or an upload session the
 * server no longer knows (40011): all ESTALE, and a new session can go on. (ESTALE rather than a
 * marker on the object: errors are copied on their way through the Scheduler.)
 */
export function isExpiredUpload(e: unknown): boolean {
  return isVfsError(e, 'ESTALE');
}

/** Send every byte of the session and finish it (complete + callback where the client must). */
export async function sendUpload(ctx: FlowContext): Promise<void> {
  switch (ctx.flow) {
    case 'local': return sendLocal(ctx);
    case 'remote': return sendRemote(ctx);
    case 'onedrive': return sendOneDrive(ctx);
    case 's3': case 'oss': case 'obs': return sendS3Like(ctx);
    case 'qiniu': return sendQiniu(ctx);
    case 'upyun': return sendUpyun(ctx);
  }
}

/** Bytes of parts held in memory at once per upload (concurrency is lowered to stay under it). */
export const PART_MEMORY_BUDGET = 256 * 1024 * 1024;

function concurrencyOf(ctx: FlowContext): number {
  const wanted = ctx.concurrency ?? Number(ctx.policy.chunk_concurrency);
  // chunk.ts getConcurrency: `chunk_concurrency || 1`.
  const asked = Math.max(1, Math.min(MAX_PART_CONCURRENCY, Number.isFinite(wanted) && wanted > 0 ? Math.floor(wanted) : 1));
  const chunk = ctx.session.chunk_size > 0 ? ctx.session.chunk_size : ctx.source.size;
  return Math.max(1, Math.min(asked, Math.floor(PART_MEMORY_BUDGET / Math.max(1, chunk))));
}

/**
 * Run `send` for every chunk of the source, up to `concurrency` at once. The source is pulled one
 * chunk at a time (an async generator queues concurrent `next()` calls); the first failure stops
 * the others (their requests are aborted) and is thrown.
 */
async function eachPart(ctx: FlowContext, chunkSize: number, concurrency: number, send: (index: number, part: Buffer, signal: AbortSignal) => Promise<void>): Promise<number> {
  const stop = new AbortController();
  const onAbort = () => stop.abort(ctx.signal?.reason);
  ctx.signal?.addEventListener('abort', onAbort, { once: true });
  const parts = ctx.source.chunks(chunkSize, stop.signal);
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async () => {
    while (!failure) {
      let item: IteratorResult<Buffer>;
      try {
        item = await parts.next();
      } catch (e) {
        failure ??= { error: e };
        break;
      }
      if (item.done || failure) break;
      const index = next++;
      try {
        throwIfAborted(ctx.signal, { path: ctx.path, operation: 'write' });
        await send(index, item.value, stop.signal);
      } catch (e) {
        failure ??= { error: e };
        stop.abort(e);
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: concurrency }, worker));
  } finally {
    ctx.signal?.removeEventListener('abort', onAbort);
    await parts.return(undefined).catch(() => undefined);
  }
  if (failure) throw ctx.signal?.aborted ? ctx.signal.reason ?? failure.error : failure.error;
  return next;
}

function details(ctx: FlowContext, operation: string, status?: number) {
  return { provider: 'cloudreve', operation, path: ctx.path, ...(status !== undefined ? { status } : {}) };
}

/** The error of one step of an upload: the step (the storage call) and the file's path as fields and in the message. */
function flowError(code: ErrnoCode, reason: string, ctx: FlowContext, operation: string, status?: number): VfsError {
  return opError(code, reason, operation, ctx.path, { provider: 'cloudreve', ...(status !== undefined ? { status } : {}) });
}

// ---- local / relay: POST /api/v4/file/upload/{session}/{index} ------------------------------

async function sendLocal(ctx: FlowContext): Promise<void> {
  await eachPart(ctx, ctx.session.chunk_size, concurrencyOf(ctx), (index, part, signal) =>
    ctx.client.uploadChunk(ctx.session.session_id, index, part, signal, ctx.path));
}

// ---- remote node: POST {upload_urls[0]}?chunk=i, Authorization: credential -----------------

async function sendRemote(ctx: FlowContext): Promise<void> {
  const base = firstUrl(ctx);
  const credential = ctx.session.credential ?? '';
  await eachPart(ctx, ctx.session.chunk_size, concurrencyOf(ctx), async (index, part, signal) => {
    const url = new URL(base);
    url.searchParams.set('chunk', String(index));
    await contentUpload(ctx.scheduler, url, {
      method: 'POST', body: part, length: part.length, signal, idempotent: true, label: 'POST remote node chunk',
      headers: { 'Content-Type': 'application/octet-stream', Authorization: credential },
    }, async (res) => {
      const text = await res.text(MAX_STORAGE_ERROR);
      let env: Envelope | undefined;
      try {
        env = JSON.parse(text) as Envelope;
      } catch {
        env = undefined;
      }
      if (res.status !== 200 || !env || typeof env.code !== 'number') {
        throw storageFailure(ctx, 'POST remote node chunk', res.status, text);
      }
      if (env.code !== 0) {
        const err = envelopeError(env, details(ctx, 'POST remote node chunk'));
        // 40011: the node no longer knows the session (expired): a new session can go on.
        throw err;
      }
    });
  });
  // The node calls the master back itself (`POST /callback/remote/{session}/{key}`) after the last chunk.
}

// ---- OneDrive: PUT byte ranges to the upload session URL, then the callback -----------------

async function sendOneDrive(ctx: FlowContext): Promise<void> {
  const url = firstUrl(ctx);
  const total = ctx.source.size;
  let offset = 0;
  // Ranges must arrive in order (nextExpectedRanges), so one at a time as the web uploader does.
  await eachPart(ctx, ctx.session.chunk_size, 1, async (_index, part, signal) => {
    if (part.length === 0) return; // an empty file has no range to send; the callback finishes it
    const start = offset;
    const end = start + part.length - 1;
    await contentUpload(ctx.scheduler, url, {
      method: 'PUT', body: part, length: part.length, signal, idempotent: true, label: 'PUT onedrive range',
      headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': contentRange(start, end, total) },
    }, async (res) => {
      const text = await res.text(MAX_STORAGE_ERROR).catch(() => '');
      if (res.status === 200 || res.status === 201 || res.status === 202) return;
      if (res.status === 416 && /fragmentOverlap|invalidRange/.test(text)) {
        // An earlier attempt of this range reached OneDrive before the connection broke: ask where it is.
        const expected = await oneDriveNextExpected(ctx, url, signal);
        if (expected === undefined || expected > end) return;
      }
      throw storageFailure(ctx, 'PUT onedrive range', res.status, text);
    });
    offset = end + 1;
  });
  await ctx.client.uploadCallback('onedrive', ctx.session.session_id, ctx.session.callback_secret, 'POST', ctx.signal, ctx.path);
}

/** GET the session URL: the first byte OneDrive still expects (undefined: it has everything). */
async function oneDriveNextExpected(ctx: FlowContext, url: string, signal: AbortSignal): Promise<number | undefined> {
  return httpRequest(ctx.scheduler, url, { method: 'GET', signal, label: 'GET onedrive session' }, async (res) => {
    const text = await readBoundedText(res, MAX_STORAGE_ERROR);
    if (res.status !== 200) throw storageFailure(ctx, 'GET onedrive session', res.status, text);
    const body = JSON.parse(text) as { nextExpectedRanges?: string[] };
    const first = body.nextExpectedRanges?.[0];
    if (!first) return undefined;
    const n = Number(first.split('-')[0]);
    return Number.isInteger(n) && n >= 0 ? n : 0;
  });
}

// ---- S3, KS3, COS, OSS, OBS: presigned part PUTs, then complete ------------------------------

async function sendS3Like(ctx: FlowContext): Promise<void> {
  const urls = ctx.session.upload_urls ?? [];
  const etags: string[] = [];
  const count = await eachPart(ctx, ctx.session.chunk_size, concurrencyOf(ctx), async (index, part, signal) => {
    const url = urls[index];
    if (!url) throw flowError('EPROTO', `the session has ${urls.length} part URLs, part ${index + 1} has none`, ctx, 'PUT part');
    etags[index] = await contentUpload(ctx.scheduler, url, {
      method: 'PUT', body: part, length: part.length, signal, idempotent: true, label: `PUT ${ctx.policy.type} part`,
      headers: { 'Content-Type': 'application/octet-stream' },
    }, async (res) => {
      const text = await res.text(MAX_STORAGE_ERROR).catch(() => '');
      if (res.status === 200) {
        const etag = res.headers.get('etag');
        if (!etag) throw flowError('EPROTO', `the storage answered part ${index + 1} without an ETag (is ETag exposed?)`, ctx, 'PUT part', 200);
        return etag;
      }
      throw storageFailure(ctx, `PUT ${ctx.policy.type} part`, res.status, text);
    });
  });
  const complete = ctx.session.completeURL;
  if (!complete) throw flowError('EPROTO', `the session has no completeURL`, ctx, 'complete');
  const headers: Record<string, string> = { 'Content-Type': 'application/octet-stream' };
  let body = '';
  if (ctx.flow === 'oss') {
    // oss.go Token presigns these headers; the parts are found by OSS itself (complete-all).
    headers['x-oss-complete-all'] = 'yes';
    headers['x-oss-forbid-overwrite'] = 'true';
  } else {
    body = completeXml(etags.slice(0, count));
    if (ctx.policy.type === 'cos') headers['x-cos-forbid-overwrite'] = 'true';
  }
  await httpRequest(ctx.scheduler, complete, {
    // Not idempotent: a second complete of a finished upload is NoSuchUpload. Throttles are still retried.
    method: 'POST', body, signal: ctx.signal, idempotent: false, label: `POST ${ctx.policy.type} complete`, headers,
  }, async (res) => {
    const text = await readBoundedText(res, MAX_STORAGE_ERROR).catch(() => '');
    // S3 may answer 200 with an <Error> document when completion fails late.
    if (res.status !== 200 || /<Error>/.test(text.slice(0, 200))) throw storageFailure(ctx, `POST ${ctx.policy.type} complete`, res.status === 200 ? 500 : res.status, text);
  });
  // OSS and OBS call the server back themselves; S3, KS3 and COS leave it to the client.
  if (ctx.policy.type === 's3' || ctx.policy.type === 'ks3' || ctx.policy.type === 'cos') {
    await ctx.client.uploadCallback(ctx.policy.type, ctx.session.session_id, ctx.session.callback_secret, 'GET', ctx.signal, ctx.path);
  }
}

/** `<CompleteMultipartUpload>` as the web uploader builds it (api/index.ts encodePartsXML). */
export function completeXml(etags: string[]): string {
  let out = '<CompleteMultipartUpload>';
  etags.forEach((etag, i) => {
    out += `<Part><PartNumber>${i + 1}</PartNumber><ETag>${escapeXml(etag)}</ETag></Part>`;
  });
  return out + '</CompleteMultipartUpload>';
}

function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

// ---- Qiniu: PUT {url}/{n} with UpToken, then POST {url} with the part list ------------------

async function sendQiniu(ctx: FlowContext): Promise<void> {
  const url = firstUrl(ctx);
  const auth = `UpToken ${ctx.session.credential ?? ''}`;
  const etags: string[] = [];
  const count = await eachPart(ctx, ctx.session.chunk_size, concurrencyOf(ctx), async (index, part, signal) => {
    etags[index] = await contentUpload(ctx.scheduler, `${url}/${index + 1}`, {
      method: 'PUT', body: part, length: part.length, signal, idempotent: true, label: 'PUT qiniu part',
      headers: { 'Content-Type': 'application/octet-stream', Authorization: auth },
    }, async (res) => {
      const text = await res.text(MAX_STORAGE_ERROR).catch(() => '');
      if (res.status !== 200) throw storageFailure(ctx, 'PUT qiniu part', res.status, text);
      const etag = (JSON.parse(text) as { etag?: unknown }).etag;
      if (typeof etag !== 'string') throw flowError('EPROTO', `Qiniu answered a part without an etag`, ctx, 'PUT qiniu part', 200);
      return etag;
    });
  });
  const body = JSON.stringify({
    ...(ctx.session.mime_type ? { mimeType: ctx.session.mime_type } : {}),
    parts: etags.slice(0, count).map((etag, i) => ({ etag, partNumber: i + 1 })),
  });
  await httpRequest(ctx.scheduler, url, {
    method: 'POST', body, signal: ctx.signal, idempotent: false, label: 'POST qiniu complete',
    headers: { 'Content-Type': 'application/json', Authorization: auth },
  }, async (res) => {
    const text = await readBoundedText(res, MAX_STORAGE_ERROR).catch(() => '');
    if (res.status !== 200) throw storageFailure(ctx, 'POST qiniu complete', res.status, text);
  });
  // Qiniu calls the server back (`POST /callback/qiniu/{session}/{key}`) before it answers.
}

// ---- Upyun: one multipart/form-data POST (policy, authorization, file) ----------------------

/** Largest file sent as one Upyun form (it is held in memory whole). */
export const MAX_FORM_BYTES = 1024 * 1024 * 1024;

async function sendUpyun(ctx: FlowContext): Promise<void> {
  const url = firstUrl(ctx);
  if (ctx.source.size > MAX_FORM_BYTES) {
    throw flowError('EFBIG', `an Upyun policy takes the file as one form, which cloudmount holds in memory: at most ${MAX_FORM_BYTES} bytes`, ctx, 'POST upyun form');
  }
  // The form holds the whole file (Upyun's form API has no parts): one chunk of the full size.
  await eachPart(ctx, Math.max(1, ctx.source.size), 1, async (_index, file, signal) => {
    const boundary = `----cloudmount${Date.now().toString(16)}${Math.random().toString(16).slice(2)}`;
    const field = (name: string, value: string) => `--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`;
    const head = field('policy', ctx.session.upload_policy ?? '') + field('authorization', ctx.session.credential ?? '')
      + (ctx.session.mime_type ? field('content-type', ctx.session.mime_type) : '')
      + `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="blob"\r\nContent-Type: application/octet-stream\r\n\r\n`;
    // The file goes between its two form parts as it is: no copy of it into one form buffer.
    const parts = [Buffer.from(head), file, Buffer.from(`\r\n--${boundary}--\r\n`)];
    await contentUpload(ctx.scheduler, url, {
      method: 'POST', body: () => Readable.from(parts), length: parts.reduce((n, b) => n + b.length, 0), signal, idempotent: false, label: 'POST upyun form',
      headers: { 'Content-Type': `multipart/form-data; boundary=${boundary}` },
    }, async (res) => {
      const text = await res.text(MAX_STORAGE_ERROR).catch(() => '');
      if (res.status !== 200) throw storageFailure(ctx, 'POST upyun form', res.status, text);
    });
  });
  // Upyun calls the server back (`POST /callback/upyun/{session}/{key}`).
}

function firstUrl(ctx: FlowContext): string {
  const url = ctx.session.upload_urls?.[0];
  if (!url) throw flowError('EPROTO', `the ${ctx.policy.type} upload session has no upload URL`, ctx, 'write');
  return url;
}

// ---- storage errors ---------------------------------------------------------------------------

/** S3-style `<Code>` / OneDrive `"code"` / Qiniu `"error"` of an error body (short, linear scans). */
function errorCodeOf(text: string): { code: string; message: string } {
  const xml = /<Code>([^<]{0,128})<\/Code>/.exec(text);
  const xmlMessage = /<Message>([^<]{0,512})<\/Message>/.exec(text);
  if (xml) return { code: xml[1]!, message: xmlMessage?.[1] ?? '' };
  try {
    const json = JSON.parse(text) as { error?: unknown; code?: unknown; message?: unknown; msg?: unknown };
    if (json && typeof json.error === 'object' && json.error !== null) {
      const e = json.error as { code?: unknown; message?: unknown };
      return { code: String(e.code ?? ''), message: String(e.message ?? '') };
    }
    return { code: String(json.code ?? ''), message: String(json.error ?? json.message ?? json.msg ?? '') };
  } catch {
    return { code: '', message: text.slice(0, 200) };
  }
}

/** The storage's own error answer, as a VfsError with the errno its code means. */
export function storageFailure(ctx: Pick<FlowContext, 'path'>, operation: string, status: number, text: string): VfsError {
  const { code, message } = errorCodeOf(text);
  let errno: ErrnoCode = status >= 500 ? 'EIO' : 'EPROTO';
  let expired = false;
  if (code === 'EntityTooLarge' || status === 413) errno = 'EFBIG';
  else if (code === 'QuotaExceeded' || code === 'quotaLimitReached' || status === 507) errno = 'ENOSPC';
  else if (code === 'AccessDenied' && /expired/i.test(message)) expired = true;
  else if (code === 'ExpiredToken' || code === 'RequestExpired' || code === 'TokenExpired') expired = true;
  else if (code === 'NoSuchUpload' || code === 'itemNotFound' || status === 404) expired = true; // the storage forgot the upload
  else if (code === 'AccessDenied' || code === 'SignatureDoesNotMatch' || status === 401 || status === 403) errno = 'EACCES';
  if (expired) errno = 'ESTALE';
  const err = opError(errno, `HTTP ${status} from the storage${code ? ` (${code}${message ? `: ${message}` : ''})` : ''}`, operation, ctx.path, {
    provider: 'cloudreve', status, providerMessage: `${code} ${message}`.trim().slice(0, 300),
    ...(code ? { providerCode: code } : {}),
  });
  return err;
}
