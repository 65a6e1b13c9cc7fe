/**
 * URLs and Vfs paths, both ways: the href a client sees for a path, and the path a request target,
 * Destination header or If tag names (nothing outside the share, no smuggled structure).
 */
import { VfsError } from '../../src/errors.js';
import { normalizePath } from '../../src/path.js';
import type { ServerState } from './context.js';
import { decodeSegment, encodeSegment } from './segment.js';

/** The href of a Vfs path as the client sees it (percent-encoded, collections end with "/"). */
export function hrefFor(state: ServerState, path: string, isDir: boolean): string {
  if (path === '/') return state.basePath + '/';
  let out = state.basePath;
  for (const seg of path.slice(1).split('/')) out += '/' + encodeSegment(seg);
  return isDir ? out + '/' : out;
}

/**
 * The Vfs path of a URL (request target, Destination header or If tag), or undefined when it lies
 * outside the share. EINVAL for encodings that would smuggle `..`, `/` or NUL into a name.
 */
export function pathFromUrl(state: ServerState, raw: string): string | undefined {
  let target = raw;
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(target)) {
    const afterScheme = target.indexOf('//') + 2;
    const slash = target.indexOf('/', afterScheme);
    target = slash < 0 ? '/' : target.slice(slash);
  }
  const cut = target.search(/[?#]/);
  if (cut >= 0) target = target.slice(0, cut);
  if (!target.startsWith('/')) throw new VfsError('EINVAL', 'request path must be absolute', { provider: 'webdav' });
  if (state.basePath) {
    if (target === state.basePath) target = '/';
    else if (target.startsWith(state.basePath + '/')) target = target.slice(state.basePath.length);
    else return undefined;
  }
  const segments: string[] = [];
  for (const rawSeg of target.split('/')) {
    if (rawSeg === '') continue;
    const seg = decodeSegment(rawSeg);
    // Decoding must not create new structure: an encoded "/" or NUL, or a decoded "." / "..".
    if (seg.includes('/') || seg.includes('\0') || seg === '.' || seg === '..') {
      throw new VfsError('EINVAL', 'path segment not allowed', { provider: 'webdav' });
    }
    segments.push(seg);
  }
  const path = '/' + segments.join('/');
  // Segments are clean already; only the byte-length limits are left to check, and a path of at
  // most 85 UTF-16 units cannot break them (3 UTF-8 bytes per unit at most).
  return path.length <= 85 ? path : normalizePath(path);
}

/** pathFromUrl, or undefined for a URL it refuses (an If tag that names nothing in the share). */
export function pathFromUrlOrUndefined(state: ServerState, url: string): string | undefined {
  try {
    return pathFromUrl(state, url);
  } catch {
    return undefined;
  }
}
