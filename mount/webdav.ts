/**
 * The WebDAV frontend: any Vfs as a WebDAV share (class 1 and 2) that real clients trust.
 * `serveWebdav(vfs, options)` starts a node:http server whose every method is answered directly
 * over the Vfs (see mount/webdav/ for the handlers). webdav-server 2.6.3 is not used for any
 * method: measured here, its If-header evaluator passes any non-empty condition list (so its lock
 * enforcement accepts any token), its PROPPATCH crashes the process on more than one property,
 * it crashes on an untagged If list, and it buffers request bodies by their claimed length.
 */
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { Server as TlsServer } from 'node:https';
import { isIP } from 'node:net';
import { tmpdir } from 'node:os';
import { CachedVfs } from '../src/cache.js';
import type { CacheOptions } from '../src/cache.js';
import type { CacheCoherence } from '../src/coordinator/coherence.js';
import { VfsError } from '../src/errors.js';
import { silentLogger } from '../src/log.js';
import type { Logger } from '../src/log.js';
import type { Vfs } from '../src/vfs.js';
import { BasicAuth } from './webdav/auth.js';
import type { WebdavUsers } from './webdav/auth.js';
import { ProxyTrust } from './webdav/proxy.js';
import type { AuthProxyOptions } from './webdav/proxy.js';
import { SubtreeVfs } from '../src/subtree-vfs.js';
import { readOnlyView } from '../src/readonly-vfs.js';
import type { UserDirectory, UserView } from './webdav/users.js';
import type { ServerState } from './webdav/context.js';
import { limitConnections } from './webdav/connections.js';
import { junkMatcher } from './webdav/junk.js';
import { MemoryLockStore } from './webdav/locks.js';
import { SubtreeLockStore } from './webdav/subtree-locks.js';
import { SubtreePropStore } from './webdav/subtree-props.js';
import type { LockStore } from './webdav/locks.js';
import { defaultPropStore } from './webdav/provider-props.js';
import type { DeadPropStore } from './webdav/props.js';
import { protectProcess } from './webdav/protect.js';
import { createRequestListener } from './webdav/router.js';
import { defaultSpoolDir } from './fuse/pending.js';
import { FileWriteBackStore } from './write-back/store.js';
import type { WriteBackStore } from './write-back/store.js';
import { WriteBackVfs } from './write-back/vfs.js';
import type { WriteBackQueueOptions } from './write-back/vfs.js';

export type { WebdavUsers } from './webdav/auth.js';
export { Users, hashVerifier } from './webdav/users.js';
export type { UserDirectory, UserSpec, UserView } from './webdav/users.js';
export type { AuthProxyOptions } from './webdav/proxy.js';
export { DEFAULT_JUNK_PATTERNS } from './webdav/junk.js';
export type { WriteBackQueueOptions } from './write-back/vfs.js';

/** Write-back of a share (`WebdavOptions.writeBack`). */
export interface WebdavWriteBackOptions extends WriteBackQueueOptions {
  /**
   * Folder of the queue's data files and records (default: `spoolDir` when given, else the user's
   * spool folder, ~/.cache/cloudmount/spool, which `cloudmount pending list` reads by default).
   * It must survive a reboot: not a tmpfs.
   */
  dir?: string;
  /** Label of the remote in the records (e.g. "cd:/folder"): only a share of the same remote resumes them. */
  remote?: string;
  /** Another place for the records (a shared job store); default: sidecar files in `dir`. */
  store?: WriteBackStore;
}

