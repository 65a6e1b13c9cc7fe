/**
 * HTTP Basic authentication with failed-login throttling: after a few failures from one address,
 * each further attempt waits (doubling, capped), which makes password guessing slow.
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
  private readonly failures = new Map<string, { count: number; last: number }>();

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

  /** Milliseconds to wait before answering a failed attempt from `address`; records the failure. */
  failureDelay(address: string): number {
    const now = Date.now();
    const f = this.failures.get(address);
    const count = f && now - f.last < FAILURE_WINDOW_MS ? f.count + 1 : 1;
    this.failures.set(address, { count, last: now });
    if (this.failures.size > 10_000) this.failures.clear(); // bounded memory under a spray of addresses
    return count <= FREE_FAILURES ? 0 : Math.min(MAX_DELAY_MS, 250 * 2 ** (count - FREE_FAILURES - 1));
  }

  /** A successful login clears the address's failure count. */
  succeeded(address: string): void {
    this.failures.delete(address);
  }
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}
