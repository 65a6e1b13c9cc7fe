/**
 * Crash safety (issue 11, item 2): `kill -9` of a `cloudmount mount` process while a writer has new
 * content in open files and is in the middle of writing another, then a restart. Checked, as a user
 * would see it:
 * - the provider still holds the previous good version of every file that was being rewritten (no
 *   partial upload replaced anything), and the file closed before the crash holds its new content;
 * - the mountpoint is left dead ("Transport endpoint is not connected") and the next
 *   `cloudmount mount` on it clears it and serves again;
 * - the unfinished writes are in the spool: `cloudmount pending list` shows each one with the bytes
 *   written against the size the writer set (when it set one) and the size of the version it replaces;
 * - `cloudmount pending retry` does NOT upload interrupted entries (they may be truncated files: a
 *   99 MiB partial must never replace a 100 MiB original) and says how to; `pending retry
 *   --force-interrupted` uploads them so the provider ends up with the new content.
 */
import { execFile, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli, startCli } from '../cli/run-cli.js';
import { startSoakProvider } from '../soak/providers.js';
import type { ProviderName, SoakProvider } from '../soak/providers.js';
// @ts-expect-error plain JS module shared with the soak workload (no type declarations)
import { contentChunks } from '../soak/content.mjs';

const run = promisify(execFile);
const WRITER = resolve(import.meta.dirname, 'writer.mjs');
const MiB = 1024 * 1024;
const hasFuse = existsSync('/dev/fuse');
if (!hasFuse) console.warn('crash test skipped: /dev/fuse is missing (it kills a real FUSE mount)');
const hasBuild = existsSync(new URL('../../dist/cli/index.js', import.meta.url));
if (!hasBuild) console.warn('crash test skipped: dist/ is not built (run `npx tsc -p .` first; `npm test` does)');

/** Bytes of a generated file (seed, size) — the same generator the writer uses. */
function bytes(seed: number, size: number): Buffer {
  return Buffer.concat([...(contentChunks([{ seed, length: size }]) as Iterable<Buffer>)]);
}
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

const mountpoints: string[] = [];
const children: ChildProcess[] = [];
afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const m of mountpoints) await run('fusermount', ['-u', '-z', m]).catch(() => {});
});

interface PendingJson {
  id: string;
  path: string;
  size: number;
  storedBytes: number;
  intendedSize?: number;
  replacesSize?: number | null;
  reason: string;
  spoolFile: string;
}

