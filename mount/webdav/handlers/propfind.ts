/**
 * PROPFIND: one `stat` for the target and, for Depth 1, one `list` for its children (the listing
 * carries every child's metadata, so there is no per-child call). A short multistatus is built as one
 * string; a long one is streamed as it is rendered (`streamMultistatus`). Live properties come from the Vfs entry, dead ones from the PropStore, locks from the
 * LockTable, quota from `vfs.space()` (404 for those properties when the Vfs cannot tell).
 */
import { VfsError, isVfsError } from '../../../src/errors.js';
import type { Entry, SpaceInfo } from '../../../src/vfs.js';
import type { Dav } from '../context.js';
import { readSmallBody } from '../body.js';
import { etagOf } from '../conditional.js';
import { hrefFor } from '../href.js';
import { HttpError, errorXml, sendXml } from '../reply.js';
import { contentTypeFor } from '../mime.js';
import { propKey } from '../props.js';
import { child, elements, escapeXml, parseXml } from '../xml.js';
import type { Lock } from '../locks.js';
import { activeLockXml } from './lock.js';

const DAV = 'DAV:';
/** Most responses a Depth: infinity PROPFIND may produce before it is refused as too deep. */
export const MAX_INFINITY_ENTRIES = 10_000;
/**
 * Most bytes of property names (namespace + name, duplicates counted once) one PROPFIND may ask
 * for: every name is echoed in every response of the listing, so a 1 MiB body naming 100 000
 * properties (or one with a 512 KiB namespace) over 10 000 entries would build gigabytes. Real
 * clients name 5–20 properties, well under 1 KiB. Beyond: 400.
 */
export const MAX_PROPFIND_NAME_BYTES = 8 * 1024;

/** The live properties allprop returns (quota is only returned when asked, RFC 4331 §3). */
const ALLPROP_LIVE = ['creationdate', 'displayname', 'getcontentlength', 'getcontenttype', 'getetag', 'getlastmodified', 'lockdiscovery', 'resourcetype', 'supportedlock'];
const QUOTA = ['quota-available-bytes', 'quota-used-bytes'];

type Wanted = { mode: 'allprop' } | { mode: 'propname' } | { mode: 'prop'; props: Array<{ ns: string; name: string }> };

const SUPPORTED_LOCK =
  '<D:supportedlock><D:lockentry><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype></D:lockentry>' +
  '<D:lockentry><D:lockscope><D:shared/></D:lockscope><D:locktype><D:write/></D:locktype></D:lockentry></D:supportedlock>';

export async function handlePropfind(dav: Dav): Promise<void> {
  const { state, req } = dav;
  let depthHeader = (req.headers.depth ?? 'infinity').toString().trim().toLowerCase();
  // Microsoft's "1,noroot" / "infinity,noroot": the same listing without the collection itself.
  const noRoot = depthHeader.endsWith(',noroot');
  if (noRoot) depthHeader = depthHeader.slice(0, -',noroot'.length).trim();
  if (depthHeader !== '0' && depthHeader !== '1' && depthHeader !== 'infinity') throw new HttpError(400, 'Depth must be 0, 1 or infinity');
  const wanted = parseWanted(await readSmallBody(req, state.maxXmlBytes));
  if (state.isJunk(dav.path.slice(dav.path.lastIndexOf('/') + 1))) throw new VfsError('ENOENT', 'not found', { provider: 'webdav' });
  const root = await state.vfs.stat(dav.path, { signal: dav.signal });

  const entries: Entry[] = [root];
  if (root.type === 'directory' && depthHeader !== '0') {
    if (depthHeader === '1') {
      for (const c of await state.vfs.list(dav.path, { signal: dav.signal })) if (!state.isJunk(c.name)) entries.push(c);
    } else {
      await collectTree(dav, root.path, entries);
    }
  }

  let space: Promise<SpaceInfo | undefined> | undefined;
  const quota = () =>
    (space ??= state.vfs.space({ signal: dav.signal }).catch((e) => {
      // Quota is a nicety: when the provider cannot tell (ENOTSUP) or fails, its properties are 404.
      if (!isVfsError(e, 'ENOTSUP', 'ENOSYS')) state.logger.debug('space() failed during PROPFIND', { error: e });
      return undefined;
    }));

  const skipRoot = noRoot && entries.length > 1;
  if (entries.length > STREAM_FROM_ENTRIES) {
    await streamMultistatus(dav, skipRoot ? entries.slice(1) : entries, (entry) => responseFor(dav, entry, wanted, quota, entry === root));
    return;
  }
  const parts: string[] = [MULTISTATUS_OPEN];
  for (const entry of entries) {
    if (skipRoot && entry === root) continue;
    parts.push(await responseFor(dav, entry, wanted, quota, entry === root));
  }
  parts.push(MULTISTATUS_CLOSE);
  sendXml(dav.res, 207, parts.join(''));
}

