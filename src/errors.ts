/**
 * Errors: every failure that leaves a cloudmount layer is a `VfsError` carrying a POSIX errno.
 * Each frontend owns its mapping: FUSE hands `-errno` to the kernel (mount/fuse/errno.ts), WebDAV turns
 * it into an HTTP status (mount/webdav/status.ts).
 */
import { constants } from 'node:os';
import { redact } from './redact.js';

/** The errno names cloudmount produces. */
export type ErrnoCode =
  | 'ENOENT' | 'EEXIST' | 'ENOTDIR' | 'EISDIR' | 'ENOTEMPTY' | 'EINVAL' | 'ENAMETOOLONG'
  | 'EACCES' | 'EPERM' | 'EROFS' | 'ENOSPC' | 'EDQUOT' | 'EFBIG' | 'EBUSY' | 'ENOLCK'
  | 'EAGAIN' | 'ETIMEDOUT' | 'ECANCELED' | 'EIO' | 'EPROTO' | 'ENOTSUP' | 'ENOSYS'
  | 'EXDEV' | 'ECONNRESET' | 'EBADF' | 'EMFILE' | 'ESTALE' | 'ELOOP' | 'ERANGE';

/** Where an error came from and what the provider said; never holds a secret. */
export interface VfsErrorDetails {
  /** Provider or layer name: 'cloudreve', 'couchdrop', 'memory', 'webdav', … */
  provider?: string;
  /** The Vfs operation or API call, e.g. 'list' or 'POST /file/upload'. */
  operation?: string;
  /** The Vfs path involved (not a provider URL). */
  path?: string;
  /** The destination of a rename or copy. */
  dest?: string;
  /** Provider error code (Cloudreve `code`) when there is one. */
  providerCode?: number | string;
  /** HTTP status of the failed request, when there was one. */
  status?: number;
  /** The provider's own message, redacted and truncated. */
  providerMessage?: string;
}

export interface VfsErrorOptions extends VfsErrorDetails {
  /** May the same request succeed if tried again later? */
  retryable?: boolean;
  /** The provider asked us to wait this long before retrying (Retry-After). */
  retryAfterMs?: number;
  /** The underlying error, for debugging. Its message is redacted on the way in. */
  cause?: unknown;
}

/**
 * One row of a provider's error table (Cloudreve's codes, Couchdrop's HTTP statuses): what the
 * provider calls it, the errno it becomes, and whether the same request may succeed when sent
 * again. The Scheduler tells the two kinds of retry apart by errno: EAGAIN is a throttle (the whole
 * queue backs off and slows down), any other retryable errno retries only the one request.
 */
export interface ErrorRule {
  /** The provider's name for it (Cloudreve's constant, Couchdrop's documented meaning), for messages. */
  name: string;
  errno: ErrnoCode;
  retryable: boolean;
}

const MAX_PROVIDER_MESSAGE = 300;

/**
 * An errno-coded error shaped like Node's fs errors: `code` is the errno name, `errno` its number on
 * this OS, `syscall` the operation, `path`/`dest` the Vfs paths involved (plain fields, as on a Node
 * `ENOENT`). `message` is the reason without the code (`no such file or directory, stat "/a"`): the
 * code is a field, and whoever prints an error for a person puts it in front (the CLI, `toString()`
 * for logs), so it is never said twice by a layer that wraps another's error.
 */
export class VfsError extends Error {
  override name = 'VfsError';
  readonly code: ErrnoCode;
  readonly errno: number;
  readonly retryable: boolean;
  readonly retryAfterMs?: number;
  readonly details: VfsErrorDetails;
  /** Same as `message` (which no longer carries the errno); kept for callers that read `reason`. */
  readonly reason: string;
  readonly syscall?: string;
  readonly path?: string;
  readonly dest?: string;

  constructor(code: ErrnoCode, message: string, options: VfsErrorOptions = {}) {
    const { retryable, retryAfterMs, cause, ...details } = options;
    if (details.providerMessage !== undefined) {
      details.providerMessage = redact(details.providerMessage).slice(0, MAX_PROVIDER_MESSAGE);
    }
    const reason = redact(message);
    super(reason, cause === undefined ? undefined : { cause: sanitizeCause(cause) });
    this.reason = reason;
    this.code = code;
    if (details.operation !== undefined) this.syscall = details.operation;
    if (details.path !== undefined) this.path = details.path;
    if (details.dest !== undefined) this.dest = details.dest;
    this.errno = errnoNumber(code);
    this.retryable = retryable ?? false;
    if (retryAfterMs !== undefined) this.retryAfterMs = retryAfterMs;
    this.details = details;
  }

  /** `CODE: message`, as Node's own fs errors read: what `String(e)` and `${e}` in logs show. */
  override toString(): string {
    return `${this.code}: ${this.message}`;
  }

  /**
   * Same error as the caller of `syscall` on `path` (→ `dest`) sees it: Node's fields name the call
   * that was made, as `fs.rename` reports both paths whichever one failed; `details` keep where
   * inside it the failure happened (the API call, the inner path) for logs.
   */
  calledAs(syscall: string, path: string | undefined, dest?: string): VfsError {
    if (this.syscall === syscall && this.path === path && this.dest === dest) return this;
    const copy = this.withDetails({ operation: syscall, ...(path !== undefined ? { path } : {}), ...(dest !== undefined ? { dest } : {}) });
    const fields = copy as { -readonly [K in 'syscall' | 'path' | 'dest']?: string };
    fields.syscall = syscall;
    if (path !== undefined) fields.path = path;
    else delete fields.path;
    if (dest !== undefined) fields.dest = dest;
    else delete fields.dest;
    return copy;
  }

