/**
 * HTTP Basic authentication with failed-login throttling: after a few failures from one address,
 * each further attempt waits (doubling, capped) BEFORE its credentials are checked, and only one
 * attempt per throttled address is in flight at a time (the others get 429 unchecked). So guesses
 * sent in parallel are as slow as guesses sent one by one, and a right guess is not answered sooner
 * than a wrong one. Addresses are counted as IPv4 addresses or IPv6 /64s, in bounded LRU tables;
 * a user name guessed from many addresses gets its checks paced (a bounded delay, see `gate`).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { LRUCache } from 'lru-cache';
import { registerSecret } from '../../src/redact.js';
import { addressGroup } from './connections.js';
import type { UserDirectory } from './users.js';

/** Users as `{ name: password }` or a list of `{ name, password }`. */
export type WebdavUsers = Record<string, string> | Array<{ name: string; password: string }>;

const FREE_FAILURES = 5;
const FAILURE_WINDOW_MS = 10 * 60_000;
const MAX_DELAY_MS = 5_000;
/**
 * Client addresses (IPv4, or IPv6 /64) remembered with a few failures, and remembered as throttled:
 * two bounded LRU tables, each evicting its least recently failing entry one at a time, never
 * cleared. A spray of fresh addresses (one or two guesses each) only ever evicts entries of the
 * first table; to push a throttled address out of the second takes 10 000 other addresses failing
 * 6 times each (~1.6 MB per table at most).
 */
const MAX_ADDRESSES = 10_000;
/** Failures of one user name, from all addresses within the window, before that name's checks are paced. */
const USER_FREE_FAILURES = 50;
/** Paced: the checks of that name are spaced this far apart … */
const USER_PACE_MS = 500;
/** … and none waits longer than this (a bounded delay, never a refusal: the real user still gets in). */
const USER_MAX_WAIT_MS = 5_000;
/** An address that logged in as a user is exempt from that user's pacing this long. */
const KNOWN_ADDRESS_TTL_MS = 24 * 60 * 60_000;

interface Failures {
  count: number;
  pending: boolean;
}

interface UserFailures {
  count: number;
  last: number;
  /** When the next paced check of this name may run. */
  nextSlot: number;
}

export class BasicAuth {
  private readonly users = new Map<string, Buffer>();
  /** Addresses below the throttle (fewer than FREE_FAILURES failures in the window). */
  private readonly light = new LRUCache<string, Failures>({ max: MAX_ADDRESSES, ttl: FAILURE_WINDOW_MS });
  /** Throttled addresses. */
  private readonly heavy = new LRUCache<string, Failures>({ max: MAX_ADDRESSES, ttl: FAILURE_WINDOW_MS });
  /** Failures per configured user name (names that are no user are not tracked: nothing to protect, and no way to flood the table). */
  private readonly userFailures = new Map<string, UserFailures>();
  /** "name\naddress group" pairs that logged in successfully. */
  private readonly known = new LRUCache<string, true>({ max: MAX_ADDRESSES, ttl: KNOWN_ADDRESS_TTL_MS });

  /** Users with hashes, roots and the like (htpasswd, config); checked instead of `users` when set. */
  private readonly directory: UserDirectory | undefined;

  constructor(users: WebdavUsers | UserDirectory, readonly realm = 'cloudmount') {
    if (isDirectory(users)) {
      this.directory = users;
      return;
    }
    const list = Array.isArray(users) ? users : Object.entries(users).map(([name, password]) => ({ name, password }));
    for (const { name, password } of list) {
      registerSecret(password);
      this.users.set(name, digest(password));
    }
  }

  get size(): number {
    return this.directory ? this.directory.size : this.users.size;
  }

  /** Is `name` a configured user? */
  has(name: string): boolean {
    return this.directory ? this.directory.has(name) : this.users.has(name);
  }

  /** The user name when the request carries valid credentials, else undefined (hashes may take a while: bcrypt). */
  async verify(req: IncomingMessage): Promise<string | undefined> {
    if (!this.directory) return this.check(req);
    const creds = parseBasic(req.headers.authorization);
    if (!creds) return undefined;
    return (await this.directory.verify(creds.name, creds.password)) ? creds.name : undefined;
  }

  /** How many client addresses the throttle remembers (bounded by 2 × 10 000). */
  get trackedAddresses(): number {
    return this.light.size + this.heavy.size;
  }

  /** The WWW-Authenticate header value for a 401. */
  challenge(): string {
    return `Basic realm="${this.realm}", charset="UTF-8"`;
  }

