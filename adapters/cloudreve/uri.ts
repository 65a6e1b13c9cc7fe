/**
 * POSIX paths ↔ `cloudreve://my/…` URIs. Each segment is name-encoded (names.ts) and then
 * percent-encoded with encodeURIComponent, which is exactly the server's own fs.PathEscape, so
 * spaces, `#`, `%`, `+`, `?` and unicode survive Go's url.Parse on the other side.
 */
import { splitPath } from '../../src/path.js';
import { decodeName, encodeName } from './names.js';

/** The URI of the user's own root. */
export const ROOT_URI = 'cloudreve://my';

/** URI of a normalised Vfs path: "/" → cloudreve://my, "/a b/c" → cloudreve://my/a%20b/c. */
export function pathToUri(path: string): string {
  const segments = splitPath(path);
  if (segments.length === 0) return ROOT_URI;
  return `${ROOT_URI}/${segments.map((s) => encodeURIComponent(encodeName(s))).join('/')}`;
}

/**
 * Vfs path of a URI the server sent back (`path` fields). Tolerates a user id before `@my`, a
 * trailing slash and a query; returns undefined for URIs outside the `my` filesystem.
 */
export function uriToPath(uri: string): string | undefined {
  const m = /^cloudreve:\/\/(?:[^@/]*@)?my(\/[^?#]*)?/i.exec(uri);
  if (!m) return undefined;
  const segments = (m[1] ?? '').split('/').filter((s) => s !== '');
  return '/' + segments.map((s) => decodeName(decodeURIComponent(s))).join('/');
}
