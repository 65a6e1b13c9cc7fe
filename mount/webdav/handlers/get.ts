/**
 * GET and HEAD: one stat, then a real ranged read from the Vfs (`read({ offset, length })`), so a
 * seek near the end of a large remote file moves only the bytes asked for. Single ranges get 206;
 * a multi-range request is answered with the whole file (RFC 9110 allows ignoring Range).
 * Collections answer GET with a small HTML index.
 */
import type { Readable } from 'node:stream';
import { CachedVfs, versionKey } from '../../../src/cache.js';
import { VfsError } from '../../../src/errors.js';
import { contentRange, parseRangeSpecs, unsatisfiedRange } from '../../../src/http/range.js';
import type { Entry, ReadOptions, Vfs } from '../../../src/vfs.js';
import { etagOf, ifRangeHolds, preconditionStatus } from '../conditional.js';
import type { Dav } from '../context.js';
import { hrefFor } from '../href.js';
import { HttpError } from '../reply.js';
import { contentTypeFor } from '../mime.js';
import { sendBody } from '../send-body.js';
import { escapeXml } from '../xml.js';

/** Files up to this size are read fully and sent with one write (fewer syscalls and stream hops). */
const SMALL_FILE_BYTES = 64 * 1024;
/** Reads at least this long bypass the CachedVfs block cache and stream from the provider. */
const STREAM_DIRECT_BYTES = 8 * 1024 * 1024;

export async function handleGet(dav: Dav): Promise<void> {
  const { state, req, res } = dav;
  if (state.isJunk(lastName(dav.path))) throw new VfsError('ENOENT', 'not found', { provider: 'webdav' });
  let source: Vfs = state.vfs;
  let entry = await source.stat(dav.path);
  let plan = entry.type === 'file' ? planRange(req, entry) : undefined;
  if (plan && req.method === 'GET' && plan.length >= STREAM_DIRECT_BYTES && source instanceof CachedVfs) {
    // A long read streams from the provider in one request instead of through 1 MiB cache blocks
    // (that would also evict everything else from the block cache). A fresh stat keeps the
    // headers true to the bytes that follow; a changed file is forgotten by the cache.
    const cached = source;
    source = cached.inner;
    const fresh = await source.stat(dav.path, { signal: dav.signal });
    if (versionKey(fresh) !== versionKey(entry)) cached.forget(dav.path);
    entry = fresh;
    plan = entry.type === 'file' ? planRange(req, entry) : undefined;
  }
  const pre = preconditionStatus(req, entry);
  const headers: Record<string, string | number> = {
    ETag: etagOf(entry),
    'Last-Modified': entry.mtime.toUTCString(),
  };
  if (pre === 304) {
    res.writeHead(304, headers);
    res.end();
    return;
  }
  if (pre === 412) throw new HttpError(412, 'precondition failed');
  if (entry.type === 'directory' || !plan) return sendIndex(dav, entry, headers);

  headers['Content-Type'] = entry.mimeType && entry.mimeType !== 'application/octet-stream' ? entry.mimeType : contentTypeFor(entry.name);
  headers['Accept-Ranges'] = 'bytes';
  const { status, offset, length } = plan;
  if (status === 206) headers['Content-Range'] = contentRange(offset, offset + length - 1, entry.size);
  headers['Content-Length'] = length;
  if (req.method === 'HEAD' || length === 0) {
    res.writeHead(status, headers);
    res.end();
    return;
  }
  const readOptions: ReadOptions = {};
  if (offset > 0) readOptions.offset = offset;
  if (length < entry.size - offset) readOptions.length = length;
  if (length > SMALL_FILE_BYTES) readOptions.signal = dav.signal;
  const stream = await source.read(dav.path, readOptions);
  if (length <= SMALL_FILE_BYTES) {
    const body = await readSmall(stream, length);
    if (body.length !== length) {
      // The file changed between stat and read: never send a body that contradicts its headers.
      stream.destroy();
      throw new HttpError(503, 'the file changed during the read; retry', { 'Retry-After': '1' });
    }
    res.writeHead(status, headers);
    res.end(body);
    return;
  }
  res.writeHead(status, headers);
  await sendBody(stream, res);
}

