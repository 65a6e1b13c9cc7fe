/**
 * Write-back of `cloudmount serve webdav --write-back`, run as a user would (the built CLI against the
 * Couchdrop emulator in this process): a `kill -9` of the serve after the 201 and before the upload
 * loses nothing — `cloudmount pending list` shows the entry, and the next serve of the same remote
 * serves it from the local copy and uploads it without any command. And a full queue disk (a real
 * 1 MiB tmpfs, needs root): the PUT falls back to uploading before it is answered.
 */
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { CouchdropVfs } from '../../adapters/couchdrop/index.js';
import { startCouchdropEmulator } from '../../adapters/couchdrop/emulator/index.js';
import type { CouchdropEmulator } from '../../adapters/couchdrop/emulator/index.js';
import { serveWebdav } from '../../mount/webdav.js';
import { readAll } from '../../src/streams.js';
import { runCli, startCli } from '../cli/run-cli.js';
import { warnSkip } from './helpers.js';

const MiB = 1024 * 1024;
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
function bytes(seed: number, size: number): Buffer {
  const out = Buffer.alloc(size);
  let x = (seed * 2654435761) >>> 0;
  for (let i = 0; i + 4 <= size; i += 4) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    out.writeUInt32LE(x, i);
  }
  return out;
}

describe('serve webdav --write-back (built CLI, Couchdrop emulator)', () => {
  let emu: CouchdropEmulator;
  let dir: string;
  let env: NodeJS.ProcessEnv;

  beforeEach(async () => {
    emu = await startCouchdropEmulator({ randomSeed: 7 });
    dir = await mkdtemp(join(tmpdir(), 'cm-wbdav-cli-'));
    env = {
      COUCHDROP_TOKEN: emu.token, COUCHDROP_API_URL: emu.apiUrl, COUCHDROP_FILEIO_URL: emu.fileioUrl,
      XDG_CONFIG_HOME: join(dir, 'cfg'), XDG_CACHE_HOME: join(dir, 'cache'),
    };
  });
  afterEach(async () => {
    await emu.close();
    await rm(dir, { recursive: true, force: true });
  });

  const spool = () => join(dir, 'queue');
  const serve = () => startCli(['serve', 'webdav', 'couchdrop:/', '--addr', '127.0.0.1:0', '--write-back', '3600', '--spool-dir', spool()], /at (http:\/\/\S+)/, env);
  const pendingJson = async () => {
    const r = await runCli(['pending', 'list', '--json', '--spool-dir', spool()], { env });
    expect(r.code, r.stderr).toBe(0);
    return JSON.parse(r.stdout) as { path: string; reason: string; size: number; queue?: { state: string } }[];
  };

  it('kill -9 after the 201 and before the upload: pending list shows it; the next serve serves and uploads it without any command', async () => {
    const data = bytes(1, 24 * MiB + 7);
    const first = await serve();
    try {
      const res = await fetch(first.match[1] + 'crash.bin', { method: 'PUT', body: data });
      expect(res.status).toBe(201);
      expect(emu.log.filter((e) => e.route === '/file/upload')).toHaveLength(0);
      expect(await pendingJson()).toMatchObject([{ path: '/crash.bin', reason: 'queued', size: data.length, queue: { state: 'waiting' } }]);
    } finally {
      first.child.kill('SIGKILL');
      await new Promise((r) => first.child.once('exit', r));
    }
    expect(emu.log.filter((e) => e.route === '/file/upload')).toHaveLength(0);
    expect(await pendingJson()).toMatchObject([{ path: '/crash.bin', reason: 'queued', queue: { state: 'orphaned' } }]);
    // The provider refuses uploads for now: the restarted share still serves the bytes from the queue.
    emu.setFaults([{ kind: 503, every: 1, routes: ['/file/upload'] }]);
    const second = await serve();
    try {
      const got = Buffer.from(await (await fetch(second.match[1] + 'crash.bin')).arrayBuffer());
      expect(sha(got)).toBe(sha(data));
      emu.setFaults([]);
      await vi.waitFor(async () => expect(sha(await readAll(await emu.store.read('/crash.bin')))).toBe(sha(data)), { timeout: 90_000, interval: 200 });
      await vi.waitFor(async () => expect(await pendingJson()).toEqual([]), { timeout: 10_000, interval: 200 });
    } finally {
      await second.stop();
    }
  }, 180_000);
});

const isRoot = process.getuid?.() === 0;

describe.runIf(isRoot)('write-back onto a full queue disk (tmpfs of 1 MiB)', () => {
  let disk: string;
  let mounted = false;
  let emu: CouchdropEmulator;
  let vfs: CouchdropVfs;

  beforeAll(() => {
    disk = mkdtempSync(join(tmpdir(), 'cm-wbdav-full-'));
    const r = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', disk], { encoding: 'utf8' });
    if (r.status === 0) mounted = true;
    else warnSkip('full-disk write-back test', `mount -t tmpfs failed (no CAP_SYS_ADMIN?): ${r.stderr.trim()}`);
  });
  afterAll(async () => {
    if (mounted) spawnSync('umount', [disk]);
    await rm(disk, { recursive: true, force: true });
  });
  beforeEach(async () => {
    emu = await startCouchdropEmulator({ randomSeed: 9 });
    vfs = new CouchdropVfs({ token: emu.token, apiUrl: emu.apiUrl, fileioUrl: emu.fileioUrl });
  });
  afterEach(async () => {
    await vfs.close();
    await emu.close();
  });

  it('a PUT larger than the free space is uploaded before it is answered (never lost), and nothing is left in the queue', async () => {
    if (!mounted) return;
    const server = await serveWebdav(vfs, { writeBack: { dir: disk, delayMs: 3_600_000 } });
    try {
      const big = bytes(2, 3 * MiB + 1);
      const res = await fetch(server.url + 'big.bin', { method: 'PUT', body: big });
      expect(res.status).toBe(201);
      // Answered after the upload: the provider has it already.
      expect(sha(await readAll(await emu.store.read('/big.bin')))).toBe(sha(big));
      expect(sha(Buffer.from(await (await fetch(server.url + 'big.bin')).arrayBuffer()))).toBe(sha(big));
      expect((await readdir(disk)).filter((n) => !n.startsWith('.'))).toEqual([]);
      // Small files still fit: queued as usual.
      expect((await fetch(server.url + 'small.txt', { method: 'PUT', body: 'small' })).status).toBe(201);
      await expect(emu.store.stat('/small.txt')).rejects.toMatchObject({ code: 'ENOENT' });
      await server.writeBack!.drain();
      expect((await readAll(await emu.store.read('/small.txt'))).toString()).toBe('small');
    } finally {
      await server.close();
    }
  }, 60_000);
});
