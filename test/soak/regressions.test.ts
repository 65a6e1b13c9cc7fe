/**
 * Regression tests for the defects the fault soak found, each reduced to its smallest form so it
 * runs fast and fails for exactly one reason.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { CloudreveVfs, startCloudreveEmulator } from '../../adapters/cloudreve/index.js';
import type { CloudreveEmulator, FaultKind } from '../../adapters/cloudreve/index.js';
import { CouchdropVfs, startCouchdropEmulator } from '../../adapters/couchdrop/index.js';
import { serveWebdav } from '../../mount/webdav.js';
import { MemoryVfs } from '../../adapters/memory/index.js';
import { VfsError } from '../../src/errors.js';
import { Scheduler } from '../../src/scheduler/index.js';
import { isAmbiguousFailure } from '../../adapters/cloudreve/settle.js';
import { collect } from '../helpers.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!().catch(() => {});
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'cloudmount-soak-reg-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function cloudreve(options: Parameters<typeof startCloudreveEmulator>[0] = {}, vfsOptions: { spoolDir?: string } = {}): Promise<{ emu: CloudreveEmulator; vfs: CloudreveVfs }> {
  const emu = await startCloudreveEmulator(options);
  const vfs = new CloudreveVfs({ baseUrl: emu.url, email: emu.email, password: emu.password, scheduler: new Scheduler({ baseDelayMs: 5, maxDelayMs: 50 }), ...vfsOptions });
  cleanups.push(() => emu.close(), async () => vfs.close?.());
  return { emu, vfs };
}

describe('a --spool-dir that does not exist yet is created (it used to fail every unsized upload with ENOENT)', () => {
  it('Cloudreve adapter, stream of unknown size', async () => {
    const spoolDir = join(await tempDir(), 'not', 'yet');
    const { vfs } = await cloudreve({}, { spoolDir });
    const entry = await vfs.write('/a.bin', Readable.from([Buffer.alloc(70_000, 1), Buffer.alloc(300_000, 2)]));
    expect(entry.size).toBe(370_000);
  });

  it('Couchdrop adapter', async () => {
    const spoolDir = join(await tempDir(), 'not', 'yet');
    const emu = await startCouchdropEmulator({});
    const vfs = new CouchdropVfs({ token: emu.token, apiUrl: emu.apiUrl, fileioUrl: emu.fileioUrl, spoolDir });
    cleanups.push(() => emu.close(), async () => vfs.close?.());
    const entry = await vfs.write('/a.bin', Readable.from([Buffer.from('hello '), Buffer.from('world')]));
    expect(entry.size).toBe(11);
    expect((await collect(await emu.store.read('/a.bin'))).toString()).toBe('hello world');
  });

  it('WebDAV share, chunked PUT to a Vfs that needs the size', async () => {
    const spoolDir = join(await tempDir(), 'not', 'yet');
    const memory = new MemoryVfs();
    // A Vfs that asks for the size up front makes the share spool a chunked PUT.
    Object.defineProperty(memory, 'capabilities', { value: { ...memory.capabilities, needsSizeForWrite: true } });
    const server = await serveWebdav(memory, { port: 0, spoolDir, cache: false });
    cleanups.push(() => server.close());
    const res = await fetch(`${server.url.replace(/\/$/, '')}/c.txt`, {
      method: 'PUT', body: Readable.toWeb(Readable.from([Buffer.from('chunked '), Buffer.from('body')])) as ReadableStream, duplex: 'half',
    } as RequestInit);
    expect(res.status).toBeLessThan(300);
    expect((await collect(await memory.read('/c.txt'))).toString()).toBe('chunked body');
  });
});

describe('Cloudreve: a non-idempotent call that fails ambiguously is settled, not reported (mv/COPY failed on one 502)', () => {
  const kinds: FaultKind[] = ['proxy502', 'reset', 'code50001'];
  for (const kind of kinds) {
    it(`rename, move, copy, mkdir and remove each survive one ${kind}`, async () => {
      const { emu, vfs } = await cloudreve();
      await vfs.mkdir('/d');
      await vfs.mkdir('/e');
      await vfs.write('/d/a.txt', Buffer.from('payload'));
      emu.injectFault(kind, { route: 'POST /file/rename' });
      await vfs.rename('/d/a.txt', '/d/b.txt');
      emu.injectFault(kind, { route: 'POST /file/move' });
      await vfs.rename('/d/b.txt', '/e/b.txt');
      emu.injectFault(kind, { route: 'POST /file/move' });
      await vfs.copy('/e/b.txt', '/d/c.txt');
      emu.injectFault(kind, { route: 'POST /file/create' });
      await vfs.mkdir('/f');
      emu.injectFault(kind, { route: 'DELETE /file' });
      await vfs.remove('/e/b.txt');
      expect((await vfs.list('/d')).map((e) => e.name).sort()).toEqual(['c.txt']);
      expect((await collect(await vfs.read('/d/c.txt'))).toString()).toBe('payload');
      expect((await vfs.list('/e')).length).toBe(0);
      expect((await vfs.stat('/f')).type).toBe('directory');
    });
  }

  it('an upload session whose creation met a 502 is opened again', async () => {
    const { emu, vfs } = await cloudreve();
    emu.injectFault('proxy502', { route: 'PUT /file/upload' });
    const big = Buffer.alloc(600_000, 7); // above the one-request small-file limit: an upload session
    expect((await vfs.write('/big.bin', big, { size: big.length })).size).toBe(big.length);
  });

  it('only ambiguous failures are settled: a plain refusal is not', () => {
    const refused = new VfsError('EACCES', 'no');
    const lost = new VfsError('EIO', 'POST /file/move failed after 1 attempt: HTTP 502', { status: 502 });
    expect(isAmbiguousFailure(refused)).toBe(false);
    expect(isAmbiguousFailure(lost)).toBe(true);
    expect(isAmbiguousFailure(new VfsError('EIO', 'gave up', { retryable: true, status: 502 }))).toBe(false);
  });
});

describe('Cloudreve: short-lived tokens under faults (operations failed with EACCES / EIO)', () => {
  it('a refresh that meets a 502 is retried instead of failing the operation', async () => {
    const { emu, vfs } = await cloudreve({ accessTtlMs: 1500 });
    await vfs.mkdir('/t');
    await new Promise((r) => setTimeout(r, 1700)); // the access token has expired
    emu.injectFault('proxy502', { route: 'POST /session/token/refresh' });
    expect((await vfs.stat('/t')).type).toBe('directory');
    expect(emu.authStats().refreshes).toBeGreaterThanOrEqual(1);
  });
  // (Several renewals after 401s — a queued request outliving a 3 s token — is covered by the soak itself.)
});

describe('Couchdrop: rename, delete and mkdir that fail ambiguously are settled, not reported (mv/MOVE failed on one 500)', () => {
  for (const kind of [500, 'reset'] as const) {
    it(`each survives one ${kind}`, async () => {
      const emu = await startCouchdropEmulator({});
      const vfs = new CouchdropVfs({ token: emu.token, apiUrl: emu.apiUrl, fileioUrl: emu.fileioUrl, scheduler: { baseDelayMs: 5, maxDelayMs: 50 } });
      cleanups.push(() => emu.close(), async () => vfs.close?.());
      await vfs.mkdir('/d');
      await vfs.write('/d/a.txt', Buffer.from('payload'));
      const once = (route: string) => emu.setFaults([{ kind, every: 1, limit: 1, routes: [route] }]);
      once('/file/rename');
      await vfs.rename('/d/a.txt', '/d/b.txt');
      once('/file/mkdir');
      await vfs.mkdir('/e');
      once('/file/delete');
      await vfs.remove('/e');
      emu.setFaults([]);
      expect((await vfs.list('/')).map((e) => e.name)).toEqual(['d']);
      expect((await vfs.list('/d')).map((e) => e.name)).toEqual(['b.txt']);
      expect((await collect(await emu.store.read('/d/b.txt'))).toString()).toBe('payload');
      const faulted = emu.log.filter((e) => e.fault !== undefined).length;
      expect(faulted).toBe(3);
    });
  }
});
