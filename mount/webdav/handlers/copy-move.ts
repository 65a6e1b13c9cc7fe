/**
 * COPY and MOVE through the Vfs's own copy and rename (server-side where the provider can).
 * Overwrite: F onto an existing target is 412 and touches nothing; Overwrite: T replaces it
 * (file onto file atomically via the Vfs, otherwise the old target is removed first).
 * COPY honours Depth 0 (collection without members) and infinity; MOVE only infinity.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { isVfsError } from '../../../src/errors.js';
import { isSameOrInside } from '../../../src/path.js';
import type { Entry } from '../../../src/vfs.js';
import type { Dav } from '../context.js';
import { discardBody } from '../body.js';
import { etagOf } from '../conditional.js';
import { pathFromUrl } from '../href.js';
import { parentConflict, statOrNull } from '../lookup.js';
import { HttpError } from '../reply.js';
import { checkWritable } from '../write-check.js';

export async function handleCopyMove(dav: Dav): Promise<void> {
  const { state, req, res } = dav;
  const move = dav.method === 'MOVE';
  discardBody(req);
  const destHeader = req.headers.destination;
  if (typeof destHeader !== 'string' || destHeader === '') throw new HttpError(400, 'Destination header required');
  if (!sameServer(destHeader, req.headers)) throw new HttpError(502, 'Destination is on another server');
  const dest = pathFromUrl(state, destHeader);
  if (dest === undefined) throw new HttpError(502, 'Destination is outside this share');
  const overwriteHeader = (req.headers.overwrite ?? 'T').toString().trim().toUpperCase();
  if (overwriteHeader !== 'T' && overwriteHeader !== 'F') throw new HttpError(400, 'Overwrite must be T or F');
  const overwrite = overwriteHeader === 'T';
  const depth = (req.headers.depth ?? 'infinity').toString().trim().toLowerCase();
  if (move ? depth !== 'infinity' : depth !== '0' && depth !== 'infinity') {
    throw new HttpError(400, move ? 'MOVE needs Depth: infinity' : 'COPY needs Depth 0 or infinity');
  }
  if (dav.path === '/' || dest === '/') throw new HttpError(403, 'cannot copy or move the root collection');
  if (state.isJunk(dest.slice(dest.lastIndexOf('/') + 1))) throw new HttpError(403, 'destination name is filtered OS junk');

  const source = await state.vfs.stat(dav.path, { signal: dav.signal });
  refuseOwnNamespace(state.vfs.capabilities.caseSensitive, source, dest);
  let existing = await statOrNull(dav, dest);
  // On a case-insensitive provider "A.txt" → "a.txt" finds the source itself: that is a rename, not
  // a replacement (Windows Explorer sends such renames with Overwrite: F).
  if (existing && !state.vfs.capabilities.caseSensitive && dest.toLowerCase() === source.path.toLowerCase()) existing = undefined;
  if (existing && !overwrite) throw new HttpError(412, 'destination exists and Overwrite is F');

  const targets = [{ path: dest, tree: true, membership: true }];
  if (move) targets.push({ path: dav.path, tree: true, membership: true });
  await checkWritable(dav, targets);

  const signal = dav.signal;
  let result: Entry;
  try {
    const atomicReplace = existing?.type === 'file' && source.type === 'file';
    if (existing && !atomicReplace) await state.vfs.remove(dest, { recursive: true, signal });
    const opts = { overwrite: atomicReplace, signal };
    if (move) result = await state.vfs.rename(source.path, dest, opts);
    else if (source.type === 'directory' && depth === '0') result = await state.vfs.mkdir(dest, { signal });
    else result = await state.vfs.copy(source.path, dest, opts);
  } catch (e) {
    if (isVfsError(e, 'EEXIST')) throw new HttpError(412, 'destination exists');
    return await parentConflict(dav, dest, e);
  }
  await state.props.transfer(source.path, dest, move ? 'move' : 'copy', !move && depth === '0');
  if (move) await state.locks.removeInside(source.path);
  const headers: Record<string, string | number> = { 'Content-Length': 0 };
  if (result.type === 'file') headers.ETag = etagOf(result);
  res.writeHead(existing ? 204 : 201, headers);
  res.end();
}

/**
 * A destination that is the source, contains it, or (for a collection) lies inside it can never be
 * reached: replacing an ancestor would delete the source before the move (issue 16 #2). Refused
 * before anything is touched, whatever Overwrite says. 403, not 409: RFC 4918 §9.8.5/§9.9.4 keep
 * 409 for "create the intermediate collections first" (a state the client can fix) and name 403
 * for the same-resource case, which these are (no change of state would make them succeed); Apache
 * mod_dav answers 403 for both containment directions too. A file "containing" the destination
 * ("/a.txt" → "/a.txt/b") is the ordinary missing-parent 409.
 */
function refuseOwnNamespace(caseSensitive: boolean, source: Entry, dest: string): void {
  if (source.path === dest) throw new HttpError(403, 'source and destination are the same');
  const fold = caseSensitive ? (p: string) => p : (p: string) => p.toLowerCase();
  // On a case-insensitive provider "/A" → "/a" is a rename of the same resource, allowed below.
  if (fold(source.path) === fold(dest)) return;
  if (isSameOrInside(fold(dest), fold(source.path))) throw new HttpError(403, 'the destination contains the source');
  if (isSameOrInside(fold(source.path), fold(dest))) {
    if (source.type === 'directory') throw new HttpError(403, 'cannot copy or move a collection into itself');
    throw new HttpError(409, 'the destination parent is not a collection');
  }
}

/**
 * An absolute Destination must name this server (RFC 4918 §9.8.4: otherwise 502), never be taken
 * as a path here. "This server" is the Host the client addressed (or what a reverse proxy says it
 * was: X-Forwarded-Host); the scheme is not compared, since a TLS proxy turns https into http.
 */
function sameServer(destination: string, headers: IncomingHttpHeaders): boolean {
  const m = /^([a-z][a-z0-9+.-]*):\/\/([^/?#]*)/i.exec(destination);
  if (!m) return true; // an absolute path: this server by definition
  if (!/^https?$/i.test(m[1]!)) return false;
  const authority = m[2]!.replace(/^[^@]*@/, '').toLowerCase();
  const known = [headers.host, ...String(headers['x-forwarded-host'] ?? '').split(',')]
    .filter((h): h is string => typeof h === 'string' && h.trim() !== '')
    .map((h) => h.trim().toLowerCase());
  return known.some((h) => h === authority || withoutDefaultPort(h) === withoutDefaultPort(authority));
}

function withoutDefaultPort(authority: string): string {
  return authority.replace(/:(80|443)$/, '');
}