describe.skipIf(!hasFuse || !hasBuild)('crash safety: kill -9 of a mount in the middle of writes', () => {
  for (const provider of ['cloudreve', 'couchdrop'] as ProviderName[]) {
    it(`${provider}: old versions intact, unfinished writes kept and uploaded by "pending retry", stale mount cleared`, async () => {
      const tmp = await mkdtemp(join(tmpdir(), `cloudmount-crash-${provider}-`));
      const mnt = join(tmp, 'mnt');
      const spoolDir = join(tmp, 'spool');
      mountpoints.push(mnt);
      const p: SoakProvider = await startSoakProvider(provider, { rate: 0, seed: 1, tokenTtlMs: 3_600_000, latencyMs: 0, slowMs: 0 });
      const env = { CLOUDMOUNT_CONFIG: join(tmp, 'no-config.json'), XDG_CACHE_HOME: join(tmp, 'cache'), ...p.env };
      try {
        // The previous good versions (over 1 MiB: a spool that size lives in a file, not in memory).
        const old = { a: bytes(1, 2 * MiB + 5), b: bytes(2, 3 * MiB), e: bytes(3, 2 * MiB) };
        await p.mkdir('/crash');
        for (const [name, data] of Object.entries(old)) await p.seedFile(`/crash/${name}.bin`, data);

        const mount = await startCli(['mount', `${provider}:/crash`, mnt, '--spool-dir', spoolDir], /mounted .* at /, env);
        children.push(mount.child);
        // a: rewritten in place (r+), b: truncated and rewritten, c: new, e: rewritten and CLOSED, d: streaming.
        const plan = {
          'a.bin': { seed: 11, size: 3 * MiB, mode: 'open', flags: 'r+' },
          'b.bin': { seed: 12, size: 2 * MiB + 100, mode: 'open', flags: 'w' },
          'c.bin': { seed: 13, size: 3 * MiB + 7, mode: 'open', flags: 'w' },
          'e.bin': { seed: 15, size: 2 * MiB + 1, mode: 'closed', flags: 'w' },
          // f: preallocated to 4 MiB (ftruncate), 1 MiB of it written when the mount dies.
          'f.bin': { seed: 16, size: MiB, preallocate: 4 * MiB, mode: 'open', flags: 'w' },
          'd.bin': { seed: 14, size: 0, mode: 'stream', flags: 'w' },
        };
        const writer = spawn(process.execPath, [WRITER, JSON.stringify({ mnt, files: plan })], { stdio: ['ignore', 'pipe', 'pipe'] });
        children.push(writer);
        let writerErr = '';
        writer.stderr.on('data', (c: Buffer) => (writerErr += c.toString()));
        await new Promise<void>((ok, fail) => {
          writer.stdout.on('data', (c: Buffer) => c.toString().includes('ready') && ok());
          writer.once('exit', (code) => fail(new Error(`writer exited (${code}) before it was ready: ${writerErr}`)));
        });

        // The crash: the mount dies mid-write (d is being written right now), no chance to clean up.
        const died = new Promise((r) => mount.child.once('exit', r));
        process.kill(mount.child.pid!, 'SIGKILL');
        await died;
        writer.kill('SIGKILL');

        // The kernel now answers for a dead filesystem.
        const probe = await run('stat', [mnt]).then(() => 'alive', (e: { stderr?: string }) => e.stderr ?? '');
        expect(probe).toMatch(/Transport endpoint is not connected/);

        // The provider: old versions intact, the closed file has its new content, nothing half-written.
        const stored = await p.files('/crash');
        expect(stored.get('/crash/a.bin')?.sha256).toBe(sha(old.a));
        expect(stored.get('/crash/b.bin')?.sha256).toBe(sha(old.b));
        const e = bytes(15, plan['e.bin'].size);
        expect(stored.get('/crash/e.bin')?.sha256).toBe(sha(e));
        for (const name of ['c.bin', 'd.bin', 'f.bin']) expect(stored.get(`/crash/${name}`)?.size ?? 0).toBe(0); // at most the empty file create() made

        // The unfinished writes are in the spool, listed by a new process.
        const listed = await runCli(['pending', 'list', '--spool-dir', spoolDir, '--json'], { env });
        expect(listed.code, listed.stderr).toBe(0);
        const items = JSON.parse(listed.stdout) as PendingJson[];
        const byPath = new Map(items.map((i) => [i.path, i]));
        expect([...byPath.keys()].sort()).toEqual(['/crash/a.bin', '/crash/b.bin', '/crash/c.bin', '/crash/d.bin', '/crash/f.bin']);
        for (const i of items) expect(i.reason).toBe('interrupted');
        // What each holds, against what the writer meant and what it would replace.
        expect(byPath.get('/crash/a.bin')).toMatchObject({ size: 3 * MiB, storedBytes: 3 * MiB, replacesSize: old.a.length });
        expect(byPath.get('/crash/a.bin')!.intendedSize).toBeUndefined();
        expect(byPath.get('/crash/b.bin')).toMatchObject({ replacesSize: old.b.length });
        expect(byPath.get('/crash/c.bin')).toMatchObject({ replacesSize: null });
        const f = byPath.get('/crash/f.bin')!;
        expect(f).toMatchObject({ size: 4 * MiB, intendedSize: 4 * MiB, replacesSize: null });
        expect(f.storedBytes).toBeGreaterThanOrEqual(MiB);
        expect(f.storedBytes).toBeLessThan(2 * MiB);
        // Each spool holds exactly the bytes the writer had written.
        const newA = Buffer.concat([bytes(11, 3 * MiB)]);
        expect(sha(await readFile(byPath.get('/crash/a.bin')!.spoolFile))).toBe(sha(newA));
        expect(sha(await readFile(byPath.get('/crash/b.bin')!.spoolFile))).toBe(sha(bytes(12, plan['b.bin'].size)));
        expect(sha(await readFile(byPath.get('/crash/c.bin')!.spoolFile))).toBe(sha(bytes(13, plan['c.bin'].size)));
        const dSpool = await readFile(byPath.get('/crash/d.bin')!.spoolFile);
        expect(dSpool.length).toBeGreaterThanOrEqual(32 * 64 * 1024);
        const human = await runCli(['pending', 'list', '--spool-dir', spoolDir], { env });
        expect(human.stdout).toMatch(/\/crash\/a\.bin/);
        expect(human.stdout).toMatch(/f\.bin.*interrupted.*1(\.0)? MiB written of 4(\.0)? MiB the writer set/);
        expect(human.stdout).toMatch(/a\.bin.*interrupted.*replaces a 2(\.0)? MiB version/);

        // Restart on the dead mountpoint: it is cleared and served again; the new mount points at the kept uploads.
        const again = await startCli(['mount', `${provider}:/crash`, mnt, '--spool-dir', spoolDir], /mounted .* at /, env);
        children.push(again.child);
        const listing = await run('ls', [mnt]);
        expect(listing.stdout.split('\n')).toContain('e.bin');
        for (let i = 0; i < 100 && !/upload\(s\) from earlier runs/.test(again.output()); i++) await new Promise((r) => setTimeout(r, 100));
        expect(again.output()).toMatch(/5 upload\(s\) from earlier runs are kept/);
        await again.stop();
        expect((await readFile('/proc/mounts', 'utf8')).includes(` ${mnt} `)).toBe(false);

        // A plain "pending retry" refuses interrupted entries: nothing is uploaded, all stay listed.
        const refused = await runCli(['pending', 'retry', '--spool-dir', spoolDir], { env, timeoutMs: 120_000 });
        expect(refused.code).not.toBe(0);
        expect(refused.stderr).toMatch(/--force-interrupted/);
        expect(refused.stdout).not.toMatch(/^uploaded /m);
        const untouched = await p.files('/crash');
        expect(untouched.get('/crash/a.bin')?.sha256).toBe(sha(old.a));
        expect(untouched.get('/crash/b.bin')?.sha256).toBe(sha(old.b));
        const stillListed = JSON.parse((await runCli(['pending', 'list', '--spool-dir', spoolDir, '--json'], { env })).stdout) as PendingJson[];
        expect(stillListed).toHaveLength(5);

        // "pending retry --force-interrupted" uploads them: the provider has the new content, nothing is left pending.
        const retried = await runCli(['pending', 'retry', '--force-interrupted', '--spool-dir', spoolDir], { env, timeoutMs: 120_000 });
        expect(retried.code, retried.stderr).toBe(0);
        expect(retried.stdout.match(/^uploaded /gm)?.length).toBe(5);
        const after = await p.files('/crash');
        expect(after.get('/crash/a.bin')?.sha256).toBe(sha(newA));
        expect(after.get('/crash/b.bin')?.sha256).toBe(sha(bytes(12, plan['b.bin'].size)));
        expect(after.get('/crash/c.bin')?.sha256).toBe(sha(bytes(13, plan['c.bin'].size)));
        expect(after.get('/crash/d.bin')?.sha256).toBe(sha(dSpool));
        expect(after.get('/crash/e.bin')?.sha256).toBe(sha(e));
        const empty = await runCli(['pending', 'list', '--spool-dir', spoolDir], { env });
        expect(empty.stdout).toMatch(/no pending uploads/);
      } finally {
        await run('fusermount', ['-u', '-z', mnt]).catch(() => {});
        await p.close();
        await rm(tmp, { recursive: true, force: true }).catch(() => {});
      }
    }, 120_000);
  }
});
