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
import { HttpError, checkWritable, discardBody, etagOf, parentConflict, pathFromUrl, statOrNull } from '../context.js';
import type { Dav } from '../context.js';

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
  if (source.path === dest) throw new HttpError(403, 'source and destination are the same');
  if (isSameOrInside(source.path, dest)) throw new HttpError(409, 'cannot copy or move a collection into itself');
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
  state.props.transfer(source.path, dest, move ? 'move' : 'copy', !move && depth === '0');
  if (move) state.locks.removeInside(source.path);
  const headers: Record<string, string | number> = { 'Content-Length': 0 };
  if (result.type === 'file') headers.ETag = etagOf(result);
  res.writeHead(existing ? 204 : 201, headers);
  res.end();
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
