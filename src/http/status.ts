/**
 * What an HTTP answer means to the Scheduler: which statuses are worth another attempt, which mean
 * "slow down", how long the server asked us to wait, and the VfsError (with the provider's message)
 * that carries all of it to `Scheduler.run`, which classifies errors and knows no HTTP.
 */
import { VfsError } from '../errors.js';

/** Statuses retried for every request. 429 and 503 mean "slow down" (Couchdrop documents 503 as capacity). */
export const RETRYABLE_STATUSES: ReadonlySet<number> = new Set([429, 500, 502, 503, 504]);
/** Statuses that mean the server is throttling us: EAGAIN, so the Scheduler pauses the queue and lowers the rate. */
export const THROTTLE_STATUSES: ReadonlySet<number> = new Set([429, 503]);
/** How much of an error body is read to find the provider's message. */
export const ERROR_BODY_LIMIT = 4096;

/** The part of fetch's Headers (and of our node:http wrapper) this module reads. */
export interface HeaderGetter {
  get(name: string): string | null;
}

/**
 * Milliseconds a `Retry-After` header asks us to wait: delta-seconds ("120", also "1.5" which some
 * proxies send) or an HTTP date. Undefined when absent or unparseable; never negative.
 */
export function parseRetryAfter(value: string | null | undefined, now: number = Date.now()): number | undefined {
  if (value === null || value === undefined) return undefined;
  const text = value.trim();
  if (text === '') return undefined;
  if (/^\d+(\.\d+)?$/.test(text)) return Math.round(Number(text) * 1000);
  const date = Date.parse(text);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - now);
}

/** Retry-After from a response's headers (also the non-standard `retry-after-ms` some gateways send). */
export function retryAfterFromHeaders(headers: HeaderGetter, now: number = Date.now()): number | undefined {
  const ms = headers.get('retry-after-ms');
  if (ms && /^\d+(\.\d+)?$/.test(ms.trim())) return Math.round(Number(ms.trim()));
  return parseRetryAfter(headers.get('retry-after'), now);
}

/** The provider's message in an error body: JSON `msg`/`message`/`error`…, else the text without markup. */
export function providerMessageOf(body: string): string | undefined {
  const text = body.slice(0, ERROR_BODY_LIMIT).trim();
  if (!text) return undefined;
  try {
    const json = JSON.parse(text) as Record<string, unknown>;
    for (const key of ['msg', 'message', 'error_description', 'error', 'detail', 'title']) {
      const v = json[key];
      if (typeof v === 'string' && v) return v;
      if (v && typeof v === 'object' && typeof (v as { message?: unknown }).message === 'string') return (v as { message: string }).message;
    }
  } catch {
    // Not JSON: use the text itself, stripped of markup.
  }
  return text.replace(/<[^>]*>/g, ' ').replace(/\s+/g, ' ').trim().slice(0, 300) || undefined;
}

/**
 * The retryable error for a status in RETRYABLE_STATUSES: EAGAIN for a throttle, EIO otherwise, with
 * the status, the provider's (redacted) message and the server's Retry-After.
 */
export function statusError(status: number, headers: HeaderGetter, body: string, label: string, provider: string): VfsError {
  const providerMessage = providerMessageOf(body);
  const retryAfterMs = retryAfterFromHeaders(headers);
  return new VfsError(THROTTLE_STATUSES.has(status) ? 'EAGAIN' : 'EIO', `${label}: HTTP ${status}${providerMessage ? ` ${providerMessage}` : ''}`, {
    provider,
    operation: label,
    status,
    retryable: true,
    ...(providerMessage ? { providerMessage } : {}),
    ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
  });
}
