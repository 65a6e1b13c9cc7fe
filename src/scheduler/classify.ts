/** Which failures are worth another attempt, and what kind of failure it was. */
import { VfsError, isAbortError } from '../errors.js';

/** Error codes of transient network failures (Node system errors and undici's own codes). */
const NETWORK_CODES = new Set([
  'ECONNRESET', 'ECONNREFUSED', 'ECONNABORTED', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH',
  'ENETDOWN', 'EAI_AGAIN', 'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CLOSED', 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH', 'ERR_STREAM_PREMATURE_CLOSE',
]);
/** Codes meaning the request never reached the server, so even a non-idempotent request may be resent. */
const NOT_SENT_CODES = new Set(['ECONNREFUSED', 'EAI_AGAIN', 'UND_ERR_CONNECT_TIMEOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENETDOWN']);

/** What a failed attempt was, as far as retrying is concerned. */
export type FailureKind =
  | 'throttle' // a VfsError EAGAIN (HTTP 429/503 become one in src/http): the server refused the work, safe to resend
  | 'not-sent' // the connection was never made
  | 'network' // reset, socket closed, body cut short: the server may or may not have acted
  | 'server' // any other retryable VfsError (HTTP 500/502/504, a provider's "try again")
  | 'timeout' // our per-attempt timeout fired
  | 'fatal'; // not retryable

/** Walk an error and its causes, yielding each `code`. */
function* codesOf(e: unknown): Generator<string> {
  let cur: unknown = e;
  for (let depth = 0; cur && typeof cur === 'object' && depth < 6; depth++) {
    const code = (cur as { code?: unknown }).code;
    if (typeof code === 'string') yield code;
    cur = (cur as { cause?: unknown }).cause;
  }
}

/** Messages undici uses when the socket goes away without a code we know. */
const NETWORK_MESSAGES = /^(terminated|other side closed|socket hang up|premature close)$/i;

/** True for transient network failures: reset, refused, socket closed, timed out, body cut short. */
export function isNetworkError(e: unknown): boolean {
  if (e instanceof VfsError) return false;
  for (const code of codesOf(e)) if (NETWORK_CODES.has(code)) return true;
  let cur: unknown = e;
  for (let depth = 0; cur && typeof cur === 'object' && depth < 6; depth++) {
    const message = (cur as { message?: unknown }).message;
    if (typeof message === 'string' && NETWORK_MESSAGES.test(message.trim())) return true;
    cur = (cur as { cause?: unknown }).cause;
  }
  return false;
}

/** Classify a failed attempt (the caller has already ruled out its own abort and our timeout). */
export function classifyFailure(e: unknown): FailureKind {
  if (e instanceof VfsError) {
    if (!e.retryable) return 'fatal';
    if (e.code === 'EAGAIN') return 'throttle';
    if (e.code === 'ETIMEDOUT') return 'timeout';
    if (e.code === 'ECONNRESET') return 'network';
    return 'server';
  }
  if (isAbortError(e)) return 'fatal';
  if (isNetworkError(e)) {
    for (const code of codesOf(e)) if (NOT_SENT_CODES.has(code)) return 'not-sent';
    return 'network';
  }
  return 'fatal';
}

/** May a failure of this kind be retried for a request that is (or is not) idempotent? */
export function mayRetry(kind: FailureKind, idempotent: boolean): boolean {
  if (kind === 'fatal') return false;
  if (idempotent) return true;
  // The server refused it outright, or it never got there: resending cannot do the work twice.
  return kind === 'throttle' || kind === 'not-sent';
}
