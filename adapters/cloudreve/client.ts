/**
 * CloudreveClient: typed calls for the /api/v4 routes the adapter uses. Every HTTP request goes
 * through the account's Scheduler (throttle + retry); this layer adds the envelope, the code table,
 * and the auth dance (Bearer, proactive single-flight refresh, one retry after a 401).
 */
import { BodyTooLargeError, MAX_JSON_BYTES, readBoundedText } from '../../src/bounded-text.js';
import { VfsError, isVfsError } from '../../src/errors.js';
import type { Logger } from '../../src/log.js';
import { silentLogger } from '../../src/log.js';
import { registerSecret, safeUrl } from '../../src/redact.js';
import { contentRequest } from '../../src/http/content.js';
import { contentUpload } from '../../src/http/upload.js';
import { httpRequest } from '../../src/http/fetch.js';
import type { HttpInit } from '../../src/http/fetch.js';
import type { ContentResponse } from '../../src/http/content.js';
import { Scheduler } from '../../src/scheduler/index.js';
import { envelopeError } from './api-error.js';
import { TokenManager } from './auth.js';
import type { CloudreveTokens } from './auth.js';
import { checkFile, checkList } from './validate.js';
import type {
  CapacityResponse, DownloadUrlResponse, Envelope, ExtendedInfo, ShareCreateRequest, ShareListResponse, FileResponse, ListResponse, LoginResponse, TokenPair,
  UploadSessionRequest, UploadSessionResponse,
} from './types.js';

/** Renewals after a 401 before the 401 is the answer. */
const MAX_RENEWALS = 3;

export interface CloudreveClientOptions {
  /** Site root, e.g. https://drive.example.com (no /api/v4). */
  baseUrl: string;
  email?: string;
  password?: string;
  /** Existing tokens; with a password too, a dead refresh token falls back to a login. */
  tokens?: CloudreveTokens;
  /** Asked for a one-time code when the account has two-factor auth. */
  otp?: () => string | Promise<string>;
  /** Share a scheduler (one per account); default: a new one from `schedulerOptions`. */
  scheduler?: Scheduler;
  schedulerOptions?: ConstructorParameters<typeof Scheduler>[0];
  /** Per-request timeout in ms (default: the scheduler's). */
  timeoutMs?: number;
  /** Refresh this long before expiry at most (default 10 min). */
  refreshMarginMs?: number;
  /**
   * Sent as X-Cr-Client-Id on every API request: the change feed leaves out the changes this id
   * made (self-echo), and resumes this id's subscription after a reconnect (events.ts).
   */
  clientId?: string;
  logger?: Logger;
}

interface CallOptions {
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  /** Send the Bearer token (default true). */
  auth?: boolean;
  /** Safe to send twice (default: GET only). */
  idempotent?: boolean;
  signal?: AbortSignal;
  /** Vfs path, for error details. */
  path?: string;
}

/** Largest error body we read from a non-JSON answer. */
const MAX_ERROR_BODY = 2048;

/** Typed Cloudreve v4 API calls over one Scheduler. */
export class CloudreveClient {
  readonly scheduler: Scheduler;
  readonly tokens: TokenManager;
  private readonly api: string;
  private readonly logger: Logger;

  constructor(private readonly options: CloudreveClientOptions) {
    this.api = options.baseUrl.replace(/\/+$/, '').replace(/\/api\/v4$/, '') + '/api/v4';
    this.logger = options.logger ?? silentLogger;
    this.scheduler = options.scheduler ?? new Scheduler({ name: 'cloudreve', logger: this.logger, ...options.schedulerOptions });
    registerSecret(options.password);
    const canLogin = options.email !== undefined && options.password !== undefined;
    if (!canLogin && !options.tokens) {
      throw new VfsError('EINVAL', 'Cloudreve needs email and password, or tokens', { provider: 'cloudreve' });
    }
    this.tokens = new TokenManager(
      {
        ...(canLogin ? { login: () => this.login() } : {}),
        refresh: (rt) => this.refresh(rt),
        ...(options.refreshMarginMs !== undefined ? { refreshMarginMs: options.refreshMarginMs } : {}),
        logger: this.logger,
      },
      options.tokens,
    );
  }

