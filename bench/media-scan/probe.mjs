#!/usr/bin/env node
// What a media library's prober does to each file of a folder (ffprobe, Jellyfin, Plex): list the
// folder, stat each file, read its first 256 KiB and its last 64 KiB. One process for the whole scan
// (a process per file would time the spawns). Prints { files, bytes, seconds } as JSON.
//   node probe.mjs <dir>
import { open, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';

const dir = process.argv[2];
const HEAD = 256 * 1024;
const TAIL = 64 * 1024;
const buf = Buffer.allocUnsafe(HEAD);
const started = process.hrtime.bigint();
let files = 0;
let bytes = 0;
for (const name of (await readdir(dir)).sort()) {
  const path = join(dir, name);
  const { size } = await stat(path);
  const fh = await open(path, 'r');
  try {
    bytes += (await fh.read(buf, 0, Math.min(HEAD, size), 0)).bytesRead;
    const at = Math.max(0, size - TAIL);
    bytes += (await fh.read(buf, 0, size - at, at)).bytesRead;
  } finally {
    await fh.close();
  }
  files++;
}
const seconds = Number(process.hrtime.bigint() - started) / 1e9;
process.stdout.write(`${JSON.stringify({ files, bytes, seconds })}\n`);
