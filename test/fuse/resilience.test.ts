/**
 * What users of remote mounts complain about most, over real kernel mounts: a failed upload loses
 * nothing (cp fails, the bytes stay in a listed spool file that can be retried or discarded, even by
 * a new process after a crash), `ls -l` of many files costs one listing, a slow provider does not turn
 * into ETIMEDOUT, and a mount left dead by a crash is cleared at the next start.
 */
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { MemoryVfs } from '../../adapters/memory/index.js';
import { discardPendingUpload, listPendingUploads, mountFuse, retryPendingUpload } from '../../mount/fuse.js';
import { WriteBuffer } from '../../mount/fuse/write-buffer.js';
import { checkFuseAvailable } from '../../mount/fuse/preflight.js';
import { VfsError } from '../../src/errors.js';
import { readAll } from '../../src/streams.js';
import { pseudoRandomBytes, sha256 } from '../helpers.js';
import { fuseSkipReason, mountTemp, q, sh, shOk } from './harness.js';
import { ProbeVfs } from './probe-vfs.js';

const MiB = 1024 * 1024;

async function waitForPending(spoolDir: string, count = 1) {
  return vi.waitFor(async () => {
    const list = await listPendingUploads(spoolDir);
    if (list.length < count) throw new Error(`${list.length} pending so far`);
    return list;
  }, { timeout: 15_000, interval: 50 });
}