const MULTISTATUS_OPEN = '<?xml version="1.0" encoding="utf-8"?>\n<D:multistatus xmlns:D="DAV:">';
const MULTISTATUS_CLOSE = '</D:multistatus>\n';
/** Listings longer than this are streamed (chunked) instead of sent with a Content-Length. */
export const STREAM_FROM_ENTRIES = 256;
/** Rendered XML is handed to the socket in pieces of about this many characters. */
const FLUSH_CHARS = 64 * 1024;

/**
 * Write the multistatus as it is rendered: the first bytes leave before the last entry is rendered,
 * and at most one piece plus the socket's buffer is held, because a write the socket cannot take
 * waits for 'drain' (a slow client slows the rendering, it does not grow memory). A client that
 * disconnects stops the rendering.
 */
async function streamMultistatus(dav: Dav, entries: Entry[], render: (entry: Entry) => Promise<string>): Promise<void> {
  const { res } = dav;
  res.writeHead(207, { 'Content-Type': 'application/xml; charset=utf-8' });
  let piece = MULTISTATUS_OPEN;
  for (const entry of entries) {
    piece += await render(entry);
    if (piece.length < FLUSH_CHARS) continue;
    const ok = res.write(piece);
    piece = '';
    if (!ok && !(await drained(res))) return;
    if (res.destroyed || dav.signal.aborted) return;
  }
  res.end(piece + MULTISTATUS_CLOSE);
}

/** True once `res` can take more, false when it closed first. */
function drained(res: Dav['res']): Promise<boolean> {
  if (res.destroyed) return Promise.resolve(false);
  return new Promise((resolve) => {
    const done = (ok: boolean) => {
      res.off('drain', onDrain);
      res.off('close', onClose);
      resolve(ok);
    };
    const onDrain = () => done(true);
    const onClose = () => done(false);
    res.on('drain', onDrain);
    res.on('close', onClose);
  });
}

async function collectTree(dav: Dav, dir: string, out: Entry[]): Promise<void> {
  const queue = [dir];
  while (queue.length > 0) {
    const next = queue.shift()!;
    for (const c of await dav.state.vfs.list(next, { signal: dav.signal })) {
      if (dav.state.isJunk(c.name)) continue;
      out.push(c);
      if (out.length > MAX_INFINITY_ENTRIES) {
        throw new HttpError(403, 'Depth: infinity over too many entries; use Depth: 1', {}, errorXml('<D:propfind-finite-depth/>'));
      }
      if (c.type === 'directory') queue.push(c.path);
    }
  }
}

function parseWanted(body: Buffer): Wanted {
  const doc = parseXml(body);
  if (!doc) return { mode: 'allprop' };
  if (doc.ns !== DAV || doc.name !== 'propfind') throw new HttpError(400, 'expected a DAV:propfind body');
  if (child(doc, DAV, 'propname')) return { mode: 'propname' };
  const prop = child(doc, DAV, 'prop');
  if (prop) {
    const props: Array<{ ns: string; name: string }> = [];
    const seen = new Set<string>();
    let bytes = 0;
    for (const e of elements(prop)) {
      const key = propKey(e.ns, e.name);
      if (seen.has(key)) continue;
      seen.add(key);
      bytes += key.length;
      if (bytes > MAX_PROPFIND_NAME_BYTES) throw new HttpError(400, `PROPFIND names more than ${MAX_PROPFIND_NAME_BYTES} bytes of properties`);
      props.push({ ns: e.ns, name: e.name });
    }
    return { mode: 'prop', props };
  }
  if (child(doc, DAV, 'allprop')) return { mode: 'allprop' }; // <include> only names live props we return anyway
  throw new HttpError(400, 'propfind needs prop, propname or allprop');
}

