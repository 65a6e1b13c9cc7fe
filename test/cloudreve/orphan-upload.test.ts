/**
 * Issue 16 #5: an upload session left by a process killed mid-upload locks its path (40073 → EBUSY)
 * for the session's lifetime, a day by default. The sessions are journaled under `stateDir`, so the
 * next CloudreveVfs on that folder cancels them (at start, or when a 40073 names one of them); a lock
 * no journal here knows of is left alone (it may be a live upload elsewhere) until it expires.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CloudreveVfs } from '../../adapters/cloudreve/index.js';
import type { CloudreveEmulator } from '../../adapters/cloudreve/index.js';
import { UploadJournal } from '../../adapters/cloudreve/upload-journal.js';
import { openRemote } from '../../cli/remotes.js';
import { collect, expectCode } from '../helpers.js';
import { emulator } from './fixtures.js';

const CHILD = resolve(import.meta.dirname, 'upload-child.mjs');
const hasBuild = existsSync(new URL('../../dist/adapters/cloudreve/index.js', import.meta.url));
if (!hasBuild) console.warn('orphan upload test skipped: dist/ is not built (run `npm run build` first; `npm test` does)');

const CHUNK = 16 * 1024;
const temps: string[] = [];
afterAll(async () => {
  for (const t of temps) await rm(t, { recursive: true, force: true });
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'cloudmount-orphan-'));
  temps.push(dir);
  return dir;
}

function vfsOn(emu: CloudreveEmulator, stateDir: string | false): CloudreveVfs {
  return new CloudreveVfs({ baseUrl: emu.url, email: emu.email, password: emu.password, stateDir, maxAttempts: 2, smallFileBytes: 0 });
}

/** Run the uploader on `path`, wait until the emulator has taken ≥ 2 of its chunks, kill -9 it. */
async function killMidUpload(emu: CloudreveEmulator, stateDir: string, path: string): Promise<void> {
  const kill = await uploaderMidWay(emu, stateDir, path);
  await kill();
}

