/**
 * A Couchdrop emulator: the api routes (`/authenticate`) and the fileio routes (`/file/*`) on ONE
 * node:http server, so the adapter's `apiUrl` and `fileioUrl` are both the emulator's url.
 * It follows docs/api couchdrop.md §8, with knobs for rate limits, injected faults and the reference's
 * open questions (`"size:"`, ranges, not-found status, mkdir-on-existing, the provisional routes).
 */
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import type { MemoryVfs } from '../../memory/index.js';
import { resolveRoutes, ROUTES } from '../routes.js';
import type { CouchdropRouteOverrides } from '../routes.js';
import { FaultInjector } from './faults.js';
import type { FaultKind, FaultRule } from './faults.js';
import * as files from './file-routes.js';
import type { FileRequest, FileRouteSettings, Reply } from './file-routes.js';
import { parseParams, readSmallBody } from './params.js';
import { TokenBuckets } from './rate-limit.js';
import type { RateLimitOptions } from './rate-limit.js';
import type { RequestLogEntry } from './request-log.js';
import { createStore } from './seed.js';
import type { CouchdropSeed } from './seed.js';
import { TokenRegistry } from './tokens.js';
import type { EmulatorStaticToken, EmulatorUser, TokenPermissions } from './tokens.js';

export interface CouchdropEmulatorOptions {
  /** Interface to listen on (default 127.0.0.1; the port is always ephemeral unless given). */
  host?: string;
  port?: number;
  /** Initial content: a JSON tree, `{ directory }` to copy a local folder, or `'demo'`. Default empty. */
  seed?: CouchdropSeed;
  /** The default static (long-lived) token; generated when absent. */
  token?: string;
  /** Permissions of the default static token (default: everything). */
  permissions?: TokenPermissions;
  /** More static tokens, e.g. a read-only one. */
  tokens?: EmulatorStaticToken[];
  /** The default login user; generated when absent. */
  username?: string;
  password?: string;
  /** Permissions of login tokens issued to the default user. */
  userPermissions?: TokenPermissions;
  /** More users (e.g. one with `twoFactor: true`). */
  users?: EmulatorUser[];
  /** Lifetime of tokens from `/authenticate` (default 15 min; "only exist for a short period"). */
  loginTokenTtlMs?: number;
  /** Accept the legacy `?token=` query parameter as well as the `token` header (default true). */
  tokenInQuery?: boolean;
  /** Per-token token bucket; excess requests get 429 without Retry-After. Default: no limit. */
  rateLimit?: RateLimitOptions;
  /** Injected 429/503/500/422 answers and slow replies. */
  faults?: FaultRule[];
  /** Seed of the random source behind `probability` faults (default 1). */
  randomSeed?: number;
  /** Delay added to every reply, in ms (default 0). */
  latencyMs?: number;
  /** Size key in ls/lstat entries: `size` (default) or the docs' literal `"size:"`. */
  sizeKey?: 'size' | 'size:';
  /** Serve `Range` requests with 206 (default false: undocumented). */
  rangeRequests?: boolean;
  /** Status for a missing path (default 404). */
  notFoundStatus?: 404 | 422;
  /** Downloads answer 302 to a signed storage URL: `same-origin`, `cross-origin` (a second port), or `none` (default). */
  downloadRedirect?: 'none' | 'same-origin' | 'cross-origin';
  /** Answer to mkdir on an existing path (default 422 `{"error":"folder already exists"}`). */
  mkdirExisting?: { status: number; error: string };
  /** ls of a file: 422 `not a folder` (`error`, default) or a one-entry listing (`self`). */
  lsOfFile?: 'error' | 'self';
  /** Delete of a non-empty folder: `recursive` (default) or `refuse` with 422. */
  deleteNonEmpty?: 'recursive' | 'refuse';
  /** Refuse an upload whose body length differs from its `size` (default true). */
  strictSize?: boolean;
  /**
   * PROVISIONAL rename/delete routes and parameter names (defaults `POST /file/rename?path=&new_path=`
   * and `POST /file/delete?path=`); give the adapter the same values.
   */
  routes?: CouchdropRouteOverrides;
}

