/**
 * LOCK and UNLOCK (class 2). A LOCK with a lockinfo body takes a new lock (creating an empty file
 * on an unmapped URL, 201); a LOCK without a body refreshes the lock named in the If header.
 * Conflicts are 423; UNLOCK of a token that does not cover the URL is 409.
 */
import { isVfsError } from '../../../src/errors.js';
import type { Dav, ServerState } from '../context.js';
import { readSmallBody } from '../body.js';
import { hrefFor } from '../href.js';
import { parentConflict, statOrNull } from '../lookup.js';
import { HttpError, errorXml, sendXml } from '../reply.js';
import { checkWritable, ifListsOf } from '../write-check.js';
import { submittedTokens } from '../if-header.js';
import { MAX_LOCKS, MAX_LOCKS_PER_CLIENT, MAX_LOCK_OWNER_BYTES, lockClient, parseTimeout } from '../locks.js';
import type { Lock, LockScope } from '../locks.js';
import { child, escapeXml, parseXml, serializeNodes } from '../xml.js';

const DAV = 'DAV:';

/** The <D:activelock> of a lock, for LOCK answers and lockdiscovery. */
export function activeLockXml(state: ServerState, lock: Lock): string {
  const seconds = Math.max(0, Math.round((lock.expiresAt - Date.now()) / 1000));
  return (
    `<D:activelock><D:locktype><D:write/></D:locktype><D:lockscope><D:${lock.scope}/></D:lockscope>` +
    `<D:depth>${lock.depth === 0 ? '0' : 'infinity'}</D:depth>` +
    (lock.ownerXml ? `<D:owner>${lock.ownerXml}</D:owner>` : '') +
    `<D:timeout>Second-${seconds}</D:timeout><D:locktoken><D:href>${escapeXml(lock.token)}</D:href></D:locktoken>` +
    `<D:lockroot><D:href>${escapeXml(hrefFor(state, lock.root, false))}</D:href></D:lockroot></D:activelock>`
  );
}

function lockAnswer(dav: Dav, status: number, lock: Lock): void {
  const body = `<?xml version="1.0" encoding="utf-8"?>\n<D:prop xmlns:D="DAV:"><D:lockdiscovery>${activeLockXml(dav.state, lock)}</D:lockdiscovery></D:prop>\n`;
  sendXml(dav.res, status, body, { 'Lock-Token': `<${lock.token}>` });
}

export async function handleLock(dav: Dav): Promise<void> {
  const { state, req } = dav;
  const doc = parseXml(await readSmallBody(req, state.maxXmlBytes));
  const timeout = parseTimeout(req.headers.timeout as string | undefined);

  if (!doc) {
    // Refresh: the If header names the lock.
    const lists = ifListsOf(dav);
    if (!lists) throw new HttpError(400, 'LOCK refresh needs an If header with the lock token');
    for (const token of submittedTokens(lists)) {
      const lock = await state.locks.refresh(token, dav.path, timeout, dav.user);
      if (lock) return lockAnswer(dav, 200, lock);
    }
    throw new HttpError(412, 'no lock of the If header covers this resource', {}, errorXml('<D:lock-token-matches-request-uri/>'));
  }

  if (doc.ns !== DAV || doc.name !== 'lockinfo') throw new HttpError(400, 'expected a DAV:lockinfo body');
  const scopeEl = child(doc, DAV, 'lockscope');
  const scope: LockScope | undefined = scopeEl && child(scopeEl, DAV, 'exclusive') ? 'exclusive' : scopeEl && child(scopeEl, DAV, 'shared') ? 'shared' : undefined;
  const typeEl = child(doc, DAV, 'locktype');
  if (!scope || !typeEl || !child(typeEl, DAV, 'write')) throw new HttpError(400, 'lockinfo needs lockscope and a write locktype');
  const ownerEl = child(doc, DAV, 'owner');
  const ownerXml = ownerEl ? serializeNodes(ownerEl.children) : '';
  if (Buffer.byteLength(ownerXml) > MAX_LOCK_OWNER_BYTES) throw new HttpError(413, `lock owner larger than ${MAX_LOCK_OWNER_BYTES} bytes`);
  const depthHeader = (req.headers.depth ?? 'infinity').toString().trim().toLowerCase();
  if (depthHeader !== '0' && depthHeader !== 'infinity') throw new HttpError(400, 'LOCK Depth must be 0 or infinity');
  const depth = depthHeader === '0' ? 0 : 'infinity';

  const client = lockClient(dav.user, req.socket.remoteAddress);
  // Junk names are never stored (see junk.ts), but Finder locks them before writing: lock the name only.
  const junk = state.isJunk(dav.path.slice(dav.path.lastIndexOf('/') + 1));
  const missing = !junk && !(await statOrNull(dav, dav.path));
  // LOCK on an unmapped URL creates an empty resource (RFC 4918 §7.3): a new member of the
  // parent, so a lock on the parent (depth 0 included, §7.5) needs its token like PUT or MKCOL.
  if (missing) await checkWritable(dav, [{ path: dav.path, membership: true }]);
  // The lock is taken before the empty file is written: check and take are one step of the store,
  // so two LOCKs racing (here or on another instance) cannot both pass the check.
  const lock = await state.locks.acquire({ root: dav.path, scope, depth, ownerXml, timeoutSeconds: timeout, ...(dav.user !== undefined ? { user: dav.user } : {}), client });
  if (lock === 'client') throw new HttpError(507, `too many locks held by this client (at most ${MAX_LOCKS_PER_CLIENT}); unlock some first`);
  if (lock === 'table') throw new HttpError(503, `too many locks held on this server (at most ${MAX_LOCKS})`, { 'Retry-After': '60' });
  if (lock === 'conflict') throw new HttpError(423, 'the resource is locked', {}, errorXml('<D:no-conflicting-lock/>'));
  let created = false;
  if (missing) {
    try {
      await state.vfs.write(dav.path, new Uint8Array(0), { size: 0, overwrite: false, signal: dav.signal });
      created = true;
    } catch (e) {
      // EEXIST: someone created it meanwhile; the lock stands on the existing resource (200).
      if (!isVfsError(e, 'EEXIST')) {
        await state.locks.release(lock.token, dav.path, dav.user).catch(() => undefined);
        await parentConflict(dav, dav.path, e);
      }
    }
  }
  lockAnswer(dav, created ? 201 : 200, lock);
}

export async function handleUnlock(dav: Dav): Promise<void> {
  const { state, req, res } = dav;
  req.resume();
  const header = req.headers['lock-token'];
  const m = typeof header === 'string' ? /^\s*<?([^>\s]+)>?\s*$/.exec(header) : null;
  if (!m) throw new HttpError(400, 'UNLOCK needs a Lock-Token header');
  const done = await state.locks.release(m[1]!, dav.path, dav.user);
  if (done === 'missing') throw new HttpError(409, 'no such lock on this resource', {}, errorXml('<D:lock-token-matches-request-uri/>'));
  if (done === 'forbidden') throw new HttpError(403, 'the lock belongs to another user');
  res.writeHead(204);
  res.end();
}
