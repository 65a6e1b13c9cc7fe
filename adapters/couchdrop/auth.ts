/**
 * Couchdrop credentials: a long-lived API token (Admin → API tokens), or a username and password
 * exchanged at `/authenticate` for a short-lived token that is renewed when it stops working.
 */
import { registerSecret } from '../../src/redact.js';

/** A static token, or a login whose token expires and is renewed. */
export type CouchdropCredentials =
  | { token: string }
  | {
      username: string;
      password: string;
      /** Free text Couchdrop records as the caller (default "cloudmount"). */
      system?: string;
    };

/** Exchange a username and password for a token (one POST /authenticate). */
export type LoginFunction = () => Promise<string>;

/**
 * Hands out the current token. In login mode the first call logs in, and `renew` logs in again;
 * both are single-flight, so a burst of requests that all saw the same expired token causes ONE login.
 */
export class TokenSource {
  /** True in login mode: a 403 may mean the token expired, so one renewal is worth trying. */
  readonly renewable: boolean;
  #token: string | undefined;
  #pending: Promise<string> | undefined;
  #logins = 0;

  constructor(credentials: CouchdropCredentials, private readonly login: LoginFunction) {
    if ('token' in credentials) {
      if (!credentials.token) throw new TypeError('couchdrop: the token is empty');
      this.renewable = false;
      this.#token = credentials.token;
      registerSecret(credentials.token);
    } else {
      if (!credentials.username || !credentials.password) throw new TypeError('couchdrop: username and password are both required');
      this.renewable = true;
      registerSecret(credentials.password);
    }
  }

  /** How many times this source logged in (for stats and tests). */
  get logins(): number {
    return this.#logins;
  }

  /** The token to use now (logging in first when there is none). */
  async get(): Promise<string> {
    return this.#token ?? this.#login();
  }

  /** A fresh token after `stale` was refused; a renewal someone else already made is reused. */
  async renew(stale: string): Promise<string> {
    if (!this.renewable) return stale;
    if (this.#token !== undefined && this.#token !== stale) return this.#token;
    return this.#login();
  }

  #login(): Promise<string> {
    this.#pending ??= (async () => {
      try {
        const token = await this.login();
        this.#logins++;
        // Old tokens stay registered: an expired token is still not for log lines.
        registerSecret(token);
        this.#token = token;
        return token;
      } finally {
        this.#pending = undefined;
      }
    })();
    return this.#pending;
  }
}