/** Options of `serveWebdav`. */
export interface WebdavOptions {
  /** Address to bind (default 127.0.0.1). */
  host?: string;
  /** TCP port; 0 (the default) picks a free one. */
  port?: number;
  /**
   * Basic-auth users: `{ name: password }`, `[{ name, password }]`, or a `Users` directory (htpasswd
   * hashes, per-user root / read-only / hidden system files). No users = no authentication.
   */
  users?: WebdavUsers | UserDirectory;
  /** Trust a user-name header set by an authenticating reverse proxy, from its addresses only. */
  authProxy?: AuthProxyOptions;
  /**
   * Serve HTTPS: PEM certificate chain and key (and `ca` to require client certificates signed by
   * it: mutual TLS). Replace them later with `server.setTls()` (the CLI does on SIGHUP).
   */
  tls?: TlsMaterial;
  /** Called once per finished request (for metrics): method, status, seconds. Never given a path or user. */
  onRequest?: (method: string, status: number, seconds: number) => void;
  /**
   * Refuse every change (403): the Vfs is served through a ReadonlyVfs. A Vfs whose capabilities say
   * read-only is served so anyway.
   */
  readOnly?: boolean;
  /** Hide OS junk files: true (default) for the built-in list, false for none, or your own patterns (`*` wildcard). */
  junkFilter?: boolean | string[];
  /** URL prefix the share lives under, e.g. "/dav" (default: the root). */
  basePath?: string;
  /** Wrap the Vfs in CachedVfs (default true); an object is passed to CachedVfs as its options. */
  cache?: boolean | CacheOptions;
  /** Allow binding a non-loopback address without users (default false: refuse to start). */
  allowUnauthenticatedRemote?: boolean;
  /** Basic-auth realm (default "cloudmount"). */
  realm?: string;
  /** Where chunked uploads are spooled when the Vfs needs a size first (default: the OS temp dir). */
  spoolDir?: string;
  /** Largest XML request body (PROPFIND, PROPPATCH, LOCK), default 1 MiB. */
  maxXmlBytes?: number;
  /**
   * Open connections in total (default 512); beyond it a new connection is closed at once. Each
   * holds a descriptor, socket buffers and its request's stream buffers: 512 is far more than a
   * share's clients open (browsers 6 per host, rclone about 12 by default, davfs2, Finder and
   * Windows a handful) and leaves most of a common 1024-descriptor limit to provider connections,
   * spool and cache files.
   */
  maxConnections?: number;
  /**
   * Open connections per client address (default 128; an IPv6 client counts by its /64): so one
   * client cannot take them all (it gets at most a quarter of the default total). Room for a
   * program running ~100 requests in parallel (Go's and Node's HTTP clients open a connection per
   * parallel request, with no per-host cap by default) or a few users behind one NAT address.
   */
  maxConnectionsPerAddress?: number;
  /**
   * Time for a request's headers to arrive in full, in ms (default 20 000; 408 and close beyond).
   * A real client sends them in one packet; 20 s covers a stalled mobile link.
   */
  headersTimeout?: number;
  /**
   * A request body that receives no byte for this long, in ms, fails its request (nothing is
   * committed: an aborted PUT keeps the old file) and closes the connection (default 60 000). The
   * clock restarts with every byte, so a slow but moving upload of any size succeeds, and it does
   * not run while the server is the one not reading (a slow provider, the failed-login delay).
   */
  bodyIdleTimeout?: number;
  /**
   * A connection on which nothing moves for this long, in ms, is closed (default 600 000): a
   * client that stops reading an answer, or leaves a request unfinished. Not while the server is
   * still working out an answer (a long commit of a big upload).
   */
  idleTimeout?: number;
  /**
   * Keep the process alive: an exception leaked on behalf of a request fails that request, and an
   * unhandled promise rejection is logged, while any server runs. Process-wide listeners are the
   * application's choice, so a library user opts in (the CLI does); default false.
   */
  protectProcess?: boolean;
  logger?: Logger;
  /**
   * Where locks are kept (default: this process's memory). Several instances serving one account
   * share a RedisLockStore (mount/webdav/redis-locks.ts) so a lock taken on one binds them all.
   */
  lockStore?: LockStore;
  /** Where dead properties are kept (default: this process's memory); RedisPropStore shares them. */
  propStore?: DeadPropStore;
  /**
   * Cache coherence with other instances of the same account: every change made here is published,
   * and changes published by others drop the paths from this server's cache at once.
   */
  coherence?: CacheCoherence;
  /**
   * Write-back (`serve webdav --write-back`): a PUT is answered once its body and queue record are
   * durable on local disk; the upload runs in the background (mount/write-back/vfs.ts). Uploads a
   * dead earlier run left queued for the same remote are resumed before the server listens.
   * `true` uses the defaults. Default: off (a PUT is answered after the upload).
   */
  writeBack?: boolean | WebdavWriteBackOptions;
}

/** A running share. */
export interface WebdavServer {
  /** Base URL of the share, ending with "/". */
  url: string;
  port: number;
  /** The Vfs actually served (the CachedVfs wrapper when caching is on). */
  vfs: Vfs;
  /** Stop listening, end open connections, release the process protection. */
  close(): Promise<void>;
  /** Replace the certificate and key (and client CA) for new connections; open ones keep theirs. Throws on a bad pair, keeping the old one. */
  setTls(material: TlsMaterial): void;
  /** Warnings about the configuration (e.g. passwords in clear on a network address). */
  warnings: string[];
  /** The write-back queue, when on: `drain()` uploads what is queued (close() leaves it on disk for the next run). */
  writeBack?: WriteBackVfs;
}

/** PEM material of an HTTPS share. */
export interface TlsMaterial {
  cert: string | Buffer;
  key: string | Buffer;
  /** Client certificates must be signed by this CA (mutual TLS). */
  ca?: string | Buffer;
}

