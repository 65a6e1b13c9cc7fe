/**
 * Token lifecycle: log in with the password, refresh *before* the access token expires, and make
 * every renewal single-flight, so 50 calls that meet an expiring token cause one refresh. A failed
 * refresh (40020) logs in again when the password is known; otherwise the caller gets EACCES.
 */
import { VfsError, isVfsError } from '../../src/errors.js';
import type { Logger } from '../../src/log.js';
import { forgetSecret, registerSecret } from '../../src/redact.js';
import type { TokenPair } from './types.js';
import { CODE } from './codes.js';

/** Tokens the user already holds (e.g. from a previous session). */
export interface CloudreveTokens {
  accessToken: string;
  refreshToken: string;
  /** When the access token expires; unknown → used until the server says 401. */
  accessExpires?: string | Date;
  refreshExpires?: string | Date;
}

interface TokenState {
  access: string;
  refresh: string;
  accessExpiresAt: number;
  refreshExpiresAt: number;
  /** Renew before `accessExpiresAt - margin`. */
  marginMs: number;
  /** The server refused it (401): renew before next use. */
  stale: boolean;
}

export interface TokenManagerDeps {
  /** Password login (handles 2FA); absent when no password is configured. */
  login?: () => Promise<TokenPair>;
  refresh: (refreshToken: string) => Promise<TokenPair>;
  /** Renew this long before expiry at most (default 10 min, as the web frontend does). */
  refreshMarginMs?: number;
  logger: Logger;
}

/** Holds the current token pair and renews it, one renewal at a time. */
export class TokenManager {
  private state: TokenState | undefined;
  private renewal: Promise<TokenState> | undefined;
  private counts = { logins: 0, refreshes: 0 };

  constructor(private readonly deps: TokenManagerDeps, initial?: CloudreveTokens) {
    if (initial) {
      this.state = this.makeState({
        access_token: initial.accessToken,
        refresh_token: initial.refreshToken,
        access_expires: initial.accessExpires ? new Date(initial.accessExpires).toISOString() : '',
        refresh_expires: initial.refreshExpires ? new Date(initial.refreshExpires).toISOString() : '',
      });
    }
  }

  /** A usable access token, renewing first when it is about to expire. */
  async accessToken(): Promise<string> {
    const s = this.state;
    if (s && !s.stale && Date.now() < s.accessExpiresAt - s.marginMs) return s.access;
    return (await this.renew()).access;
  }

  /**
   * The current access token if it is still valid right now, without renewing (undefined otherwise).
   * Used when a queued request is finally sent, so it carries the newest token, not the one it was queued with.
   */
  peek(): string | undefined {
    const s = this.state;
    return s && !s.stale && Date.now() < s.accessExpiresAt ? s.access : undefined;
  }

  /** The server answered 401 to `used`: renew before the next use (no-op if already renewed). */
  invalidate(used: string): void {
    if (this.state && this.state.access === used) this.state.stale = true;
  }

  /** The current pair, for callers that want to persist it. */
  current(): CloudreveTokens | undefined {
    const s = this.state;
    if (!s) return undefined;
    return {
      accessToken: s.access,
      refreshToken: s.refresh,
      accessExpires: new Date(s.accessExpiresAt),
      refreshExpires: new Date(s.refreshExpiresAt),
    };
  }

  /** How many logins and refreshes happened (for tests and --stats). */
  stats(): { logins: number; refreshes: number } {
    return { ...this.counts };
  }

  /** Forget the tokens (close). */
  clear(): void {
    if (this.state) {
      forgetSecret(this.state.access);
      forgetSecret(this.state.refresh);
    }
    this.state = undefined;
  }

  private renew(): Promise<TokenState> {
    this.renewal ??= this.doRenew().finally(() => {
      this.renewal = undefined;
    });
    return this.renewal;
  }

  private async doRenew(): Promise<TokenState> {
    const s = this.state;
    if (s && Date.now() < s.refreshExpiresAt - 5_000) {
      try {
        this.counts.refreshes++;
        const pair = await this.deps.refresh(s.refresh);
        this.deps.logger.debug('cloudreve: access token refreshed');
        return this.store(pair);
      } catch (e) {
        // 40020 = refresh token expired/revoked; other failures (network) are not ours to mask.
        if (!isVfsError(e) || e.details.providerCode !== CODE.CredentialInvalid) throw e;
        this.deps.logger.info('cloudreve: refresh token refused, logging in again');
      }
    }
    if (!this.deps.login) {
      throw new VfsError('EACCES', 'the Cloudreve session has expired and no password is configured: log in again to get new tokens', {
        provider: 'cloudreve',
        operation: 'refresh',
        providerCode: CODE.CredentialInvalid,
      });
    }
    this.counts.logins++;
    return this.store(await this.deps.login());
  }

  private store(pair: TokenPair): TokenState {
    if (this.state) {
      forgetSecret(this.state.access);
      forgetSecret(this.state.refresh);
    }
    this.state = this.makeState(pair);
    return this.state;
  }

  private makeState(pair: TokenPair): TokenState {
    registerSecret(pair.access_token);
    registerSecret(pair.refresh_token);
    const now = Date.now();
    const access = Date.parse(pair.access_expires);
    const refresh = Date.parse(pair.refresh_expires);
    const accessExpiresAt = Number.isFinite(access) ? access : Number.MAX_SAFE_INTEGER;
    // Unknown refresh expiry: try it; the server says 40020 when it is no good.
    const refreshExpiresAt = Number.isFinite(refresh) ? refresh : Number.MAX_SAFE_INTEGER;
    const lifetime = accessExpiresAt - now;
    // Short-lived tokens (tests, strict servers) renew at 3/4 of their life rather than 10 min early.
    const marginMs = Math.max(0, Math.min(this.deps.refreshMarginMs ?? 600_000, lifetime / 4));
    return { access: pair.access_token, refresh: pair.refresh_token, accessExpiresAt, refreshExpiresAt, marginMs, stale: false };
  }
}
