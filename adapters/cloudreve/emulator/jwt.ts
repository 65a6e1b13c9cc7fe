/** HS256 JWTs like Cloudreve's (claim `token_type` = "access" | "refresh"). */
import { createHmac, timingSafeEqual } from 'node:crypto';

export interface TokenClaims {
  sub: string;
  token_type: 'access' | 'refresh';
  /** Token family (root token id): logout revokes the family. */
  root: string;
  /** Unix seconds. */
  exp: number;
  nbf: number;
  /** Milliseconds expiry, so sub-second TTLs work in tests (exp alone is whole seconds). */
  exp_ms: number;
  jti: string;
}

const b64 = (buf: Buffer | string) => Buffer.from(buf).toString('base64url');

/** Sign claims with `secret`. */
export function signJwt(claims: TokenClaims, secret: Buffer): string {
  const head = b64(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
  const body = b64(JSON.stringify(claims));
  const sig = createHmac('sha256', secret).update(`${head}.${body}`).digest('base64url');
  return `${head}.${body}.${sig}`;
}

/** Claims of a well-signed token, or undefined (bad shape or signature). Expiry is the caller's check. */
export function verifyJwt(token: string, secret: Buffer): TokenClaims | undefined {
  const parts = token.split('.');
  if (parts.length !== 3) return undefined;
  const expected = createHmac('sha256', secret).update(`${parts[0]}.${parts[1]}`).digest();
  const got = Buffer.from(parts[2]!, 'base64url');
  if (got.length !== expected.length || !timingSafeEqual(got, expected)) return undefined;
  try {
    return JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8')) as TokenClaims;
  } catch {
    return undefined;
  }
}
