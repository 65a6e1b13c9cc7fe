/**
 * PROPPATCH: set and remove dead properties, in document order, all or nothing (RFC 4918 §9.2).
 * DAV: properties are protected (403, the others 424); a value, a resource or the server past its
 * byte or count limit is 507 for the property concerned (the others 424), nothing applied. Any
 * number of set/remove elements and properties is fine (webdav-server 2.6.3 crashed on more than one).
 * Setting `DAV:lastmodified`, `DAV:getlastmodified` or Windows' `Win32LastModifiedTime` sets the
 * resource's mtime where the provider can (mtime.ts); elsewhere those are protected (403).
 */
import { STATUS_CODES } from 'node:http';
import type { Dav } from '../context.js';
import { readSmallBody } from '../body.js';
import { hrefFor } from '../href.js';
import { HttpError, sendXml } from '../reply.js';
import { checkWritable } from '../write-check.js';
import { mtimePropertyKind, parseMtimeProperty } from '../mtime.js';
import { MAX_PROP_BYTES_PER_RESOURCE, MAX_PROP_VALUE_BYTES } from '../props.js';
import { httpStatusFor } from '../status.js';
import { mtimeSupportOf } from '../../../src/vfs.js';
import { elements, escapeXml, parseXml, serializeNodes } from '../xml.js';

const DAV = 'DAV:';
const INSUFFICIENT = '507 Insufficient Storage';
const statusLine = (code: number): string => `${code} ${STATUS_CODES[code] ?? ''}`.trim();

interface Op {
  kind: 'set' | 'remove';
  ns: string;
  name: string;
  /** undefined: the value is over its byte budget (never serialised in full). */
  valueXml: string | undefined;
}

export async function handleProppatch(dav: Dav): Promise<void> {
  const { state } = dav;
  const doc = parseXml(await readSmallBody(dav.req, state.maxXmlBytes));
  if (!doc || doc.ns !== DAV || doc.name !== 'propertyupdate') throw new HttpError(400, 'expected a DAV:propertyupdate body');
  const entry = await state.vfs.stat(dav.path, { signal: dav.signal });
  await checkWritable(dav, [{ path: dav.path }]);

  // Serialising re-declares namespaces per element, so a value can grow past its body: each value
  // is built within its own limit and all of them within what one resource may hold at all.
  let requestBudget = MAX_PROP_BYTES_PER_RESOURCE;
  const ops: Op[] = [];
  for (const action of elements(doc)) {
    if (action.ns !== DAV || (action.name !== 'set' && action.name !== 'remove')) continue;
    for (const prop of elements(action)) {
      if (prop.ns !== DAV || prop.name !== 'prop') continue;
      for (const p of elements(prop)) {
        let valueXml: string | undefined = '';
        if (action.name === 'set') {
          valueXml = serializeNodes(p.children, Math.min(MAX_PROP_VALUE_BYTES, requestBudget));
          if (valueXml !== undefined && Buffer.byteLength(valueXml) > MAX_PROP_VALUE_BYTES) valueXml = undefined;
          requestBudget -= valueXml?.length ?? Math.min(MAX_PROP_VALUE_BYTES, requestBudget);
        }
        ops.push({ kind: action.name, ns: p.ns, name: p.name, valueXml });
      }
    }
  }
  if (ops.length === 0) throw new HttpError(400, 'propertyupdate names no property');

  // Validate everything first; any failure fails the whole request (424 for the innocent ones).
  const failed = new Map<Op, string>();
  // Setting one of the mtime properties sets the resource's modification time (mtime.ts): where the
  // provider can (`setMtime`); elsewhere it is protected (403), and a value that is no time is 409.
  const canSetMtime = mtimeSupportOf(state.vfs) === 'set';
  let mtime: { op: Op; to: Date } | undefined;
  for (const op of ops) {
    const timeKind = op.kind === 'set' ? mtimePropertyKind(op.ns, op.name) : undefined;
    if (timeKind) {
      const to = op.valueXml === undefined ? undefined : parseMtimeProperty(timeKind, op.valueXml);
      if (!canSetMtime) failed.set(op, '403 Forbidden');
      else if (!to) failed.set(op, '409 Conflict');
      else mtime = { op, to };
    } else if (op.ns === DAV) failed.set(op, '403 Forbidden');
    else if (op.valueXml === undefined) failed.set(op, INSUFFICIENT);
  }
  const changes = ops
    .filter((op) => !(op.kind === 'set' && mtimePropertyKind(op.ns, op.name)))
    .map((op) => ({ op, kind: op.kind, prop: { ns: op.ns, name: op.name, valueXml: op.valueXml ?? '' } }));
  if (failed.size === 0 && mtime) {
    try {
      await state.vfs.setMtime!(entry.path, mtime.to, { signal: dav.signal });
    } catch (e) {
      failed.set(mtime.op, statusLine(httpStatusFor(e)));
    }
  }
  if (failed.size === 0) {
    // Limits checked and changes applied in one step of the store (atomic in a shared one too).
    for (const i of await state.props.apply(entry.path, changes.map(({ kind, prop }) => ({ kind, prop })))) failed.set(changes[i]!.op, INSUFFICIENT);
    // All or nothing: the time goes back when the properties could not be stored.
    if (failed.size > 0 && mtime) await state.vfs.setMtime!(entry.path, entry.mtime, { signal: dav.signal }).catch(() => undefined);
  }
  const byStatus = new Map<string, string[]>();
  for (const op of ops) {
    const status = failed.size === 0 ? '200 OK' : failed.get(op) ?? '424 Failed Dependency';
    const list = byStatus.get(status) ?? [];
    list.push(op.ns === DAV ? `<D:${op.name}/>` : `<${op.name} xmlns="${escapeXml(op.ns)}"/>`);
    byStatus.set(status, list);
  }
  let body = `<?xml version="1.0" encoding="utf-8"?>\n<D:multistatus xmlns:D="DAV:"><D:response><D:href>${escapeXml(hrefFor(state, entry.path, entry.type === 'directory'))}</D:href>`;
  for (const [status, props] of byStatus) {
    body += `<D:propstat><D:prop>${props.join('')}</D:prop><D:status>HTTP/1.1 ${status}</D:status></D:propstat>`;
  }
  body += '</D:response></D:multistatus>\n';
  sendXml(dav.res, 207, body);
}
