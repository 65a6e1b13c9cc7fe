/**
 * THE Couchdrop error table: every HTTP status the reference documents (docs "Errors and Response
 * Codes", plus 401 at login and the 404 `parent-folder-not-found` seen in client code) → errno and a
 * retry decision. The service's `{"error": "..."}` text is kept in every VfsError.
 */
import type { ErrnoCode } from '../../src/errors.js';
import { VfsError } from '../../src/errors.js';
import { PARENT_FOLDER_NOT_FOUND } from './wire.js';
import type { CouchdropErrorBody } from './wire.js';

/**
 * How a status is retried by the Scheduler (src/scheduler.ts), which tells the two retried kinds
 * apart by errno: EAGAIN is a throttle, the rest a server error.
 */
export type RetryPolicy =
  /** Fail at once. */
  | 'never'
  /** EAGAIN: exponential backoff with jitter, the WHOLE queue pauses and the pacer slows down (429, 503). */
  | 'backoff'
  /** EIO, retryable: only this request is retried, after a short jittered exponential delay (500). */
  | 'short';

export interface StatusRule {
  code: ErrnoCode;
  retry: RetryPolicy;
  /** What Couchdrop means by it, for error messages. */
  meaning: string;
}

/**
 * Status → errno. Why each:
 * - 401 only comes from `/authenticate` (2FA required): EACCES, a password cannot get through 2FA.
 * - 403 is "wrong permissions" and also a bad or expired token: EACCES, fatal (the client renews a
 *   login token once before giving up; a static token fails at once).
 * - 404 is a missing path or `parent-folder-not-found`: ENOENT.
 * - 422 is the storage provider behind Couchdrop failing, with details in the body. EIO, because from
 *   the user's side it is an I/O failure of the backing store that Couchdrop does not call transient
 *   (not EAGAIN: the docs do not list it as retryable, and retrying a write the provider rejected could
 *   repeat a side effect). Its message is kept verbatim. A 422 whose text says not-found/exists maps
 *   to ENOENT/EEXIST (reference §7.7: not-found behaviour is undocumented).
 * - 429 rate limit and 503 capacity: EAGAIN with backoff.
 * - 500 unexpected: EIO with a short retry.
 * - 502/504 are not Couchdrop's own codes but what a proxy in front of it answers [inferred]: EIO, retried.
 * - Anything else: EIO, not retried, keeping the number in the message.
 */
export const COUCHDROP_STATUS: Readonly<Record<number, StatusRule>> = {
  401: { code: 'EACCES', retry: 'never', meaning: 'two-factor authentication required' },
  403: { code: 'EACCES', retry: 'never', meaning: 'permission denied (or the token is invalid or expired)' },
  404: { code: 'ENOENT', retry: 'never', meaning: 'no such file or folder' },
  422: { code: 'EIO', retry: 'never', meaning: 'the storage provider behind Couchdrop failed' },
  429: { code: 'EAGAIN', retry: 'backoff', meaning: 'rate limit reached' },
  500: { code: 'EIO', retry: 'short', meaning: 'Couchdrop encountered an unexpected error' },
  502: { code: 'EIO', retry: 'short', meaning: 'bad gateway in front of Couchdrop' },
  503: { code: 'EAGAIN', retry: 'backoff', meaning: 'Couchdrop is at capacity' },
  504: { code: 'EIO', retry: 'short', meaning: 'gateway timeout in front of Couchdrop' },
};

/** The rule for `status`; unknown statuses are EIO, not retried. */
export function ruleFor(status: number): StatusRule {
  return COUCHDROP_STATUS[status] ?? { code: 'EIO', retry: 'never', meaning: `unexpected HTTP status ${status}` };
}

/** True when a Couchdrop error body marks a missing parent folder. */
export function isParentMissing(status: number, message: string | undefined): boolean {
  return status === 404 && (message ?? '').toLowerCase().includes(PARENT_FOLDER_NOT_FOUND);
}

const NOT_FOUND_TEXT = /not[ _-]?found|no such|does not exist|doesn't exist|cannot find|could not find/i;
const EXISTS_TEXT = /already exists|exists already/i;

/** The service's message from an error body (`error`, the 2016 `err`, or `message`), or the raw text. */
export function providerMessageOf(bodyText: string): string | undefined {
  const text = bodyText.trim();
  if (!text) return undefined;
  try {
    const parsed = JSON.parse(text) as CouchdropErrorBody | string;
    if (typeof parsed === 'string') return parsed;
    const message = parsed?.error ?? parsed?.err ?? parsed?.message;
    if (typeof message === 'string') return message;
  } catch {
    // not JSON: keep the text itself
  }
  return text.slice(0, 300);
}

export interface ErrorContext {
  /** The API call, e.g. `POST /file/upload`. */
  operation: string;
  /** The Vfs path involved. */
  path?: string;
}

/** Build the VfsError for a non-2xx answer. */
export function couchdropError(status: number, providerMessage: string | undefined, context: ErrorContext): VfsError {
  const rule = ruleFor(status);
  let code = rule.code;
  if (status === 422 && providerMessage) {
    if (NOT_FOUND_TEXT.test(providerMessage)) code = 'ENOENT';
    else if (EXISTS_TEXT.test(providerMessage)) code = 'EEXIST';
  }
  const where = context.path !== undefined ? ` ${JSON.stringify(context.path)}` : '';
  const said = providerMessage ? `: ${providerMessage}` : '';
  const meaning = isParentMissing(status, providerMessage) ? 'the parent folder does not exist' : rule.meaning;
  return new VfsError(code, `couchdrop ${context.operation}${where}: HTTP ${status} ${meaning}${said}`, {
    provider: 'couchdrop',
    operation: context.operation,
    ...(context.path !== undefined ? { path: context.path } : {}),
    status,
    ...(providerMessage !== undefined ? { providerMessage } : {}),
    // No retryAfterMs: Couchdrop sends no Retry-After, so the Scheduler's own backoff decides.
    retryable: rule.retry !== 'never',
  });
}