describe.skipIf(!!fuseSkipReason)('FUSE mount resilience', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterAll(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
  });

  it('keeps the bytes of a refused upload: cp fails, the spool file is listed, then retried or discarded', async () => {
    const inner = await MemoryVfs.fromTree({ docs: {} });
    const probe = new ProbeVfs(inner);
    const m = await mountTemp(probe, { remote: 'test-remote' });
    cleanups.push(() => m.close());
    const data = pseudoRandomBytes(3 * MiB + 17, 5);
    await writeFile(join(m.scratch, 'report.bin'), data);
    await writeFile(join(m.scratch, 'second.bin'), Buffer.from('second'));

    probe.hook = (method) => {
      if (method === 'write') throw new VfsError('EIO', 'upload failed: HTTP 503 after 5 attempts', { retryable: true, status: 503, provider: 'probe' });
    };
    const r = await sh(`cp ${q(m.scratch + '/report.bin')} ${q(m.dir + '/docs/report.bin')}`);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('Input/output error');
    const r2 = await sh(`cp ${q(m.scratch + '/second.bin')} ${q(m.dir + '/docs/second.bin')}`);
    expect(r2.code).not.toBe(0);
    await expect(inner.stat('/docs/report.bin')).rejects.toMatchObject({ code: 'ENOENT' });

    const pending = await waitForPending(m.spoolDir, 2);
    const report = pending.find((p) => p.path === '/docs/report.bin')!;
    expect(report).toMatchObject({ size: data.length, reason: 'failed', remote: 'test-remote', vfsName: expect.stringContaining('probe') });
    expect(report.error?.code).toBe('EIO');
    // The sidecar holds no secret, just what a user needs to decide.
    const sidecar = (await shOk(`cat ${q(join(m.spoolDir, report.id + '.json'))}`));
    expect(JSON.parse(sidecar)).toMatchObject({ path: '/docs/report.bin', state: 'failed', dirty: true });

    // The provider is back: retrying uploads the kept bytes and removes the spool file.
    probe.hook = undefined;
    const entry = await retryPendingUpload(m.spoolDir, report.id, inner);
    expect(entry.size).toBe(data.length);
    expect(sha256(await readAll(await inner.read('/docs/report.bin')))).toBe(sha256(data));
    const second = (await listPendingUploads(m.spoolDir)).find((p) => p.path === '/docs/second.bin')!;
    await discardPendingUpload(m.spoolDir, second.id);
    expect(await listPendingUploads(m.spoolDir)).toEqual([]);
    expect((await shOk(`ls -A ${q(m.spoolDir)} | wc -l`)).trim()).toBe('0');
  });

  it('lets a new process find content a crashed mount never uploaded', async () => {
    const base = (await shOk('mktemp -d')).trim();
    cleanups.push(async () => void (await sh(`rm -rf ${q(base)}`)));
    // A spool file as a mount writes it: marked dirty before the bytes land.
    const spool = await WriteBuffer.create(base, { path: '/a/draft.txt', vfsName: 'memory', remote: 'r' });
    await spool.setDirty(true);
    await spool.write(Buffer.from('unsaved work'), 12, 0);
    await spool.abandon();
    // While its owner (this process) lives, it is not offered for retry.
    expect(await listPendingUploads(base)).toEqual([]);
    // The owner "crashes": its sidecar names a pid that no longer exists.
    const deadPid = Number((await shOk('sh -c \'echo $$\'')).trim());
    const sidecarFile = join(base, `${spool.id}.json`);
    const sidecar = JSON.parse(await shOk(`cat ${q(sidecarFile)}`));
    await writeFile(sidecarFile, JSON.stringify({ ...sidecar, pid: deadPid }));
    const [found] = await listPendingUploads(base);
    expect(found).toMatchObject({ id: spool.id, path: '/a/draft.txt', size: 12, reason: 'interrupted' });
    const target = await MemoryVfs.fromTree({ a: { 'draft.txt': 'the good old version, longer' } });
    // Interrupted bytes may be a truncated file: never uploaded over the remote unless asked for.
    await expect(retryPendingUpload(base, spool.id, target)).rejects.toMatchObject({ code: 'EPERM', message: expect.stringContaining('forceInterrupted') });
    expect((await readAll(await target.read('/a/draft.txt'))).toString()).toBe('the good old version, longer');
    expect(await listPendingUploads(base)).toHaveLength(1);
    // A forced retry that fails leaves it 'interrupted' (not an ordinary failed upload a plain retry would send).
    const refusing = new ProbeVfs(target);
    refusing.hook = (method) => {
      if (method === 'write') throw new VfsError('EIO', 'provider down');
    };
    await expect(retryPendingUpload(base, spool.id, refusing, { forceInterrupted: true })).rejects.toMatchObject({ code: 'EIO' });
    expect(await listPendingUploads(base)).toMatchObject([{ id: spool.id, reason: 'interrupted', error: { code: 'EIO' } }]);
    await expect(retryPendingUpload(base, spool.id, target)).rejects.toMatchObject({ code: 'EPERM' });
    await retryPendingUpload(base, spool.id, target, { forceInterrupted: true });
    expect((await readAll(await target.read('/a/draft.txt'))).toString()).toBe('unsaved work');
    expect(await listPendingUploads(base)).toEqual([]);
  });

  it('answers ls -l of 500 files with one listing and a few stats', async () => {
    const tree: Record<string, string> = {};
    for (let i = 0; i < 500; i++) tree[`file-${String(i).padStart(3, '0')}.txt`] = `content ${i}`;
    const probe = new ProbeVfs(await MemoryVfs.fromTree({ many: tree }));
    const m = await mountTemp(probe);
    cleanups.push(() => m.close());
    probe.resetCounts();
    const out = await shOk(`ls -l ${q(m.dir + '/many')}`);
    expect(out.trim().split('\n')).toHaveLength(501); // "total" + 500 lines
    expect(out).toMatch(/-rw-r--r-- 1 \S+ \S+ +9 .* file-007\.txt/);
    expect(probe.calls.list).toBe(1);
    expect(probe.calls.stat).toBeLessThanOrEqual(3);
    expect(probe.calls.read).toBe(0);
  });

  it('serves a request the provider answers after more than 15 s, instead of ETIMEDOUT', async () => {
    const probe = new ProbeVfs(await MemoryVfs.fromTree({ 'slow.txt': 'worth the wait' }));
    const m = await mountTemp(probe);
    cleanups.push(() => m.close());
    let delayed = false;
    probe.hook = async (method, path) => {
      if (method === 'read' && path === '/slow.txt' && !delayed) {
        delayed = true;
        await new Promise((r) => setTimeout(r, 16_000));
      }
    };
    const r = await sh(`cat ${q(m.dir + '/slow.txt')}`, { timeoutMs: 60_000 });
    expect(delayed).toBe(true);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('worth the wait');
  }, 60_000);

  it('clears a dead mount left by a crashed process ("Transport endpoint is not connected")', async () => {
    const base = (await shOk('mktemp -d')).trim();
    const dir = join(base, 'mnt');
    const child = spawn(process.execPath, [join(import.meta.dirname, 'fixtures/plain-mount.cjs'), dir], {
      cwd: join(import.meta.dirname, '../..'), stdio: ['ignore', 'pipe', 'inherit'],
    });
    await new Promise<void>((resolve, reject) => {
      child.stdout!.on('data', (d: Buffer) => d.toString().includes('ready') && resolve());
      child.on('exit', (code) => reject(new Error(`plain mount exited with ${code}`)));
    });
    expect(await shOk(`cat ${q(dir + '/probe.txt')} >/dev/null; echo ok`)).toContain('ok');
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    const dead = await sh(`ls ${q(dir)}`);
    expect(dead.stderr).toContain('Transport endpoint is not connected');

    const vfs = await MemoryVfs.fromTree({ 'alive.txt': 'mounted again' });
    const m = await mountFuse(vfs, dir, { spoolDir: join(base, 'spool') });
    cleanups.push(async () => {
      await m.unmount();
      await sh(`rm -rf ${q(base)}`);
    });
    expect(await shOk(`cat ${q(dir + '/alive.txt')}`)).toBe('mounted again');
    // A second mount on a live mountpoint is refused with a clear message.
    await expect(mountFuse(vfs, dir)).rejects.toThrow(/already mounted/);
  });

  it('refuses a mountpoint that has files in it, in one line', async () => {
    const base = (await shOk('mktemp -d')).trim();
    cleanups.push(async () => void (await sh(`rm -rf ${q(base)}`)));
    await shOk(`mkdir -p ${q(base + '/mnt')} && touch ${q(base + '/mnt/precious.txt')}`);
    const vfs = new MemoryVfs();
    await expect(mountFuse(vfs, join(base, 'mnt'), { spoolDir: join(base, 'spool') })).rejects.toThrow(/is not empty/);
    expect(await shOk(`ls ${q(base + '/mnt')}`)).toContain('precious.txt');
  });

  it('explains in one line when fusermount is missing', async () => {
    const saved = process.env.PATH;
    process.env.PATH = '/nonexistent';
    try {
      const e = await checkFuseAvailable().then(() => undefined, (err: unknown) => err);
      expect(e).toBeInstanceOf(VfsError);
      expect((e as VfsError).message).toMatch(/fusermount is not installed/);
      expect((e as VfsError).message).not.toContain('\n');
    } finally {
      process.env.PATH = saved;
    }
  });
});