interface RangePlan {
  status: 200 | 206;
  offset: number;
  length: number;
}

/** What to send for this request: the whole file or one range; 416 when unsatisfiable. */
function planRange(req: Dav['req'], entry: Entry): RangePlan {
  const range = req.headers.range;
  if (range !== undefined && ifRangeHolds(req.headers['if-range'] as string | undefined, entry)) {
    const r = parseRange(range, entry.size);
    if (r === 'unsatisfiable') {
      throw new HttpError(416, 'requested range not satisfiable', { 'Content-Range': unsatisfiedRange(entry.size) });
    }
    if (r) return { status: 206, offset: r.start, length: r.end - r.start + 1 };
  }
  return { status: 200, offset: 0, length: entry.size };
}

/** Collect a small stream (at most `expected` bytes and one chunk more) into one buffer. */
function readSmall(stream: Readable, expected: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let total = 0;
    const finish = () => resolve(parts.length === 1 ? parts[0]! : Buffer.concat(parts, total));
    stream.on('data', (chunk: Buffer) => {
      parts.push(chunk);
      total += chunk.length;
      if (total > expected) {
        stream.destroy();
        finish();
      }
    });
    stream.once('end', finish);
    stream.once('error', reject);
  });
}

/**
 * A single byte range, null to serve the whole file, or 'unsatisfiable'. Several ranges (even
 * 10 000) are answered with the whole file, which RFC 9110 allows.
 */
export function parseRange(header: string, size: number): { start: number; end: number } | null | 'unsatisfiable' {
  const specs = parseRangeSpecs(header);
  if (!specs || specs.length !== 1) return null;
  const spec = specs[0]!;
  let start: number;
  let end: number;
  if ('suffix' in spec) {
    if (spec.suffix === 0) return 'unsatisfiable';
    start = Math.max(0, size - spec.suffix);
    end = size - 1;
  } else {
    start = spec.first;
    end = spec.last === undefined ? size - 1 : Math.min(spec.last, size - 1);
    if (spec.last !== undefined && spec.last < start) return null; // invalid spec: ignore the header
  }
  if (start >= size || size === 0) return 'unsatisfiable';
  return { start, end };
}

async function sendIndex(dav: Dav, entry: Entry, headers: Record<string, string | number>): Promise<void> {
  const { state } = dav;
  if (dav.req.method === 'HEAD') {
    // No listing for a HEAD (it would cost a provider call for nothing).
    dav.res.writeHead(200, { ...headers, 'Content-Type': 'text/html; charset=utf-8' });
    dav.res.end();
    return;
  }
  const children = (await state.vfs.list(dav.path, { signal: dav.signal }))
    .filter((c) => !state.isJunk(c.name))
    .sort((a, b) => (a.type === b.type ? a.name.localeCompare(b.name) : a.type === 'directory' ? -1 : 1));
  const rows = children.map((c) => {
    const href = escapeXml(hrefFor(state, c.path, c.type === 'directory'));
    const label = escapeXml(c.name + (c.type === 'directory' ? '/' : ''));
    return `<li><a href="${href}">${label}</a>${c.type === 'file' ? ` <small>${c.size} bytes</small>` : ''}</li>`;
  });
  const title = escapeXml(entry.path);
  const html = `<!doctype html><meta charset="utf-8"><title>${title}</title><h1>${title}</h1><ul>${rows.join('')}</ul>\n`;
  const body = Buffer.from(html);
  dav.res.writeHead(200, { ...headers, 'Content-Type': 'text/html; charset=utf-8', 'Content-Length': body.length });
  dav.res.end(dav.req.method === 'HEAD' ? undefined : body);
}

function lastName(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}