/** Serve `vfs` over WebDAV; resolves once the server listens. */
export async function serveWebdav(vfs: Vfs, options: WebdavOptions = {}): Promise<WebdavServer> {
  const host = options.host ?? '127.0.0.1';
  const auth = options.users ? new BasicAuth(options.users, options.realm) : undefined;
  const proxy = options.authProxy ? new ProxyTrust(options.authProxy) : undefined;
  if (!isLoopback(host) && (!auth || auth.size === 0) && !proxy && !options.allowUnauthenticatedRemote) {
    throw new VfsError('EACCES', `refusing to serve ${host} without users; set users or allowUnauthenticatedRemote`, { provider: 'webdav' });
  }
  const warnings: string[] = [];
  if (!isLoopback(host) && auth && auth.size > 0 && !options.tls) {
    warnings.push(`warning: serving ${host} over plain HTTP with Basic auth: passwords cross the network in clear; use --cert/--key (or a TLS proxy)`);
  }
  const basePath = normalizeBasePath(options.basePath);
  // The wrapper is ours but the inner Vfs is the caller's: close() drops the wrapper, never closes `vfs`.
  const base = options.readOnly ? readOnlyView(vfs) : vfs;
  const announced = options.coherence ? options.coherence.wrap(base) : base;
  const served = options.cache === false ? announced : new CachedVfs(announced, options.cache === true || options.cache === undefined ? {} : options.cache);
  const detachCoherence = options.coherence && served instanceof CachedVfs ? options.coherence.attach(served) : () => {};
  const guarded = options.coherence && served instanceof CachedVfs ? options.coherence.guard(served) : served;
  const writeBack = options.writeBack ? writeBackLayer(vfs, guarded, announced, options) : undefined;
  // Queued uploads of a dead earlier run are served (and resumed) from the first request on.
  if (writeBack) await writeBack.resume();
  const state: ServerState = {
    vfs: writeBack ?? guarded,
    locks: options.lockStore ?? new MemoryLockStore(),
    props: options.propStore ?? defaultPropStore(served),
    basePath,
    isJunk: junkMatcher(options.junkFilter),
    logger: (options.logger ?? silentLogger).child({ layer: 'webdav' }),
    spoolDir: options.spoolDir ?? tmpdir(),
    maxXmlBytes: options.maxXmlBytes ?? 1024 * 1024,
  };

  const headersTimeout = positive(options.headersTimeout, 20_000, 'headersTimeout');
  const serverOptions = {
    maxHeaderSize: 16 * 1024,
    // A whole-request deadline would cut a large upload that is moving; bodyIdleTimeout bounds a stalled one instead.
    requestTimeout: 0,
    headersTimeout,
    // node:http checks header deadlines every 30 s by default, which would let a stalled client
    // live up to 30 s longer than headersTimeout.
    connectionsCheckingInterval: Math.max(10, Math.min(1000, Math.floor(headersTimeout / 4))),
    keepAliveTimeout: 10_000,
  };
  const server: Server = options.tls ? createTlsServer({ ...serverOptions, ...tlsOptions(options.tls) }) : createServer(serverOptions);
  const limits = limitConnections(
    server,
    {
      maxConnections: positive(options.maxConnections, 512, 'maxConnections'),
      maxConnectionsPerAddress: positive(options.maxConnectionsPerAddress, 128, 'maxConnectionsPerAddress'),
      bodyIdleTimeout: positive(options.bodyIdleTimeout, 60_000, 'bodyIdleTimeout'),
      idleTimeout: positive(options.idleTimeout, 10 * 60_000, 'idleTimeout'),
      maxPipelined: MAX_PIPELINED,
    },
    state.logger,
  );
  const listener = createRequestListener(state, auth, {
    ...(proxy ? { proxy } : {}),
    ...(options.onRequest ? { observe: options.onRequest } : {}),
    ...(auth || proxy ? { stateFor: viewsOf(state, options.users, options.junkFilter, options.lockStore, options.propStore) } : {}),
  });
  server.on('request', (req, res) => {
    if (limits.admit(req, res)) listener(req, res);
  });
  // "Expect: 100-continue": with users, the router invites the body once the credentials proved
  // good (after any failed-login delay: answering at once would tell a guesser the password is right).
  server.on('checkContinue', (req, res) => {
    if (!limits.admit(req, res)) return;
    if (!auth && !proxy) res.writeContinue();
    listener(req, res);
  });
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    // Malformed requests, oversized headers, headers too slow: answer if the socket still can, never throw.
    if (socket.writable && !socket.destroyed) {
      const status =
        err.code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large' : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? '408 Request Timeout' : '400 Bad Request';
      socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    } else socket.destroy();
  });
  const release0 = options.protectProcess === true ? protectProcess(state.logger) : () => {};
  const release = () => {
    detachCoherence();
    limits.stop();
    release0();
  };
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 0, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (e) {
    release();
    throw e;
  }
  server.on('error', (e) => state.logger.error('webdav server error', { error: e }));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : options.port ?? 0;
  const urlHost = isIP(host) === 6 ? `[${host}]` : host;
  let closed: Promise<void> | undefined;
  for (const w of warnings) state.logger.warn(w);
  return {
    url: `${options.tls ? 'https' : 'http'}://${urlHost}:${port}${basePath}/`,
    port,
    vfs: served,
    warnings,
    ...(writeBack ? { writeBack } : {}),
    setTls: (material) => {
      if (!options.tls) throw new VfsError('EINVAL', 'this share was started without TLS', { provider: 'webdav' });
      // setSecureContext builds the new context first: a bad pair throws here and the old one stays.
      (server as TlsServer).setSecureContext(tlsOptions(material));
    },
    close: () =>
      (closed ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
        // Give running requests a moment, then cut them.
        setTimeout(() => server.closeAllConnections(), 1000).unref();
      }).then(() => (served instanceof CachedVfs ? served.closeDiskCache() : undefined)).finally(() => {
        writeBack?.stop();
        release();
      })),
  };
}

