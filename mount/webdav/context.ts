/**
 * What every handler is given: the server's state (Vfs, locks, dead properties, options) and the
 * request being served. The helpers that answer a request live by job: reply.ts (errors and bodies
 * out), href.ts (URL and Vfs path), body.ts (small bodies in), lookup.ts (stat for a request),
 * write-check.ts (If header and locks before a change), conditional.ts (ETags and If-Match).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../../src/log.js';
import type { Vfs } from '../../src/vfs.js';
import type { LockStore } from './locks.js';
import type { DeadPropStore } from './props.js';

/** State shared by all requests of one server. */
export interface ServerState {
  vfs: Vfs;
  locks: LockStore;
  props: DeadPropStore;
  /** URL prefix without trailing slash ("" or "/dav"). */
  basePath: string;
  isJunk: (name: string) => boolean;
  logger: Logger;
  /** Where chunked uploads without a length are spooled when the Vfs needs a size first. */
  spoolDir: string;
  /** Largest XML request body accepted. */
  maxXmlBytes: number;
}

/** One request in flight. */
export interface Dav {
  state: ServerState;
  req: IncomingMessage;
  res: ServerResponse;
  method: string;
  /** The Vfs path the request URL names. */
  path: string;
  /** The URL path ended with "/". */
  trailingSlash: boolean;
  /** Aborted when the client goes away. */
  signal: AbortSignal;
  user?: string;
}
