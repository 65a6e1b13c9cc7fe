/**
 * Reads: `POST /file/url` gives a signed, expiring content URL; each read is then one GET with an
 * exact `Range` and no Authorization header. URLs are reused until shortly before they expire and
 * dropped when this Vfs changes the path; a URL the server calls expired (40005 as JSON on the
 * content route) is replaced once.
 */
import { LRUCache } from 'lru-cache';
import { PassThrough, Readable } from 'node:stream';
import { VfsError, opError, toVfsError } from '../../src/errors.js';
import type { ContentResponse } from '../../src/http/content.js';
import { parseContentRange, rangeHeader } from '../../src/http/range.js';
import { isSameOrInside } from '../../src/path.js';
import { DEFAULT_MIN_CHUNK_BYTES, parallelRanges } from '../../src/parallel-ranges.js';
import { ResumableStream } from '../../src/http/resumable-stream.js';
import { isNetworkError } from '../../src/scheduler/classify.js';
import { envelopeError } from './api-error.js';
import type { CloudreveClient } from './client.js';
import type { Envelope } from './types.js';
import { pathToUri } from './uri.js';
import { CODE } from './codes.js';

interface CachedUrl {
  url: string;
  /** Stop using it after this instant (expiry minus a margin). */
  useUntil: number;
}

/** Times a download that broke off mid-body is resumed before the reader gets the error. */
const MAX_RESUMES = 3;

/** An open download: its body (exactly `expected` bytes when known), which content it is (the URL's path names the entity), the file size. */
interface Download {
  body: Readable;
  expected?: number;
  entity: string;
  total?: number;
}

/** Most concurrent ranged GETs one read may use (each is a connection; memory is capped at 64 MiB per read whatever the count). */
export const MAX_READ_STREAMS = 16;
/** Reads shorter than this stay one request even with readStreams > 1. */
export const PARALLEL_MIN_BYTES = 8 * 1024 * 1024;

/** Codes the content route answers (as JSON, HTTP 200) for a bad or expired signature. */
const SIGNATURE_CODES = new Set<number>([CODE.SignExpired, CODE.InvalidSign, CODE.NoPermissionErr]);

/** Signed content URLs per path, and ranged GETs over them. */
export class ContentReader {
  private readonly urls = new LRUCache<string, CachedUrl>({ max: 2000 });

  private readonly readStreams: number;

  constructor(private readonly client: CloudreveClient, options: { readStreams?: number } = {}) {
    this.readStreams = Math.max(1, Math.min(MAX_READ_STREAMS, Math.floor(options.readStreams ?? 1)));
  }

  /**
   * The file at `path` now has content `entity` (seen in a stat or a listing): a cached URL naming
   * another entity goes. Servers keep old versions by default (`inventory/user.go`: VersionRetention
   * true, 10 versions), so an old URL keeps serving the old content after another client's overwrite.
   */
  observe(path: string, entity: string | undefined): void {
    const hit = this.urls.get(path);
    if (!hit || !entity) return;
    const named = entityOfUrl(hit.url);
    if (named !== undefined && named !== entity) this.urls.delete(path);
  }

  /** Drop cached URLs of `path` and everything below it (after a mutation). */
  forget(path: string): void {
    for (const key of this.urls.keys()) if (isSameOrInside(path, key)) this.urls.delete(key);
  }

  /**
   * A stream of `length` bytes from `offset` (to the end when `length` is undefined). A download
   * that breaks off mid-body is resumed from where it stopped (a few times), as long as the file's
   * content (its entity, named in the URL) and size did not change in between.
   */
  async read(path: string, offset: number, length: number | undefined, signal?: AbortSignal, entity?: string): Promise<Readable> {
    // A named entity (an old version) is read as one stream; the current content may go parallel.
    if (entity === undefined && this.readStreams > 1 && (length === undefined || length >= PARALLEL_MIN_BYTES)) return this.readParallel(path, offset, length, signal);
    const first = await this.open(path, offset, length, signal, entity);
    if (!first) return Readable.from([]);
    return this.resumable(path, offset, length, first, signal, entity);
  }

