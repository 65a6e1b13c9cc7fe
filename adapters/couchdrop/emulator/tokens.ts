/**
 * Tokens the emulator accepts: long-lived static tokens (Couchdrop's admin-UI "API tokens") and
 * short-lived login tokens issued by `/authenticate`, each carrying the permissions of its user.
 */
import { randomUUID } from 'node:crypto';

/** What a token may do; every refusal is a 403 with the documented message. */
export interface TokenPermissions {
  /** ls, lstat, download (default true). */
  read?: boolean;
  /** upload, mkdir, rename (default true). */
  write?: boolean;
  /** delete (default true; Couchdrop's `permissions_delete_allowed`). */
  delete?: boolean;
  /** The user's root in the store: their "/" is this folder (Couchdrop's `permissions_path`, default "/"). */
  root?: string;
}

/** A static token and its permissions. */
export interface EmulatorStaticToken {
  token: string;
  permissions?: TokenPermissions;
}

/** A user who can log in at `/authenticate`. */
export interface EmulatorUser {
  username: string;
  password: string;
  /** `/authenticate` answers 401 (2FA required) for this user. */
  twoFactor?: boolean;
  permissions?: TokenPermissions;
}

/** Result of looking up the `token` header. */
export type TokenLookup =
  | { ok: true; kind: 'static' | 'login'; permissions: Required<TokenPermissions> }
  | { ok: false; reason: 'missing' | 'unknown' | 'expired' };

interface LoginToken {
  expires: number;
  permissions: Required<TokenPermissions>;
}

function fullPermissions(p: TokenPermissions = {}): Required<TokenPermissions> {
  return { read: p.read ?? true, write: p.write ?? true, delete: p.delete ?? true, root: p.root ?? '/' };
}

/** Issues, checks and expires tokens. */
export class TokenRegistry {
  private readonly statics = new Map<string, Required<TokenPermissions>>();
  private readonly logins = new Map<string, LoginToken>();
  private readonly users = new Map<string, EmulatorUser>();

  constructor(
    staticTokens: EmulatorStaticToken[],
    users: EmulatorUser[],
    /** Lifetime of login tokens in ms. */
    public loginTokenTtlMs: number,
  ) {
    for (const t of staticTokens) this.addStaticToken(t.token, t.permissions);
    for (const u of users) this.users.set(u.username, u);
  }

  /** Accept `token` from now on with `permissions`. */
  addStaticToken(token: string, permissions?: TokenPermissions): void {
    this.statics.set(token, fullPermissions(permissions));
  }

  /** Change what an existing token (static or login) may do. */
  setPermissions(token: string, permissions: TokenPermissions): void {
    if (this.statics.has(token)) this.statics.set(token, fullPermissions(permissions));
    const login = this.logins.get(token);
    if (login) login.permissions = fullPermissions(permissions);
  }

  /** `/authenticate`: 200 with a fresh token, 401 for a 2FA user, 403 for wrong credentials. */
  authenticate(username: string | undefined, password: string | undefined): { status: 200; token: string } | { status: 401 | 403 } {
    const user = username === undefined ? undefined : this.users.get(username);
    if (!user || password === undefined || user.password !== password) return { status: 403 };
    if (user.twoFactor) return { status: 401 };
    const token = `cdl-${randomUUID()}`;
    this.logins.set(token, { expires: Date.now() + this.loginTokenTtlMs, permissions: fullPermissions(user.permissions) });
    return { status: 200, token };
  }

  /** Look up the `token` header value. */
  lookup(token: string | undefined): TokenLookup {
    if (!token) return { ok: false, reason: 'missing' };
    const permissions = this.statics.get(token);
    if (permissions) return { ok: true, kind: 'static', permissions };
    const login = this.logins.get(token);
    if (!login) return { ok: false, reason: 'unknown' };
    if (Date.now() >= login.expires) return { ok: false, reason: 'expired' };
    return { ok: true, kind: 'login', permissions: login.permissions };
  }

  /** Make every login token issued so far expire now (a token running out mid-run). */
  expireLoginTokens(): number {
    let n = 0;
    for (const login of this.logins.values()) {
      if (login.expires > Date.now()) n++;
      login.expires = 0;
    }
    return n;
  }

  /** How many login tokens were issued (tests check re-authentication counts). */
  get issuedLoginTokens(): number {
    return this.logins.size;
  }
}
