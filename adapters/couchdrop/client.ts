/**
 * CouchdropClient: typed calls of the Couchdrop file API. Every request goes through one Scheduler
 * (throttle, retry, pause on 429/503). `path` always travels in the query string (the one placement
 * every working client uses for every route), the token in the `token` header.
 */
import type { Readable } from 'node:stream';
import { BodyTooLargeError, readBoundedText } from '../../src/bounded-text.js';
import { VfsError, isVfsError, opError } from '../../src/errors.js';
import { rangeHeader } from '../../src/http/range.js';
import { contentUpload } from '../../src/http/upload.js';
import type { Logger } from '../../src/log.js';
import { silentLogger } from '../../src/log.js';
import { Scheduler } from '../../src/scheduler/index.js';
import type { SchedulerOptions } from '../../src/scheduler/index.js';
import { TokenSource } from './auth.js';
import type { CouchdropCredentials } from './auth.js';
import { couchdropError, providerMessageOf } from './codes.js';
import { checkWireEntry } from './validate.js';
import { DEFAULT_API_URL, DEFAULT_FILEIO_URL, ROUTES, resolveRoutes } from './routes.js';
import type { CouchdropProvisionalRoutes, CouchdropRouteOverrides } from './routes.js';
import type { CouchdropAuthBody, CouchdropLsBody, CouchdropLstatBody, CouchdropWireEntry } from './wire.js';

export interface CouchdropClientOptions {
  /** Management/auth host (default https://api.couchdrop.io). */
  apiUrl?: string;
  /** File host (default https://fileio.couchdrop.io). */
  fileioUrl?: string;
  /** PROVISIONAL rename/delete routes and parameter names (see routes.ts). */
  routes?: CouchdropRouteOverrides;
  /** A Scheduler to share, or options for this client's own one (name defaults to "couchdrop"). */
  scheduler?: Scheduler | SchedulerOptions;
  logger?: Logger;
}

/** Bytes of an upload: a buffer (re-sent as is) or a function making a fresh stream per attempt. */
export type UploadBody = Uint8Array | (() => Readable);

/** A byte range to ask for: `start` to `end` inclusive (to the end of the file when `end` is absent). */
export interface ByteRange {
  start: number;
  end?: number;
}

interface CallSpec {
  /** Base URL: api or fileio host. */
  base: string;
  method: string;
  route: string;
  query: Record<string, string>;
  /** The Vfs path, for errors. */
  path?: string;
  /** A small request body (file content goes through `upload`, over node:http). */
  body?: () => string | URLSearchParams;
  headers?: Record<string, string>;
  /** Safe to send again after a failure that may have reached the server. */
  idempotent: boolean;
  signal?: AbortSignal | undefined;
  /** Statuses handed to `consume` instead of being turned into errors. */
  accept?: number[];
  /** Follow redirects by hand (downloads), dropping the token on a cross-origin hop. */
  manualRedirect?: boolean;
  /** Send the token (everything but /authenticate). */
  auth: boolean;
  /** Per-attempt timeout (default: the Scheduler's). */
  timeoutMs?: number;
}

const MAX_REDIRECTS = 5;

/**
 * An upload attempt includes sending the whole body, so the Scheduler's usual per-attempt timeout
 * (meant for "until the headers arrive") would cut large uploads off. Allow a minute plus the time
 * the body takes at a slow 64 KiB/s.
 */
export function uploadTimeoutMs(size: number): number {
  return 60_000 + Math.ceil(size / 65_536) * 1000;
}

/** Typed Couchdrop API calls over a Scheduler. */
export class CouchdropClient {
  readonly scheduler: Scheduler;
  readonly apiUrl: string;
  readonly fileioUrl: string;
  readonly routes: CouchdropProvisionalRoutes;
  readonly tokens: TokenSource;
  readonly #log: Logger;