/** A running emulator. */
export interface CouchdropEmulator {
  /** Base URL, e.g. `http://127.0.0.1:40123`: use it as both `apiUrl` and `fileioUrl`. */
  url: string;
  apiUrl: string;
  fileioUrl: string;
  /** The default static token. */
  token: string;
  /** The default login user. */
  username: string;
  password: string;
  /** Every request so far, in arrival order. */
  log: RequestLogEntry[];
  /** The file store behind the API (inspect or change it directly in tests). */
  store: MemoryVfs;
  /** Behaviour switches; change them at run time. */
  settings: FileRouteSettings;
  /** Issued and static tokens. */
  tokens: TokenRegistry;
  /** Replace the fault rules (their counters restart). */
  setFaults(rules: FaultRule[]): void;
  /** Change or remove (undefined) the rate limit. */
  setRateLimit(options: RateLimitOptions | undefined): void;
  /** Expire every login token issued so far; returns how many were live. */
  expireLoginTokens(): number;
  /** Forget the request log. */
  clearLog(): void;
  /** Stop listening and drop open connections. */
  close(): Promise<void>;
}

type Handler = (r: FileRequest) => Promise<Reply>;

/** Start an emulator on an ephemeral loopback port. */
export async function startCouchdropEmulator(options: CouchdropEmulatorOptions = {}): Promise<CouchdropEmulator> {
  const store = await createStore(options.seed);
  const token = options.token ?? `cds-${randomBytes(16).toString('hex')}`;
  const username = options.username ?? 'emulator-user';
  const password = options.password ?? `pw-${randomBytes(12).toString('hex')}`;
  const tokens = new TokenRegistry(
    [{ token, ...(options.permissions ? { permissions: options.permissions } : {}) }, ...(options.tokens ?? [])],
    [{ username, password, ...(options.userPermissions ? { permissions: options.userPermissions } : {}) }, ...(options.users ?? [])],
    options.loginTokenTtlMs ?? 15 * 60_000,
  );
  const settings: FileRouteSettings = {
    sizeKey: options.sizeKey ?? 'size',
    rangeRequests: options.rangeRequests ?? false,
    notFoundStatus: options.notFoundStatus ?? 404,
    mkdirExisting: options.mkdirExisting ?? { status: 422, error: 'folder already exists' },
    lsOfFile: options.lsOfFile ?? 'error',
    deleteNonEmpty: options.deleteNonEmpty ?? 'recursive',
    strictSize: options.strictSize ?? true,
    routes: resolveRoutes(options.routes),
    downloadRedirect: options.downloadRedirect ?? 'none',
  };
  const faults = new FaultInjector(options.faults ?? [], options.randomSeed ?? 1);
  let buckets = options.rateLimit ? new TokenBuckets(options.rateLimit) : undefined;
  const tokenInQuery = options.tokenInQuery ?? true;
  const latencyMs = options.latencyMs ?? 0;
  const log: RequestLogEntry[] = [];
  let seq = 0;
  /** Signed storage URLs handed out by redirected downloads: nonce → store path. */
  const signed = new Map<string, { path: string; expires: number }>();
  let url = '';
  let storageOrigin = '';
  const storageUrl = (storePath: string) => {
    const nonce = randomBytes(12).toString('hex');
    signed.set(nonce, { path: storePath, expires: Date.now() + 60_000 });
    return `${settings.downloadRedirect === 'cross-origin' ? storageOrigin : url}/storage/${nonce}`;
  };

  /** `/storage/<nonce>`: the bytes behind a signed URL; no token needed (the URL is the credential). */
  const serveSigned = async (req: IncomingMessage, route: string, entry: RequestLogEntry): Promise<Reply> => {
    entry.sentToken = headerToken(req) !== undefined;
    await readSmallBody(req);
    const grant = signed.get(route.slice('/storage/'.length));
    if (!grant || grant.expires < Date.now()) return { status: 403, json: { error: 'signature expired or invalid' } };
    let size: number;
    try {
      size = (await store.stat(grant.path)).size;
    } catch {
      return { status: 404, json: { error: 'no such file or folder' } };
    }
    return files.serveBytes(store, grant.path, size, settings.rangeRequests, req.headers.range);
  };

  /** Route table, rebuilt per request so changes to the provisional routes apply at once. */
  const fileRoute = (method: string, route: string): Handler | undefined => {
    const r = settings.routes;
    if (route === r.rename.path && method === r.rename.method) return files.rename;
    if (route === r.delete.path && method === r.delete.method) return files.remove;
    if (method === 'POST' || (method === 'GET' && route === ROUTES.download)) {
      switch (route) {
        case ROUTES.ls: return files.ls;
        case ROUTES.lstat: return files.lstat;
        case ROUTES.download: return files.download;
        case ROUTES.upload: return files.upload;
        case ROUTES.mkdir: return files.mkdir;
      }
    }
    return undefined;
  };

  const handle = async (req: IncomingMessage, entry: RequestLogEntry): Promise<Reply> => {
    const url = new URL(req.url ?? '/', 'http://emulator.invalid');
    const method = req.method ?? 'GET';
    if (url.pathname.startsWith('/storage/')) return serveSigned(req, url.pathname, entry);
    const isUpload = url.pathname === ROUTES.upload;
    // An upload's body is the file; every other route may carry its parameters in the body.
    let params: Map<string, string>;
    if (isUpload) {
      params = new Map(url.searchParams);
    } else {
      const body = await readSmallBody(req);
      entry.bytesIn = body.length;
      try {
        params = await parseParams(url, req.headers['content-type'], body);
      } catch {
        return { status: 400, json: { error: 'could not parse the request parameters' } };
      }
    }
    if (params.has('path')) entry.path = params.get('path')!;
    if (isUpload && params.get('size')) entry.sizeParam = Number(params.get('size'));
    if (req.headers.range) entry.range = req.headers.range;
    const early = async (reply: Reply) => {
      if (isUpload) await files.drainUpload(req, entry);
      return reply;
    };

    const isAuth = url.pathname === ROUTES.authenticate && method === 'POST';
    const handler = isAuth ? undefined : fileRoute(method, url.pathname);
    if (!isAuth && !handler) return early({ status: 404, json: { error: 'no such route' } });

    const { status: fault, delayMs } = faults.decide(url.pathname);
    if (delayMs + latencyMs > 0) await sleep(delayMs + latencyMs);
    if (fault) entry.fault = fault.kind;
    if (fault?.kind === 'reset') {
      if (url.pathname !== ROUTES.download) {
        // Take half of an upload (the client is mid-send), then hang up.
        if (isUpload) await files.readSome(req, entry, Math.floor((entry.sizeParam ?? 0) / 2));
        return { status: 0, reset: true };
      }
    } else if (fault) {
      return early(faultReply(fault.kind, fault.message));
    }

    const tokenValue = headerToken(req) ?? (tokenInQuery ? params.get('token') : undefined);
    if (buckets && !buckets.take(tokenValue ?? 'anonymous')) {
      entry.rateLimited = true;
      // No Retry-After: the reference documents none.
      return early({ status: 429, json: { error: 'rate limit exceeded, slow down' } });
    }

    if (isAuth) {
      const result = tokens.authenticate(params.get('username'), params.get('password'));
      if (result.status === 200) return { status: 200, json: { token: result.token } };
      return { status: result.status, json: { error: result.status === 401 ? '2FA required' : 'Access Denied' } };
    }

    const found = tokens.lookup(tokenValue);
    entry.auth = found.ok ? found.kind : tokenValue ? 'invalid' : 'none';
    if (!found.ok) return early({ status: 403, json: { error: 'you do not have the right permissions' } });
    const reply = await handler!({ params, permissions: found.permissions, req, log: entry, store, settings, storageUrl });
    // An injected reset on a download: headers and half the body go out, then the connection drops.
    if (fault?.kind === 'reset' && 'stream' in reply) reply.breakAfter = Math.floor(reply.length / 2);
    return reply;
  };

  const onRequest = (req: IncomingMessage, res: ServerResponse) => {
    const started = performance.now();
    const entry: RequestLogEntry = {
      seq: ++seq, method: req.method ?? 'GET', route: (req.url ?? '/').split('?')[0]!, status: 0, bytesIn: 0, bytesOut: 0, auth: 'none', ms: 0,
    };
    log.push(entry);
    handle(req, entry)
      .catch(async (e: unknown) => {
        // Anything unexpected is the documented generic 500 (after letting an upload finish sending).
        if (process.env.COUCHDROP_EMULATOR_DEBUG) console.error('couchdrop emulator:', e);
        if (!req.complete) await files.drainUpload(req, entry);
        return files.serverError();
      })
      .then((reply) => send(res, reply, entry))
      .catch(() => res.destroy())
      .finally(() => {
        entry.ms = performance.now() - started;
      });
  };
  const server = await listen(onRequest, options.host ?? '127.0.0.1', options.port ?? 0);
  url = originOf(server);
  // A second port is a second origin: where `cross-origin` redirects send downloads.
  const storageServer = settings.downloadRedirect === 'cross-origin' ? await listen(onRequest, options.host ?? '127.0.0.1', 0) : undefined;
  storageOrigin = storageServer ? originOf(storageServer) : url;

  return {
    url,
    apiUrl: url,
    fileioUrl: url,
    token,
    username,
    password,
    log,
    store,
    settings,
    tokens,
    setFaults: (rules) => faults.setRules(rules),
    setRateLimit: (o) => {
      buckets = o ? new TokenBuckets(o) : undefined;
    },
    expireLoginTokens: () => tokens.expireLoginTokens(),
    clearLog: () => {
      log.length = 0;
    },
    close: async () => {
      await Promise.all([server, storageServer].map((s) => s && new Promise<void>((resolve) => {
        s.close(() => resolve());
        s.closeAllConnections();
      })));
    },
  };
}

