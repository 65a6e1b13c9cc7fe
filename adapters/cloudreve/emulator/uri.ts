/**
 * The server's side of file URIs: Go url.Parse semantics (percent-decode the path, then path.Clean),
 * a bad `%xx` or a foreign scheme → 40001, an unknown filesystem → -1, an unescaped `?` → search.
 */
import { EmuError } from './errors.js';

export type FsKind = 'my' | 'trash' | 'share' | 'shared_with_me';

export interface ParsedUri {
  fs: FsKind;
  /** Everything before the fs name, kept to echo the caller's form ("" or "<id>@"). */
  authorityPrefix: string;
  /** Decoded, cleaned path segments. */
  segments: string[];
  /** Raw search query, when the URI had one. */
  query?: string;
}

/** Parse a cloudreve:// URI the way the server does. */
export function parseUri(raw: unknown): ParsedUri {
  if (typeof raw !== 'string' || raw === '') throw new EmuError(40001, 'Uri cannot be empty', undefined, undefined, true);
  const m = /^([a-z][a-z0-9+.-]*):\/\/([^/?#]*)([^?#]*)(?:\?([^#]*))?/i.exec(raw);
  if (!m || m[1]!.toLowerCase() !== 'cloudreve') throw new EmuError(40001, 'unknown uri');
  const authority = m[2]!;
  const at = authority.lastIndexOf('@');
  const host = authority.slice(at + 1).toLowerCase();
  if (!['my', 'trash', 'share', 'shared_with_me'].includes(host)) throw new EmuError(-1, '');
  let decoded: string;
  try {
    decoded = decodeURIComponent(m[3]!);
  } catch {
    throw new EmuError(40001, 'unknown uri');
  }
  // path.Clean: drop empty and "." segments, resolve "..".
  const segments: string[] = [];
  for (const s of decoded.split('/')) {
    if (s === '' || s === '.') continue;
    if (s === '..') segments.pop();
    else segments.push(s);
  }
  const out: ParsedUri = { fs: host as FsKind, authorityPrefix: authority.slice(0, at + 1), segments };
  if (m[4] !== undefined && m[4] !== '') out.query = m[4];
  return out;
}

/** A URI for `segments` under the caller's prefix, escaped like fs.PathEscape (= encodeURIComponent). */
export function buildUri(fs: FsKind, segments: string[], authorityPrefix = ''): string {
  const base = `cloudreve://${authorityPrefix}${fs}`;
  return segments.length === 0 ? base : `${base}/${segments.map(encodeURIComponent).join('/')}`;
}

/** The lock/lookup key of a path: "/a/b". */
export function keyOf(segments: string[]): string {
  return '/' + segments.join('/');
}