  constructor(credentials: CouchdropCredentials, options: CouchdropClientOptions = {}) {
    this.apiUrl = trimSlash(options.apiUrl ?? DEFAULT_API_URL);
    this.fileioUrl = trimSlash(options.fileioUrl ?? DEFAULT_FILEIO_URL);
    this.routes = resolveRoutes(options.routes);
    this.#log = (options.logger ?? silentLogger).child({ provider: 'couchdrop' });
    // Duck-typed rather than instanceof: a Scheduler from another copy of the package works too.
    const given = options.scheduler;
    this.scheduler = given && typeof (given as Scheduler).run === 'function'
      ? given as Scheduler
      : new Scheduler({ name: 'couchdrop', logger: this.#log, ...(given as SchedulerOptions | undefined) });
    const system = 'username' in credentials ? credentials.system ?? 'cloudmount' : 'cloudmount';
    this.tokens = new TokenSource(credentials, () =>
      'username' in credentials ? this.authenticate(credentials.username, credentials.password, system) : Promise.reject(new Error('no login')),
    );
  }

  /** `POST /authenticate` (form-encoded, as the working client does) → a short-lived token. */
  async authenticate(username: string, password: string, system = 'cloudmount'): Promise<string> {
    let body: CouchdropAuthBody;
    try {
      body = await this.#call({
        base: this.apiUrl, method: 'POST', route: ROUTES.authenticate, query: {}, auth: false, idempotent: true,
        body: () => new URLSearchParams({ username, password, system }),
      }, async (res) => JSON.parse(await readBoundedText(res, 1024 * 1024)) as CouchdropAuthBody);
    } catch (e) {
      throw loginError(e);
    }
    if (typeof body?.token !== 'string' || !body.token) {
      throw new VfsError('EPROTO', 'couchdrop POST /authenticate: the answer holds no token', { provider: 'couchdrop', operation: 'POST /authenticate' });
    }
    this.#log.debug('logged in to couchdrop');
    return body.token;
  }

  /** `POST /file/ls`: the direct children of a folder. */
  async ls(path: string, signal?: AbortSignal): Promise<CouchdropWireEntry[]> {
    const body = await this.#json<CouchdropLsBody>(ROUTES.ls, path, signal);
    if (!body || !Array.isArray(body.ls)) throw protocolError(ROUTES.ls, path, `no "ls" array${saying(body)}`);
    return body.ls.map((w, i) => checkWireEntry(w, `listing entry ${i}`, (what) => protocolError(ROUTES.ls, path, what)));
  }

  /** `POST /file/lstat`: one file or folder. */
  async lstat(path: string, signal?: AbortSignal): Promise<CouchdropWireEntry> {
    const body = await this.#json<CouchdropLstatBody>(ROUTES.lstat, path, signal);
    if (!body || typeof body.lstat !== 'object' || body.lstat === null) throw protocolError(ROUTES.lstat, path, `no "lstat" object${saying(body)}`);
    return checkWireEntry(body.lstat, 'the entry', (what) => protocolError(ROUTES.lstat, path, what));
  }

