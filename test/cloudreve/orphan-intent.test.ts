/**
 * A process killed after the server opened its upload session but before the session's own journal
 * record was on disk (the record's fsync is slow on a loaded machine) leaves only the intent record.
 * The server put the session's id in the file's `sys:upload_session_id` metadata
 * (dbfs/upload.go PrepareUpload, new file or new version alike), so the next start finds the session
 * by its path and cancels it: a new file's placeholder goes (before, a GET of it was 40077 → EBUSY →
 * 423 until the session expired a day later), an existing file keeps its old version and its lock
 * goes. Found by the WebDAV model test (share killed mid-upload) on a busy machine.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CloudreveVfs } from '../../adapters/cloudreve/index.js';
import type { CloudreveEmulator } from '../../adapters/cloudreve/index.js';
import { UploadJournal } from '../../adapters/cloudreve/upload-journal.js';
import type { UploadRecord } from '../../adapters/cloudreve/upload-journal.js';
import { collect, expectCode } from '../helpers.js';
import { emulator } from './fixtures.js';

const temps: string[] = [];
afterAll(async () => {
  for (const t of temps) await rm(t, { recursive: true, force: true });
});

/** pid 2^22+1 is above Linux's pid_max limit: never a live process. */
const DEAD_PID = 4_194_305;

function vfsOn(emu: CloudreveEmulator, stateDir: string): CloudreveVfs {
  return new CloudreveVfs({ baseUrl: emu.url, email: emu.email, password: emu.password, stateDir, maxAttempts: 2, smallFileBytes: 0 });
}

function intent(path: string, size: number): UploadRecord {
  return {
    v: 1, sessionId: `intent-${path}`, intent: true, uri: `cloudreve://my${path}`, path, size,
    expiresAt: Date.now() + 3600_000, pid: DEAD_PID, host: hostname(),
  };
}

/** What the killed process leaves: the server's session on `path` (as the share opens it) and the intent alone on disk. */
async function killedAfterSessionOpened(emu: CloudreveEmulator, path: string, seed?: string) {
  const stateDir = await mkdtemp(join(tmpdir(), 'cloudmount-intent-'));
  temps.push(stateDir);
  const journal = new UploadJournal(stateDir, emu.url, emu.email);
  const first = vfsOn(emu, stateDir);
  try {
    if (seed !== undefined) await first.write(path, Buffer.from(seed));
    const session = await first.client.createUploadSession({ uri: `cloudreve://my${path}`, size: 1 << 20, entity_type: 'version' });
    await journal.add(intent(path, 1 << 20));
    return { stateDir, journal, sessionId: session.session_id };
  } finally {
    await first.close();
  }
}

describe('killed between the server opening the upload session and its journal record', () => {
  it('new file: the next start cancels the session named by the placeholder, which goes (no 423 on read)', async () => {
    const emu = await emulator();
    const { stateDir, journal } = await killedAfterSessionOpened(emu, '/new.bin');
    const vfs = vfsOn(emu, stateDir);
    try {
      expect(await vfs.recoverUploads()).toEqual({ cancelled: 1, left: 0 });
      expect(emu.requests('DELETE /file/upload')).toHaveLength(1);
      expect(emu.store.sessions.size).toBe(0);
      await expectCode(vfs.stat('/new.bin'), 'ENOENT');
      await expectCode(vfs.read('/new.bin'), 'ENOENT');
      expect(await journal.list()).toEqual([]);
    } finally {
      await vfs.close();
    }
  });

  it('existing file: the next start cancels the pending version; the old one reads, a write needs no lock release', async () => {
    const emu = await emulator();
    const { stateDir, journal } = await killedAfterSessionOpened(emu, '/old.txt', 'the good old version');
    const vfs = vfsOn(emu, stateDir);
    try {
      expect(await vfs.recoverUploads()).toEqual({ cancelled: 1, left: 0 });
      expect(emu.store.sessions.size).toBe(0);
      expect((await collect(await vfs.read('/old.txt'))).toString()).toBe('the good old version');
      await vfs.write('/old.txt', Buffer.from('new'));
      expect(emu.requests('DELETE /file/lock')).toHaveLength(0);
      expect((await collect(await vfs.read('/old.txt'))).toString()).toBe('new');
      expect(await journal.list()).toEqual([]);
    } finally {
      await vfs.close();
    }
  });

  it('a session some live process recorded is left alone even when a dead intent names its path', async () => {
    const emu = await emulator();
    const { stateDir, journal, sessionId } = await killedAfterSessionOpened(emu, '/busy.bin');
    // pid 1 is alive: its record owns the session the placeholder names.
    await journal.add({ ...intent('/busy.bin', 1 << 20), sessionId, intent: undefined, pid: 1 } as UploadRecord);
    const vfs = vfsOn(emu, stateDir);
    try {
      expect(await vfs.recoverUploads()).toEqual({ cancelled: 0, left: 2 });
      expect(emu.requests('DELETE /file/upload')).toHaveLength(0);
      expect(emu.store.sessions.size).toBe(1);
    } finally {
      await vfs.close();
    }
  });

  it('no session on the path (the kill came before the server saw the request): nothing is cancelled, the intent stays', async () => {
    const emu = await emulator();
    const stateDir = await mkdtemp(join(tmpdir(), 'cloudmount-intent-'));
    temps.push(stateDir);
    const journal = new UploadJournal(stateDir, emu.url, emu.email);
    await journal.add(intent('/never.bin', 10));
    const vfs = vfsOn(emu, stateDir);
    try {
      expect(await vfs.recoverUploads()).toEqual({ cancelled: 0, left: 1 });
      expect(emu.requests('DELETE /file/upload')).toHaveLength(0);
      expect(await journal.list()).toHaveLength(1);
    } finally {
      await vfs.close();
    }
  });
});
