/**
 * startCloudreveEmulator: a node:http server that behaves like Cloudreve v4 as the reference
 * (shared/api/cloudreve-v4.md) describes it, with knobs for token TTLs, page and chunk sizes,
 * session and URL lifetimes, quota, latency and seeded fault injection, and a request log.
 */
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { SeedTree } from '../../memory/index.js';
import { EmuAuth } from './auth.js';
import { UrlSigner } from './content.js';
import { EmuError } from './errors.js';
import { countBytesOut, sendEnvelope, sendError, sendText } from './http.js';
import type { RequestLogEntry } from './http.js';
import { seededRandom } from '../../../src/seeded-random.js';
import { HANDLED, ROUTES } from './routes/index.js';
import type { RouteSettings } from './routes/index.js';
import { seedStore } from './seed.js';
import { DriveStore } from './store.js';
import { ChangeFeed } from './feed.js';
import type { FeedOptions } from './feed.js';
import { PolicyTable } from './storage/policies.js';
import type { EmulatedPolicy } from './storage/policies.js';
import { EmulatedStorage, sendS3Error } from './storage/server.js';

/** Faults the emulator can inject. "proxy*" are answers of a reverse proxy in front of Cloudreve. */
export type FaultKind =
  | 'slow' // answer after `slowMs`
  | 'reset' // drop the connection (mid-body on content downloads)
  | 'proxy502' | 'proxy503' | 'proxy429' // plain-text HTTP error from a proxy
  | 'code-1' | 'code50001' | 'code50004' // HTTP 200 envelope with that code (JSON routes only)
  | 'storage-slowdown' | 'storage-expired' | 'storage-500'; // S3 error documents on `/_storage/` routes

export interface CloudreveEmulatorOptions {
  /** Login of the single user (default user@example.com). */
  email?: string;
  /** Default: a random password (read it back from the emulator). */
  password?: string;
  /** Enable two-factor login with this one-time code. */
  otp?: string;
  /** Initial content: 'demo', a directory path, or a SeedTree. */
  seed?: 'demo' | string | SeedTree;
  /** Access token lifetime (default 3600 s). */
  accessTtlMs?: number;
  /** Refresh token lifetime (default 14 days). */
  refreshTtlMs?: number;
  /** Page size when the client sends none (default 100). */
  defaultPageSize?: number;
  /** Largest page served (default 2000). */
  maxPageSize?: number;
  /** Cursor pagination (default true) or offset pages with total_items. */
  cursorPagination?: boolean;
  /** Upload chunk size the sessions dictate (default 25 MiB; 0 = relay, whole file as chunk 0). */
  chunkSize?: number;
  /** Upload session lifetime (default 86400 s). */
  sessionTtlMs?: number;
  /** Signed content URL lifetime (default 3600 s). */
  urlTtlMs?: number;
  /** Quota in bytes (default 1 GiB, the "User" group). */
  quota?: number;
  /** Storage policy max_size (default 0 = unlimited). */
  maxFileSize?: number;
  /** Download speed limit of the user's group in bytes/s, as Cloudreve bakes it into content URLs (default 0 = unlimited). */
  downloadSpeed?: number;
  /** Storage policy type (default 'local'); others answer upload sessions with upload_urls. */
  policyType?: string;
  /**
   * Storage policies (the first is the default, the user's group's); when given, `policyType` and
   * `maxFileSize` only shape the default one if it is built from them (i.e. they are ignored here).
   */
  policies?: EmulatedPolicy[];
  /** Folder path ("/s3") → policy id: the folder and everything below it upload to that policy. */
  folderPolicies?: Record<string, string>;
  /** Max bytes of PUT /file/content (default 50 MiB). */
  maxEditSize?: number;
  /** Max URIs per batch call (default 3000). */
  maxBatch?: number;
  /** The admin "site URL" content URLs use (default: this server's URL). */
  siteUrl?: string;
  /** Delay before every answer, in ms. */
  latencyMs?: number;
  /** Random faults: each request gets one with probability `rate`, drawn from `kinds` by a seeded PRNG. */
  faults?: { rate: number; kinds?: FaultKind[]; seed?: number; routes?: RegExp; slowMs?: number };
  /**
   * A reverse proxy's rate limit in front of the server (Cloudreve itself has none): a token bucket
   * answering plain-text 429 with Retry-After when empty.
   */
  proxyRateLimit?: { requestsPerSecond: number; burst?: number };
  /** Keep at most this many log entries (default 100 000). */
  maxLogEntries?: number;
  /** The change feed: debounce (default 5 s), keep-alive (30 s), `enabled: false` answers 40019. */
  feed?: FeedOptions;
  /** Address to bind (default 127.0.0.1). */
  host?: string;
  /** TCP port (default 0: any free port). */
  port?: number;
}

