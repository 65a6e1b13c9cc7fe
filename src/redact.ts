/**
 * Redaction: secrets (passwords, tokens, signed URLs) must never reach a log line or an error.
 * Every message that may hold provider text or a URL passes through `redact`.
 */

const knownSecrets = new Set<string>();

/** Remember a secret value (a password or an opaque token) so `redact` removes it wherever it appears. */
export function registerSecret(value: string | undefined | null): void {
  // Very short values would blank out ordinary words; they are not worth guessing anyway.
  if (value && value.length >= 6) knownSecrets.add(value);
}

/** Forget a secret that is no longer in use (a rotated token). */
export function forgetSecret(value: string | undefined | null): void {
  if (value) knownSecrets.delete(value);
}

const PATTERNS: Array<[RegExp, string]> = [
  // Authorization headers and bearer tokens.
  [/\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+/gi, '$1 [redacted]'],
  // JWTs wherever they appear.
  [/\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*/g, '[redacted-jwt]'],
  // A password in a URL's user info: http://user:password@host/ (fetch refuses such URLs and echoes them).
  [/\b([a-z][a-z0-9+.-]*:\/\/[^\s/:@]*):[^\s/@]+@/gi, '$1:[redacted]@'],
  // Secret-looking query parameters: ?sign=…, &token=…, X-Amz-Signature=…
  [/([?&;](?:sign|signature|token|access_token|refresh_token|password|passwd|key|secret|x-amz-signature|x-amz-credential|credential)=)[^&#\s"']*/gi, '$1[redacted]'],
  // JSON or form fields that hold secrets.
  [/("(?:password|passwd|token|access_token|refresh_token|callback_secret|credential|secret|otp)"\s*:\s*")[^"]*(")/gi, '$1[redacted]$2'],
  // header-style "token: value" (Couchdrop's header is literally named token).
  // (not a URL path such as "/session/token: …", which names a route, not a value)
  [/(?<![\w/])(token|password|authorization)(\s*[:=]\s*)(?!\[redacted)[^\s,;&"']+/gi, '$1$2[redacted]'],
];

/** Return `text` with every known secret and secret-looking token replaced by a marker. */
export function redact(text: string): string {
  let out = text;
  for (const secret of knownSecrets) {
    if (out.includes(secret)) out = out.split(secret).join('[redacted]');
  }
  for (const [pattern, replacement] of PATTERNS) out = out.replace(pattern, replacement);
  return out;
}

/** A URL safe to log: origin and path only, no query string (signatures live there). */
export function safeUrl(url: string | URL): string {
  try {
    const u = typeof url === 'string' ? new URL(url) : url;
    return `${u.origin}${u.pathname}${u.search ? '?…' : ''}`;
  } catch {
    return '[unparseable url]';
  }
}