  /**
   * The same bytes over `readStreams` concurrent ranged GETs (parallel-ranges.ts). The first range
   * tells the file's size and content entity; every later range must name the same entity, so a file
   * replaced mid-read fails (EIO) instead of mixing two versions. Reads of less than
   * PARALLEL_MIN_BYTES stay one request.
   */
  private async readParallel(path: string, offset: number, length: number | undefined, signal?: AbortSignal): Promise<Readable> {
    const firstLength = length === undefined ? DEFAULT_MIN_CHUNK_BYTES : Math.min(length, DEFAULT_MIN_CHUNK_BYTES);
    const first = await this.open(path, offset, firstLength, signal);
    if (!first) return Readable.from([]);
    const firstStream = this.resumable(path, offset, firstLength, first, signal);
    const total = first.total;
    const end = total === undefined ? undefined : length === undefined ? total : Math.min(total, offset + length);
    // Size unknown (a server that ignores Range), or nothing beyond the first range: one stream.
    if (end === undefined || end <= offset + firstLength) return guard(firstStream, path);
    const open = async (o: number, l: number, s: AbortSignal): Promise<Readable> => {
      const next = await this.open(path, o, l, s);
      if (!next || next.entity !== first.entity || (next.total !== undefined && next.total !== total)) {
        next?.body.destroy();
        throw opError('EIO', 'the file changed during a parallel read', 'read', path, { provider: 'cloudreve' });
      }
      return this.resumable(path, o, l, next, s);
    };
    return guard(parallelRanges({ open, start: offset, end, streams: this.readStreams, signal, first: { length: firstLength, stream: firstStream } }), path);
  }

  /** The download's bytes, checked against their Content-Range and resumed where they broke off (see ResumableStream). */
  private resumable(path: string, offset: number, length: number | undefined, first: Download, signal?: AbortSignal, entity?: string): Readable {
    let current = first;
    return new ResumableStream({
      first,
      signal,
      maxResumes: MAX_RESUMES,
      canResume: (e) => isNetworkError(e) || (e instanceof VfsError && e.retryable && e.details.operation === 'read'),
      reopen: async (delivered) => {
        const next = await this.open(path, offset + delivered, length === undefined ? undefined : length - delivered, signal, entity);
        if (!next || next.entity !== current.entity || (next.total !== undefined && current.total !== undefined && next.total !== current.total)) {
          next?.body.destroy();
          throw opError('EIO', 'the download broke off and the file changed before it could be resumed', 'read', path, { provider: 'cloudreve' });
        }
        current = next;
        return next;
      },
      lengthError: (got, expected) => opError('EIO', `the download ${got > expected ? 'ran past' : 'ended at ' + got + ' bytes, short of'} the ${expected} bytes its Content-Range announced`, 'read', path, {
        provider: 'cloudreve', retryable: true,
      }),
      mapError: (e) => toVfsError(e, { provider: 'cloudreve', operation: 'read', path }),
    });
  }