  /** Same error with more context filled in (keeps what is already set). */
  withDetails(extra: VfsErrorDetails): VfsError {
    const copy = new VfsError(this.code, this.reason, {
      ...extra,
      ...this.details,
      retryable: this.retryable,
      ...(this.retryAfterMs !== undefined ? { retryAfterMs: this.retryAfterMs } : {}),
      cause: this.cause,
    });
    copy.stack = this.stack;
    return copy;
  }
}

/** Errors carry their cause for debugging, but a cause's message may hold a URL with a signature. */
function sanitizeCause(cause: unknown, depth = 0): unknown {
  if (cause instanceof VfsError) return cause;
  if (cause instanceof Error) {
    // Keep the chain (redacted, a few levels): undici's "fetch failed" carries the code that tells a
    // reset (UND_ERR_SOCKET, ECONNRESET) apart only on its own cause.
    const inner = depth < 4 && cause.cause !== undefined ? sanitizeCause(cause.cause, depth + 1) : undefined;
    const clean = new Error(redact(cause.message), inner === undefined ? undefined : { cause: inner });
    clean.name = cause.name;
    const code = (cause as NodeJS.ErrnoException).code;
    if (code) (clean as NodeJS.ErrnoException).code = code;
    return clean;
  }
  return typeof cause === 'string' ? redact(cause) : undefined;
}

/** The errno number of `code` on this OS (positive), from `os.constants.errno`. */
export function errnoNumber(code: ErrnoCode): number {
  const table = constants.errno as Record<string, number>;
  return table[code] ?? table.EIO!;
}

/**
 * The error one operation fails with, the single way adapters and layers build one. The message
 * reads as Node's does without the code: what went wrong, then the operation and paths
 * (`already exists, mkdir "/a"`, `…, rename "/a" -> "/b"` when `options.dest` is set); paths are
 * JSON-quoted so a name holding a newline or quote cannot forge a second line. `operation`, `path`
 * and `dest` are fields as well (`syscall`, `path`, `dest`).
 */
export function opError(code: ErrnoCode, reason: string, operation: string, path?: string, options: VfsErrorOptions = {}): VfsError {
  let where = path === undefined ? operation : `${operation} ${JSON.stringify(path)}`;
  if (path !== undefined && options.dest !== undefined) where += ` -> ${JSON.stringify(options.dest)}`;
  return new VfsError(code, `${reason}, ${where}`, { ...options, operation, ...(path !== undefined ? { path } : {}) });
}

/** True when `e` is a VfsError, optionally with one of the given codes. */
export function isVfsError(e: unknown, ...codes: ErrnoCode[]): e is VfsError {
  return e instanceof VfsError && (codes.length === 0 || codes.includes(e.code));
}

/**
 * Turn anything thrown into a VfsError: VfsErrors pass through (with details filled in),
 * aborts become ECANCELED, Node system errors keep their errno name when we know it, the rest EIO.
 */
export function toVfsError(e: unknown, context: VfsErrorDetails = {}): VfsError {
  if (e instanceof VfsError) return context.path || context.operation || context.provider ? e.withDetails(context) : e;
  if (isAbortError(e)) return new VfsError('ECANCELED', 'operation aborted', { ...context, cause: e });
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  if (typeof code === 'string' && KNOWN_CODES.has(code as ErrnoCode)) {
    const retryable = code === 'ECONNRESET' || code === 'ETIMEDOUT' || code === 'EAGAIN';
    // Node's own message leads with the code ("ENOENT: no such file…"): said once, by the VfsError.
    const message = errorMessage(e);
    const reason = message.startsWith(`${code}: `) ? message.slice(code.length + 2) : message;
    return new VfsError(code as ErrnoCode, reason, { ...context, retryable, cause: e });
  }
  return new VfsError('EIO', errorMessage(e), { ...context, cause: e });
}

/** True for the errors an AbortSignal produces (DOMException AbortError, Node ABORT_ERR, TimeoutError). */
export function isAbortError(e: unknown): boolean {
  if (!e || typeof e !== 'object') return false;
  const { name, code } = e as { name?: string; code?: string };
  return name === 'AbortError' || code === 'ABORT_ERR';
}

/** Throw ECANCELED when `signal` is aborted. */
export function throwIfAborted(signal: AbortSignal | undefined, context: VfsErrorDetails = {}): void {
  if (signal?.aborted) throw new VfsError('ECANCELED', 'operation aborted', context);
}

function errorMessage(e: unknown): string {
  if (e instanceof Error) return e.message;
  return String(e);
}

const KNOWN_CODES = new Set<ErrnoCode>([
  'ENOENT', 'EEXIST', 'ENOTDIR', 'EISDIR', 'ENOTEMPTY', 'EINVAL', 'ENAMETOOLONG', 'EACCES', 'EPERM',
  'EROFS', 'ENOSPC', 'EDQUOT', 'EFBIG', 'EBUSY', 'ENOLCK', 'EAGAIN', 'ETIMEDOUT', 'ECANCELED', 'EIO',
  'EPROTO', 'ENOTSUP', 'ENOSYS', 'EXDEV', 'ECONNRESET', 'EBADF', 'EMFILE', 'ESTALE', 'ELOOP', 'ERANGE',
]);
