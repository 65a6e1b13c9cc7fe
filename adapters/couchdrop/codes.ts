/**
 * THE Couchdrop error table: every HTTP status the reference documents (docs "Errors and Response
 * Codes", plus 401 at login and the 404 `parent-folder-not-found` seen in client code) → errno and a
 * retry decision. The service's `{"error": "..."}` text is kept in every VfsError.
 */
import type { ErrorRule } from '../../src/errors.js';
import { opError } from '../../src/errors.js';
import type { VfsError } from '../../src/errors.js';
import { PARENT_FOLDER_NOT_FOUND } from './wire.js';
import type { CouchdropErrorBody } from './wire.js';

/** @deprecated The shape every adapter's code table shares is ErrorRule (`name` is what Couchdrop means by the status). */
export type StatusRule = ErrorRule;

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
 * - 429 rate limit and 503 capacity: EAGAIN, retried: the whole queue backs off and slows down.
 * - 500 unexpected: EIO, retried: only that request, after a short jittered delay.
 * - 502/504 are not Couchdrop's own codes but what a proxy in front of it answers [inferred]: EIO, retried.
 * - Anything else: EIO, not retried, keeping the number in the message.
 */
export const COUCHDROP_STATUS: Readonly<Record<number, ErrorRule>> = {
  401: { errno: 'EACCES', retryable: false, name: 'two-factor authentication required' },
  403: { errno: 'EACCES', retryable: false, name: 'permission denied (or the token is invalid or expired)' },
  404: { errno: 'ENOENT', retryable: false, name: 'no such file or folder' },
  422: { errno: 'EIO', retryable: false, name: 'the storage provider behind Couchdrop failed' },
  429: { errno: 'EAGAIN', retryable: true, name: 'rate limit reached' },
  500: { errno: 'EIO', retryable: true, name: 'Couchdrop encountered an unexpected error' },
  502: { errno: 'EIO', retryable: true, name: 'bad gateway in front of Couchdrop' },
  503: { errno: 'EAGAIN', retryable: true, name: 'Couchdrop is at capacity' },
  504: { errno: 'EIO', retryable: true, name: 'gateway timeout in front of Couchdrop' },
};

/** The rule for `status`; unknown statuses are EIO, not retried. */
export function ruleFor(status: number): ErrorRule {
  return COUCHDROP_STATUS[status] ?? { errno: 'EIO', retryable: false, name: `unexpected HTTP status ${status}` };
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
  let code = rule.errno;
  if (status === 422 && providerMessage) {
    if (NOT_FOUND_TEXT.test(providerMessage)) code = 'ENOENT';
    else if (EXISTS_TEXT.test(providerMessage)) code = 'EEXIST';
  }
  const said = providerMessage ? `: ${providerMessage}` : '';
  const meaning = isParentMissing(status, providerMessage) ? 'the parent folder does not exist' : rule.name;
  return opError(code, `HTTP ${status} ${meaning}${said}`, context.operation, context.path, {
    provider: 'couchdrop',
    status,
    ...(providerMessage !== undefined ? { providerMessage } : {}),
    // No retryAfterMs: Couchdrop sends no Retry-After, so the Scheduler's own backoff decides.
    retryable: rule.retryable,
  });
}
