/**
 * `--metrics-addr host:port`: Prometheus metrics (prom-client) of a running share or mount, at
 * /metrics. Sources: the provider Scheduler's events and stats, the CachedVfs counters, the bytes
 * MeteredVfs counted, the WebDAV router's per-request hook, the FUSE operation hook, the spool's
 * pending uploads, and prom-client's default process metrics.
 *
 * Labels are closed sets: an operation is a provider route template (segments that are not plain
 * lowercase words become ":id", and past 64 distinct operations the rest count as "other"), a
 * method is one of the WebDAV methods or OTHER, an outcome "ok" or an errno name, a status a
 * number. No path, file name, user name or secret can reach a label.
 */
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { CachedVfs } from '../src/cache.js';
import type { MeteredVfs } from '../src/metered-vfs.js';
import type { Scheduler } from '../src/scheduler/index.js';
import type { Vfs } from '../src/vfs.js';
import { parseAddr } from './args.js';
import type { CliContext } from './context.js';

export interface MetricsSources {
  scheduler?: Scheduler | undefined;
  metered?: MeteredVfs;
  /** Uploads waiting in the spool (FUSE). */
  pending?: () => Promise<number>;
}

export interface Metrics {
  /** The URL metrics are served at. */
  url: string;
  registry: Registry;
  /** WebDAV router hook (serveWebdav's `onRequest`). */
  webdavRequest: (method: string, status: number, seconds: number) => void;
  /** FUSE hook (mountFuse's `onOperation`). */
  fuseOperation: (op: string, outcome: string, seconds: number) => void;
  /** Report the cache counters of the Vfs a frontend serves (when it is a CachedVfs). */
  watchCache(vfs: Vfs): void;
  close(): Promise<void>;
}

/** Distinct provider operations tracked before the rest are counted as "other". */
export const MAX_OPERATIONS = 64;
const WEBDAV_METHODS = new Set(['OPTIONS', 'GET', 'HEAD', 'PUT', 'DELETE', 'MKCOL', 'COPY', 'MOVE', 'PROPFIND', 'PROPPATCH', 'LOCK', 'UNLOCK']);
const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

