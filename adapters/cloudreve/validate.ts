/**
 * Shape checks of the Cloudreve answers the adapter builds entries from. A proxy page, a mangled
 * body or an incompatible server version must end as a clear EPROTO naming what is wrong, never
 * as a TypeError deep in the adapter or as an entry with a made-up size (a file listed as 0 bytes
 * would be copied as an empty file).
 */
import { opError } from '../../src/errors.js';
import type { VfsError } from '../../src/errors.js';
import type { FileResponse, ListResponse } from './types.js';

interface Where {
  operation: string;
  path?: string | undefined;
}

/** A file or folder object: known type, a name, and for files a non-negative byte size. */
export function checkFile(value: unknown, where: Where, what = 'the answer'): FileResponse {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw bad(where, `${what} is not a file object`);
  const f = value as Record<string, unknown>;
  if (f.type !== 0 && f.type !== 1) throw bad(where, `${what} has no valid "type" (${show(f.type)})`);
  if (typeof f.name !== 'string') throw bad(where, `${what} has no "name"`);
  if (f.type === 0) {
    // Numeric strings are tolerated (some proxies re-encode numbers); anything else is refused.
    const size = typeof f.size === 'number' ? f.size : typeof f.size === 'string' && f.size.trim() !== '' ? Number(f.size) : NaN;
    if (!Number.isFinite(size) || size < 0) throw bad(where, `${what} has no usable "size" (${show(f.size)})`);
    if (f.size !== size) return { ...(f as unknown as FileResponse), size };
  }
  return f as unknown as FileResponse;
}

/** One listing page: a `files` array of file objects and a `pagination` object. */
export function checkList(value: unknown, where: Where): ListResponse {
  if (typeof value !== 'object' || value === null) throw bad(where, 'the listing holds no data');
  const res = value as Record<string, unknown>;
  if (!Array.isArray(res.files)) throw bad(where, `the listing's "files" is not an array (${show(res.files)})`);
  if (typeof res.pagination !== 'object' || res.pagination === null) throw bad(where, 'the listing has no "pagination"');
  const files = res.files.map((f, i) => {
    const file = checkFile(f, where, `listing entry ${i}`);
    // The name becomes a path segment: "..", "." or a "/" would make the entry name another path
    // (a recursive delete of "dir" must never walk into "dir/..").
    if (file.name === '' || file.name === '.' || file.name === '..' || file.name.includes('/') || file.name.includes('\0')) {
      throw bad(where, `listing entry ${i} has a name that is not a single path segment (${show(file.name)})`);
    }
    return file;
  });
  return { ...(res as unknown as ListResponse), files };
}

function bad(where: Where, what: string): VfsError {
  return opError('EPROTO', `unexpected answer from Cloudreve: ${what}`, where.operation, where.path, { provider: 'cloudreve' });
}

function show(v: unknown): string {
  const s = v === undefined ? 'missing' : JSON.stringify(v) ?? String(v);
  return s.length > 40 ? s.slice(0, 40) + '…' : s;
}