export interface CloudreveEmulator {
  /** Site root to give the client (no /api/v4). */
  url: string;
  email: string;
  password: string;
  /** Every request, in order. */
  log: RequestLogEntry[];
  /** The drive itself (tests may look inside or seed more). */
  store: DriveStore;
  /** Storage policies and folder assignments (assign more with `policies.assign`). */
  policies: PolicyTable;
  /** The emulated storage providers (staged parts; `presignTtlMs` to make URLs expire). */
  storage: EmulatedStorage;
  /** Logins, refreshes, failed refreshes, logouts so far. */
  authStats(): { logins: number; refreshes: number; failedRefreshes: number; logouts: number };
  /** Log entries whose route matches (a string is a prefix of the route template). */
  requests(route?: string | RegExp): RequestLogEntry[];
  /** Response bytes sent for matching routes. */
  bytesOut(route?: string | RegExp): number;
  clearLog(): void;
  /** Inject `kind` into the next `times` requests matching `route`. */
  injectFault(kind: FaultKind, options?: { route?: string | RegExp; times?: number }): void;
  /** The change feed: `debounceMs`, `keepAliveMs`, `enabled` can change on the fly; `dropAll()` is a server restart. */
  feed: ChangeFeed;
  /** Change TTL / size knobs on the fly. */
  settings: RouteSettings & { accessTtlMs: number; latencyMs: number };
  close(): Promise<void>;
}

const MiB = 1024 * 1024;