/** Run the uploader on `path` until the emulator has taken ≥ 2 of its chunks; returns its kill -9. */
async function uploaderMidWay(emu: CloudreveEmulator, stateDir: string, path: string): Promise<() => Promise<void>> {
  const size = 8 * CHUNK;
  const child = spawn(process.execPath, [CHILD, emu.url, emu.email, stateDir, path, String(size), String(3 * CHUNK)], {
    env: { ...process.env, CR_PASSWORD: emu.password }, stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  try {
    // Polling the emulator's log (no time limit is asserted: the test's own timeout bounds it).
    while (emu.requests('POST /file/upload/{session}/{index}').filter((e) => e.status === 200).length < 2) {
      if (child.exitCode !== null) throw new Error(`the uploader exited early (${child.exitCode}): ${stderr}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  } catch (e) {
    child.kill('SIGKILL');
    await exited;
    throw e;
  }
  children.push(child);
  return async () => {
    child.kill('SIGKILL');
    await exited;
    expect(child.signalCode).toBe('SIGKILL');
    expect(emu.store.sessions.size).toBe(1); // the session stays on the server
  };
}

const children: ChildProcess[] = [];
afterAll(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

describe.skipIf(!hasBuild)('an upload killed mid-way does not lock its path (orphan sessions)', () => {
  it('new file: the next Vfs on the same stateDir cancels the orphan at start, then write, read, delete work', async () => {
    const emu = await emulator({ chunkSize: CHUNK });
    const stateDir = await tempDir();
    await killMidUpload(emu, stateDir, '/big.bin');

    // The journal holds one whole record, mode 600, and nothing secret.
    const journal = new UploadJournal(stateDir, emu.url, emu.email);
    const files = (await readdir(journal.dir)).filter((n) => n.endsWith('.json'));
    expect(files).toHaveLength(1);
    expect((await stat(join(journal.dir, files[0]!))).mode & 0o777).toBe(0o600);
    const text = await readFile(join(journal.dir, files[0]!), 'utf8');
    expect(text).not.toContain(emu.password);
    expect(JSON.parse(text)).toMatchObject({ path: '/big.bin', size: 8 * CHUNK, sessionId: [...emu.store.sessions.keys()][0] });

    // What the defect looks like: listed as a complete file, every change refused.
    const blind = vfsOn(emu, false);
    expect((await blind.list('/')).map((e) => [e.name, e.size])).toEqual([['big.bin', 8 * CHUNK]]);
    await expectCode(blind.write('/big.bin', Buffer.from('x')), 'EBUSY');
    await expectCode(blind.remove('/big.bin'), 'EBUSY');
    await blind.close();

    const vfs = vfsOn(emu, stateDir);
    try {
      expect(await vfs.recoverUploads()).toEqual({ cancelled: 1, left: 0 });
      expect(emu.requests('DELETE /file/upload')).toHaveLength(1);
      expect(emu.store.sessions.size).toBe(0);
      expect(await journal.list()).toEqual([]);
      await expectCode(vfs.stat('/big.bin'), 'ENOENT'); // the placeholder went with its session
      await vfs.write('/big.bin', Buffer.alloc(3 * CHUNK + 5, 7));
      expect((await collect(await vfs.read('/big.bin'))).equals(Buffer.alloc(3 * CHUNK + 5, 7))).toBe(true);
      await vfs.remove('/big.bin');
      await expectCode(vfs.stat('/big.bin'), 'ENOENT');
      expect(await journal.list()).toEqual([]); // completed uploads leave no record
    } finally {
      await vfs.close();
    }
  });

  it('existing file: a 40073 naming a journaled orphan is cleared on the spot (no start-up recovery), the old version stays', async () => {
    const emu = await emulator({ chunkSize: CHUNK, seed: { 'doc.txt': 'the good old version' } });
    const stateDir = await tempDir();
    await killMidUpload(emu, stateDir, '/doc.txt');
    const vfs = vfsOn(emu, stateDir);
    try {
      // rename is not a write, so no start-up recovery ran: the lock conflict itself clears the orphan.
      await vfs.rename('/doc.txt', '/renamed.txt');
      expect(emu.requests('DELETE /file/upload')).toHaveLength(1);
      expect((await collect(await vfs.read('/renamed.txt'))).toString()).toBe('the good old version');
      await vfs.remove('/renamed.txt');
      expect(await new UploadJournal(stateDir, emu.url, emu.email).list()).toEqual([]);
    } finally {
      await vfs.close();
    }
  });

  it('a live upload of another process on the same stateDir is never cancelled; once that process dies, its lock clears', async () => {
    const emu = await emulator({ chunkSize: CHUNK });
    const stateDir = await tempDir();
    const kill = await uploaderMidWay(emu, stateDir, '/live.bin');
    const vfs = vfsOn(emu, stateDir);
    try {
      expect(await vfs.recoverUploads()).toEqual({ cancelled: 0, left: 1 });
      await expectCode(vfs.write('/live.bin', Buffer.from('mine')), 'EBUSY');
      expect(emu.requests('DELETE /file/upload')).toHaveLength(0);
      expect(emu.store.sessions.size).toBe(1);
      await kill();
      await vfs.write('/live.bin', Buffer.from('mine'));
      expect((await collect(await vfs.read('/live.bin'))).toString()).toBe('mine');
    } finally {
      await vfs.close();
    }
  });

  it('openRemote (mount, serve, the CLI) cancels the orphans of the default state folder at start', async () => {
    const emu = await emulator({ chunkSize: CHUNK });
    const xdg = await tempDir();
    await killMidUpload(emu, join(xdg, 'cloudmount'), '/started.bin'); // the default: $XDG_STATE_HOME/cloudmount
    const saved = process.env.XDG_STATE_HOME;
    process.env.XDG_STATE_HOME = xdg;
    try {
      const vfs = await openRemote({ type: 'cloudreve', url: emu.url, email: emu.email, password: emu.password });
      expect(emu.requests('DELETE /file/upload')).toHaveLength(1);
      expect(emu.store.sessions.size).toBe(0);
      await vfs.close?.();
    } finally {
      if (saved === undefined) delete process.env.XDG_STATE_HOME;
      else process.env.XDG_STATE_HOME = saved;
    }
  });

  it('killed after the server created the session but before its answer was recorded: the intent record releases that lock, once', async () => {
    const emu = await emulator({ chunkSize: CHUNK });
    const stateDir = await tempDir();
    const first = vfsOn(emu, stateDir);
    const journal = new UploadJournal(stateDir, emu.url, emu.email);
    try {
      await first.write('/late.bin', Buffer.from('old version'));
      // What a process killed in that window leaves: a session (and its lock) on the server, and on
      // disk only the intent it wrote before sending PUT /file/upload. pid 2^22+1 is never a live pid.
      await first.client.createUploadSession({ uri: 'cloudreve://my/late.bin', size: 8 * CHUNK, entity_type: 'version' });
      await journal.add({
        v: 1, sessionId: 'intent-test', intent: true, uri: 'cloudreve://my/late.bin', path: '/late.bin', size: 8 * CHUNK,
        expiresAt: Date.now() + 3600_000, pid: 4_194_305, host: hostname(),
      });
    } finally {
      await first.close();
    }
    const vfs = vfsOn(emu, stateDir);
    try {
      // No start-up recovery (a rename is not a write; orphan-intent.test.ts has the start-up case):
      // the lock conflict itself matches the intent.
      await vfs.rename('/late.bin', '/renamed.bin');
      expect(emu.requests('DELETE /file/lock')).toHaveLength(1);
      expect((await collect(await vfs.read('/renamed.bin'))).toString()).toBe('old version');
      expect(await journal.list()).toEqual([]); // used once, then gone
    } finally {
      await vfs.close();
    }
  });

  it('journal gone (another machine): the lock is not stolen (EBUSY) until the server lets the session expire', async () => {
    const emu = await emulator({ chunkSize: CHUNK });
    const stateDir = await tempDir();
    await killMidUpload(emu, stateDir, '/other.bin');
    await rm(join(stateDir, 'cloudreve-uploads'), { recursive: true });
    const vfs = vfsOn(emu, stateDir);
    try {
      expect(await vfs.recoverUploads()).toEqual({ cancelled: 0, left: 0 });
      const err = await expectCode(vfs.write('/other.bin', Buffer.from('mine')), 'EBUSY');
      expect(err.message).toMatch(/Lock conflict/);
      await expectCode(vfs.remove('/other.bin'), 'EBUSY');
      expect(emu.requests('DELETE /file/upload')).toHaveLength(0);
      expect(emu.requests('DELETE /file/lock')).toHaveLength(0);
      // The session's lifetime passes (a day on a real server): its lock and placeholder go.
      emu.store.expireSessions();
      await vfs.write('/other.bin', Buffer.from('mine'));
      expect((await collect(await vfs.read('/other.bin'))).toString()).toBe('mine');
      await vfs.remove('/other.bin');
    } finally {
      await vfs.close();
    }
  });
});
