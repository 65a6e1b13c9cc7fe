/** HTTP conditional requests (RFC 9110 §13): If-Match, If-None-Match, If-(Un)Modified-Since. */
import type { IncomingMessage } from 'node:http';
import type { Entry } from '../../src/vfs.js';

/** 304/412 when a precondition fails for `entry` (undefined = the resource does not exist), else 0. */
export function preconditionStatus(req: IncomingMessage, entry: Entry | undefined): 0 | 304 | 412 {
  const h = req.headers;
  if (h['if-match'] === undefined && h['if-none-match'] === undefined && h['if-modified-since'] === undefined && h['if-unmodified-since'] === undefined) {
    return 0;
  }
  const safe = req.method === 'GET' || req.method === 'HEAD';
  const etag = entry ? etagOf(entry) : undefined;
  const ifMatch = h['if-match'];
  if (ifMatch !== undefined) {
    if (!entry || !matches(ifMatch, etag!, true)) return 412;
  } else if (h['if-unmodified-since'] !== undefined && entry) {
    const since = Date.parse(h['if-unmodified-since']);
    if (!Number.isNaN(since) && Math.floor(entry.mtime.getTime() / 1000) > Math.floor(since / 1000)) return 412;
  }
  const ifNoneMatch = h['if-none-match'];
  if (ifNoneMatch !== undefined) {
    if (entry && matches(ifNoneMatch, etag!, false)) return safe ? 304 : 412;
  } else if (safe && entry && h['if-modified-since'] !== undefined) {
    const since = Date.parse(h['if-modified-since']);
    if (!Number.isNaN(since) && Math.floor(entry.mtime.getTime() / 1000) <= Math.floor(since / 1000)) return 304;
  }
  return 0;
}

/** Does an If-Match/If-None-Match list match `etag`? Strong comparison for If-Match. */
function matches(list: string, etag: string, strong: boolean): boolean {
  if (list.trim() === '*') return true;
  for (const raw of list.split(',')) {
    let t = raw.trim();
    if (t.startsWith('W/')) {
      if (strong) continue;
      t = t.slice(2);
    }
    if (t === etag) return true;
  }
  return false;
}

/** Does an If-Range value still describe `entry` (so the Range may be honoured)? */
export function ifRangeHolds(value: string | undefined, entry: Entry): boolean {
  if (value === undefined) return true;
  const v = value.trim();
  if (v.startsWith('"')) return v === etagOf(entry);
  if (v.startsWith('W/')) return false;
  const date = Date.parse(v);
  return !Number.isNaN(date) && Math.floor(entry.mtime.getTime() / 1000) <= Math.floor(date / 1000);
}

/** The quoted ETag clients see for an entry (derived from size and mtime when the Vfs has none). */
export function etagOf(entry: Entry): string {
  const raw = entry.etag ?? `${entry.size.toString(16)}-${entry.mtime.getTime().toString(16)}`;
  return `"${raw.replace(/["\\]/g, '')}"`;
}