/** Start an emulator on 127.0.0.1 with an ephemeral port. */
export async function startCloudreveEmulator(options: CloudreveEmulatorOptions = {}): Promise<CloudreveEmulator> {
  const email = options.email ?? 'user@example.com';
  const password = options.password ?? randomBytes(12).toString('base64url');
  const store = new DriveStore({ quota: options.quota ?? 1024 * MiB, maxFileSize: options.maxFileSize ?? 0 });
  if (options.seed !== undefined) seedStore(store, options.seed);
  const feed = new ChangeFeed(options.feed);
  store.onChange = (change) => feed.publish(change);
  const auth = new EmuAuth({
    email, password,
    accessTtlMs: options.accessTtlMs ?? 3_600_000,
    refreshTtlMs: options.refreshTtlMs ?? 1_209_600_000,
    ...(options.otp !== undefined ? { otp: options.otp } : {}),
  });
  const signer = new UrlSigner(randomBytes(32));
  const policies = new PolicyTable(
    options.policies ?? [{ id: 'oeNf', name: 'Default storage policy', type: (options.policyType ?? 'local') as EmulatedPolicy['type'], max_size: options.maxFileSize ?? 0, chunk_concurrency: 1 }],
    options.folderPolicies,
  );
  const storage = new EmulatedStorage(store);
  store.onSessionClosed = (id) => storage.drop(id);
  const log: RequestLogEntry[] = [];
  const maxLog = options.maxLogEntries ?? 100_000;
  const random = seededRandom(options.faults?.seed ?? 1);
  const injected: Array<{ kind: FaultKind; route?: string | RegExp; times: number }> = [];
  let baseUrl = '';
  let currentFault: FaultKind | undefined;
  const bucket = options.proxyRateLimit
    ? { tokens: options.proxyRateLimit.burst ?? options.proxyRateLimit.requestsPerSecond, at: Date.now() }
    : undefined;
  /** Take a token from the proxy's bucket; false when it is empty. */
  const admit = (): boolean => {
    const limit = options.proxyRateLimit;
    if (!bucket || !limit) return true;
    const now = Date.now();
    const cap = limit.burst ?? limit.requestsPerSecond;
    bucket.tokens = Math.min(cap, bucket.tokens + ((now - bucket.at) / 1000) * limit.requestsPerSecond);
    bucket.at = now;
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    return true;
  };

  const settings: CloudreveEmulator['settings'] = {
    defaultPageSize: options.defaultPageSize ?? 100,
    maxPageSize: options.maxPageSize ?? 2000,
    chunkSize: options.chunkSize ?? 25 * MiB,
    sessionTtlMs: options.sessionTtlMs ?? 86_400_000,
    urlTtlMs: options.urlTtlMs ?? 3_600_000,
    urlExpiresSkewMs: 0,
    policyType: options.policyType ?? 'local',
    policies,
    storage,
    maxEditSize: options.maxEditSize ?? 50 * MiB,
    maxBatch: options.maxBatch ?? 3000,
    cursorPagination: options.cursorPagination ?? true,
    siteUrl: () => options.siteUrl ?? baseUrl,
    accessTtlMs: auth.options.accessTtlMs,
    latencyMs: options.latencyMs ?? 0,
    downloadSpeed: options.downloadSpeed ?? 0,
    onContentBody: (res: ServerResponse, body: Buffer, bytesPerSecond: number) => {
      if (currentFault === 'reset' && body.length > 1) {
        // Half the bytes, then the connection drops.
        res.write(body.subarray(0, Math.floor(body.length / 2)), () => res.socket?.destroy());
        return;
      }
      if (bytesPerSecond > 0) void sendThrottled(res, body, bytesPerSecond);
      else res.end(body);
    },
  };

  const matches = (route: string, filter: string | RegExp | undefined) =>
    filter === undefined || (typeof filter === 'string' ? route.startsWith(filter) : filter.test(route));

  const pickFault = (route: string): FaultKind | undefined => {
    const i = injected.findIndex((f) => matches(route, f.route));
    if (i >= 0) {
      const f = injected[i]!;
      if (--f.times <= 0) injected.splice(i, 1);
      return f.kind;
    }
    const cfg = options.faults;
    if (!cfg || cfg.rate <= 0 || !matches(route, cfg.routes)) return undefined;
    if (random() >= cfg.rate) return undefined;
    const kinds = cfg.kinds ?? ['slow', 'reset', 'proxy502', 'proxy503', 'code50001'];
    return kinds[Math.floor(random() * kinds.length)];
  };

  const server = createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://emulator');
    const entry: RequestLogEntry = { time: Date.now(), method: req.method ?? 'GET', route: 'unknown', path: url.pathname, status: 0, bytesIn: 0, bytesOut: 0 };
    countBytesOut(res, entry);
    log.push(entry);
    if (log.length > maxLog) log.splice(0, log.length - maxLog);
    let fault: FaultKind | undefined;
    try {
      if (!admit()) {
        entry.fault = 'proxy429';
        const wait = Math.max(1, Math.ceil(1 / (options.proxyRateLimit?.requestsPerSecond ?? 1)));
        sendText(res, entry, 429, '429 Too Many Requests', { 'Retry-After': String(wait) });
        return;
      }
      if (settings.latencyMs > 0) await sleep(settings.latencyMs);
      store.sweepSessions();
      auth.options.accessTtlMs = settings.accessTtlMs;
      const sub = url.pathname.startsWith('/api/v4/') ? url.pathname.slice('/api/v4'.length) : undefined;
      const method = (req.method ?? 'GET').toUpperCase();
      if (url.pathname.startsWith('/_storage/')) {
        // The storage providers: "STORAGE PUT s3", "STORAGE POST s3 complete", "STORAGE PUT onedrive"…
        const kind = url.pathname.split('/')[2] ?? '';
        entry.route = `STORAGE ${method} ${kind}${method === 'POST' && /\/object$/.test(url.pathname) ? ' complete' : ''}`;
        fault = pickFault(entry.route);
        if (fault) {
          entry.fault = fault;
          if (fault === 'slow') await sleep(options.faults?.slowMs ?? 1500);
          else if (fault === 'reset') {
            entry.status = -1;
            req.socket.destroy();
            return;
          } else if (fault === 'storage-slowdown') return sendS3Error(res, entry, 503, 'SlowDown', 'Please reduce your request rate.');
          else if (fault === 'storage-expired') return sendS3Error(res, entry, 403, 'AccessDenied', 'Request has expired');
          else if (fault === 'storage-500' || fault.startsWith('code')) return sendS3Error(res, entry, 500, 'InternalError', 'We encountered an internal error. Please try again.');
          else if (fault.startsWith('proxy')) {
            const status = Number(fault.slice(5));
            sendText(res, entry, status, `<html><body><h1>${status}</h1>proxy error</body></html>`, status === 429 || status === 503 ? { 'Retry-After': '1' } : {});
            return;
          }
        }
        await storage.handle(req, res, url, entry);
        return;
      }
      const found = sub === undefined ? undefined : ROUTES.find((r) => r.method === method && r.pattern.test(sub));
      if (!found || sub === undefined) {
        sendText(res, entry, 404, '404 page not found');
        return;
      }
      entry.route = found.name;
      fault = pickFault(found.name);
      const isContent = found.name.endsWith('/file/content') && found.name !== 'PUT /file/content';
      if (fault) {
        entry.fault = fault;
        if (fault === 'slow') await sleep(options.faults?.slowMs ?? 1500);
        else if (fault === 'reset' && !isContent) {
          entry.status = -1;
          req.socket.destroy();
          return;
        } else if (fault.startsWith('proxy')) {
          const status = Number(fault.slice(5));
          sendText(res, entry, status, `<html><body><h1>${status}</h1>proxy error</body></html>`, status === 429 || status === 503 ? { 'Retry-After': '1' } : {});
          return;
        } else if (fault.startsWith('code') && !isContent) {
          const code = Number(fault.slice(4));
          sendError(res, entry, new EmuError(code, code === -1 ? '' : code === 50001 ? 'Database operation failed' : 'I/O operation failed'));
          return;
        }
      }
      const params = found.pattern.exec(sub)!.slice(1);
      currentFault = fault;
      // The caller's X-Cr-Client-Id (middleware/common.go RequestInfo.ClientID) travels with the
      // request, so the feed can leave its own changes out (dbfs/events.go getEligibleSubscriber).
      const clientId = typeof req.headers['x-cr-client-id'] === 'string' ? req.headers['x-cr-client-id'] : undefined;
      if (clientId !== undefined) entry.clientId = clientId;
      const out = await feed.actor.run(clientId, () => found.handler({ req, res, entry, url, params, store, auth, signer, settings, feed }));
      if (out !== HANDLED) sendEnvelope(res, entry, 0, out);
    } catch (e) {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      // A client-sent X-Cr-Correlation-Id is echoed (middleware/common.go).
      const correlation = req.headers['x-cr-correlation-id'];
      if (e instanceof EmuError) sendError(res, entry, e, typeof correlation === 'string' && correlation ? correlation : undefined);
      else sendText(res, entry, 500, `emulator error: ${e instanceof Error ? e.message : String(e)}`);
    } finally {
      currentFault = undefined;
    }
  });
  server.keepAliveTimeout = 5_000;
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const urlHost = host.includes(':') ? `[${host}]` : host === '0.0.0.0' ? '127.0.0.1' : host;
  baseUrl = `http://${urlHost}:${(server.address() as AddressInfo).port}`;

  return {
    url: baseUrl,
    email,
    password,
    log,
    store,
    policies,
    storage,
    settings,
    feed,
    authStats: () => ({ ...auth.counts }),
    requests: (route) => log.filter((e) => matches(e.route, route)),
    bytesOut: (route) => log.filter((e) => matches(e.route, route)).reduce((n, e) => n + e.bytesOut, 0),
    clearLog: () => {
      log.splice(0);
    },
    injectFault: (kind, o = {}) => {
      injected.push({ kind, ...(o.route !== undefined ? { route: o.route } : {}), times: o.times ?? 1 });
    },
    close: () =>
      new Promise<void>((resolve) => {
        feed.dropAll();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Send `body` at about `bytesPerSecond`, in tenth-of-a-second slices (a token bucket per response). */
async function sendThrottled(res: ServerResponse, body: Buffer, bytesPerSecond: number): Promise<void> {
  const slice = Math.max(1, Math.floor(bytesPerSecond / 10));
  for (let at = 0; at < body.length; at += slice) {
    if (res.destroyed) return;
    res.write(body.subarray(at, Math.min(body.length, at + slice)));
    if (at + slice < body.length) await sleep(100);
  }
  res.end();
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
