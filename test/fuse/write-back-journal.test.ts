/**
 * The write-back queue journal (mount/write-back/journal.ts): small closed files become durable with
 * one group-committed fdatasync of a per-mount journal instead of a data file, a record file and a
 * folder fsync each. Real files, a real kernel mount over the Couchdrop emulator: the closed files
 * are in the journal (no per-file spool files), listed by `pending list`, uploaded; a torn last line
 * (a crash mid-append) is ignored; a dead mount's journal becomes plain spool files for the next owner.
 */
import { appendFile, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CouchdropVfs } from '../../adapters/couchdrop/index.js';
import { startCouchdropEmulator } from '../../adapters/couchdrop/emulator/index.js';
import type { CouchdropEmulator } from '../../adapters/couchdrop/emulator/index.js';
import { listPendingUploads } from '../../mount/fuse.js';
import { QueueJournal, journalFiles, materializeDeadJournals, readJournal } from '../../mount/write-back/journal.js';
import type { SpoolSidecar } from '../../mount/fuse/sidecar.js';
import { readAll } from '../../src/streams.js';
import { fuseSkipReason, mountTemp, q, shOk } from './harness.js';
import type { TestMount } from './harness.js';

function record(id: string, path: string, pid = process.pid): SpoolSidecar {
  const now = new Date().toISOString();
  return { version: 1, id, path, vfsName: 'couchdrop', remote: 'j', state: 'queued', dirty: true, pid, createdAt: now, updatedAt: now, base: null, attempts: 0 };
}
const DEAD_PID = 2 ** 22 + 4321; // beyond pid_max

describe('queue journal (real files)', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cm-journal-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('group commit: concurrent durable appends share fdatasyncs; every one is readable with its bytes', async () => {
    const journal = new QueueJournal(dir);
    const ids = Array.from({ length: 200 }, (_, i) => `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`);
    await Promise.all(ids.map((id, i) => journal.append({ ...record(id, `/f${i}`), data: Buffer.from(`bytes ${i}`).toString('base64') }, { sync: true })));
    expect(journal.stats.lines).toBe(200);
    expect(journal.stats.syncs).toBeLessThan(200);
    const [only] = await journalFiles(dir);
    const entries = await readJournal(dir, only!.file);
    expect(entries).toHaveLength(200);
    expect(entries.find((e) => e.record.path === '/f7')?.data?.toString()).toBe('bytes 7');
    // Removed entries are gone; a close with nothing queued deletes the journal.
    await Promise.all(ids.map((id) => journal.append({ id, removed: true }, { sync: true })));
    expect(await readJournal(dir, only!.file)).toEqual([]);
    await journal.close();
    expect(await journalFiles(dir)).toEqual([]);
  });

  it('compacts: a file rewritten many times while queued keeps one line (its newest bytes), not every version', async () => {
    const journal = new QueueJournal(dir, 64 * 1024);
    const id = '22222222-0000-4000-8000-000000000001';
    const other = '22222222-0000-4000-8000-000000000002';
    await journal.append({ ...record(other, '/other.txt'), data: Buffer.from('other').toString('base64') }, { sync: true });
    for (let i = 0; i < 100; i++) {
      await journal.append({ ...record(id, '/hot.txt'), data: Buffer.alloc(2048, i).toString('base64') }, { sync: true });
    }
    const files = await journalFiles(dir);
    expect(files).toHaveLength(1);
    const lines = (await readFile(files[0]!.file, 'utf8')).split('\n').filter((l) => l.startsWith('{'));
    // The head, and fewer lines than 64 KiB of 2 KiB versions (about 24 each time it compacts).
    expect(lines.length).toBeLessThan(30);
    const entries = await readJournal(dir, files[0]!.file);
    expect(entries.map((e) => e.record.path).sort()).toEqual(['/hot.txt', '/other.txt']);
    expect(entries.find((e) => e.record.id === id)!.data!.equals(Buffer.alloc(2048, 99))).toBe(true);
    await journal.close();
  });

  it('a torn last line (crash mid-append) is ignored; a dead journal becomes plain spool files that pending list shows', async () => {
    const journal = new QueueJournal(dir);
    const id = '11111111-0000-4000-8000-000000000001';
    await journal.append({ ...record(id, '/kept.txt', DEAD_PID), data: Buffer.from('v1').toString('base64') }, { sync: true });
    await journal.append({ ...record(id, '/kept.txt', DEAD_PID), data: Buffer.from('v2, newer').toString('base64') }, { sync: true });
    const [{ file }] = (await journalFiles(dir)) as [{ file: string }];
    await appendFile(file, '{"id":"11111111-0000-4000-8000-000000000002","version":1,"path":"/torn.t');
    // The journal's owner is "dead": rewrite its head with a pid that cannot be alive.
    const text = await readFile(file, 'utf8');
    await writeFile(file, text.replace(/"pid":\d+/, `"pid":${DEAD_PID}`));
    const listed = await listPendingUploads(dir);
    expect(listed).toMatchObject([{ id, path: '/kept.txt', reason: 'queued', size: 9, queue: { state: 'orphaned' } }]);
    // Another process's view: materialising is safe only for a journal no one in this process has open.
    await materializeDeadJournals(dir, () => false);
    expect(await journalFiles(dir)).toHaveLength(1);
    await journal.close(); // its entries become plain files now (what an unmount leaves)
    expect(await journalFiles(dir)).toEqual([]);
    expect((await readFile(join(dir, `${id}.spool`))).toString()).toBe('v2, newer');
    expect((await readdir(dir)).sort()).toEqual([`${id}.json`, `${id}.spool`]);
    expect(await listPendingUploads(dir)).toMatchObject([{ id, path: '/kept.txt', reason: 'queued', size: 9 }]);
  });
});

