/**
 * Shape check of the entries `/file/ls` and `/file/lstat` send. A mangled body or an incompatible
 * service must end as a clear EPROTO naming what is wrong, never as an entry with a made-up size
 * (a file listed as 0 bytes would be copied as an empty file) or a silently dropped name.
 */
import type { VfsError } from '../../src/errors.js';
import type { CouchdropWireEntry } from './wire.js';

/** `value` as a wire entry: an object with a string `filename`, and for files a byte size ≥ 0. */
export function checkWireEntry(value: unknown, what: string, bad: (what: string) => VfsError): CouchdropWireEntry {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw bad(`${what} is not an object (${show(value)})`);
  const w = value as Record<string, unknown>;
  if (typeof w.filename !== 'string') throw bad(`${what} has no "filename" (${show(w.filename)})`);
  // ("." and ".." are skipped by the listing, SFTP-style; a NUL can be no part of any name.)
  if (w.filename.includes('\0')) throw bad(`${what} has a name with a NUL byte (${show(w.filename)})`);
  const dir = w.is_dir === true || w.is_dir === 'true' || w.is_dir === 1;
  if (!dir) {
    // `size`, or the docs' literal `"size:"`; numeric strings are tolerated.
    const raw = w.size ?? w['size:'];
    const size = typeof raw === 'number' ? raw : typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : NaN;
    if (!Number.isFinite(size) || size < 0) throw bad(`${what} (${JSON.stringify(w.filename).slice(0, 80)}) has no usable "size" (${show(raw)})`);
  }
  return w as unknown as CouchdropWireEntry;
}

function show(v: unknown): string {
  const s = v === undefined ? 'missing' : JSON.stringify(v) ?? String(v);
  return s.length > 40 ? s.slice(0, 40) + '…' : s;
}