/** A provider request label ("GET /file/info", "POST /file/upload/{session}/{index}") as a closed-set operation name. */
export function operationLabel(label: string, known: Set<string>): string {
  const space = label.indexOf(' ');
  const method = space > 0 ? label.slice(0, space) : '';
  const route = space > 0 ? label.slice(space + 1) : label;
  const cleanMethod = /^[A-Z]{1,10}$/.test(method) ? method : '';
  const segments = route.split(/[?#]/)[0]!.split('/').map((s) => (s === '' || /^(?:[a-z][a-z_-]{0,31}|\{[a-z]{1,16}\})$/.test(s) ? s : ':id'));
  const op = `${cleanMethod} ${segments.join('/')}`.trim().slice(0, 80) || 'other';
  if (known.has(op)) return op;
  if (known.size >= MAX_OPERATIONS) return 'other';
  known.add(op);
  return op;
}

/** Start the metrics endpoint. */
export async function startMetrics(ctx: CliContext, addr: string, sources: MetricsSources): Promise<Metrics> {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'cloudmount_' });
  const ops = new Set<string>();

  const providerRequests = new Counter({
    name: 'cloudmount_provider_requests_total', help: 'Provider HTTP requests (attempts) by operation and outcome',
    labelNames: ['operation', 'outcome'] as const, registers: [registry],
  });
  const providerLatency = new Histogram({
    name: 'cloudmount_provider_request_duration_seconds', help: 'Provider request latency by operation',
    labelNames: ['operation'] as const, buckets: LATENCY_BUCKETS, registers: [registry],
  });
  const retries = new Counter({ name: 'cloudmount_provider_retries_total', help: 'Provider requests retried', registers: [registry] });
  const throttled = new Counter({ name: 'cloudmount_provider_throttled_total', help: 'Provider answers 429/503 (throttled)', registers: [registry] });
  const failures = new Counter({ name: 'cloudmount_provider_failures_total', help: 'Provider calls that failed after retries, by errno', labelNames: ['code'] as const, registers: [registry] });
  const scheduler = sources.scheduler;
  new Gauge({
    name: 'cloudmount_provider_pace_requests_per_second', help: 'Request pace learned from the provider throttling (0 = not paced)', registers: [registry],
    collect() {
      const r = scheduler?.stats().rate;
      this.set(typeof r === 'number' && Number.isFinite(r) ? r : 0);
    },
  });
  new Gauge({
    name: 'cloudmount_provider_queue_depth', help: 'Provider calls waiting for a slot or a retry delay', registers: [registry],
    collect() {
      this.set(scheduler?.stats().queued ?? 0);
    },
  });
  new Gauge({
    name: 'cloudmount_provider_in_flight', help: 'Provider requests running now', registers: [registry],
    collect() {
      this.set(scheduler?.stats().inFlight ?? 0);
    },
  });
  new Gauge({
    name: 'cloudmount_provider_queue_wait_seconds', help: 'Total time calls waited for backoff, pauses and pacing', registers: [registry],
    collect() {
      this.set((scheduler?.stats().waitMs ?? 0) / 1000);
    },
  });
  if (scheduler) {
    scheduler.on('response', (e) => {
      const op = operationLabel(e.label, ops);
      providerRequests.inc({ operation: op, outcome: e.ok ? 'ok' : e.status !== undefined ? `http_${Math.floor(e.status / 100)}xx` : 'error' });
      providerLatency.observe({ operation: op }, e.ms / 1000);
    });
    scheduler.on('retry', () => retries.inc());
    scheduler.on('throttle', () => throttled.inc());
    scheduler.on('failure', (e) => failures.inc({ code: /^E[A-Z]{2,15}$/.test(e.code) ? e.code : 'EIO' }));
  }

  const metered = sources.metered;
  new Gauge({
    name: 'cloudmount_transfer_bytes', help: 'File bytes moved since start, by direction (up = accepted from writers, down = handed to readers)',
    labelNames: ['direction'] as const, registers: [registry],
    collect() {
      this.set({ direction: 'up' }, metered?.bytesUp ?? 0);
      this.set({ direction: 'down' }, metered?.bytesDown ?? 0);
    },
  });

  const caches: CachedVfs[] = [];
  const cacheStat = (name: string, help: string, pick: (s: ReturnType<CachedVfs['stats']>) => number) =>
    new Gauge({
      name, help, registers: [registry],
      collect() {
        this.set(caches.reduce((n, c) => n + pick(c.stats()), 0));
      },
    });
  cacheStat('cloudmount_cache_hits', 'Cache hits since start (stat, list, blocks)', (s) => s.hits);
  cacheStat('cloudmount_cache_misses', 'Cache misses since start', (s) => s.misses);
  cacheStat('cloudmount_cache_bytes_served', 'File bytes served from the cache since start', (s) => s.bytesFromCache);
  cacheStat('cloudmount_cache_bytes_fetched', 'File bytes fetched from the provider through the cache since start', (s) => s.bytesFetched);
  cacheStat('cloudmount_cache_block_bytes', 'File bytes held in the block cache now', (s) => s.blockCacheBytes);

  if (sources.pending) {
    const pending = sources.pending;
    new Gauge({
      name: 'cloudmount_pending_uploads', help: 'Uploads kept in the spool, waiting for a retry', registers: [registry],
      async collect() {
        this.set(await pending().catch(() => 0));
      },
    });
  }

  const webdavRequests = new Counter({
    name: 'cloudmount_webdav_requests_total', help: 'WebDAV requests by method and status', labelNames: ['method', 'status'] as const, registers: [registry],
  });
  const webdavLatency = new Histogram({
    name: 'cloudmount_webdav_request_duration_seconds', help: 'WebDAV request latency by method', labelNames: ['method'] as const, buckets: LATENCY_BUCKETS, registers: [registry],
  });
  const fuseOps = new Counter({
    name: 'cloudmount_fuse_operations_total', help: 'FUSE operations by operation and outcome', labelNames: ['op', 'outcome'] as const, registers: [registry],
  });
  const fuseLatency = new Histogram({
    name: 'cloudmount_fuse_operation_duration_seconds', help: 'FUSE operation latency', labelNames: ['op'] as const, buckets: LATENCY_BUCKETS, registers: [registry],
  });

  const { host, port } = parseAddr(addr);
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD' }).end();
      return;
    }
    if (path !== '/metrics') {
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('see /metrics\n');
      return;
    }
    registry.metrics().then(
      (text) => {
        res.writeHead(200, { 'Content-Type': registry.contentType });
        res.end(req.method === 'HEAD' ? undefined : text);
      },
      () => res.writeHead(500).end(),
    );
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) => reject(new Error(`cannot serve metrics on ${addr}: ${e.code ?? e.message}`)));
    server.listen(port, host, () => resolve());
  });
  const bound = server.address();
  const urlHost = host.includes(':') ? `[${host}]` : host;
  const url = `http://${urlHost}:${typeof bound === 'object' && bound ? bound.port : port}/metrics`;
  ctx.out(`metrics at ${url}`);

  return {
    url,
    registry,
    webdavRequest: (method, status, seconds) => {
      const m = WEBDAV_METHODS.has(method) ? method : 'OTHER';
      webdavRequests.inc({ method: m, status: String(status >= 100 && status <= 599 ? status : 0) });
      webdavLatency.observe({ method: m }, seconds);
    },
    fuseOperation: (op, outcome, seconds) => {
      fuseOps.inc({ op, outcome: /^(ok|E[A-Z]{2,15})$/.test(outcome) ? outcome : 'EIO' });
      fuseLatency.observe({ op }, seconds);
    },
    watchCache: (vfs) => {
      if (vfs instanceof CachedVfs) caches.push(vfs);
    },
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}