  // ---- auth ----------------------------------------------------------------------------------

  /** POST /session/token (and /session/token/2fa when the server asks for it). */
  private async login(): Promise<TokenPair> {
    const { email, password } = this.options;
    // Resending a password login only opens another session: safe to retry after a reset or 5xx.
    const first = await this.callRaw<LoginResponse | string>('POST', '/session/token', { body: { email, password }, auth: false, idempotent: true }, [203]);
    if (first.code === 203) {
      if (!this.options.otp) {
        throw new VfsError('EACCES', 'this Cloudreve account uses two-factor authentication: pass an `otp` callback or tokens', {
          provider: 'cloudreve', operation: 'login', providerCode: 203,
        });
      }
      const otp = await this.options.otp();
      const second = await this.callRaw<LoginResponse>('POST', '/session/token/2fa', { body: { otp, session_id: first.data }, auth: false, idempotent: false });
      return (second.data as LoginResponse).token;
    }
    return (first.data as LoginResponse).token;
  }

  /** POST /session/token/refresh → the rotated pair (bare, not wrapped in `user`). */
  private async refresh(refreshToken: string): Promise<TokenPair> {
    // Retried after a reset or 5xx: if the lost answer had already rotated the pair, the resend gets
    // 40020 and the token manager logs in again with the password, so a single 502 does not fail the
    // user's operation.
    const env = await this.callRaw<TokenPair>('POST', '/session/token/refresh', { body: { refresh_token: refreshToken }, auth: false, idempotent: true });
    return env.data as TokenPair;
  }

  // ---- files ---------------------------------------------------------------------------------

  /** GET /file: one page of a folder listing. */
  async listPage(uri: string, pageSize: number, nextToken: string | undefined, signal?: AbortSignal, path?: string, page = 0): Promise<ListResponse> {
    const res = await this.call<ListResponse>('GET', '/file', {
      query: { uri, page, page_size: pageSize, order_by: 'name', order_direction: 'asc', next_page_token: nextToken },
      signal, path,
    });
    return checkList(res, { operation: 'GET /file', path });
  }

  /** GET /file/info. */
  async info(uri: string, signal?: AbortSignal, path?: string): Promise<FileResponse> {
    return checkFile(await this.call<FileResponse>('GET', '/file/info', { query: { uri }, signal, path }), { operation: 'GET /file/info', path });
  }

  /** POST /file/create (a folder or an empty file). */
  async create(uri: string, type: 'file' | 'folder', errOnConflict: boolean, signal?: AbortSignal, path?: string): Promise<FileResponse> {
    const res = await this.call<FileResponse>('POST', '/file/create', { body: { uri, type, err_on_conflict: errOnConflict }, idempotent: false, signal, path });
    return checkFile(res, { operation: 'POST /file/create', path });
  }

  /** POST /file/rename: a new name inside the same folder. */
  async rename(uri: string, newName: string, signal?: AbortSignal, path?: string): Promise<FileResponse> {
    const res = await this.call<FileResponse>('POST', '/file/rename', { body: { uri, new_name: newName }, idempotent: false, signal, path });
    return checkFile(res, { operation: 'POST /file/rename', path });
  }

  /** POST /file/move: move (or copy) objects into a folder, keeping their names. */
  async move(uris: string[], dst: string, copy: boolean, signal?: AbortSignal, path?: string): Promise<void> {
    await this.call<void>('POST', '/file/move', { body: { uris, dst, copy }, idempotent: false, signal, path });
  }

  /** DELETE /file: to the trash, or for good with `permanent`. */
  async delete(uris: string[], permanent: boolean, signal?: AbortSignal, path?: string): Promise<void> {
    await this.call<void>('DELETE', '/file', { body: { uris, skip_soft_delete: permanent }, idempotent: false, signal, path });
  }

  /** POST /file/url: a signed, expiring content URL (no Bearer needed to use it). */
  downloadUrl(uri: string, signal?: AbortSignal, path?: string, entity?: string): Promise<DownloadUrlResponse> {
    // download:true makes real content answers carry Content-Disposition, which tells them apart
    // from a JSON error envelope served on the same URL (an expired signature is HTTP 200 + JSON).
    // `entity` picks one version (service/explorer/file.go FileURLService: one URI only).
    return this.call<DownloadUrlResponse>('POST', '/file/url', { body: { uris: [uri], download: true, ...(entity ? { entity } : {}) }, idempotent: true, signal, path });
  }

