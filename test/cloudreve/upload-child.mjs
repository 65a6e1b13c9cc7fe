#!/usr/bin/env node
/**
 * The uploader the orphan-session test kills: a CloudreveVfs from dist/ writes `path` (`size` bytes,
 * through an upload session) from a source that stops after `stallAfter` bytes and never ends, so the
 * upload is caught mid-way whatever the machine's speed. The password comes in CR_PASSWORD.
 *
 * usage: node upload-child.mjs <url> <email> <stateDir> <path> <size> <stallAfter>
 */
import { Readable } from 'node:stream';
import { CloudreveVfs } from '../../dist/adapters/cloudreve/index.js';

const [url, email, stateDir, path, sizeText, stallText] = process.argv.slice(2);
const size = Number(sizeText);
const stallAfter = Number(stallText);
const vfs = new CloudreveVfs({ baseUrl: url, email, password: process.env.CR_PASSWORD, stateDir, smallFileBytes: 0 });
setInterval(() => {}, 60_000); // keep the process alive while the source stalls

async function* source() {
  for (let at = 0; at < stallAfter; at += 4096) yield Buffer.alloc(Math.min(4096, stallAfter - at), 0x61 + ((at / 4096) % 26));
  await new Promise(() => {}); // the rest never comes: the parent kills this process
}

await vfs.write(path, Readable.from(source()), { size });