  /**
   * `POST /file/download`: the response, headers received, body not yet read (200, 206 or 416).
   * A `Range` header is sent when `range` is given; the service may ignore it and answer 200.
   */
  async download(path: string, range: ByteRange | undefined, signal?: AbortSignal): Promise<Response> {
    const headers: Record<string, string> = {};
    if (range) headers.range = rangeHeader(range.start, range.end);
    return this.#call({
      base: this.fileioUrl, method: 'POST', route: ROUTES.download, query: { path }, path, headers, signal,
      idempotent: true, accept: range ? [416] : [], manualRedirect: true, auth: true,
    }, async (res) => res);
  }

  /** `POST /file/upload?path=&size=&modtime=`: the raw bytes; replaces an existing file. */
  async upload(path: string, body: UploadBody, size: number, modtime: number | undefined, signal?: AbortSignal): Promise<void> {
    const query: Record<string, string> = { path, size: String(size) };
    if (modtime !== undefined) query.modtime = String(modtime);
    const url = new URL(this.fileioUrl + ROUTES.upload);
    for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v);
    const operation = `POST ${ROUTES.upload}`;
    const refusal = (status: number, text: string) => couchdropError(status, providerMessageOf(text), { operation, path });
    // node:http with the bytes or the spool file's stream as they are (src/http/upload.ts), not fetch.
    await this.#authorized(true, (token) => contentUpload(this.scheduler, url, {
      method: 'POST', body, length: size, signal, label: operation, timeoutMs: uploadTimeoutMs(size),
      // Re-sending a whole upload cannot do harm: it writes the same bytes to the same path.
      idempotent: true,
      headers: { accept: 'application/json', 'content-type': 'application/octet-stream', ...(token !== undefined ? { token } : {}) },
      statusError: refusal,
    }, async (res) => {
      const text = await res.text(64 * 1024).catch(() => '');
      if (res.status < 200 || res.status >= 300) throw refusal(res.status, text);
    }));
  }

  /** `POST /file/mkdir?path=`: one level. */
  async mkdir(path: string, signal?: AbortSignal): Promise<void> {
    // Not idempotent: a repeat after a lost answer would see "already exists".
    await this.#call({ base: this.fileioUrl, method: 'POST', route: ROUTES.mkdir, query: { path }, path, signal, idempotent: false, auth: true }, drain);
  }

  /** PROVISIONAL rename/move: full old and new paths on the configured route. */
  async rename(from: string, to: string, signal?: AbortSignal): Promise<void> {
    const r = this.routes.rename;
    await this.#call({
      base: this.fileioUrl, method: r.method, route: r.path, query: { [r.fromParam]: from, [r.toParam]: to }, path: from, signal,
      idempotent: false, auth: true,
    }, drain);
  }

  /** PROVISIONAL delete of a file or folder on the configured route. */
  async delete(path: string, signal?: AbortSignal): Promise<void> {
    const r = this.routes.delete;
    await this.#call({
      base: this.fileioUrl, method: r.method, route: r.path, query: { [r.pathParam]: path }, path, signal, idempotent: false, auth: true,
    }, drain);
  }

  #json<T>(route: string, path: string, signal: AbortSignal | undefined): Promise<T> {
    return this.#call({ base: this.fileioUrl, method: 'POST', route, query: { path }, path, signal, idempotent: true, auth: true }, async (res) => {
      let text: string;
      try {
        text = await readBoundedText(res);
      } catch (e) {
        if (e instanceof BodyTooLargeError) throw protocolError(route, path, e.message);
        throw e;
      }
      try {
        return JSON.parse(text) as T;
      } catch (e) {
        // A body cut short or a proxy's page: worth another try on these read-only routes.
        throw protocolError(route, path, 'the answer is not JSON', e, true);
      }
    });
  }

  /**
   * One API call through the Scheduler. A non-2xx answer becomes the error table's VfsError (retried
   * when the table says so). A 403 in login mode renews the token once and tries again; a second 403,
   * or any 403 with a static token, is final EACCES.
   */
  async #call<T>(spec: CallSpec, consume: (res: Response) => Promise<T>): Promise<T> {
    const operation = `${spec.method} ${spec.route}`;
    const url = new URL(spec.base + spec.route);
    for (const [k, v] of Object.entries(spec.query)) url.searchParams.set(k, v);
    return this.#authorized(spec.auth, (token) => this.scheduler.run(async (_n, signal) => {
      const res = await this.#send(url, spec, token, signal);
      if (!res.ok && !spec.accept?.includes(res.status)) {
        const text = await readBoundedText(res, 64 * 1024).catch(() => '');
        throw couchdropError(res.status, providerMessageOf(text), { operation, ...(spec.path !== undefined ? { path: spec.path } : {}) });
      }
      try {
        return await consume(res);
      } catch (e) {
        await res.body?.cancel().catch(() => undefined);
        throw e;
      }
    }, { signal: spec.signal, idempotent: spec.idempotent, label: operation, ...(spec.timeoutMs !== undefined ? { timeoutMs: spec.timeoutMs } : {}) }));
  }

  /** Run `send` with the token (when `auth`); a 403 to a login token renews it and runs `send` once more. */
  async #authorized<T>(auth: boolean, send: (token: string | undefined) => Promise<T>): Promise<T> {
    let renewed = false;
    for (;;) {
      const token = auth ? await this.tokens.get() : undefined;
      try {
        return await send(token);
      } catch (e) {
        if (token !== undefined && !renewed && this.tokens.renewable && isVfsError(e, 'EACCES') && e.details.status === 403) {
          renewed = true;
          this.#log.info('couchdrop answered 403 with a login token: logging in again once');
          await this.tokens.renew(token);
          continue;
        }
        throw e;
      }
    }
  }

  /** One HTTP exchange; downloads follow redirects by hand so the token never goes to another origin. */
  async #send(url: URL, spec: CallSpec, token: string | undefined, signal: AbortSignal): Promise<Response> {
    const headers: Record<string, string> = { accept: 'application/json, application/octet-stream', ...spec.headers };
    if (token !== undefined) headers.token = token;
    const body = spec.body?.();
    // A download's body is read after the Scheduler's attempt ended (and unlinked the caller's signal
    // from the attempt's): the caller's signal must reach the body directly, or an abort would not stop it.
    const fetchSignal = spec.manualRedirect && spec.signal ? AbortSignal.any([signal, spec.signal]) : signal;
    const init: RequestInit = { method: spec.method, headers, signal: fetchSignal, redirect: spec.manualRedirect ? 'manual' : 'follow' };
    if (body !== undefined) init.body = body;
    let res = await fetch(url, init);
    let at = url;
    for (let hop = 0; spec.manualRedirect && hop < MAX_REDIRECTS && isRedirect(res.status); hop++) {
      const location = res.headers.get('location');
      if (!location) break;
      await res.body?.cancel().catch(() => undefined);
      const next = new URL(location, at);
      // A storage URL on another origin is signed by itself: Couchdrop's token must not go there.
      const nextHeaders = { ...headers };
      if (next.origin !== url.origin) delete nextHeaders.token;
      const method = res.status === 303 ? 'GET' : spec.method;
      res = await fetch(next, { method, headers: nextHeaders, signal: fetchSignal, redirect: 'manual' });
      at = next;
    }
    return res;
  }
}