  /** GET /file/info?extended=true: the file with `extended_info` (its entities: versions are type 0). */
  async infoExtended(uri: string, signal?: AbortSignal, path?: string): Promise<FileResponse & { extended_info?: ExtendedInfo }> {
    return checkFile(await this.call<FileResponse & { extended_info?: ExtendedInfo }>('GET', '/file/info', { query: { uri, extended: true }, signal, path }), { operation: 'GET /file/info', path });
  }

  /** PATCH /file/metadata: set or remove metadata keys (service/explorer/metadata.go). */
  async patchMetadata(uris: string[], patches: Array<{ key: string; value?: string; remove?: boolean }>, signal?: AbortSignal, path?: string): Promise<void> {
    // Setting the same values again does no harm: safe to resend.
    await this.call<void>('PATCH', '/file/metadata', { body: { uris, patches }, idempotent: true, signal, path });
  }

  /** PUT /share: a new share link (the answer is the link, password included for private ones). */
  createShare(req: ShareCreateRequest, signal?: AbortSignal, path?: string): Promise<string> {
    return this.call<string>('PUT', '/share', { body: req, idempotent: false, signal, path });
  }

  /** GET /share: one page of the user's shares (page_size 10–100: service/share/visit.go). */
  listShares(pageSize: number, nextToken: string | undefined, signal?: AbortSignal): Promise<ShareListResponse> {
    return this.call<ShareListResponse>('GET', '/share', { query: { page_size: pageSize, next_page_token: nextToken }, signal });
  }

  /** DELETE /share/{id}. */
  async deleteShare(id: string, signal?: AbortSignal): Promise<void> {
    await this.call<void>('DELETE', `/share/${encodeURIComponent(id)}`, { idempotent: true, signal });
  }

  /** POST /file/restore: trashed objects back to their `sys:restore_uri`. */
  async restore(uris: string[], signal?: AbortSignal, path?: string): Promise<void> {
    await this.call<void>('POST', '/file/restore', { body: { uris }, idempotent: false, signal, path });
  }

  /** GET /file of any URI (the trash: `cloudreve://trash`), one page. */
  async listUri(uri: string, pageSize: number, nextToken: string | undefined, signal?: AbortSignal, path?: string): Promise<ListResponse> {
    return this.listPage(uri, pageSize, nextToken, signal, path);
  }

  /** PUT /file/upload: open an upload session (reserves quota, locks the path). */
  createUploadSession(req: UploadSessionRequest, signal?: AbortSignal, path?: string): Promise<UploadSessionResponse> {
    return this.call<UploadSessionResponse>('PUT', '/file/upload', { body: req, idempotent: false, signal, path });
  }

  /** POST /file/upload/{session}/{index}: one chunk, exact Content-Length. Safe to resend. */
  async uploadChunk(sessionId: string, index: number, chunk: Uint8Array, signal?: AbortSignal, path?: string): Promise<void> {
    await this.call<void>('POST', `/file/upload/${encodeURIComponent(sessionId)}/${index}`, {
      body: chunk, idempotent: true, signal, path,
    });
  }

  /** DELETE /file/upload: abandon a session; the previous version (if any) stays. */
  async cancelUpload(sessionId: string, uri: string, path?: string): Promise<void> {
    await this.call<void>('DELETE', '/file/upload', { body: { id: sessionId, uri }, idempotent: true, path });
  }

  /**
   * The client's half of a storage provider's upload: `GET /callback/{s3|ks3|cos}/{session}/{secret}`
   * or `POST /callback/onedrive/{session}/{secret}` (routers/router.go, callback group). The server
   * then checks the object's size and turns the placeholder into the file. The secret stays out of
   * logs and errors (the operation names the route template only).
   */
  async uploadCallback(policyType: string, sessionId: string, secret: string, method: 'GET' | 'POST', signal?: AbortSignal, path?: string): Promise<void> {
    await this.call<void>(method, `/callback/${encodeURIComponent(policyType)}/${encodeURIComponent(sessionId)}/${encodeURIComponent(secret)}`, {
      idempotent: true, signal, path,
    });
  }

