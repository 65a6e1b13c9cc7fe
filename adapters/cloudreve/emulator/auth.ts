/**
 * Emulated authentication: password login (optional 2FA step), HS256 access/refresh tokens with
 * configurable TTLs, rotation on refresh, family revocation on logout. An expired or malformed
 * Bearer makes the request anonymous (file routes then answer 401); a refresh token used as a
 * Bearer gets 40020, as in pkg/auth/jwt.go.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { EmuError, emuFail } from './errors.js';
import { signJwt, verifyJwt } from './jwt.js';

export interface AuthOptions {
  email: string;
  password: string;
  accessTtlMs: number;
  refreshTtlMs: number;
  /** When set, login needs this one-time code through /session/token/2fa. */
  otp?: string;
}

export interface TokenPairJson {
  access_token: string;
  refresh_token: string;
  access_expires: string;
  refresh_expires: string;
}

/** Who is calling: the user, or anonymous. */
export type Caller = { kind: 'user' } | { kind: 'anonymous' };

export const USER_HASH_ID = 'lpu8';

/** Token issuing and checking for the emulator's single user. */
export class EmuAuth {
  private readonly secret = randomBytes(32);
  private readonly revokedRoots = new Set<string>();
  private readonly twoFactorSessions = new Map<string, number>();
  readonly counts = { logins: 0, refreshes: 0, failedRefreshes: 0, logouts: 0 };

  constructor(readonly options: AuthOptions) {}

  /** POST /session/token. Returns the token pair, or a 2FA session id (code 203). */
  login(email: unknown, password: unknown): { pair: TokenPairJson } | { twoFactor: string } {
    if (typeof email !== 'string' || !/^[^@\s]+@[^@\s]+$/.test(email)) throw new EmuError(40001, 'Email format error', undefined, undefined, true);
    if (typeof password !== 'string' || password.length < 4 || password.length > 128) {
      throw new EmuError(40001, 'Password length must be between 4 and 128', undefined, undefined, true);
    }
    if (email.toLowerCase() !== this.options.email.toLowerCase() || password !== this.options.password) {
      emuFail(40080, 'Incorrect password or email address');
    }
    if (this.options.otp !== undefined) {
      const sid = randomUUID();
      this.twoFactorSessions.set(sid, Date.now() + 600_000);
      return { twoFactor: sid };
    }
    this.counts.logins++;
    return { pair: this.issue(randomUUID()) };
  }

  /** POST /session/token/2fa. */
  loginTwoFactor(otp: unknown, sessionId: unknown): TokenPairJson {
    const until = typeof sessionId === 'string' ? this.twoFactorSessions.get(sessionId) : undefined;
    if (until === undefined || until < Date.now()) emuFail(404, 'Session not found');
    if (otp !== this.options.otp) emuFail(40022, 'Incorrect 2FA code');
    this.twoFactorSessions.delete(sessionId as string);
    this.counts.logins++;
    return this.issue(randomUUID());
  }

  /** POST /session/token/refresh: a rotated pair, or 40020. */
  refresh(token: unknown): TokenPairJson {
    const claims = typeof token === 'string' ? verifyJwt(token, this.secret) : undefined;
    if (!claims || claims.token_type !== 'refresh' || claims.exp_ms <= Date.now() || this.revokedRoots.has(claims.root)) {
      this.counts.failedRefreshes++;
      emuFail(40020, 'Failed to issue token pair');
    }
    this.counts.refreshes++;
    return this.issue(claims.root);
  }

  /** DELETE /session/token: revoke the refresh token's family. */
  logout(token: unknown): void {
    const claims = typeof token === 'string' ? verifyJwt(token, this.secret) : undefined;
    if (!claims || claims.token_type !== 'refresh') emuFail(40020, 'Invalid refresh token');
    this.revokedRoots.add(claims.root);
    this.counts.logouts++;
  }

  /** The caller behind an Authorization header; 40020 for a non-access token. */
  caller(header: string | undefined): Caller {
    const m = /^Bearer\s+(.+)$/i.exec(header ?? '');
    if (!m) return { kind: 'anonymous' };
    const claims = verifyJwt(m[1]!.trim(), this.secret);
    if (!claims || claims.exp_ms <= Date.now()) return { kind: 'anonymous' };
    if (claims.token_type !== 'access') emuFail(40020, 'Invalid token type');
    return { kind: 'user' };
  }

  private issue(root: string): TokenPairJson {
    const now = Date.now();
    const make = (type: 'access' | 'refresh', ttl: number) => {
      const exp = now + ttl;
      return {
        token: signJwt({ sub: USER_HASH_ID, token_type: type, root, exp: Math.floor(exp / 1000), nbf: Math.floor(now / 1000), exp_ms: exp, jti: randomUUID() }, this.secret),
        expires: rfc3339(exp),
      };
    };
    const access = make('access', this.options.accessTtlMs);
    const refresh = make('refresh', this.options.refreshTtlMs);
    return { access_token: access.token, refresh_token: refresh.token, access_expires: access.expires, refresh_expires: refresh.expires };
  }
}

/** RFC3339 with a zone offset (Go's RFC3339Nano prints "Z" for UTC; an offset form is also valid). */
export function rfc3339(ms: number): string {
  return new Date(ms).toISOString();
}
