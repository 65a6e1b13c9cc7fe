/** The upload-session journal (issue 16 #5): whole records or none, private, robust to junk and to a state folder it cannot use. */
import { mkdir, mkdtemp, readdir, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MAX_JOURNAL_RECORDS, UploadJournal, bootId, isAbandoned } from '../../adapters/cloudreve/upload-journal.js';
import type { UploadRecord } from '../../adapters/cloudreve/upload-journal.js';
import { collect } from '../helpers.js';
import { setup } from './fixtures.js';

const temps: string[] = [];
afterAll(async () => {
  for (const t of temps) await rm(t, { recursive: true, force: true });
});
async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'cloudmount-journal-'));
  temps.push(d);
  return d;
}
const record = (over: Partial<UploadRecord> = {}): UploadRecord => ({
  v: 1, sessionId: 's-1', uri: 'cloudreve://my/a', path: '/a', size: 3, expiresAt: Date.now() + 60_000, pid: process.pid, host: hostname(), ...over,
});

describe('UploadJournal', () => {
  it('records (mode 600, folder 700), lists, removes, and leaves no empty folder behind', async () => {
    const j = new UploadJournal(await tempDir(), 'https://drive.example', 'me@example.com');
    await j.add(record());
    await j.add(record({ sessionId: '../../escape', path: '/b' }));
    expect((await j.list()).map((r) => r.path).sort()).toEqual(['/a', '/b']);
    for (const f of await readdir(j.dir)) expect((await stat(join(j.dir, f))).mode & 0o777).toBe(0o600);
    expect((await stat(j.dir)).mode & 0o777).toBe(0o700);
    await j.remove('s-1');
    await j.remove('../../escape');
    await j.remove('never-there');
    await expect(stat(j.dir)).rejects.toMatchObject({ code: 'ENOENT' });
    expect(await j.list()).toEqual([]);
  });

  it('a junk or half-written file is dropped, never trusted; temp files are ignored', async () => {
    const j = new UploadJournal(await tempDir(), 'https://drive.example', 'me@example.com');
    await j.add(record());
    await writeFile(join(j.dir, 'junk.json'), '{"v":1,"sessionId":"x"');
    await writeFile(join(j.dir, 'wrong.json'), JSON.stringify(record({ sessionId: 'other' }))); // name does not match its id
    await writeFile(join(j.dir, '.abc.tmp'), 'partial');
    expect((await j.list()).map((r) => r.sessionId)).toEqual(['s-1']);
    const left = await readdir(j.dir);
    expect(left).toHaveLength(2);
    expect(left).toContain('.abc.tmp'); // maybe another process's record being written: left alone while fresh
    expect(left).not.toContain('junk.json');
    expect(left).not.toContain('wrong.json');
    // A temp file a crash left long ago goes.
    await utimes(join(j.dir, '.abc.tmp'), new Date(0), new Date(0));
    await j.list();
    expect(await readdir(j.dir)).not.toContain('.abc.tmp');
  });

  it(`limits: records over 16 KiB are junk; one listing reads at most ${MAX_JOURNAL_RECORDS} records (20 here)`, async () => {
    const j = new UploadJournal(await tempDir(), 'https://drive.example', 'me@example.com', 20);
    await j.add(record());
    const [name] = await readdir(j.dir);
    await writeFile(join(j.dir, name!), JSON.stringify({ ...record(), pad: 'x'.repeat(16 * 1024) }));
    expect(await j.list()).toEqual([]);
    await mkdir(j.dir, { recursive: true });
    await Promise.all(Array.from({ length: 20 + 5 }, (_, i) => writeFile(join(j.dir, `junk-${i}.json`), '{')));
    await j.list();
    expect(await readdir(j.dir)).toHaveLength(5); // the rest waits for the next listing
    await j.list();
    expect(await readdir(j.dir)).toHaveLength(0);
  });

  it('abandoned: a dead pid here, a session of this process not live, another host only once expired', () => {
    const live = new Set(['s-1']);
    expect(isAbandoned(record(), live)).toBe(false);
    expect(isAbandoned(record({ sessionId: 's-2' }), live)).toBe(true);
    expect(isAbandoned(record({ pid: 2 ** 22 + 12345 }), live)).toBe(true); // above pid_max: no such process
    expect(isAbandoned(record({ pid: 1 }), live)).toBe(false); // init is alive
    if (bootId()) {
      expect(isAbandoned(record({ pid: 1, boot: bootId()! }), live)).toBe(false);
      expect(isAbandoned(record({ pid: 1, boot: 'an-earlier-boot' }), live)).toBe(true); // pid 1 then was another process
    } else console.warn('boot-id case skipped: no /proc/sys/kernel/random/boot_id here');
    expect(isAbandoned(record({ host: 'elsewhere', pid: 2 ** 22 + 1 }), live)).toBe(false);
    expect(isAbandoned(record({ host: 'elsewhere', expiresAt: Date.now() - 1 }), live)).toBe(true);
  });

  it('a state folder that cannot be written does not fail uploads (a warning, no journal)', async () => {
    const dir = await tempDir();
    const blocker = join(dir, 'not-a-folder');
    await writeFile(blocker, 'a file where the state folder should be');
    const { vfs } = await setup({ chunkSize: 4 }, { stateDir: blocker, smallFileBytes: 0 });
    await vfs.write('/f.bin', Buffer.from('0123456789'));
    expect((await collect(await vfs.read('/f.bin'))).toString()).toBe('0123456789');
  });
});
