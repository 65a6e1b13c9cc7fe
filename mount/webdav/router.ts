/**
 * The request pipeline: guard (method, URL, path encoding, read-only), authentication, junk
 * filter, then the handler for the method. Every failure ends as a short plain-text answer with
 * the status from the errno table; nothing a client sends can throw past this function.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { VfsError, toVfsError } from '../../src/errors.js';
import { HTTP_STATUS_BY_CODE } from './status.js';
import type { Dav, ServerState } from './context.js';
import { pathFromUrl } from './href.js';
import { HttpError, sendError } from './reply.js';
import type { BasicAuth } from './auth.js';
import { runInRequest } from './protect.js';
import type { ProxyTrust } from './proxy.js';
import { handleCopyMove } from './handlers/copy-move.js';
import { handleDelete } from './handlers/delete.js';
import { handleGet } from './handlers/get.js';
import { handleLock, handleUnlock } from './handlers/lock.js';
import { handleMkcol } from './handlers/mkcol.js';
import { handleOptions } from './handlers/options.js';
import { handlePropfind } from './handlers/propfind.js';
import { handleProppatch } from './handlers/proppatch.js';
import { handlePut } from './handlers/put.js';

type Handler = (dav: Dav) => Promise<void>;

const HANDLERS: Record<string, Handler> = {
  OPTIONS: handleOptions,
  GET: handleGet,
  HEAD: handleGet,
  PUT: handlePut,
  DELETE: handleDelete,
  MKCOL: handleMkcol,
  COPY: handleCopyMove,
  MOVE: handleCopyMove,
  PROPFIND: handlePropfind,
  PROPPATCH: handleProppatch,
  LOCK: handleLock,
  UNLOCK: handleUnlock,
};

const MUTATING = new Set(['PUT', 'DELETE', 'MKCOL', 'COPY', 'MOVE', 'PROPPATCH', 'LOCK', 'UNLOCK']);
/** Longest request target accepted (paths are at most 4096 bytes, percent-encoding triples that). */
const MAX_URL_LENGTH = 16 * 1024;
/** Request bodies up to this size are drained after an error answer (keeps the connection usable). */
const DRAIN_LIMIT = 1024 * 1024;

/** Optional parts of the pipeline: per-user views, a trusted auth proxy, request metrics. */
export interface ListenerOptions {
  /** The state a signed-in user is served with (their root, read-only, junk filter); default `state`. */
  stateFor?: (user: string) => ServerState;
  /** Take the user name from a header set by a reverse proxy, only on connections from its addresses. */
  proxy?: ProxyTrust;
  /** Called once per request when its answer is done (or the connection closed): method, status, seconds. */
  observe?: (method: string, status: number, seconds: number) => void;
}

/** Build the node:http request listener for a server. */
export function createRequestListener(state: ServerState, auth: BasicAuth | undefined, options: ListenerOptions = {}) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    const method = (req.method ?? 'GET').toUpperCase();
    if (options.observe) {
      const observe = options.observe;
      const started = performance.now();
      res.once('close', () => observe(method, res.statusCode, (performance.now() - started) / 1000));
    }
    const fallback = { res, method, state };
    // The AbortSignal is made only when a handler asks for it (it is costly at 10k requests/s).
    let controller: AbortController | undefined;
    let gone = false;
    const signal = () => {
      if (!controller) {
        controller = new AbortController();
        if (gone) controller.abort();
      }
      return controller.signal;
    };
    let done = false;
    const fail = (e: unknown) => {
      if (done) {
        // A background task the request started (read-ahead, say) threw after the answer went out.
        state.logger.error('exception after a request ended', { method, error: e });
        return;
      }
      done = true;
      if (gone) {
        // The client went away; whatever broke because of that is not worth a warning.
        state.logger.debug('request ended by the client', { method, error: e });
        res.destroy();
        return;
      }
      // A refused upload is not read to its end: a big or unsized body closes the connection instead.
      const bigBody = !req.complete && (req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > DRAIN_LIMIT);
      if (bigBody && !res.headersSent) res.shouldKeepAlive = false;
      try {
        sendError(fallback, asAnswerable(e));
      } catch {
        res.destroy();
      }
      if (!bigBody) req.resume();
    };
    req.on('error', ignore);
    res.on('error', ignore);
    res.on('close', () => {
      if (res.writableFinished) return;
      gone = true;
      controller?.abort();
    });
    // No res.setHeader here: handlers pass all headers to writeHead, Node's fast path. The DAV
    // header goes on OPTIONS answers, where clients look for it.
    runInRequest({ fail }, () => {
      serve(state, auth, options, req, res, method, signal).then(
        () => {
          done = true;
        },
        fail,
      );
    });
  };
}

function ignore(): void {}

/**
 * A Node system error that escaped a layer unwrapped (a raw ENOSPC from a stream while a body is
 * streamed, say) still gets its errno's status (507 for a full disk), not a bare 500.
 */