describe.skipIf(!!fuseSkipReason)('FUSE write-back through the journal (Couchdrop emulator)', () => {
  let emu: CouchdropEmulator;
  let vfs: CouchdropVfs;
  let m: TestMount | undefined;

  beforeEach(async () => {
    emu = await startCouchdropEmulator({ randomSeed: 4 });
    vfs = new CouchdropVfs({ token: emu.token, apiUrl: emu.apiUrl, fileioUrl: emu.fileioUrl });
  });
  afterEach(async () => {
    await m?.close();
    m = undefined;
    await vfs.close();
    await emu.close();
  });

  it('50 small files closed: all in one journal (no per-file spool files), listed as queued, uploaded at unmount', async () => {
    m = await mountTemp(vfs, { remote: 'j', writeBack: { delayMs: 3_600_000 } });
    await shOk(`mkdir -p ${q(m.scratch + '/src')} && for i in $(seq 1 50); do printf "file $i" > ${q(m.scratch)}/src/f$i; done`);
    await shOk(`cp -r ${q(m.scratch + '/src')} ${q(m.dir + '/dst')}`);
    const names = await readdir(m.spoolDir);
    expect(names.filter((n) => n.endsWith('.journal'))).toHaveLength(1);
    expect(names.filter((n) => n.endsWith('.json') || n.endsWith('.spool'))).toEqual([]);
    const listed = await listPendingUploads(m.spoolDir);
    expect(listed).toHaveLength(50);
    expect(listed.find((p) => p.path === '/dst/f7')).toMatchObject({ reason: 'queued', size: 'file 7'.length, queue: { state: 'waiting' } });
    expect(await shOk(`cat ${q(m.dir + '/dst/f7')}`)).toBe('file 7');
    expect(emu.log.filter((e) => e.route === '/file/upload')).toHaveLength(0);
    const spoolDir = m.spoolDir;
    await m.mount.unmount();
    expect((await readAll(await emu.store.read('/dst/f50'))).toString()).toBe('file 50');
    expect(emu.log.filter((e) => e.route === '/file/upload')).toHaveLength(50);
    expect(await listPendingUploads(spoolDir)).toEqual([]);
    expect((await readdir(spoolDir)).filter((n) => n.endsWith('.journal'))).toEqual([]);
  });
});
