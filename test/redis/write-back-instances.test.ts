/**
 * Uploads that outlive their instance (issue 21 part 5), with real processes: two
 * `serve webdav --redis --write-back --spool-dir <shared>` of one Couchdrop account (the built CLI),
 * one spool folder, one redis-server. The provider refuses uploads for now (503 on /file/upload), so
 * a PUT to A stays queued: B serves it at once (GET and PROPFIND from the shared spool, its job found
 * in Redis). A is killed -9; once its owner lease lapses B takes the job over by itself (it polls for
 * orphans), and when the provider accepts again the file lands byte-identical, with no command, and
 * nothing is left queued (no job in Redis, no data file in the spool).
 */
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startCouchdropEmulator } from '../../adapters/couchdrop/emulator/index.js';
import type { CouchdropEmulator } from '../../adapters/couchdrop/emulator/index.js';
import { UPLOAD_LEASE_MS } from '../../src/coordinator/upload-jobs.js';
import { readAll } from '../../src/streams.js';
import { startCli } from '../cli/run-cli.js';
import { hasRedis, startRedis } from './server.js';
import type { RedisProcess } from './server.js';

const haveRedis = hasRedis();
if (!haveRedis) console.warn('[skip] test/redis/write-back-instances.test.ts: redis-server is not installed (apt-get install redis-server)');

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

