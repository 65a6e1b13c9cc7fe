/**
 * HTTP Basic authentication with failed-login throttling: after a few failures from one address,
 * each further attempt waits (doubling, capped) BEFORE its credentials are checked, and only one
 * attempt per throttled address is in flight at a time (the others get 429 unchecked). So guesses
 * sent in parallel are as slow as guesses sent one by one, and a right guess is not answered sooner
 * than a wrong one.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { registerSecret } from '../../src/redact.js';

/** Users as `{ name: password }` or a list of `{ name, password }`. */
export type WebdavUsers = Record<string, string> | Array<{ name: string; password: string }>;

const FREE_FAILURES = 5;
const FAILURE_WINDOW_MS = 10 * 60_000;
const MAX_DELAY_MS = 5_000;

export class BasicAuth {
  private readonly users = new Map<string, Buffer>();
  private readonly failures = new Map<string, { count: number; last: number; pending: boolean }>();

  constructor(users: WebdavUsers, readonly realm = 'cloudmount') {
    const list = Array.isArray(users) ? users : Object.entries(users).map(([name, password]) => ({ name, password }));
    for (const { name, password } of list) {
      registerSecret(password);
      this.users.set(name, digest(password));
    }
  }

  get size(): number {
    return this.users.size;
  }

  /** The WWW-Authenticate header value for a 401. */
  challenge(): string {
    return `Basic realm="${this.realm}", charset="UTF-8"`;
  }

  /** The user name when the request carries valid credentials, else undefined. */
  check(req: IncomingMessage): string | undefined {
    const header = req.headers.authorization;
    const m = header ? /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header) : null;
    if (!m) return undefined;
    const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) return undefined;
    const name = decoded.slice(0, colon);
    const expected = this.users.get(name);
    // Compare digests of equal length in constant time, even for unknown users.
    const ok = timingSafeEqual(digest(decoded.slice(colon + 1)), expected ?? digest('\0no-such-user'));
    return ok && expected ? name : undefined;
  }

  /**
   * Before checking the credentials of a request from `address`: how long to wait first (0 while the
   * address has failed fewer than a few times), or "busy" when another attempt from this throttled
   * address is still waiting or being checked. A `wait` > 0 reserves the address's one slot until
   * `failed` or `succeeded` is called.
   */
  gate(address: string): { wait: number } | { busy: true; retryAfterMs: number } {
    const f = this.failures.get(address);
    if (!f || Date.now() - f.last >= FAILURE_WINDOW_MS) return { wait: 0 };
    const wait = delayFor(f.count + 1);
    if (wait === 0) return { wait: 0 };
    if (f.pending) return { busy: true, retryAfterMs: wait };
    f.pending = true;
    return { wait };
  }

  /** Record a failed attempt from `address` (and free its slot). */
  failed(address: string): void {
    const now = Date.now();
    const f = this.failures.get(address);
    const count = f && now - f.last < FAILURE_WINDOW_MS ? f.count + 1 : 1;
    this.failures.set(address, { count, last: now, pending: false });
    if (this.failures.size > 10_000) this.failures.clear(); // bounded memory under a spray of addresses
  }

  /** A successful login clears the address's failure count. */
  succeeded(address: string): void {
    this.failures.delete(address);
  }
}

/** The wait before attempt number `attempt` (counting failures in the window): 0 for the first few, then 250 ms doubling to 5 s. */
function delayFor(attempt: number): number {
  return attempt <= FREE_FAILURES ? 0 : Math.min(MAX_DELAY_MS, 250 * 2 ** (attempt - FREE_FAILURES - 1));
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}