  /** One ranged GET, headers received: its checked body, or undefined when there is nothing to read. */
  private async open(path: string, offset: number, length: number | undefined, signal?: AbortSignal, entity?: string): Promise<Download | undefined> {
    // A version's URL is cached apart from the current content's (same path, other entity).
    const key = entity ? `${path}\0${entity}` : path;
    for (let attempt = 0; ; attempt++) {
      const cached = attempt === 0 && this.urls.has(key);
      const url = await this.url(path, signal, attempt > 0, entity);
      if (length === 0) return undefined;
      // Always a Range, even for the whole file: the 206's Content-Range then says how many bytes
      // must arrive, so a body cut short (or a lying Content-Length) is caught, not taken as the file.
      const range = rangeHeader(offset, length !== undefined ? offset + length - 1 : undefined);
      const res = await this.client.fetchContent(url, range, signal);
      const details = { provider: 'cloudreve', operation: 'GET content', path, status: res.status };

      if (res.status === 200 && isEnvelope(res)) {
        const env = (await res.text(1024 * 1024).then((t) => JSON.parse(t) as unknown).catch(() => undefined)) as Envelope | undefined;
        if (env && typeof env.code === 'number') {
          if (SIGNATURE_CODES.has(env.code) && attempt === 0) {
            this.urls.delete(key);
            continue;
          }
          throw envelopeError(env, details);
        }
        throw opError('EPROTO', 'unreadable answer from the content URL', 'read', path, details);
      }
      if (res.status === 416) {
        // Range starts at or past the end (or the file is empty): nothing to read.
        res.cancel();
        return undefined;
      }
      if (res.status === 404) {
        res.cancel();
        // A URL cached before someone else replaced the file points at the old, deleted content.
        if (cached) {
          this.urls.delete(key);
          continue;
        }
        throw opError('ENOENT', "the file's content is missing on the server", 'read', path, details);
      }
      if (res.status !== 200 && res.status !== 206) {
        const text = await res.text(4096).catch(() => '');
        throw opError(res.status === 403 ? 'EACCES' : 'EIO', `HTTP ${res.status} from the content URL`, 'read', path, {
          ...details, providerMessage: text.slice(0, 300),
        });
      }
      let expected: number | undefined;
      let total: number | undefined;
      if (res.status === 206) {
        const span = parseContentRange(res.headers.get('content-range'));
        // (A Content-Length that disagrees with the span is caught by the byte count below, and resumed.)
        if (!span || span.start !== offset) {
          res.cancel();
          throw opError('EPROTO', `asked for bytes from ${offset}, got Content-Range ${JSON.stringify(res.headers.get('content-range'))}`, 'read', path, details);
        }
        expected = span.end - span.start + 1;
        total = span.total;
      }
      const body = res.body;
      const content = new URL(url).pathname;
      if (res.status === 206) return { body, expected: expected!, entity: content, ...(total !== undefined ? { total } : {}) };
      // A server that ignores Range answers 200 with everything: cut the window out ourselves.
      const source = Readable.from(window(body, offset, length));
      source.once('close', () => body.destroy());
      return { body: source, entity: content, ...(total !== undefined ? { total } : {}) };
    }
  }

  private async url(path: string, signal: AbortSignal | undefined, fresh: boolean, entity?: string): Promise<string> {
    const key = entity ? `${path}\0${entity}` : path;
    const hit = this.urls.get(key);
    if (hit && !fresh && Date.now() < hit.useUntil) return hit.url;
    const res = await this.client.downloadUrl(pathToUri(path), signal, path, entity);
    const url = res.urls?.[0]?.url;
    if (!url) throw opError('EPROTO', 'the server sent no content URL', 'read', path, { provider: 'cloudreve' });
    const expires = res.expires ? Date.parse(res.expires) : NaN;
    if (Number.isFinite(expires)) {
      const margin = Math.min(60_000, Math.max(0, (expires - Date.now()) / 4));
      this.urls.set(key, { url, useUntil: expires - margin });
    } else {
      // No expiry given: reuse for a short while only.
      this.urls.set(key, { url, useUntil: Date.now() + 60_000 });
    }
    return url;
  }
}

/** The entity id a content URL names: `/api/v4/file/content/{entity}/{speed}/{name}` (routers/router.go). */
function entityOfUrl(url: string): string | undefined {
  try {
    const parts = new URL(url).pathname.split('/');
    const at = parts.indexOf('content');
    return at > 0 && parts[at - 1] === 'file' ? decodeURIComponent(parts[at + 1] ?? '') || undefined : undefined;
  } catch {
    return undefined;
  }
}

/** JSON without an attachment disposition: an error envelope, not file content (we ask download=true). */
function isEnvelope(res: ContentResponse): boolean {
  const type = res.headers.get('content-type') ?? '';
  return type.includes('application/json') && !/attachment/i.test(res.headers.get('content-disposition') ?? '');
}

async function* window(body: AsyncIterable<Buffer>, offset: number, length: number | undefined): AsyncGenerator<Buffer> {
  let pos = 0;
  const end = length === undefined ? Infinity : offset + length;
  for await (const chunk of body) {
    const from = Math.max(0, offset - pos);
    const to = Math.min(chunk.length, end - pos);
    if (to > from) yield chunk.subarray(from, to);
    pos += chunk.length;
    if (pos >= end) break;
  }
}

/** Errors on the byte stream surface as VfsErrors (EIO, with the path). */
function guard(source: Readable, path: string): Readable {
  const out = new PassThrough({ highWaterMark: 64 * 1024 });
  source.on('error', (err) => out.destroy(toVfsError(err, { provider: 'cloudreve', operation: 'read', path })));
  // The reader stopped early: stop downloading too.
  out.on('close', () => {
    if (!source.destroyed) source.destroy();
  });
  source.pipe(out);
  return out;
}