async function responseFor(dav: Dav, entry: Entry, wanted: Wanted, quota: () => Promise<SpaceInfo | undefined>, isTarget: boolean): Promise<string> {
  const { state } = dav;
  const isDir = entry.type === 'directory';
  const href = `<D:response><D:href>${escapeXml(hrefFor(state, entry.path, isDir))}</D:href>`;
  // Dead properties only when the request can show them: a provider-kept store (Cloudreve) costs a
  // request per entry, which a listing of live properties (what most clients ask) never pays.
  const dead = wanted.mode !== 'prop' || wanted.props.some((p) => p.ns !== DAV) ? await state.props.get(entry.path) : undefined;
  const locks = wanted.mode === 'allprop' || (wanted.mode !== 'propname' && wanted.props.some((p) => p.ns === DAV && p.name === 'lockdiscovery')) ? await state.locks.covering(entry.path) : [];

  if (wanted.mode === 'propname') {
    let names = ALLPROP_LIVE.filter((n) => !(isDir && (n === 'getcontentlength' || n === 'getcontenttype'))).map((n) => `<D:${n}/>`).join('');
    if (isDir) names += QUOTA.map((n) => `<D:${n}/>`).join('');
    if (dead) for (const p of dead.values()) names += `<${p.name} xmlns="${escapeXml(p.ns)}"/>`;
    return `${href}${propstat(names, '200 OK')}</D:response>`;
  }

  if (wanted.mode === 'allprop') {
    let found = '';
    for (const n of ALLPROP_LIVE) found += liveProp(dav, n, entry, locks) ?? '';
    // RFC 4331 says quota SHOULD NOT be in allprop, but clients (the webdav npm client's getQuota)
    // ask that way; it is added for the target collection only, so a listing costs one space() call.
    if (isTarget && isDir) for (const n of QUOTA) found += quotaProp(n, await quota()) ?? '';
    if (dead) for (const p of dead.values()) found += deadXml(p.ns, p.name, p.valueXml);
    return `${href}${propstat(found, '200 OK')}</D:response>`;
  }

  let found = '';
  let missing = '';
  for (const { ns, name } of wanted.props) {
    let value: string | undefined;
    if (ns === DAV) {
      value = QUOTA.includes(name) ? (isDir ? quotaProp(name, await quota()) : undefined) : liveProp(dav, name, entry, locks);
    }
    if (value === undefined) {
      const d = dead?.get(propKey(ns, name));
      if (d) value = deadXml(ns, name, d.valueXml);
    }
    if (value !== undefined) found += value;
    else missing += ns === DAV ? `<D:${name}/>` : `<${name} xmlns="${escapeXml(ns)}"/>`;
  }
  let out = href;
  if (found !== '' || missing === '') out += propstat(found, '200 OK');
  if (missing !== '') out += propstat(missing, '404 Not Found');
  return out + '</D:response>';
}

function propstat(props: string, status: string): string {
  return `<D:propstat><D:prop>${props}</D:prop><D:status>HTTP/1.1 ${status}</D:status></D:propstat>`;
}

function deadXml(ns: string, name: string, valueXml: string): string {
  const open = `${name} xmlns="${escapeXml(ns)}"`;
  return valueXml === '' ? `<${open}/>` : `<${open}>${valueXml}</${name}>`;
}

/** The XML of one live DAV: property, or undefined when this resource does not have it. */
function liveProp(dav: Dav, name: string, entry: Entry, locks: Lock[]): string | undefined {
  const isDir = entry.type === 'directory';
  switch (name) {
    case 'resourcetype':
      return isDir ? '<D:resourcetype><D:collection/></D:resourcetype>' : '<D:resourcetype/>';
    case 'getlastmodified':
      return `<D:getlastmodified>${entry.mtime.toUTCString()}</D:getlastmodified>`;
    case 'creationdate':
      // The Vfs has no birth time; the modification time is the best honest answer.
      return `<D:creationdate>${entry.mtime.toISOString()}</D:creationdate>`;
    case 'displayname':
      return `<D:displayname>${escapeXml(entry.name)}</D:displayname>`;
    case 'getetag':
      return `<D:getetag>${escapeXml(etagOf(entry))}</D:getetag>`;
    case 'getcontentlength':
      return isDir ? undefined : `<D:getcontentlength>${entry.size}</D:getcontentlength>`;
    case 'getcontenttype':
      return isDir ? undefined : `<D:getcontenttype>${escapeXml(entry.mimeType && entry.mimeType !== 'application/octet-stream' ? entry.mimeType : contentTypeFor(entry.name))}</D:getcontenttype>`;
    case 'supportedlock':
      return SUPPORTED_LOCK;
    case 'lockdiscovery': {
      return `<D:lockdiscovery>${locks.map((l) => activeLockXml(dav.state, l)).join('')}</D:lockdiscovery>`;
    }
    default:
      return undefined;
  }
}

function quotaProp(name: string, space: SpaceInfo | undefined): string | undefined {
  if (!space) return undefined;
  if (name === 'quota-used-bytes') return `<D:quota-used-bytes>${space.used}</D:quota-used-bytes>`;
  const free = space.free ?? (space.total !== undefined ? Math.max(0, space.total - space.used) : undefined);
  return free === undefined ? undefined : `<D:quota-available-bytes>${free}</D:quota-available-bytes>`;
}