function asAnswerable(e: unknown): unknown {
  if (e instanceof VfsError || e instanceof HttpError) return e;
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' && Object.hasOwn(HTTP_STATUS_BY_CODE, code) ? toVfsError(e, { provider: 'webdav' }) : e;
}

async function serve(state: ServerState, auth: BasicAuth | undefined, options: ListenerOptions, req: IncomingMessage, res: ServerResponse, method: string, signal: () => AbortSignal): Promise<void> {
  const handler = HANDLERS[method];
  if (!handler) {
    req.resume();
    res.writeHead(501, { Allow: Object.keys(HANDLERS).join(', '), 'Content-Type': 'text/plain; charset=utf-8' });
    res.end(`method ${method.slice(0, 32)} is not supported\n`);
    return;
  }
  const url = req.url ?? '/';
  if (url.length > MAX_URL_LENGTH) {
    req.resume();
    res.writeHead(414, { 'Content-Type': 'text/plain; charset=utf-8', Connection: 'close' });
    res.end('request URL too long\n');
    return;
  }

  if (url === '*' && method === 'OPTIONS') {
    // "OPTIONS *" asks about the server as a whole.
    await handleOptions({ state, req, res, method, path: '/', trailingSlash: false, signal: signal() });
    return;
  }
  if (url.includes('#')) {
    // A fragment is never part of a request target (RFC 9112 §3.2); acting on the path before it is unsafe.
    req.resume();
    res.writeHead(400, { 'Content-Type': 'text/plain; charset=utf-8' });
    res.end('a request URL may not contain a fragment (#)\n');
    return;
  }

  let user: string | undefined = options.proxy ? options.proxy.userOf(req) : undefined;
  if (user === undefined && options.proxy && !auth) {
    req.resume();
    res.writeHead(403, { 'Content-Type': 'text/plain; charset=utf-8', Connection: 'close' });
    res.end('sign in through the authenticating proxy\n');
    return;
  }
  if (user === undefined && auth) {
    const address = req.socket.remoteAddress ?? '?';
    // Never read an unauthenticated body: answer and close the connection instead.
    const hasBody = req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
    if (req.headers.authorization) {
      // A throttled address (or a user name guessed from many addresses) waits before the
      // credentials are even looked at; a throttled address makes one attempt at a time.
      const claimed = auth.claimedUser(req);
      const gate = auth.gate(address, claimed);
      if ('busy' in gate) {
        res.writeHead(429, {
          'Retry-After': String(Math.max(1, Math.ceil(gate.retryAfterMs / 1000))),
          'Content-Type': 'text/plain; charset=utf-8',
          ...(hasBody ? { Connection: 'close' } : {}),
        });
        res.end('too many failed logins from this address; try again later\n');
        return;
      }
      try {
        if (gate.wait > 0) await new Promise((r) => setTimeout(r, gate.wait));
        user = await auth.verify(req);
      } finally {
        if (user === undefined) auth.failed(address, claimed);
        else auth.succeeded(address, user);
      }
    }
    if (user === undefined) {
      res.writeHead(401, {
        'WWW-Authenticate': auth.challenge(),
        'Content-Type': 'text/plain; charset=utf-8',
        ...(hasBody ? { Connection: 'close' } : {}),
      });
      res.end('authentication required\n');
      return;
    }
  }
  // "Expect: 100-continue": the body is invited only now that the credentials (or the proxy) proved good.
  if ((auth || options.proxy) && /100-continue/i.test(String(req.headers.expect ?? ''))) res.writeContinue();

  // A user with a view of their own (root, read-only, junk filter) is served through it from here on.
  if (user !== undefined && options.stateFor) state = options.stateFor(user);
  const path = pathFromUrl(state, url);
  if (path === undefined) {
    req.resume();
    res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' });
    res.end('outside this share\n');
    return;
  }
  // A read-only share (its Vfs says so: ReadonlyVfs) refuses changes before reading a body; this
  // also covers what is not the Vfs's (locks, dead properties kept by the server).
  if (state.vfs.capabilities.readOnly && MUTATING.has(method)) {
    req.resume();
    res.writeHead(403, { 'Content-Type': 'text/plain; charset=utf-8' });
    res.end('this share is read-only\n');
    return;
  }
  const q = url.indexOf('?');
  await handler(new DavRequest(state, req, res, method, path, (q < 0 ? url : url.slice(0, q)).endsWith('/'), signal, user));
}

/** A request in flight; its AbortSignal is made on first use. */
class DavRequest implements Dav {
  constructor(
    readonly state: ServerState,
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
    readonly method: string,
    readonly path: string,
    readonly trailingSlash: boolean,
    private readonly makeSignal: () => AbortSignal,
    readonly user: string | undefined,
  ) {}

  get signal(): AbortSignal {
    return this.makeSignal();
  }
}
