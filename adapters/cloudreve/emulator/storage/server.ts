/**
 * The storage providers behind the emulated server's policies, served under `/_storage/` of the same
 * listener: an S3-compatible multipart endpoint (presigned part URLs that sign Content-Length, ETag per
 * part, CompleteMultipartUpload XML checked part by part; OSS's complete-all, COS and OBS the same
 * way), a OneDrive upload session (ordered byte ranges), a remote node's chunk route, Qiniu's
 * part/complete API and Upyun's form POST. A file's content reaches the drive only when the flow's
 * last step runs: the client's callback (s3, ks3, cos, onedrive) or the storage's own call back to
 * the server (remote after its last chunk, oss, obs, qiniu, upyun).
 */
import { createHash, randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { EmuError, emuFail } from '../errors.js';
import { readBody, sendText } from '../http.js';
import type { RequestLogEntry } from '../http.js';
import type { DriveStore, UploadSession } from '../store.js';
import type { EmulatedPolicy } from './policies.js';
import { StorageSigner } from './policies.js';

/** Largest CompleteMultipartUpload / Qiniu complete body read (10 000 parts fit). */
const MAX_COMPLETE_BODY = 2 * 1024 * 1024;

interface Part {
  etag: string;
  data: Buffer;
}

/** What the storage side holds per upload session. */
interface Staged {
  policy: EmulatedPolicy;
  chunkSize: number;
  /** S3-like and Qiniu parts by number (1-based). */
  parts: Map<number, Part>;
  /** OneDrive: next byte expected. */
  next: number;
  /** The finished object (S3-like after complete, OneDrive after the last range): waits for the callback. */
  object?: Buffer;
  /** Presigned URLs stop working at this instant. */
  urlsExpireAt: number;
}

export class EmulatedStorage {
  readonly signer = new StorageSigner();
  readonly staged = new Map<string, Staged>();
  /** Presigned URL lifetime (default: the session's). Tests shorten it to see URLs expire. */
  presignTtlMs: number | undefined;
  /**
   * Throughput of one part request in bytes/s (0 = as fast as the machine goes): a WAN connection's
   * rate is bounded by its window over its round-trip time, which is why storages take parts in
   * parallel. Benchmarks set it; the request's answer waits until its bytes "arrived" at that rate.
   */
  bytesPerSecond = 0;

  constructor(private readonly store: DriveStore) {}

  /**
   * The driver-specific fields of `PUT /file/upload`'s answer for `policy` (each driver's `Token`):
   * s3/ks3/cos/obs/oss → one presigned URL per part and `completeURL`; onedrive → the upload
   * session URL; remote → the node's chunk URL and `credential`; qiniu → the upload URL and its UpToken;
   * upyun → the form URL, `upload_policy` and `credential` (no chunks).
   */
  sessionFields(session: UploadSession, policy: EmulatedPolicy, site: string): Record<string, unknown> {
    const base = `${site}/_storage`;
    const chunkSize = policy.type === 'upyun' ? 0 : session.chunkSize;
    const urlsExpireAt = this.presignTtlMs !== undefined ? Date.now() + this.presignTtlMs : session.expiresAt;
    this.staged.set(session.id, { policy, chunkSize, parts: new Map(), next: 0, urlsExpireAt });
    const sid = session.id;
    switch (policy.type) {
      case 's3': case 'ks3': case 'cos': case 'obs': case 'oss': {
        const uploadId = randomBytes(12).toString('hex');
        const count = session.chunkCount;
        const urls = Array.from({ length: count }, (_, i) => {
          const length = partLength(session, i);
          const path = `/_storage/${policy.type}/${sid}/object`;
          const q = new URLSearchParams({ partNumber: String(i + 1), uploadId, 'X-Amz-Expires': String(urlsExpireAt), 'X-Amz-SignedHeaders': 'content-length;host' });
          q.set('X-Amz-Signature', this.signer.sign(['PUT', path, q.toString(), String(length)]));
          return `${site}${path}?${q}`;
        });
        const path = `/_storage/${policy.type}/${sid}/object`;
        const q = new URLSearchParams({ uploadId, 'X-Amz-Expires': String(urlsExpireAt) });
        q.set('X-Amz-Signature', this.signer.sign(['POST', path, q.toString(), policy.type === 'oss' ? 'yes|true' : '']));
        return { upload_id: uploadId, chunk_size: chunkSize, upload_urls: urls, completeURL: `${site}${path}?${q}` };
      }
      case 'onedrive': {
        const q = new URLSearchParams({ tempauth: this.signer.sign(['onedrive', sid]) });
        return { chunk_size: chunkSize, upload_urls: [`${base}/onedrive/${sid}?${q}`] };
      }
      case 'remote':
        return { chunk_size: chunkSize, upload_urls: [`${base}/remote/api/v4/slave/upload/${sid}`], credential: this.signer.credential(session, 'Bearer') };
      case 'qiniu':
        return {
          chunk_size: chunkSize, upload_id: sid, mime_type: 'application/octet-stream',
          upload_urls: [`${base}/qiniu/buckets/emu/objects/${Buffer.from(sid).toString('base64url')}/uploads/${sid}`],
          credential: this.signer.sign(['qiniu', sid]),
        };
      case 'upyun': {
        const policyDoc = Buffer.from(JSON.stringify({ bucket: 'emu', 'save-key': sid, expiration: Math.floor(session.expiresAt / 1000) })).toString('base64');
        return { chunk_size: 0, upload_urls: [`${base}/upyun/emu`], upload_policy: policyDoc, credential: `UPYUN emu:${this.signer.sign(['upyun', policyDoc])}`, mime_type: 'application/octet-stream' };
      }
      default:
        return {};
    }
  }

  private async pace(started: number, bytes: number): Promise<void> {
    if (this.bytesPerSecond <= 0) return;
    const due = started + (bytes / this.bytesPerSecond) * 1000 - Date.now();
    if (due > 0) await new Promise((r) => setTimeout(r, due));
  }

  /** The session was cancelled or completed: forget its parts. */
  drop(sessionId: string): void {
    this.staged.delete(sessionId);
  }

  /** GET /callback/{s3|ks3|cos}/… and POST /callback/onedrive/…: the object must be complete and of the declared size. */
  clientCallback(type: string, sessionId: string, key: string): void {
    const session = this.store.sessions.get(sessionId);
    if (!session) throw new CallbackError(401, 40011, 'Upload session does not exist or expired');
    if (key !== session.callbackSecret) throw new CallbackError(401, 40020, 'Invalid callback secret');
    const staged = this.staged.get(sessionId);
    if (!staged || staged.policy.type !== type) throw new CallbackError(401, 40006, '');
    const data = staged.object ?? (type === 'onedrive' && staged.next === session.size ? session.buffer : undefined);
    if (!data) throw new CallbackError(400, 40055, 'failed to get uploaded file size: object not found');
    if (data.length !== session.size) throw new CallbackError(400, 40055, `File size not match, expected: ${session.size}, actual: ${data.length}`);
    this.finish(session, data);
  }

  private finish(session: UploadSession, data: Buffer): void {
    this.store.finishSession(session, data);
    this.staged.delete(session.id);
  }

  /** Serve one `/_storage/…` request. Returns the route name for the log, after answering. */
  async handle(req: IncomingMessage, res: ServerResponse, url: URL, entry: RequestLogEntry): Promise<void> {
    const seg = url.pathname.split('/').filter(Boolean).slice(1); // after "_storage"
    const method = (req.method ?? 'GET').toUpperCase();
    const kind = seg[0] ?? '';
    if (['s3', 'ks3', 'cos', 'obs', 'oss'].includes(kind) && seg[2] === 'object') {
      if (method === 'PUT') return this.s3Part(req, res, url, entry, kind, seg[1]!);
      if (method === 'POST') return this.s3Complete(req, res, url, entry, kind, seg[1]!);
    }
    if (kind === 'onedrive' && seg[1]) return this.oneDrive(req, res, url, entry, seg[1]);
    if (kind === 'remote' && method === 'POST' && seg[5]) return this.remoteChunk(req, res, url, entry, seg[5]);
    if (kind === 'qiniu' && seg[6]) return this.qiniu(req, res, entry, method, seg[6], seg[7]);
    if (kind === 'upyun' && method === 'POST') return this.upyun(req, res, entry);
    sendText(res, entry, 404, 'no such storage route');
  }

  private staging(sessionId: string, type: string): { session: UploadSession; staged: Staged } | undefined {
    const session = this.store.sessions.get(sessionId);
    const staged = this.staged.get(sessionId);
    if (!session || !staged || staged.policy.type !== type) return undefined;
    return { session, staged };
  }

  // ---- S3-like --------------------------------------------------------------------------------

  private async s3Part(req: IncomingMessage, res: ServerResponse, url: URL, entry: RequestLogEntry, type: string, sid: string): Promise<void> {
    const q = new URLSearchParams(url.search);
    const signature = q.get('X-Amz-Signature') ?? '';
    q.delete('X-Amz-Signature');
    if (req.headers.authorization) return s3Error(res, entry, 400, 'InvalidArgument', 'Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified');
    if (Number(q.get('X-Amz-Expires')) < Date.now()) return s3Error(res, entry, 403, 'AccessDenied', 'Request has expired');
    const declared = req.headers['content-length'];
    if (declared === undefined) return s3Error(res, entry, 411, 'MissingContentLength', 'You must provide the Content-Length HTTP header.');
    if (this.signer.sign(['PUT', url.pathname, q.toString(), String(declared)]) !== signature) {
      return s3Error(res, entry, 403, 'SignatureDoesNotMatch', 'The request signature we calculated does not match the signature you provided.');
    }
    const found = this.staging(sid, type);
    if (!found || q.get('uploadId') === null) return s3Error(res, entry, 404, 'NoSuchUpload', 'The specified upload does not exist.');
    const n = Number(q.get('partNumber'));
    const started = Date.now();
    const data = await readBody(req, Number(declared), entry);
    await this.pace(started, data.length);
    if (data.length !== Number(declared)) return s3Error(res, entry, 400, 'IncompleteBody', 'You did not provide the number of bytes specified by the Content-Length HTTP header');
    if (found.staged.policy.max_size && data.length > found.staged.policy.max_size) return s3Error(res, entry, 400, 'EntityTooLarge', 'Your proposed upload exceeds the maximum allowed size');
    // A fresh opaque tag per part (S3's is the MD5; hashing every byte would make the emulator, not the
    // network, the bottleneck of the benchmark). Complete checks it by equality, as S3 does.
    const etag = `"${randomBytes(16).toString('hex')}"`;
    found.staged.parts.set(n, { etag, data });
    entry.status = 200;
    res.writeHead(200, { ETag: etag, 'Content-Length': 0 });
    res.end();
  }

  private async s3Complete(req: IncomingMessage, res: ServerResponse, url: URL, entry: RequestLogEntry, type: string, sid: string): Promise<void> {
    const q = new URLSearchParams(url.search);
    const signature = q.get('X-Amz-Signature') ?? '';
    q.delete('X-Amz-Signature');
    if (req.headers.authorization) return s3Error(res, entry, 400, 'InvalidArgument', 'Only one auth mechanism allowed');
    if (Number(q.get('X-Amz-Expires')) < Date.now()) return s3Error(res, entry, 403, 'AccessDenied', 'Request has expired');
    // oss.go presigns x-oss-complete-all and x-oss-forbid-overwrite: sending other values breaks the signature.
    const signedHeaders = type === 'oss' ? `${req.headers['x-oss-complete-all'] ?? ''}|${req.headers['x-oss-forbid-overwrite'] ?? ''}` : '';
    if (this.signer.sign(['POST', url.pathname, q.toString(), signedHeaders]) !== signature) {
      return s3Error(res, entry, 403, 'SignatureDoesNotMatch', 'The request signature we calculated does not match the signature you provided.');
    }
    const found = this.staging(sid, type);
    if (!found) return s3Error(res, entry, 404, 'NoSuchUpload', 'The specified upload does not exist.');
    const { session, staged } = found;
    const body = (await readBody(req, MAX_COMPLETE_BODY, entry)).toString('utf8');
    let order: Part[];
    if (type === 'oss') {
      if (body.length > 0) return s3Error(res, entry, 400, 'InvalidArgument', 'complete-all takes no part list');
      order = [...staged.parts.entries()].sort((a, b) => a[0] - b[0]).map(([, p]) => p);
    } else {
      const parsed = parseCompleteXml(body);
      if (!parsed) return s3Error(res, entry, 400, 'MalformedXML', 'The XML you provided was not well-formed or did not validate against our published schema.');
      order = [];
      let last = 0;
      for (const { number, etag } of parsed) {
        if (number <= last) return s3Error(res, entry, 400, 'InvalidPartOrder', 'The list of parts was not in ascending order.');
        last = number;
        const part = staged.parts.get(number);
        if (!part || part.etag !== etag) return s3Error(res, entry, 400, 'InvalidPart', 'One or more of the specified parts could not be found.');
        order.push(part);
      }
    }
    staged.object = Buffer.concat(order.map((p) => p.data));
    entry.status = 200;
    const xml = `<?xml version="1.0" encoding="UTF-8"?>\n<CompleteMultipartUploadResult><Key>${sid}</Key><ETag>"${randomBytes(16).toString('hex')}-${order.length}"</ETag></CompleteMultipartUploadResult>`;
    if (type === 'oss' || type === 'obs') {
      // The storage calls the server back itself (oss: the presigned `callback`; obs: its callback route).
      try {
        if (staged.object.length !== session.size) emuFail(40055, 'File size not match');
        this.finish(session, staged.object);
      } catch (e) {
        if (!(e instanceof EmuError)) throw e;
        return s3Error(res, entry, 203, 'CallbackFailed', `Error status : 400. ${e.message}`);
      }
    }
    res.writeHead(200, { 'Content-Type': 'application/xml', 'Content-Length': Buffer.byteLength(xml) });
    res.end(xml);
  }

  // ---- OneDrive ---------------------------------------------------------------------------------

  private async oneDrive(req: IncomingMessage, res: ServerResponse, url: URL, entry: RequestLogEntry, sid: string): Promise<void> {
    if (url.searchParams.get('tempauth') !== this.signer.sign(['onedrive', sid]) || req.headers.authorization) {
      return sendJson(res, entry, 401, { error: { code: 'unauthenticated', message: 'bad tempauth (or an Authorization header where none belongs)' } });
    }
    const found = this.staging(sid, 'onedrive');
    if (!found) return sendJson(res, entry, 404, { error: { code: 'itemNotFound', message: 'The upload session was not found' } });
    const { session, staged } = found;
    const method = (req.method ?? 'GET').toUpperCase();
    const expected = () => (staged.next < session.size ? [`${staged.next}-${session.size - 1}`] : []);
    if (method === 'GET') return sendJson(res, entry, 200, { expirationDateTime: new Date(session.expiresAt).toISOString(), nextExpectedRanges: expected() });
    if (method !== 'PUT') return sendJson(res, entry, 405, { error: { code: 'invalidRequest', message: 'method' } });
    const range = /^bytes (\d{1,15})-(\d{1,15})\/(\d{1,15})$/.exec(String(req.headers['content-range'] ?? ''));
    const declared = Number(req.headers['content-length']);
    if (!range || Number(range[3]) !== session.size || !Number.isInteger(declared)) {
      return sendJson(res, entry, 400, { error: { code: 'invalidRequest', message: 'Content-Range and Content-Length are required' } });
    }
    const [start, end] = [Number(range[1]), Number(range[2])];
    if (end - start + 1 !== declared || end >= session.size) return sendJson(res, entry, 400, { error: { code: 'invalidRange', message: 'range and length disagree' } });
    // Fragments over 60 MiB are refused by OneDrive.
    if (declared > 60 * 1024 * 1024) return sendJson(res, entry, 413, { error: { code: 'requestTooLarge', message: 'fragment too large' } });
    if (start !== staged.next) {
      await readBody(req, declared, entry).catch(() => undefined);
      return sendJson(res, entry, 416, { error: { code: 'invalidRange', message: 'The uploaded fragment overlaps with data that has already been received.', innererror: { code: start < staged.next ? 'fragmentOverlap' : 'invalidRange' } } });
    }
    const started = Date.now();
    const data = await readBody(req, declared, entry);
    await this.pace(started, data.length);
    if (data.length !== declared) return sendJson(res, entry, 400, { error: { code: 'invalidRequest', message: 'short body' } });
    data.copy(session.buffer, start);
    staged.next = end + 1;
    if (staged.next === session.size) return sendJson(res, entry, 201, { id: sid, name: session.segments.at(-1), size: session.size });
    return sendJson(res, entry, 202, { expirationDateTime: new Date(session.expiresAt).toISOString(), nextExpectedRanges: expected() });
  }

  // ---- remote node --------------------------------------------------------------------------------

  private async remoteChunk(req: IncomingMessage, res: ServerResponse, url: URL, entry: RequestLogEntry, sid: string): Promise<void> {
    const envelope = (code: number, msg = '') => sendJson(res, entry, 200, { code, msg, data: null });
    const found = this.staging(sid, 'remote');
    if (!found) return envelope(40011, 'Upload session expired or not exist');
    const { session } = found;
    if (req.headers.authorization !== this.signer.credential(session, 'Bearer')) return envelope(40020, 'Invalid sign');
    const index = Number(url.searchParams.get('chunk'));
    if (!Number.isInteger(index) || index < 0 || index >= session.chunkCount) return envelope(40012, 'Chunk index out of range');
    const expected = partLength(session, index);
    if (Number(req.headers['content-length']) !== expected) return envelope(40013, `Invalid Content-Length (expected: ${expected})`);
    const data = await readBody(req, expected, entry);
    try {
      // After the last chunk the node calls the master back (POST /callback/remote/…): the same finalisation.
      if (this.store.writeChunk(session, index, data)) this.staged.delete(sid);
    } catch (e) {
      if (e instanceof EmuError) return envelope(e.code, e.message);
      throw e;
    }
    return envelope(0);
  }

  // ---- Qiniu --------------------------------------------------------------------------------------

  private async qiniu(req: IncomingMessage, res: ServerResponse, entry: RequestLogEntry, method: string, sid: string, partText: string | undefined): Promise<void> {
    const found = this.staging(sid, 'qiniu');
    if (!found) return sendJson(res, entry, 612, { error: 'no such uploadId' });
    const { session, staged } = found;
    if (req.headers.authorization !== `UpToken ${this.signer.sign(['qiniu', sid])}`) return sendJson(res, entry, 401, { error: 'bad token' });
    if (method === 'PUT' && partText) {
      const n = Number(partText);
      const declared = Number(req.headers['content-length']);
      if (!Number.isInteger(n) || n < 1 || n > session.chunkCount || declared !== partLength(session, n - 1)) return sendJson(res, entry, 400, { error: 'invalid part' });
      const data = await readBody(req, declared, entry);
      const etag = createHash('sha1').update(data).digest('base64url');
      staged.parts.set(n, { etag, data });
      return sendJson(res, entry, 200, { etag, md5: createHash('md5').update(data).digest('hex') });
    }
    if (method === 'POST' && !partText) {
      const body = JSON.parse((await readBody(req, MAX_COMPLETE_BODY, entry)).toString('utf8') || '{}') as { parts?: Array<{ etag: string; partNumber: number }> };
      const order: Buffer[] = [];
      let last = 0;
      for (const p of body.parts ?? []) {
        const part = staged.parts.get(p.partNumber);
        if (p.partNumber <= last || !part || part.etag !== p.etag) return sendJson(res, entry, 400, { error: 'invalid part list' });
        last = p.partNumber;
        order.push(part.data);
      }
      const data = Buffer.concat(order);
      if (data.length !== session.size) return sendJson(res, entry, 579, { error: 'callback failed: File size not match' });
      this.finish(session, data); // Qiniu calls /callback/qiniu/… before it answers
      return sendJson(res, entry, 200, { code: 0, data: null, msg: '' });
    }
    sendJson(res, entry, 400, { error: 'bad request' });
  }

  // ---- Upyun --------------------------------------------------------------------------------------

  private async upyun(req: IncomingMessage, res: ServerResponse, entry: RequestLogEntry): Promise<void> {
    const type = String(req.headers['content-type'] ?? '');
    const boundary = /boundary=([^;]{1,200})$/.exec(type)?.[1];
    const limit = Number(req.headers['content-length']);
    if (!boundary || !Number.isFinite(limit) || limit > 1024 * 1024 * 1024) return sendJson(res, entry, 400, { code: 40000, message: 'form required' });
    const form = parseForm(await readBody(req, limit, entry), boundary);
    const policy = form.get('policy')?.toString('utf8') ?? '';
    if (form.get('authorization')?.toString('utf8') !== `UPYUN emu:${this.signer.sign(['upyun', policy])}`) return sendJson(res, entry, 401, { code: 40100, message: 'need authorization' });
    const sid = (JSON.parse(Buffer.from(policy, 'base64').toString('utf8')) as { 'save-key'?: string })['save-key'] ?? '';
    const found = this.staging(sid, 'upyun');
    const file = form.get('file');
    if (!found || !file) return sendJson(res, entry, 400, { code: 40000, message: 'bad form' });
    if (file.length !== found.session.size) return sendJson(res, entry, 400, { code: 40000, message: 'callback: File size not match' });
    this.finish(found.session, file); // Upyun calls /callback/upyun/…
    return sendJson(res, entry, 200, { code: 200, message: 'ok' });
  }
}

/** A callback refused: HTTP status (401 from UseUploadSession, 400 from ProcessCallback) and envelope. */
export class CallbackError extends Error {
  constructor(readonly status: number, readonly code: number, message: string) {
    super(message);
  }
}

function partLength(session: UploadSession, index: number): number {
  const chunk = session.chunkSize > 0 ? session.chunkSize : Math.max(1, session.size);
  return index === session.chunkCount - 1 ? session.size - index * chunk : chunk;
}

/** `<CompleteMultipartUpload><Part><PartNumber>n</PartNumber><ETag>e</ETag></Part>…`; undefined when malformed. */
function parseCompleteXml(body: string): Array<{ number: number; etag: string }> | undefined {
  const trimmed = body.trim();
  if (!trimmed.startsWith('<CompleteMultipartUpload') || !trimmed.endsWith('</CompleteMultipartUpload>')) return undefined;
  const out: Array<{ number: number; etag: string }> = [];
  const re = /<Part>\s*<PartNumber>(\d{1,5})<\/PartNumber>\s*<ETag>([^<]{1,200})<\/ETag>\s*<\/Part>/g;
  let m: RegExpExecArray | null;
  let consumed = 0;
  while ((m = re.exec(trimmed))) {
    out.push({ number: Number(m[1]), etag: m[2]!.replace(/&quot;/g, '"').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&') });
    consumed += m[0].length;
  }
  const inner = trimmed.replace(/^<CompleteMultipartUpload[^>]*>/, '').replace(/<\/CompleteMultipartUpload>$/, '').replace(/\s+/g, '');
  if (out.length === 0 || consumed < inner.length) return undefined;
  return out;
}

/** Fields of a multipart/form-data body by name (the emulator's own client-facing form only). */
function parseForm(body: Buffer, boundary: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  const delimiter = Buffer.from(`--${boundary}`);
  let at = body.indexOf(delimiter);
  while (at >= 0) {
    const start = at + delimiter.length;
    if (body.subarray(start, start + 2).toString() === '--') break;
    const headerEnd = body.indexOf('\r\n\r\n', start);
    if (headerEnd < 0) break;
    const headers = body.subarray(start, headerEnd).toString('utf8');
    const next = body.indexOf(delimiter, headerEnd + 4);
    if (next < 0) break;
    const name = /name="([^"]{1,100})"/.exec(headers)?.[1];
    if (name) out.set(name, body.subarray(headerEnd + 4, next - 2));
    at = next;
  }
  return out;
}

function s3Error(res: ServerResponse, entry: RequestLogEntry, status: number, code: string, message: string): void {
  const xml = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message><RequestId>${randomBytes(8).toString('hex')}</RequestId></Error>`;
  entry.status = status;
  res.writeHead(status, { 'Content-Type': 'application/xml', 'Content-Length': Buffer.byteLength(xml), ...(status === 503 ? { 'Retry-After': '1' } : {}) });
  res.end(xml);
}

/** An S3 error document, for fault injection on storage routes. */
export function sendS3Error(res: ServerResponse, entry: RequestLogEntry, status: number, code: string, message: string): void {
  s3Error(res, entry, status, code, message);
}

function sendJson(res: ServerResponse, entry: RequestLogEntry, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  entry.status = status;
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}