  /** DELETE /file/lock: force-release locks by token (used only for a lock this client itself left behind). */
  async releaseLocks(tokens: string[], path?: string): Promise<void> {
    await this.call<void>('DELETE', '/file/lock', { body: { tokens }, idempotent: true, path });
  }

  /** PUT /file/content: one-shot create or new version of a small file (exact Content-Length). */
  async putContent(uri: string, body: Uint8Array, signal?: AbortSignal, path?: string): Promise<FileResponse> {
    const res = await this.call<FileResponse>('PUT', '/file/content', { query: { uri }, body, idempotent: true, signal, path });
    return checkFile(res, { operation: 'PUT /file/content', path });
  }

  /** GET /user/capacity. */
  capacity(signal?: AbortSignal): Promise<CapacityResponse> {
    return this.call<CapacityResponse>('GET', '/user/capacity', { signal });
  }

  /** GET a signed content URL with an optional Range, without the Authorization header. */
  fetchContent(url: string, range: string | undefined, signal?: AbortSignal): Promise<ContentResponse> {
    const headers: Record<string, string> = {};
    if (range) headers.Range = range;
    // node:http, not fetch: file content is the hot path (src/http/content.ts); still scheduled.
    return contentRequest(this.scheduler, url, { method: 'GET', headers, label: 'GET content', signal, timeoutMs: this.options.timeoutMs });
  }

  /** The X-Cr-Client-Id this client sends (undefined: none). */
  get clientId(): string | undefined {
    return this.options.clientId;
  }

  /** Send `id` from now on (a watching instance switches to its kept id before subscribing). */
  setClientId(id: string): void {
    this.options.clientId = id;
  }

  /**
   * GET /file/events: open the change feed of a folder. Not through the Scheduler (a stream that
   * lives for hours would hold a slot and hit its timeouts); the answer is returned unread, so the
   * caller (events.ts) tells the stream from a JSON envelope by its Content-Type.
   */
  async openEvents(uri: string, signal: AbortSignal): Promise<{ response: Response; token: string }> {
    const token = await this.tokens.accessToken();
    const url = new URL(this.api + '/file/events');
    url.searchParams.set('uri', uri);
    const headers: Record<string, string> = { Authorization: `Bearer ${token}`, Accept: 'text/event-stream' };
    if (this.options.clientId) headers['X-Cr-Client-Id'] = this.options.clientId;
    return { response: await fetch(url, { headers, signal }), token };
  }

  /** Forget tokens; the scheduler is left to its owner. */
  close(): void {
    this.tokens.clear();
  }

  // ---- plumbing ------------------------------------------------------------------------------

  /** An authenticated call: data on code 0; on 401 renew the token and try again (a few times). */
  private async call<T>(method: string, route: string, opts: CallOptions): Promise<T> {
    const auth = opts.auth ?? true;
    for (let attempt = 0; ; attempt++) {
      const token = auth ? { value: await this.tokens.accessToken() } : undefined;
      try {
        const env = await this.callRaw<T>(method, route, opts, [], token);
        return env.data as T;
      } catch (e) {
        // More than once: a request can wait in the Scheduler (backoff, pauses after 429/503) longer
        // than a short-lived token lives, so even the renewed token may have expired on the wire.
        if (token && attempt < MAX_RENEWALS && isVfsError(e) && e.details.providerCode === 401) {
          this.logger.debug('cloudreve: 401, renewing the access token', { route });
          this.tokens.invalidate(token.value);
          continue;
        }
        throw e;
      }
    }
  }

