/**
 * A full spool disk: a chunked PUT (no Content-Length) to a Vfs that needs the size first is spooled
 * to a temp file; when that disk is full the client must get 507 Insufficient Storage (not 500) and
 * the previous version of the file must stay. The disk is a REAL 1 MiB tmpfs (needs root).
 */
import { createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import { readFile, readdir, rm } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryVfs } from '../../adapters/memory/index.js';
import { serveWebdav } from '../../mount/webdav.js';
import { VfsError } from '../../src/errors.js';
import { iterateBytes, readAll } from '../../src/streams.js';
import type { Entry, WriteData, WriteOptions } from '../../src/vfs.js';
import { pseudoRandomBytes, sha256 } from '../helpers.js';
import { statusOf, warnSkip } from './helpers.js';

const MiB = 1024 * 1024;
const isRoot = process.getuid?.() === 0;

/** A MemoryVfs that, like Cloudreve, must know the size before an upload starts. */
class SizedVfs extends MemoryVfs {
  constructor() {
    super();
    this.capabilities.needsSizeForWrite = true;
  }
  override async write(path: string, data: WriteData, options: WriteOptions = {}): Promise<Entry> {
    if (options.size === undefined) throw new VfsError('EINVAL', 'size required');
    return super.write(path, data, options);
  }
}

/**
 * PUT `body` chunked over a raw socket, writing only while the server reads and stopping as soon as
 * an answer arrives; resolves with everything the server sent.
 */
function chunkedPut(port: number, path: string, body: Buffer): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let answer = '';
    let stop = false;
    socket.on('error', () => {});
    socket.on('data', (d) => {
      answer += d.toString('latin1');
      stop = true;
    });
    socket.on('close', () => resolve(answer));
    socket.write(`PUT ${path} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n`);
    let offset = 0;
    const pump = () => {
      while (!stop && offset < body.length) {
        const part = body.subarray(offset, offset + 64 * 1024);
        offset += part.length;
        if (!socket.write(Buffer.concat([Buffer.from(`${part.length.toString(16)}\r\n`), part, Buffer.from('\r\n')]))) {
          socket.once('drain', pump);
          return;
        }
      }
      if (!stop) socket.write('0\r\n\r\n');
    };
    pump();
  });
}

describe.runIf(isRoot)('PUT spooled onto a full disk (tmpfs of 1 MiB)', () => {
  let dir: string;
  let mounted = false;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'cloudmount-fullspool-'));
    const r = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', dir], { encoding: 'utf8' });
    if (r.status === 0) mounted = true;
    else warnSkip('full-disk spool test', `mount -t tmpfs failed (no CAP_SYS_ADMIN?): ${r.stderr.trim()}`);
  });
  afterAll(() => {
    if (mounted) spawnSync('umount', [dir]);
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers 507, keeps the old file, and leaves no temp file behind', async (ctx) => {
    if (!mounted) return ctx.skip();
    const vfs = new SizedVfs();
    const old = pseudoRandomBytes(1000, 1);
    await vfs.write('/big.bin', old, { size: old.length });
    const server = await serveWebdav(vfs, { cache: false, spoolDir: dir, protectProcess: false });
    try {
      const answer = await chunkedPut(server.port, '/big.bin', pseudoRandomBytes(3 * MiB, 2));
      expect(statusOf(answer), answer.slice(0, 200)).toBe(507);
      expect(sha256(await readAll(await vfs.read('/big.bin')))).toBe(sha256(old));
      expect(await readdir(dir)).toEqual([]);
      // The server goes on serving, and a body that fits still goes through the same spool.
      const fits = pseudoRandomBytes(200_000, 3);
      expect(statusOf(await chunkedPut(server.port, '/big.bin', fits))).toBe(204);
      expect(sha256(await readAll(await vfs.read('/big.bin')))).toBe(sha256(fits));
    } finally {
      await server.close();
    }
  }, 60_000);

  it('a raw ENOSPC raised while the body streams into the Vfs is a 507 too, and the old file stays', async (ctx) => {
    if (!mounted) return ctx.skip();
    // A Vfs that stages each upload on the full disk with plain node:fs (its errors are not VfsErrors).
    class StagingVfs extends MemoryVfs {
      override async write(path: string, data: WriteData, options: WriteOptions = {}): Promise<Entry> {
        const staged = join(dir, 'staged');
        try {
          await pipeline(iterateBytes(data), createWriteStream(staged));
          return await super.write(path, await readFile(staged), options);
        } finally {
          await rm(staged, { force: true });
        }
      }
    }
    const vfs = new StagingVfs();
    const old = pseudoRandomBytes(1000, 4);
    await vfs.write('/big.bin', old);
    const server = await serveWebdav(vfs, { cache: false, protectProcess: false });
    try {
      const answer = await chunkedPut(server.port, '/big.bin', pseudoRandomBytes(3 * MiB, 5));
      expect(statusOf(answer), answer.slice(0, 200)).toBe(507);
      expect(sha256(await readAll(await vfs.read('/big.bin')))).toBe(sha256(old));
    } finally {
      await server.close();
    }
  }, 60_000);
});

// Without root no tmpfs can be mounted: the tests above skip themselves, and this says why.
if (!isRoot) warnSkip('full-disk spool test', 'not root: cannot mount a 1 MiB tmpfs');