  /** The user name a request claims (checked or not), undefined without Basic credentials. */
  claimedUser(req: IncomingMessage): string | undefined {
    return parseBasic(req.headers.authorization)?.name;
  }

  /** The user name when the request carries valid credentials, else undefined. */
  check(req: IncomingMessage): string | undefined {
    const creds = parseBasic(req.headers.authorization);
    if (!creds) return undefined;
    const expected = this.users.get(creds.name);
    // Compare digests of equal length in constant time, even for unknown users.
    const ok = timingSafeEqual(digest(creds.password), expected ?? digest('\0no-such-user'));
    return ok && expected ? creds.name : undefined;
  }

  /**
   * Before checking the credentials of a request from `address` for `user`: how long to wait first,
   * or "busy" when another attempt from this throttled address is still waiting or being checked.
   * The wait is the longer of the address's (0 for its first few failures, then doubling to 5 s) and
   * the user name's (0 until the name failed 50 times in 10 minutes from anywhere, then one check
   * every 500 ms, each waiting at most 5 s; none for an address that logged in as that user in the
   * last 24 hours). An address wait > 0 reserves the address's one slot until `failed` or
   * `succeeded` is called.
   */
  gate(address: string, user?: string): { wait: number } | { busy: true; retryAfterMs: number } {
    const group = addressGroup(address);
    const f = this.heavy.get(group) ?? this.light.get(group);
    const addressWait = f ? delayFor(f.count + 1) : 0;
    if (f && addressWait > 0 && f.pending) return { busy: true, retryAfterMs: addressWait };
    const userWait = this.userWait(group, user);
    if (f && addressWait > 0) f.pending = true;
    return { wait: Math.max(addressWait, userWait) };
  }

  /** Record a failed attempt from `address` (and free its slot). */
  failed(address: string, user?: string): void {
    const group = addressGroup(address);
    const f = this.heavy.get(group) ?? this.light.get(group);
    const count = (f?.count ?? 0) + 1;
    // set() restarts the entry's window and makes it the most recent of its table.
    if (count >= FREE_FAILURES) {
      this.light.delete(group);
      this.heavy.set(group, { count, pending: false });
    } else this.light.set(group, { count, pending: false });
    if (user === undefined || !this.has(user)) return;
    const now = Date.now();
    const u = this.userFailures.get(user);
    if (!u || now - u.last >= FAILURE_WINDOW_MS) this.userFailures.set(user, { count: 1, last: now, nextSlot: 0 });
    else {
      u.count++;
      u.last = now;
    }
  }

  /** A successful login clears the address's failure count and exempts it from `user`'s pacing. */
  succeeded(address: string, user?: string): void {
    const group = addressGroup(address);
    this.light.delete(group);
    this.heavy.delete(group);
    if (user !== undefined) this.known.set(`${user}\n${group}`, true);
  }

  /** The paced wait of a check of `user` from `group` (reserves its turn). */
  private userWait(group: string, user: string | undefined): number {
    if (user === undefined) return 0;
    const u = this.userFailures.get(user);
    const now = Date.now();
    if (!u || u.count < USER_FREE_FAILURES || now - u.last >= FAILURE_WINDOW_MS) return 0;
    if (this.known.has(`${user}\n${group}`)) return 0;
    const slot = Math.max(now, u.nextSlot);
    // Turns are handed out only up to the bound: past it everyone waits the bound, unqueued.
    if (slot - now >= USER_MAX_WAIT_MS) return USER_MAX_WAIT_MS;
    u.nextSlot = slot + USER_PACE_MS;
    return slot - now;
  }
}

/** `Authorization: Basic …` as name and password (linear: one anchored pass, no backtracking). */
function parseBasic(header: string | undefined): { name: string; password: string } | undefined {
  const m = header ? /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header) : null;
  if (!m) return undefined;
  const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  return { name: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

/** The wait before attempt number `attempt` (counting failures in the window): 0 for the first few, then 250 ms doubling to 5 s. */
function delayFor(attempt: number): number {
  return attempt <= FREE_FAILURES ? 0 : Math.min(MAX_DELAY_MS, 250 * 2 ** (attempt - FREE_FAILURES - 1));
}

function isDirectory(u: WebdavUsers | UserDirectory): u is UserDirectory {
  return typeof (u as UserDirectory).verify === 'function' && typeof (u as UserDirectory).has === 'function';
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}
