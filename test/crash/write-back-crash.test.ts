/**
 * Write-back crash safety (issue 19): `kill -9` of a `cloudmount mount --write-back` after close()
 * returned and before the upload ran. The closed files are durable in the spool with a 'queued'
 * record; `pending list` (a new process) shows them; the next `mount` of the same remote resumes the
 * queue before serving (the files read back at once) and uploads them with no command. A file that
 * was still open when the mount died is NOT queued (it stays an 'interrupted' entry, as without
 * write-back), so a cut-short file is never uploaded by itself.
 */
import { execFile, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { runCli, startCli } from '../cli/run-cli.js';
import { startSoakProvider } from '../soak/providers.js';
import type { ProviderName } from '../soak/providers.js';

const run = promisify(execFile);
const MiB = 1024 * 1024;
const hasFuse = existsSync('/dev/fuse');
const hasBuild = existsSync(new URL('../../dist/cli/index.js', import.meta.url));
if (!hasFuse || !hasBuild) console.warn('write-back crash test skipped: needs /dev/fuse and a built dist/ (npm run build)');
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

const mountpoints: string[] = [];
const children: ChildProcess[] = [];
afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const m of mountpoints) await run('fusermount', ['-u', '-z', m]).catch(() => {});
});

interface PendingJson { id: string; path: string; size: number; reason: string; queue?: { state: string } }

describe.skipIf(!hasFuse || !hasBuild)('write-back: kill -9 after close, before upload', () => {
  for (const provider of ['couchdrop', 'cloudreve'] as ProviderName[]) {
    it(`${provider}: the next mount resumes the queue and uploads without any command`, async () => {
      const tmp = await mkdtemp(join(tmpdir(), `cloudmount-wbcrash-${provider}-`));
      const mnt = join(tmp, 'mnt');
      const spoolDir = join(tmp, 'spool');
      mountpoints.push(mnt);
      const p = await startSoakProvider(provider, { rate: 0, seed: 1, tokenTtlMs: 3_600_000, latencyMs: 0, slowMs: 0 });
      const env = { CLOUDMOUNT_CONFIG: join(tmp, 'no-config.json'), XDG_CACHE_HOME: join(tmp, 'cache'), ...p.env };
      try {
        await p.mkdir('/wb');
        const old = Buffer.from('the previous version');
        await p.seedFile('/wb/edit.txt', old);
        const big = Buffer.alloc(3 * MiB + 11);
        for (let i = 0; i < big.length; i++) big[i] = (i * 31 + 7) & 0xff;
        await writeFile(join(tmp, 'big.bin'), big);

        // A delay of an hour: nothing uploads before the kill.
        const mount = await startCli(['mount', `${provider}:/wb`, mnt, '--spool-dir', spoolDir, '--write-back', '3600'], /mounted .* at /, env);
        children.push(mount.child);
        await run('sh', ['-c', `cp '${join(tmp, 'big.bin')}' '${mnt}/big.bin' && printf 'new text' > '${mnt}/edit.txt' && printf small > '${mnt}/small.txt'`]);
        // A writer that still holds a file open when the mount dies.
        // (node, not sh: a shell may close a duplicate of the descriptor, which flushes it; over 1 MiB, so the spool is a file.)
        const writer = spawn(process.execPath, ['-e', `const fs = require('fs'); const fd = fs.openSync(${JSON.stringify(mnt + '/open.txt')}, 'w'); fs.writeSync(fd, Buffer.alloc(2 * 1024 * 1024, 97)); console.log('ready'); setTimeout(() => {}, 60000);`], { stdio: ['ignore', 'pipe', 'ignore'] });
        children.push(writer);
        await new Promise<void>((ok) => writer.stdout!.on('data', (c: Buffer) => c.toString().includes('ready') && ok()));

        const died = new Promise((r) => mount.child.once('exit', r));
        process.kill(mount.child.pid!, 'SIGKILL');
        await died;
        writer.kill('SIGKILL');
        await run('fusermount', ['-u', '-z', mnt]).catch(() => {});

        // Nothing reached the provider; the previous version is intact.
        const before = await p.files('/wb');
        expect(before.get('/wb/edit.txt')?.sha256).toBe(sha(old));
        expect(before.get('/wb/big.bin')).toBeUndefined();
        expect(before.get('/wb/small.txt')).toBeUndefined();

        // A new process lists the queue: closed files queued (their mount is gone), the open one interrupted.
        const listed = await runCli(['pending', 'list', '--spool-dir', spoolDir, '--json'], { env });
        expect(listed.code, listed.stderr).toBe(0);
        const items = JSON.parse(listed.stdout) as PendingJson[];
        // Paths are the remote's (the CLI mounts a folder of it).
        const byPath = new Map(items.map((i) => [i.path, i]));
        expect(byPath.get('/wb/big.bin')).toMatchObject({ reason: 'queued', size: big.length, queue: { state: 'orphaned' } });
        expect(byPath.get('/wb/edit.txt')).toMatchObject({ reason: 'queued', size: 8 });
        expect(byPath.get('/wb/small.txt')).toMatchObject({ reason: 'queued', size: 5 });
        expect(byPath.get('/wb/open.txt')?.reason).toBe('interrupted');

        // The next mount resumes the queue before serving: the content is there at once, then uploaded.
        const again = await startCli(['mount', `${provider}:/wb`, mnt, '--spool-dir', spoolDir, '--write-back', '3600'], /mounted .* at /, env);
        children.push(again.child);
        const seen = await run('sh', ['-c', `sha256sum '${mnt}/big.bin' | cut -d' ' -f1; cat '${mnt}/edit.txt'`]);
        expect(seen.stdout).toBe(`${sha(big)}\nnew text`);
        await vi.waitFor(async () => {
          const now = await p.files('/wb');
          expect(now.get('/wb/big.bin')?.sha256).toBe(sha(big));
          expect(now.get('/wb/edit.txt')?.sha256).toBe(sha(Buffer.from('new text')));
          expect(now.get('/wb/small.txt')?.sha256).toBe(sha(Buffer.from('small')));
        }, { timeout: 60_000, interval: 200 });
        // Only the interrupted entry is left (never uploaded on its own).
        await vi.waitFor(async () => {
          const left = JSON.parse((await runCli(['pending', 'list', '--spool-dir', spoolDir, '--json'], { env })).stdout) as PendingJson[];
          expect(left.map((i) => `${i.path}:${i.reason}`)).toEqual(['/wb/open.txt:interrupted']);
        }, { timeout: 30_000, interval: 200 });
        expect((await p.files('/wb')).get('/wb/open.txt')?.size ?? 0).toBe(0);
        await again.stop();
      } finally {
        await run('fusermount', ['-u', '-z', mnt]).catch(() => {});
        await p.close();
        await rm(tmp, { recursive: true, force: true }).catch(() => {});
      }
    }, 120_000);
  }
});
