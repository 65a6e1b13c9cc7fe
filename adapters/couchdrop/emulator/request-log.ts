/** The emulator's request log: one record per request, so tests can count calls and check bodies. */
import type { FaultKind } from './faults.js';

export interface RequestLogEntry {
  /** 1-based order of arrival. */
  seq: number;
  method: string;
  /** URL path without the query string, e.g. `/file/upload`. */
  route: string;
  /** The `path` parameter, when there was one. */
  path?: string;
  /** HTTP status answered (0 while the request is still running). */
  status: number;
  /** Body bytes received (for uploads: the file bytes, counted even when the answer was an error). */
  bytesIn: number;
  /** Body bytes sent. */
  bytesOut: number;
  /** sha256 (hex) of an upload's body as received, complete or not. */
  sha256?: string;
  /** The upload's `size` query parameter. */
  sizeParam?: number;
  /** Which kind of token the caller used. */
  auth: 'static' | 'login' | 'none' | 'invalid';
  /** A fault the emulator injected instead of the real answer. */
  fault?: FaultKind;
  /** The token bucket refused this request (429). */
  rateLimited?: boolean;
  /** The `Range` header the caller sent. */
  range?: string;
  /** For `/storage/…` (redirected downloads): the caller sent a `token` header there. */
  sentToken?: boolean;
  /** Milliseconds from arrival to the end of the answer. */
  ms: number;
}