/** Clearer words for the two documented login refusals. */
function loginError(e: unknown): unknown {
  if (!isVfsError(e, 'EACCES')) return e;
  const why = e.details.status === 401
    ? 'two-factor authentication is required for this user; use a long-lived API token (Admin → API tokens) instead'
    : 'login refused (wrong username or password, or the account may not use the API)';
  return new VfsError('EACCES', `couchdrop POST /authenticate: ${why}`, { ...e.details, cause: e });
}

function isRedirect(status: number): boolean {
  return status === 301 || status === 302 || status === 303 || status === 307 || status === 308;
}

async function drain(res: Response): Promise<void> {
  await res.arrayBuffer().catch(() => undefined);
}

function protocolError(route: string, path: string, what: string, cause?: unknown, retryable = false): VfsError {
  return opError('EPROTO', `unexpected answer from couchdrop: ${what}`, `POST ${route}`, path, {
    provider: 'couchdrop', retryable, ...(cause !== undefined ? { cause } : {}),
  });
}

/** ", the answer says: …" when a 200 body carries an error message instead of data. */
function saying(body: unknown): string {
  const b = (typeof body === 'object' && body !== null ? body : {}) as { error?: unknown; err?: unknown; message?: unknown };
  const message = [b.error, b.err, b.message].find((m) => typeof m === 'string' && m !== '') as string | undefined;
  return message ? ` (the answer says: ${message.slice(0, 200)})` : '';
}

function trimSlash(url: string): string {
  return url.replace(/\/+$/, '');
}