  /** One scheduled request; returns the envelope when its code is 0 or in `accept`. */
  private async callRaw<T>(method: string, route: string, opts: CallOptions, accept: number[] = [], token?: { value: string }): Promise<Envelope<T>> {
    const url = new URL(this.api + route);
    for (const [k, v] of Object.entries(opts.query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
    const headers: Record<string, string> = {};
    if (token) headers.Authorization = `Bearer ${token.value}`;
    if (this.options.clientId) headers['X-Cr-Client-Id'] = this.options.clientId;
    const operation = `${method} ${route.replace(/\/upload\/[^/]+\/\d+$/, '/upload/{session}/{index}').replace(/^\/callback\/([a-z0-9]+)\/.*$/, '/callback/$1/{session}/{secret}')}`;
    const idempotent = opts.idempotent ?? method === 'GET';
    const details = { provider: 'cloudreve', operation, ...(opts.path !== undefined ? { path: opts.path } : {}) };
    // The token goes on when an attempt is really sent (after queueing, pacing and backoff), not when
    // it was queued: a short-lived token otherwise expires while the request waits. Renewing is not
    // done here (it would need a slot of this very queue), a 401 still renews in call().
    const fresh = () => {
      const now = token && this.tokens.peek();
      if (token && now && now !== token.value) {
        token.value = now;
        headers.Authorization = `Bearer ${now}`;
      }
      return headers;
    };
    const timeout = this.options.timeoutMs !== undefined ? { timeoutMs: this.options.timeoutMs } : {};
    if (opts.body instanceof Uint8Array) {
      // File bytes (a chunk, a small file): node:http, sent as the Buffer they are (src/http/upload.ts).
      headers['Content-Type'] = 'application/octet-stream';
      const bytes = opts.body;
      return contentUpload(this.scheduler, url, {
        method, headers: fresh, body: bytes, length: bytes.byteLength, idempotent, label: operation, signal: opts.signal, ...timeout,
      }, async (res) => {
        const text = await res.text(MAX_JSON_BYTES + 1);
        return this.envelopeOf<T>(res.status, Buffer.byteLength(text) > MAX_JSON_BYTES ? undefined : text, url, details, accept);
      });
    }
    let body: string | undefined;
    if (opts.body !== undefined) {
      headers['Content-Type'] = 'application/json';
      body = JSON.stringify(opts.body);
    }
    const init: HttpInit = { method, headers, idempotent, label: operation, ...timeout };
    // The Scheduler calls a body function per attempt, and reads `headers` after it.
    if (token) init.body = () => (fresh(), body ?? null);
    else if (body !== undefined) init.body = body;
    if (opts.signal) init.signal = opts.signal;
    return httpRequest(this.scheduler, url.toString(), init, async (res) => {
      let text: string | undefined;
      try {
        text = await readBoundedText(res, res.status === 200 ? MAX_JSON_BYTES : MAX_ERROR_BODY * 32);
      } catch (e) {
        if (!(e instanceof BodyTooLargeError)) throw e;
        text = undefined;
      }
      return this.envelopeOf<T>(res.status, text, url, details, accept);
    });
  }

  /** The envelope of an answer (text undefined: too large to read); an error for anything else. */
  private envelopeOf<T>(status: number, text: string | undefined, url: URL, details: { provider: string; operation: string; path?: string }, accept: number[]): Envelope<T> {
    const { operation } = details;
    if (text === undefined) {
      // An error page too big to read still says what its status says; a JSON answer that big is no answer.
      if (status !== 200) text = '';
      else throw new VfsError('EPROTO', `${operation}: ${new BodyTooLargeError(MAX_JSON_BYTES).message}; not a Cloudreve answer`, details);
    }
    if (status !== 200) {
      throw new VfsError(status >= 500 || status === 429 ? 'EIO' : 'EPROTO', `${operation}: HTTP ${status} from ${safeUrl(url)}`, {
        ...details, status, providerMessage: text.slice(0, MAX_ERROR_BODY),
        retryable: status >= 500 || status === 429,
      });
    }
    let env: Envelope<T>;
    try {
      env = JSON.parse(text) as Envelope<T>;
      if (typeof env !== 'object' || env === null || typeof env.code !== 'number') throw new Error('no code');
    } catch {
      // A JSON route that answers something else: a body cut short, or a proxy page. Try again.
      // (No `status` detail: the Scheduler would then describe the failure as "HTTP 200" only.)
      throw new VfsError('EPROTO', `${operation}: the answer (HTTP ${status}, ${text.length} bytes) is not a Cloudreve JSON envelope`, {
        ...details, providerMessage: text.slice(0, 200), retryable: true,
      });
    }
    if (env.code !== 0 && !accept.includes(env.code)) throw envelopeError(env, details);
    return env;
  }
}