/** The write-back layer over what the share serves; `fresh` is the uncached Vfs for the version check. */
function writeBackLayer(callerVfs: Vfs, served: Vfs, fresh: Vfs, options: WebdavOptions): WriteBackVfs {
  const wb = options.writeBack === true ? {} : (options.writeBack as WebdavWriteBackOptions);
  const { dir, remote, store, ...queue } = wb;
  return new WriteBackVfs(served, {
    ...queue,
    store: store ?? new FileWriteBackStore({
      dir: dir ?? options.spoolDir ?? defaultSpoolDir(), vfsName: callerVfs.name, ...(remote !== undefined ? { remote } : {}),
    }),
    fresh,
    logger: options.logger ?? silentLogger,
  });
}

/** node:https options for PEM material; with a CA, clients must present a certificate it signed. */
function tlsOptions(material: TlsMaterial): { cert: string | Buffer; key: string | Buffer; ca?: string | Buffer; requestCert?: boolean; rejectUnauthorized?: boolean } {
  return {
    cert: material.cert,
    key: material.key,
    ...(material.ca ? { ca: material.ca, requestCert: true, rejectUnauthorized: true } : {}),
  };
}

/**
 * The per-user states: a user with a root sees only that folder (a SubtreeVfs, so no path of theirs
 * can name anything outside it); read-only and the junk filter per user. Users with the same root
 * share its lock and property tables. Names without a view (proxy users not in the list) get the share's.
 * Lock and property stores given by the caller (shared by instances) are every user's, under full paths.
 */
function viewsOf(
  base: ServerState, users: WebdavUsers | UserDirectory | undefined, junk: WebdavOptions['junkFilter'], sharedLocks?: LockStore, sharedProps?: DeadPropStore,
): (user: string) => ServerState {
  const directory = users && typeof (users as UserDirectory).view === 'function' ? (users as UserDirectory) : undefined;
  if (!directory) return () => base;
  const byRoot = new Map<string, Pick<ServerState, 'vfs' | 'locks' | 'props'>>([['/', base]]);
  const states = new Map<string, ServerState>();
  return (user) => {
    const view: UserView = directory.view(user) ?? {};
    const root = view.root ?? '/';
    const key = `${root}\0${view.readOnly ?? ''}\0${view.hideSystemFiles ?? ''}`;
    let state = states.get(key);
    if (!state) {
      let shared = byRoot.get(root);
      if (!shared) {
        const vfs = new SubtreeVfs(base.vfs, root);
        const locks = sharedLocks ? new SubtreeLockStore(sharedLocks, root) : new MemoryLockStore();
        const props = sharedProps ? new SubtreePropStore(sharedProps, root) : defaultPropStore(vfs);
        byRoot.set(root, (shared = { vfs, locks, props }));
      }
      state = {
        ...base,
        ...shared,
        ...(view.readOnly ? { vfs: readOnlyView(shared.vfs) } : {}),
        isJunk: view.hideSystemFiles === undefined ? base.isJunk : view.hideSystemFiles ? junkMatcher(junk === false ? true : junk) : junkMatcher(false),
      };
      states.set(key, state);
    }
    return state;
  };
}

/** Requests one connection may have waiting for their answers (pipelining); see connections.ts. */
const MAX_PIPELINED = 32;

function positive(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!Number.isFinite(value) || value <= 0) throw new VfsError('EINVAL', `${name} must be a positive number, got ${value}`, { provider: 'webdav' });
  return value;
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host.startsWith('127.') || host === '::ffff:127.0.0.1';
}

function normalizeBasePath(base: string | undefined): string {
  if (!base || base === '/') return '';
  const trimmed = '/' + base.split('/').filter(Boolean).map((s) => encodeURIComponent(decodeURIComponent(s))).join('/');
  return trimmed === '/' ? '' : trimmed;
}
