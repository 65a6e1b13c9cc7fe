/**
 * Local ends that are not plain files, for `cp`: "-" is standard input or output; a FIFO, a character
 * device or a socket is opened and streamed (a stat says 0 bytes, but the bytes are in the stream);
 * an existing symlink is written through, like cp(1), so the link stays a link.
 */
import { lstat, open, readlink, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { parseLocation } from './config.js';

/** Names of this process's own standard streams: opened by name they fail when the stream is a socket (ENXIO). */
const STD_STREAMS: Record<string, '-'> = {
  '/dev/stdin': '-', '/dev/fd/0': '-', '/proc/self/fd/0': '-',
  '/dev/stdout': '-', '/dev/fd/1': '-', '/proc/self/fd/1': '-',
};

/**
 * A local path that must be streamed rather than read as a regular file (FIFO, device, socket), or
 * "-" for this process's standard input/output named as a path.
 */
export async function specialFileOf(location: string): Promise<string | undefined> {
  if (location === '-') return undefined;
  const parsed = parseLocation(location);
  if (parsed.kind !== 'local') return undefined;
  const path = resolve(parsed.path);
  if (STD_STREAMS[path]) return '-';
  try {
    const s = await stat(path);
    return s.isFIFO() || s.isCharacterDevice() || s.isSocket() ? path : undefined;
  } catch {
    return undefined;
  }
}

/** Open a special file (or "-") as a byte stream to read; an open failure rejects here, not later as an unhandled stream error. */
export async function openSpecialForReading(path: string | '-'): Promise<Readable> {
  if (path === '-') return process.stdin;
  const handle = await open(path, 'r');
  return handle.createReadStream();
}

/**
 * Where a local destination really is: an existing symlink (or chain) resolved to its target, so a
 * write replaces the target's content and not the link. A dangling link resolves to where it points.
 */
export async function writeThroughLinks(location: string): Promise<string> {
  const parsed = parseLocation(location);
  if (parsed.kind !== 'local') return location;
  let path = resolve(parsed.path);
  for (let hops = 0; hops < 40; hops++) {
    let info;
    try {
      info = await lstat(path);
    } catch {
      return path;
    }
    if (!info.isSymbolicLink()) return path;
    path = resolve(dirname(path), await readlink(path));
  }
  return path; // a loop: let the write report ELOOP
}

/** Stream `input` into a special file or standard output (`'-'`), ending quietly if the reader goes away. */
export async function writeToSpecial(input: Readable, path: string | '-'): Promise<void> {
  if (path === '-') {
    // Never end process.stdout (later output would fail); pipe without ending it.
    for await (const chunk of input) {
      if (!process.stdout.write(chunk)) await new Promise((r) => process.stdout.once('drain', r));
    }
    return;
  }
  const handle = await open(path, 'w');
  const out: Writable = handle.createWriteStream();
  await pipeline(input, out);
}