async function listen(onRequest: (req: IncomingMessage, res: ServerResponse) => void, host: string, port: number): Promise<Server> {
  const server = createServer(onRequest);
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return server;
}

function originOf(server: Server): string {
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return `http://${host}:${address.port}`;
}

function headerToken(req: IncomingMessage): string | undefined {
  const value = req.headers.token; // node lower-cases header names, so this is case-insensitive
  return Array.isArray(value) ? value[0] : value || undefined;
}

function faultReply(kind: Exclude<FaultKind, 'slow' | 'reset'>, message: string | undefined): Reply {
  switch (kind) {
    case 429: return { status: 429, json: { error: 'rate limit exceeded, slow down' } };
    case 503: return { status: 503, json: { error: 'service at capacity, try again shortly' } };
    case 500: return files.serverError();
    case 422: return { status: 422, json: { error: message ?? 'upstream storage provider error: googledrive: backendError (quota exceeded for user)' } };
  }
}

/** Write `reply`, counting the bytes sent into the log entry. */
async function send(res: ServerResponse, reply: Reply, entry: RequestLogEntry): Promise<void> {
  entry.status = reply.status;
  if ('reset' in reply) {
    res.socket?.destroy();
    return;
  }
  if ('json' in reply) {
    const body = Buffer.from(JSON.stringify(reply.json));
    res.writeHead(reply.status, { ...reply.headers, 'content-type': 'application/json', 'content-length': body.length });
    res.end(body);
    entry.bytesOut = body.length;
    return;
  }
  res.writeHead(reply.status, { ...reply.headers, 'content-length': reply.length });
  const breakAfter = reply.breakAfter;
  await pipeline(
    reply.stream,
    async function* count(source: AsyncIterable<Buffer>) {
      for await (const chunk of source) {
        if (breakAfter !== undefined && entry.bytesOut + chunk.length >= breakAfter) {
          const part = chunk.subarray(0, breakAfter - entry.bytesOut);
          entry.bytesOut += part.length;
          yield part;
          // Let the partial body reach the client, then drop the connection mid-body.
          await new Promise((resolve) => setTimeout(resolve, 20));
          res.socket?.destroy();
          return;
        }
        entry.bytesOut += chunk.length;
        yield chunk;
      }
    },
    res,
  );
}
