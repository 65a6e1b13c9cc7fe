/**
 * `cloudmount/webdav-server`: plug any Vfs into a webdav-server v2 app.
 *
 *   import { v2 } from 'webdav-server';
 *   import { VfsFileSystem, createWebdavServer } from 'cloudmount/webdav-server';
 *   server.setFileSystem('/cloud', new VfsFileSystem(vfs), cb);          // your own server
 *   const server = createWebdavServer(vfs, { mountPath: '/cloud' });     // or ours, with guards
 *
 * Known defects of webdav-server 2.6.3 (measured; cloudmount's own frontend, `serveWebdav`, has
 * none of them and stays the default):
 * 1. Its If-header evaluator passes any non-empty condition list, and its lock check compares
 *    users, not tokens: without users, any client may change a locked resource.
 * 2. It crashes the process on an untagged If list or a malformed one.
 * 3. Its PROPPATCH crashes the process on several set/remove blocks, or on removing a property
 *    that was never set.
 * 4. It buffers every non-PUT request body by its claimed Content-Length, before anything else.
 * 5. Smaller ones litmus finds: it acts on the path before a "#fragment" (a DELETE of "/dir#x"
 *    removed "/dir"), accepts a MKCOL body, grants a second exclusive lock, and sends a new lock's
 *    token without the angle brackets of RFC 4918 §10.5.
 * `createWebdavServer` installs guards for all of them in front of webdav-server (see guard.ts):
 * bodies above `maxBodyBytes` get 413 unread; If headers are parsed and evaluated here (400 when
 * malformed, 412 when they do not hold, 423 when a lock on the target is not submitted) and then
 * removed before webdav-server sees them; PROPPATCH is replaced by a safe one (all or nothing, 403/424
 * for protected DAV: properties); the smaller defects get 400/415/423 or a fixed header.
 * Build your own server with `createGuard` to get the same protection.
 */
import { createServer as createHttpServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { v2 } from 'webdav-server';
import { CachedVfs } from '../../src/cache.js';
import type { CacheOptions } from '../../src/cache.js';
import type { Vfs } from '../../src/vfs.js';
import { VfsFileSystem } from './filesystem.js';
import { createGuard } from './guard.js';
import type { GuardOptions } from './guard.js';

export { VfsFileSystem, parseRanges } from './filesystem.js';
export { createGuard } from './guard.js';
export type { GuardOptions } from './guard.js';

export interface CreateWebdavServerOptions extends Omit<GuardOptions, 'fs' | 'mountPath'> {
  /** Where the Vfs appears in the server's tree (default "/"). */
  mountPath?: string;
  /** Wrap the Vfs in CachedVfs (default true: webdav-server asks ~9 questions per entry of a listing). */
  cache?: boolean | CacheOptions;
  /** Passed to `new v2.WebDAVServer(...)`. */
  serverOptions?: v2.WebDAVServerOptions;
}

/**
 * A `v2.WebDAVServer` with `vfs` mounted at `mountPath` and the guards installed: `executeRequest`
 * (for Express and friends) and `start()` both go through them.
 */
export function createWebdavServer(vfs: Vfs, options: CreateWebdavServerOptions = {}): v2.WebDAVServer {
  const served = options.cache === false ? vfs : new CachedVfs(vfs, options.cache === true || options.cache === undefined ? {} : options.cache);
  const fs = new VfsFileSystem(served);
  const mountPath = '/' + (options.mountPath ?? '/').split('/').filter(Boolean).join('/');
  const server = new v2.WebDAVServer(options.serverOptions);
  const error = { value: undefined as Error | undefined };
  server.setFileSystemSync(mountPath, fs);
  if (error.value) throw error.value;
  const guard = createGuard(server, { ...options, fs, mountPath });
  const execute = server.executeRequest;
  server.executeRequest = (req: IncomingMessage, res: ServerResponse, rootPath?: string) => {
    guard(req, res, () => execute(req, res, rootPath));
  };
  // webdav-server's start() binds its module-level executeRequest, bypassing the instance's: replace it.
  server.start = ((port?: number | ((s: Server) => void), callback?: (s: Server) => void) => {
    const cb = typeof port === 'function' ? port : callback;
    const listenPort = typeof port === 'number' ? port : server.options.port;
    const holder = server as unknown as { server?: Server };
    if (!holder.server) {
      const listener = (req: IncomingMessage, res: ServerResponse) => server.executeRequest(req, res);
      holder.server = server.options.https ? createHttpsServer(server.options.https, listener) : createHttpServer(listener);
    }
    const http = holder.server;
    http.listen(listenPort, server.options.hostname, () => cb?.(http));
  }) as typeof server.start;
  return server;
}
