#!/usr/bin/env node
/**
 * The writer the crash test kills the mount under: it leaves files open with new content written
 * (never closed), finishes one file properly (closed = uploaded), then keeps appending to one more
 * file until it is killed. Prints "ready" once the state the test wants exists.
 *
 * usage: node writer.mjs '<json>'  { mnt, files: { name: { seed, size, mode: 'open'|'closed'|'stream', flags, preallocate? } } }
 * (`preallocate`: ftruncate the file to that size first, as downloaders and databases do)
 */
import { open } from 'node:fs/promises';
import { contentChunks } from '../soak/content.mjs';

const config = JSON.parse(process.argv[2]);
const handles = [];

async function writeAll(fh, seed, size) {
  let at = 0;
  for (const chunk of contentChunks([{ seed, length: size }])) {
    let done = 0;
    while (done < chunk.length) {
      const { bytesWritten } = await fh.write(chunk, done, chunk.length - done, at + done);
      done += bytesWritten;
    }
    at += chunk.length;
  }
}

let stream;
for (const [name, f] of Object.entries(config.files)) {
  const fh = await open(`${config.mnt}/${name}`, f.flags);
  if (f.preallocate) await fh.truncate(f.preallocate);
  if (f.mode === 'stream') {
    stream = { fh, seed: f.seed };
    continue;
  }
  await writeAll(fh, f.seed, f.size);
  if (f.mode === 'closed') await fh.close(); // the upload happens here; close() returning means it is safe
  else handles.push(fh); // kept open: its new content lives only in the spool
}

// The streaming file: 64 KiB at a time, forever (until the kill), announcing progress.
const chunk = Buffer.alloc(64 * 1024);
let written = 0;
for (;;) {
  chunk.fill(written / chunk.length & 0xff);
  await stream.fh.write(chunk, 0, chunk.length, written);
  written += chunk.length;
  if (written === 32 * chunk.length) process.stdout.write('ready\n');
  await new Promise((r) => setTimeout(r, 5));
}
