/**
 * Write-back mode of the FUSE mount (issue 19 item 1), over CouchdropVfs and its emulator (real HTTP,
 * real kernel mount, filesystem calls from child processes): close() returns before the upload, the
 * queued file is visible and readable from its local copy, rename/delete follow the queue, retryable
 * failures are retried, a non-retryable one is kept as failed, and a remote change made meanwhile is
 * never overwritten (our version goes to a conflict name).
 */
import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { CouchdropVfs } from '../../adapters/couchdrop/index.js';
import { startCouchdropEmulator } from '../../adapters/couchdrop/emulator/index.js';
import type { CouchdropEmulator } from '../../adapters/couchdrop/emulator/index.js';
import { conflictPath, listPendingUploads, retryPendingUpload } from '../../mount/fuse.js';
import type { FuseMountOptions } from '../../mount/fuse.js';
import { readAll } from '../../src/streams.js';
import { fuseSkipReason, mountTemp, q, sh, shOk } from './harness.js';
import type { TestMount } from './harness.js';

const MiB = 1024 * 1024;
const run = promisify(execFile);
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
/** Deterministic bytes (not all one value, so a misplaced block shows). */
function bytes(seed: number, size: number): Buffer {
  const out = Buffer.alloc(size);
  let x = (seed * 2654435761) >>> 0;
  for (let i = 0; i < size; i++) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

describe.skipIf(!!fuseSkipReason)('FUSE write-back (Couchdrop emulator)', () => {
  let emu: CouchdropEmulator;
  let vfs: CouchdropVfs;
  let m: TestMount | undefined;

  beforeEach(async () => {
    emu = await startCouchdropEmulator({ randomSeed: 3 });
    vfs = new CouchdropVfs({
      token: emu.token, apiUrl: emu.apiUrl, fileioUrl: emu.fileioUrl,
      // One attempt per upload at the Vfs level: the write-back queue's own retries are under test.
      scheduler: { baseDelayMs: 10, maxDelayMs: 50, maxAttempts: 1, adaptive: false },
    });
  });
  afterEach(async () => {
    await m?.close();
    m = undefined;
    await vfs.close();
    await emu.close();
  });

  const mount = async (writeBack: FuseMountOptions['writeBack']) => {
    m = await mountTemp(vfs, { remote: 'wb', writeBack });
    return m;
  };
  const remoteSha = async (path: string) => sha(await readAll(await emu.store.read(path)));

  it('cp of a 64 MiB file returns before the upload; stat/ls/read see the queued copy; unmount uploads it byte-identical', async () => {
    const t = await mount({ delayMs: 3_600_000 });
    const data = bytes(1, 64 * MiB + 3);
    await writeFile(join(t.scratch, 'big.bin'), data);
    await shOk(`cp ${q(t.scratch + '/big.bin')} ${q(t.dir + '/big.bin')}`);
    // Returned with nothing sent: the delay has not passed.
    expect(emu.log.filter((e) => e.route === '/file/upload')).toHaveLength(0);
    await expect(emu.store.stat('/big.bin')).rejects.toMatchObject({ code: 'ENOENT' });
    // Durable and listed as queued (waiting), by a reader of the spool folder.
    const pending = await listPendingUploads(t.spoolDir);
    expect(pending).toHaveLength(1);
    expect(pending[0]).toMatchObject({ path: '/big.bin', reason: 'queued', size: data.length, queue: { state: 'waiting' } });
    expect(sha(await readFile(pending[0]!.spoolFile))).toBe(sha(data));
    // Visible with its new size; read back from the local copy.
    expect((await shOk(`stat -c %s ${q(t.dir + '/big.bin')}`)).trim()).toBe(String(data.length));
    expect(await shOk(`ls ${q(t.dir)}`)).toContain('big.bin');
    expect((await shOk(`sha256sum ${q(t.dir + '/big.bin')}`)).split(' ')[0]).toBe(sha(data));
    // A clean unmount uploads the queue.
    await t.close();
    m = undefined;
    expect(await remoteSha('/big.bin')).toBe(sha(data));
    expect(await listPendingUploads(t.spoolDir)).toHaveLength(0);
  }, 120_000);

  it('uploads after the delay without any command', async () => {
    const t = await mount({ delayMs: 200 });
    await shOk(`printf hello > ${q(t.dir + '/soon.txt')}`);
    await vi.waitFor(async () => expect((await readAll(await emu.store.read('/soon.txt'))).toString()).toBe('hello'), { timeout: 30_000, interval: 100 });
    await vi.waitFor(async () => expect(await listPendingUploads(t.spoolDir)).toHaveLength(0), { timeout: 10_000, interval: 100 });
  });

  it('applies a rename and a delete of queued files to the queue (no orphan, no upload of a deleted file)', async () => {
    await emu.store.write('/target.txt', Buffer.from('old target'));
    const t = await mount({ delayMs: 3_600_000 });
    await shOk(`cd ${q(t.dir)} && printf one > a.txt && mv a.txt b.txt && printf gone > c.txt && rm c.txt && printf new > tmp.txt && mv tmp.txt target.txt`);
    expect((await shOk(`ls ${q(t.dir)}`)).split('\n').filter(Boolean).sort()).toEqual(['b.txt', 'target.txt']);
    expect(await shOk(`cat ${q(t.dir + '/b.txt')} ${q(t.dir + '/target.txt')}`)).toBe('onenew');
    const pending = await listPendingUploads(t.spoolDir);
    expect(pending.map((p) => p.path).sort()).toEqual(['/b.txt', '/target.txt']);
    await t.close();
    m = undefined;
    expect((await readAll(await emu.store.read('/b.txt'))).toString()).toBe('one');
    // Replaced by a rename onto it: the user's choice, not a conflict.
    expect((await readAll(await emu.store.read('/target.txt'))).toString()).toBe('new');
    for (const gone of ['/a.txt', '/c.txt', '/tmp.txt']) await expect(emu.store.stat(gone)).rejects.toMatchObject({ code: 'ENOENT' });
    expect((await emu.store.list('/')).map((e) => e.name).sort()).toEqual(['b.txt', 'target.txt']);
    expect(emu.log.filter((e) => e.route === '/file/upload')).toHaveLength(2);
  });

  it('retries an upload the provider refuses for a while (503, 429, reset), then it is uploaded', async () => {
    emu.setFaults([
      { kind: 503, every: 1, limit: 2, routes: ['/file/upload'] },
    ]);
    const t = await mount({ delayMs: 50, maxBackoffMs: 200 });
    await shOk(`printf retried > ${q(t.dir + '/flaky.txt')}`);
    await vi.waitFor(async () => expect((await readAll(await emu.store.read('/flaky.txt'))).toString()).toBe('retried'), { timeout: 60_000, interval: 100 });
    expect(emu.log.filter((e) => e.route === '/file/upload' && e.status === 503).length).toBe(2);
    emu.setFaults([{ kind: 429, every: 1, limit: 1, routes: ['/file/upload'] }, { kind: 'reset', every: 1, limit: 1, routes: ['/file/upload'] }]);
    await shOk(`printf again > ${q(t.dir + '/flaky.txt')}`);
    await vi.waitFor(async () => expect((await readAll(await emu.store.read('/flaky.txt'))).toString()).toBe('again'), { timeout: 60_000, interval: 100 });
    await vi.waitFor(async () => expect(await listPendingUploads(t.spoolDir)).toHaveLength(0), { timeout: 10_000, interval: 100 });
  }, 90_000);

  it('unmounting while the provider is down does not hang: the entry stays queued, the next mount uploads it, and pending retry of an orphan never overwrites a remote change', async () => {
    emu.setFaults([{ kind: 503, every: 1, routes: ['/file/upload'] }]);
    const t = await mount({ delayMs: 3_600_000 });
    await shOk(`printf later > ${q(t.dir + '/down.txt')}`);
    const spoolDir = t.spoolDir;
    await t.mount.unmount(); // one try, refused: kept, not retried for minutes
    const kept = await listPendingUploads(spoolDir);
    expect(kept).toHaveLength(1);
    expect(kept[0]).toMatchObject({ path: '/down.txt', reason: 'queued', error: { code: 'EAGAIN' } });
    emu.setFaults([]);
    // "pending retry" of an entry whose mount is gone honours the same rule: a remote change meanwhile is not overwritten.
    await emu.store.write('/other.txt', Buffer.from('v1'));
    const t2 = await mountTemp(vfs, { remote: 'wb2', writeBack: { delayMs: 3_600_000 }, spoolDir });
    await shOk(`cat ${q(t2.dir + '/other.txt')} > /dev/null && printf mine > ${q(t2.dir + '/other.txt')}`);
    emu.setFaults([{ kind: 503, every: 1, routes: ['/file/upload'] }]);
    await t2.close();
    emu.setFaults([]);
    await emu.store.write('/other.txt', Buffer.from('theirs, newer'));
    const orphan = (await listPendingUploads(spoolDir)).find((p) => p.path === '/other.txt')!;
    const sidecarFile = orphan.spoolFile.replace(/\.spool$/, '.json');
    const record = JSON.parse(await readFile(sidecarFile, 'utf8')) as { pid: number };
    record.pid = 2 ** 22 + 12345; // beyond pid_max: a mount that is gone
    await writeFile(sidecarFile, JSON.stringify(record));
    const stored = await retryPendingUpload(spoolDir, orphan.id, vfs);
    expect(stored.path).toMatch(/^\/other\.conflict-\d{8}T\d{6}Z\.txt$/);
    expect((await readAll(await emu.store.read('/other.txt'))).toString()).toBe('theirs, newer');
    expect((await readAll(await emu.store.read(stored.path))).toString()).toBe('mine');
    const again = await mountTemp(vfs, { remote: 'wb', writeBack: { delayMs: 3_600_000 }, spoolDir });
    try {
      await vi.waitFor(async () => expect((await readAll(await emu.store.read('/down.txt'))).toString()).toBe('later'), { timeout: 30_000, interval: 100 });
    } finally {
      await again.close();
      await t.close();
      m = undefined;
    }
  });

  it('keeps a non-retryable failure (the provider refuses the file) as failed with its error, local copy kept', async () => {
    emu.setFaults([{ kind: 422, every: 1, routes: ['/file/upload'], message: 'Quota exceeded for this account' }]);
    const t = await mount({ delayMs: 50 });
    await shOk(`printf precious > ${q(t.dir + '/quota.txt')}`);
    const failed = await vi.waitFor(async () => {
      const list = await listPendingUploads(t.spoolDir);
      if (list[0]?.reason !== 'failed') throw new Error('not failed yet');
      return list[0];
    }, { timeout: 30_000, interval: 100 });
    expect(failed).toMatchObject({ path: '/quota.txt', reason: 'failed', size: 8 });
    expect(failed.error?.message).toMatch(/quota/i);
    expect((await readFile(failed.spoolFile)).toString()).toBe('precious');
    emu.setFaults([]);
    await expect(emu.store.stat('/quota.txt')).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('never overwrites a remote change made after the file was opened: both versions exist', async () => {
    await emu.store.write('/doc.txt', Buffer.from('original'));
    const t = await mount({ delayMs: 3_600_000 });
    expect(await shOk(`cat ${q(t.dir + '/doc.txt')}`)).toBe('original');
    await shOk(`printf 'ours, longer' > ${q(t.dir + '/doc.txt')}`);
    // A second client changes the file while ours is queued.
    await emu.store.write('/doc.txt', Buffer.from('theirs'));
    await t.close();
    m = undefined;
    expect((await readAll(await emu.store.read('/doc.txt'))).toString()).toBe('theirs');
    const names = (await emu.store.list('/')).map((e) => e.name);
    const copy = names.find((n) => /^doc\.conflict-\d{8}T\d{6}Z\.txt$/.test(n));
    expect(copy, names.join(',')).toBeDefined();
    expect((await readAll(await emu.store.read('/' + copy))).toString()).toBe('ours, longer');
  });

  it('names conflict copies beside the file, keeping the extension', () => {
    const at = new Date('2026-01-02T03:04:05.678Z');
    expect(conflictPath('/a/doc.txt', at)).toBe('/a/doc.conflict-20260102T030405Z.txt');
    expect(conflictPath('/Makefile', at)).toBe('/Makefile.conflict-20260102T030405Z');
    expect(conflictPath('/.bashrc', at)).toBe('/.bashrc.conflict-20260102T030405Z');
  });

  it.skipIf(process.getuid?.() !== 0)('a full spool disk: close() uploads at once instead of queueing (nothing lost, no error)', async () => {
    const spoolDir = await mkdtemp(join(tmpdir(), 'cloudmount-wb-full-'));
    await run('mount', ['-t', 'tmpfs', '-o', 'size=64k,mode=0700', 'tmpfs', spoolDir]);
    try {
      await sh(`dd if=/dev/zero of=${q(spoolDir + '/filler')} bs=64k status=none`); // fills it (dd stops at ENOSPC)
      m = await mountTemp(vfs, { remote: 'wb', writeBack: { delayMs: 3_600_000 }, spoolDir });
      await shOk(`printf 'kept safe' > ${q(m.dir + '/full.txt')}`);
      // No queue record could be written, so the upload ran before close() returned.
      expect((await readAll(await emu.store.read('/full.txt'))).toString()).toBe('kept safe');
      await m.close();
      m = undefined;
    } finally {
      await run('umount', ['-l', spoolDir]).catch(() => undefined);
      await rm(spoolDir, { recursive: true, force: true }).catch(() => undefined);
    }
  });

  it('without write-back, close() still waits for the upload (the default is unchanged)', async () => {
    const t = await mount(undefined);
    await shOk(`printf now > ${q(t.dir + '/sync.txt')}`);
    expect((await readAll(await emu.store.read('/sync.txt'))).toString()).toBe('now');
    expect(await sh(`true`)).toMatchObject({ code: 0 });
  });
});
