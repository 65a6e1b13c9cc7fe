/**
 * Settling ambiguous failures of non-idempotent provider calls (rename, move, delete, mkdir…). The
 * Scheduler does not resend such a call after a reset, a 5xx or a timeout, since the server may or
 * may not have acted; reporting EIO then would fail a user's `mv` on a single lost answer although
 * nothing is wrong. Instead the adapter looks: the work is visible → done; the old state is
 * still there → send again; anything else → the original error.
 */
import { VfsError } from './errors.js';
import { isNetworkError } from './scheduler/index.js';

/** What looking at the provider says about a call whose answer was lost. */
export type Outcome = 'done' | 'not-done' | 'unknown';

/** How many times a call that failed ambiguously is sent in all. */
export const MAX_SENDS = 4;
const AMBIGUOUS_STATUSES = new Set([500, 502, 504]);

/** True when a non-idempotent request failed in a way that leaves open whether the server acted. */
export function isAmbiguousFailure(e: unknown): boolean {
  if (!(e instanceof VfsError) || e.retryable || (e.code !== 'EIO' && e.code !== 'ETIMEDOUT')) return false;
  if (e.code === 'ETIMEDOUT') return true;
  const seen = new Set<unknown>();
  for (let cur: unknown = e; cur && typeof cur === 'object' && !seen.has(cur); ) {
    seen.add(cur);
    if (cur instanceof VfsError) {
      const status = cur.details.status;
      if (status !== undefined && AMBIGUOUS_STATUSES.has(status)) return true;
      // A retryable provider code (e.g. Cloudreve's 50001) on a call that could not be resent.
      if (cur !== e && cur.retryable) return true;
    } else if (isNetworkError(cur)) return true;
    cur = (cur as { cause?: unknown }).cause;
  }
  return false;
}

/** Send `call`; after an ambiguous failure ask `outcome`: done → `done()`, not done → send again. */
export async function settle<T>(call: () => Promise<T>, outcome: () => Promise<Outcome>, done: () => Promise<T>): Promise<T> {
  for (let send = 1; ; send++) {
    try {
      return await call();
    } catch (e) {
      if (send >= MAX_SENDS || !isAmbiguousFailure(e)) throw e;
      const o = await outcome().catch((): Outcome => 'unknown');
      if (o === 'done') return done();
      if (o === 'unknown') throw e;
    }
  }
}

/** `target` with some methods replaced (the rest bound to `target`, so private fields keep working). */
export function withOverrides<T extends object>(target: T, overrides: Partial<T>): T {
  return new Proxy(target, {
    get(t, prop) {
      if (typeof prop === 'string' && prop in overrides) return overrides[prop as keyof T];
      const value = Reflect.get(t, prop, t) as unknown;
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(t) : value;
    },
  });
}
