/**
 * Signed content URLs and the content route: GET|HEAD /api/v4/file/content/{entity}/{speed}/{name}?sign=
 * with Range support (206, 416, Accept-Ranges), Content-Disposition on download=true, and JSON
 * 40005/40071/403 (HTTP 200) for expired, invalid or expiry-less signatures.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { EmuError, emuFail } from './errors.js';
import type { RequestLogEntry } from './http.js';
import { sendText } from './http.js';
import type { Entity } from './store.js';

/** Signs and checks content URLs. */
export class UrlSigner {
  constructor(private readonly secret: Buffer) {}

  /** `<base>/api/v4/file/content/<entity>/<speed>/<name>?[download=true&]sign=<b64>:<exp>` (speed in bytes/s, 0 = unlimited). */
  url(base: string, entity: Entity, name: string, expiresMs: number, download: boolean, speed = 0): string {
    const path = `/api/v4/file/content/${entity.hashId}/${speed}/${encodeURIComponent(name)}`;
    const exp = Math.floor(expiresMs / 1000);
    // Sub-second expiries (tests) ride along as milliseconds after the seconds field.
    const expField = `${exp}.${expiresMs % 1000}`;
    return `${base}${path}?${download ? 'download=true&' : ''}sign=${this.mac(`${entity.hashId}:${speed}`, expField)}:${expField}`;
  }

  /** Throws the JSON error the server answers for a bad signature. */
  check(entityHash: string, speed: string, sign: string | null): void {
    if (!sign) emuFail(40071, 'Sign is invalid');
    const i = sign.lastIndexOf(':');
    if (i < 0) emuFail(403, 'Sign has no expiry');
    const [mac, expField] = [sign.slice(0, i), sign.slice(i + 1)];
    // The speed is signed too, so a client cannot lift its group's download limit.
    const expected = Buffer.from(this.mac(`${entityHash}:${speed}`, expField));
    const got = Buffer.from(mac);
    if (got.length !== expected.length || !timingSafeEqual(got, expected)) emuFail(40071, 'Sign is invalid');
    const [secs, millis = '0'] = expField.split('.');
    const expiresMs = Number(secs) * 1000 + Number(millis);
    if (!Number.isFinite(expiresMs)) emuFail(403, 'Sign has no expiry');
    if (expiresMs <= Date.now()) emuFail(40005, 'Signature expired');
  }

  private mac(subject: string, expField: string): string {
    return createHmac('sha256', this.secret).update(`${subject}:${expField}`).digest('base64url');
  }
}

/** Serve an entity's bytes honouring HEAD and a single Range (multi-range → whole file, as RFC 9110 allows). */
export function serveContent(
  req: IncomingMessage, res: ServerResponse, entry: RequestLogEntry, entity: Entity, name: string, download: boolean,
  onBody?: (res: ServerResponse, body: Buffer) => void,
): void {
  const size = entity.data.length;
  const headers: Record<string, string | number> = {
    'Accept-Ranges': 'bytes',
    'Content-Type': contentType(name),
    ETag: `"${entity.hashId}"`,
    'Last-Modified': entity.createdAt.toUTCString(),
    'Access-Control-Expose-Headers': 'Content-Range, Accept-Ranges, Content-Length, Content-Disposition, ETag',
  };
  if (download) headers['Content-Disposition'] = `attachment; filename*=UTF-8''${encodeURIComponent(name)}`;
  const range = req.headers.range;
  if (range) entry.range = range;
  let start = 0;
  let end = size - 1;
  let status = 200;
  const m = range ? /^bytes=(\d*)-(\d*)$/.exec(range.trim()) : null;
  if (range && m && (m[1] !== '' || m[2] !== '')) {
    if (m[1] === '') {
      const suffix = Number(m[2]);
      start = Math.max(0, size - suffix);
    } else {
      start = Number(m[1]);
      if (m[2] !== '') end = Math.min(end, Number(m[2]));
    }
    if (start >= size || start > end || (m[1] === '' && Number(m[2]) === 0)) {
      sendText(res, entry, 416, 'invalid range: failed to overlap\n', { 'Content-Range': `bytes */${size}` });
      return;
    }
    status = 206;
    headers['Content-Range'] = `bytes ${start}-${end}/${size}`;
  } else if (range && !m && !range.includes(',')) {
    sendText(res, entry, 416, 'invalid range\n', { 'Content-Range': `bytes */${size}` });
    return;
  }
  const body = entity.data.subarray(start, Math.max(start, end + 1));
  headers['Content-Length'] = body.length;
  entry.status = status;
  res.writeHead(status, headers);
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  if (onBody) onBody(res, body);
  else res.end(body);
}

function contentType(name: string): string {
  const ext = name.slice(name.lastIndexOf('.') + 1).toLowerCase();
  const types: Record<string, string> = {
    txt: 'text/plain; charset=utf-8', json: 'application/json', html: 'text/html; charset=utf-8', md: 'text/markdown; charset=utf-8',
    png: 'image/png', jpg: 'image/jpeg', jpeg: 'image/jpeg', pdf: 'application/pdf',
  };
  return types[ext] ?? 'application/octet-stream';
}

export { EmuError };