describe.skipIf(!haveRedis)('write-back queued on one instance, served and uploaded by another (kill -9)', () => {
  let redis: RedisProcess;
  let emu: CouchdropEmulator;
  let client: Redis;
  let work: string;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    redis = await startRedis();
    client = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
    await client.connect();
    emu = await startCouchdropEmulator({ randomSeed: 21 });
    work = await mkdtemp(join(tmpdir(), 'cm-redis-wb-'));
    env = {
      COUCHDROP_TOKEN: emu.token, COUCHDROP_API_URL: emu.apiUrl, COUCHDROP_FILEIO_URL: emu.fileioUrl,
      XDG_CONFIG_HOME: join(work, 'cfg'), XDG_CACHE_HOME: join(work, 'cache'),
    };
  });
  afterAll(async () => {
    client?.disconnect();
    await emu?.close();
    await redis?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('B serves what A queued while it waits, and uploads it byte-identical after A is killed -9', async () => {
    const spool = join(work, 'shared-spool');
    const serve = () => startCli(['serve', 'webdav', 'couchdrop:/', '--addr', '127.0.0.1:0', '--redis', redis.url, '--write-back', '1', '--spool-dir', spool], /at (http:\/\/\S+)/, env);
    const data = bytes(5, 3 * MiB + 5);
    emu.setFaults([{ kind: 503, every: 1, routes: ['/file/upload'] }]);
    const a = await serve();
    const b = await serve();
    try {
      const [ua, ub] = [a.match[1]!, b.match[1]!];
      // B lists the folder first, so a cached listing without the file is what it must see past.
      expect((await fetch(ub, { method: 'PROPFIND', headers: { Depth: '1' } })).status).toBe(207);
      expect((await fetch(`${ua}queued.bin`, { method: 'PUT', body: data })).status).toBe(201);

      // A tries (and fails) to upload; meanwhile B serves the queued bytes from the shared spool.
      await vi.waitFor(() => expect(emu.log.some((e) => e.route === '/file/upload')).toBe(true), { timeout: 30_000, interval: 100 });
      const got = await fetch(`${ub}queued.bin`);
      expect(got.status).toBe(200);
      expect(sha(Buffer.from(await got.arrayBuffer()))).toBe(sha(data));
      const one = await fetch(`${ub}queued.bin`, { method: 'PROPFIND', headers: { Depth: '0' } });
      expect(one.status).toBe(207);
      expect(await one.text()).toContain(`<D:getcontentlength>${data.length}</D:getcontentlength>`);
      const folder = await (await fetch(ub, { method: 'PROPFIND', headers: { Depth: '1' } })).text();
      expect(folder).toContain('queued.bin');
      await expect(emu.store.read('/queued.bin')).rejects.toThrow();

      a.child.kill('SIGKILL');
      await new Promise((r) => a.child.once('exit', r));
      expect(a.child.signalCode).toBe('SIGKILL');
      emu.setFaults([]);
      // Still served by B while A's lease runs out (the bytes are in the shared spool, the job in Redis).
      expect(sha(Buffer.from(await (await fetch(`${ub}queued.bin`)).arrayBuffer()))).toBe(sha(data));

      // No command: B takes the job over once A's owner lease lapses, and uploads it.
      await vi.waitFor(async () => expect(sha(await readAll(await emu.store.read('/queued.bin')))).toBe(sha(data)), { timeout: 3 * UPLOAD_LEASE_MS + 30_000, interval: 250 });
      await vi.waitFor(async () => {
        const [jobs] = await client.keys('cm:*wb:jobs');
        expect(jobs === undefined ? 0 : await client.zcard(jobs)).toBe(0);
        expect((await readdir(spool)).filter((n) => n.endsWith('.data'))).toEqual([]);
      }, { timeout: 15_000, interval: 200 });
      // And B now serves the provider's copy, the same bytes.
      expect(sha(Buffer.from(await (await fetch(`${ub}queued.bin`)).arrayBuffer()))).toBe(sha(data));
    } finally {
      emu.setFaults([]);
      if (a.child.exitCode === null && a.child.signalCode === null) a.child.kill('SIGKILL');
      await b.stop();
    }
  }, 4 * UPLOAD_LEASE_MS + 90_000);

  it('the same path from two instances: the newer write wins everywhere; a DELETE on B of what A queued is never uploaded', async () => {
    const spool = join(work, 'shared-spool-2');
    const serve = () => startCli(['serve', 'webdav', 'couchdrop:/', '--addr', '127.0.0.1:0', '--redis', redis.url, '--write-back', '1', '--spool-dir', spool], /at (http:\/\/\S+)/, env);
    const older = bytes(6, 2 * MiB + 1);
    const newer = bytes(7, 1 * MiB + 3);
    emu.setFaults([{ kind: 503, every: 1, routes: ['/file/upload'] }]);
    const a = await serve();
    const b = await serve();
    try {
      const [ua, ub] = [a.match[1]!, b.match[1]!];
      expect((await fetch(`${ua}same.bin`, { method: 'PUT', body: older })).status).toBe(201);
      // B sees A's queued file (the shared queue): an overwrite, so 204.
      expect((await fetch(`${ub}same.bin`, { method: 'PUT', body: newer })).status).toBe(204);
      expect((await fetch(`${ua}gone.bin`, { method: 'PUT', body: older })).status).toBe(201);
      // A serves B's newer version, not its own queued one.
      expect(sha(Buffer.from(await (await fetch(`${ua}same.bin`)).arrayBuffer()))).toBe(sha(newer));
      expect((await fetch(`${ub}gone.bin`, { method: 'DELETE' })).status).toBe(204);
      expect((await fetch(`${ua}gone.bin`)).status).toBe(404);

      emu.setFaults([]);
      await vi.waitFor(async () => {
        const [jobs] = await client.keys('cm:*wb:jobs');
        expect(jobs === undefined ? 0 : await client.zcard(jobs)).toBe(0);
        expect((await readdir(spool)).filter((n) => n.endsWith('.data'))).toEqual([]);
      }, { timeout: 120_000, interval: 250 });
      expect(sha(await readAll(await emu.store.read('/same.bin')))).toBe(sha(newer));
      await expect(emu.store.read('/gone.bin')).rejects.toThrow();
      // A's older bytes never landed after B's newer ones: every successful upload of same.bin was the newer size.
      for (const u of [ua, ub]) expect(sha(Buffer.from(await (await fetch(`${u}same.bin`)).arrayBuffer()))).toBe(sha(newer));
      // A dropped its superseded and deleted jobs when the store refused them, not as failed uploads.
      expect(a.output()).not.toContain('failed pending upload');
      expect(b.output()).not.toContain('failed pending upload');
    } finally {
      emu.setFaults([]);
      await a.stop();
      await b.stop();
    }
  }, 240_000);
});
