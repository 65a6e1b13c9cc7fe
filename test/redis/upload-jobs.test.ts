/**
 * Write-back uploads as jobs in Redis (issue 21 part 5), against a real redis-server: a job is
 * account + path + version (a newer version of a path makes the older job stale: its claim is
 * refused and its bytes dropped), one upload per path at a time, rename moves the job, every
 * instance finds a queued file's spool bytes; and the instance holding queued uploads is killed -9
 * (a real process): once its owner lease lapses another instance takes its jobs over and uploads
 * them to the Cloudreve emulator byte-identical.
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { buffer } from 'node:stream/consumers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CloudreveVfs } from '../../adapters/cloudreve/index.js';
import { startCloudreveEmulator } from '../../adapters/cloudreve/emulator/server.js';
import type { CloudreveEmulator } from '../../adapters/cloudreve/emulator/server.js';
import { RedisCoordinator } from '../../src/coordinator/redis.js';
import { RedisUploadJobs } from '../../src/coordinator/upload-jobs.js';
import type { QueuedJob } from '../../src/coordinator/upload-jobs.js';
import { hasRedis, startRedis } from './server.js';
import type { RedisProcess } from './server.js';

const haveRedis = hasRedis();
if (!haveRedis) console.warn('[skip] test/redis/upload-jobs.test.ts: redis-server is not installed (apt-get install redis-server)');

const DIST = resolve(import.meta.dirname, '../../dist/src/coordinator');
const LEASE_MS = 1500;
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** Poll until `check` holds (no timed assertion: the test's own timeout is the bound). */
async function until<T>(check: () => Promise<T | undefined>, everyMs = 100): Promise<T> {
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

describe.skipIf(!haveRedis)('write-back jobs in Redis', () => {
  let redis: RedisProcess;
  let spool: string;
  const coordinators: RedisCoordinator[] = [];
  const stores: RedisUploadJobs[] = [];

  async function instance(account: string): Promise<RedisUploadJobs> {
    const c = await RedisCoordinator.connect(redis.url, { account });
    coordinators.push(c);
    const s = await RedisUploadJobs.open(c, { dir: spool, leaseMs: LEASE_MS });
    stores.push(s);
    return s;
  }
  async function queue(s: RedisUploadJobs, path: string, bytes: Uint8Array): Promise<QueuedJob> {
    const { id, dataFile } = await s.allocate();
    await writeFile(dataFile, bytes);
    return s.enqueue(id, { path, size: bytes.length, base: null });
  }

  beforeAll(async () => {
    redis = await startRedis();
    spool = await mkdtemp(join(tmpdir(), 'cloudmount-upload-jobs-'));
  });
  afterAll(async () => {
    for (const s of stores) s.close();
    for (const c of coordinators) await c.close();
    await redis?.stop();
    if (spool) await rm(spool, { recursive: true, force: true });
  });

  it('path + version: the newer job wins whatever order workers claim in; one upload per path; rename moves the job', async () => {
    const [a, b] = [await instance('memory:jobs'), await instance('memory:jobs')];
    const v1 = await queue(a, '/f.txt', Buffer.from('v1'));
    const v2 = await queue(b, '/f.txt', Buffer.from('v2'));
    expect(v2.version).toBe(v1.version + 1);
    // Any instance finds the newest queued bytes of the path (served from the spool).
    expect((await a.find('/f.txt'))?.id).toBe(v2.id);
    expect(await readFile((await a.find('/f.txt'))!.dataFile, 'utf8')).toBe('v2');
    // The older job's worker is refused and its bytes are gone.
    await expect(a.claim(v1.id, 1)).rejects.toMatchObject({ code: 'ESTALE' });
    expect(await readdir(spool)).not.toContain(`${v1.id}.data`);
    await b.claim(v2.id, 1);
    // v3 queued while v2 uploads: v3 waits until v2's attempt ends, so v2 never lands after v3.
    const v3 = await queue(a, '/f.txt', Buffer.from('v3'));
    await expect(a.claim(v3.id, 1)).rejects.toMatchObject({ code: 'EBUSY' });
    await b.complete(v2.id);
    await a.claim(v3.id, 1);
    await a.fail(v3.id, new Error('network'), false);
    // A MOVE of the queued file: the job is the newest version at the new path, none at the old.
    await b.rename(v3.id, '/g.txt');
    expect(await a.find('/f.txt')).toBeUndefined();
    expect((await a.find('/g.txt'))?.id).toBe(v3.id);
    expect((await b.list()).map((j) => j.path)).toEqual(['/g.txt']);
    await a.remove(v3.id);
    expect(await b.list()).toEqual([]);
    expect((await readdir(spool)).filter((n) => n.endsWith('.data'))).toEqual([]);
  });

  it('kill -9 of the instance holding queued uploads: another takes them over and uploads them byte-identical', async () => {
    const emu: CloudreveEmulator = await startCloudreveEmulator({});
    const remote = new CloudreveVfs({ baseUrl: emu.url, email: emu.email, password: emu.password, stateDir: false });
    const account = 'cloudreve:kill';
    // The doomed instance: queues three uploads (one of them "uploading": claimed, never finished), then hangs.
    const script = `
      import { writeFile } from 'node:fs/promises';
      import { randomBytes, createHash } from 'node:crypto';
      const { RedisCoordinator } = await import(${JSON.stringify(join(DIST, 'redis.js'))});
      const { RedisUploadJobs } = await import(${JSON.stringify(join(DIST, 'upload-jobs.js'))});
      const c = await RedisCoordinator.connect(${JSON.stringify(redis.url)}, { account: ${JSON.stringify(account)} });
      const s = await RedisUploadJobs.open(c, { dir: ${JSON.stringify(spool)}, leaseMs: ${LEASE_MS} });
      const out = [];
      for (const [i, size] of [[0, 1], [1, 300 * 1024], [2, 2 * 1024 * 1024 + 17]]) {
        const bytes = randomBytes(size);
        const { id, dataFile } = await s.allocate();
        await writeFile(dataFile, bytes, { flush: true });
        await s.enqueue(id, { path: '/up/file-' + i + '.bin', size, base: null });
        out.push({ path: '/up/file-' + i + '.bin', sha: createHash('sha256').update(bytes).digest('hex') });
      }
      const first = (await s.find('/up/file-0.bin')).id;
      await s.claim(first, 1);
      console.log(JSON.stringify(out));
      setInterval(() => {}, 1000);
    `;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      let text = '';
      const queued = await new Promise<Array<{ path: string; sha: string }>>((res, rej) => {
        child.stdout!.on('data', (d: Buffer) => {
          text += d.toString();
          if (text.includes('\n')) res(JSON.parse(text.split('\n')[0]!) as Array<{ path: string; sha: string }>);
        });
        child.once('exit', (code) => rej(new Error(`the queuing process exited ${code}`)));
      });
      const survivor = await instance(account);
      // While queued, the survivor serves every file from the spool, byte-identical.
      for (const q of queued) expect(sha(await readFile((await survivor.find(q.path))!.dataFile))).toBe(q.sha);
      // Its owner is alive: nothing to take over.
      expect(await survivor.orphans()).toEqual([]);
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
      const jobs = await until(async () => {
        const taken = await survivor.orphans();
        return taken.length > 0 ? taken : undefined;
      });
      expect(jobs.map((j) => j.path)).toEqual(queued.map((q) => q.path));
      await remote.mkdir('/up');
      for (const job of jobs) {
        await survivor.claim(job.id, job.attempts + 1);
        await remote.write(job.path, await readFile(job.dataFile));
        await survivor.complete(job.id);
      }
      for (const q of queued) expect(sha(await buffer(await remote.read(q.path)))).toBe(q.sha);
      expect(await survivor.list()).toEqual([]);
      expect((await readdir(spool)).filter((n) => n.endsWith('.data'))).toEqual([]);
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await remote.close?.();
      await emu.close();
    }
  }, 60_000);
});
