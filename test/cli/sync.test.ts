/**
 * Issue 24: `sync`, `copy`, `check`, filters, --transfers, delete-after and exit codes, run as a user
 * runs them (the built CLI as a child process) between local folders and against both emulators,
 * whose request logs say how many uploads a run really made.
 */
import { mkdir, mkdtemp, readFile, readdir, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startCloudreveEmulator } from '../../adapters/cloudreve/index.js';
import type { CloudreveEmulator } from '../../adapters/cloudreve/index.js';
import { startCouchdropEmulator } from '../../adapters/couchdrop/index.js';
import type { CouchdropEmulator } from '../../adapters/couchdrop/index.js';
import { pseudoRandomBytes } from '../helpers.js';
import { runCli } from './run-cli.js';

// Each test runs several CLI processes in turn; on a loaded 2-core machine that can pass 30 s.
vi.setConfig({ testTimeout: 120_000 });

let work: string;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'cloudmount-sync-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

/** A small tree: a.bin (64 KiB), b.txt, sub/c.txt, sub/deep/d.log, empty/ */
async function makeTree(dir: string): Promise<void> {
  await mkdir(join(dir, 'sub', 'deep'), { recursive: true });
  await mkdir(join(dir, 'empty'), { recursive: true });
  await writeFile(join(dir, 'a.bin'), pseudoRandomBytes(64 * 1024, 1));
  await writeFile(join(dir, 'b.txt'), 'bee');
  await writeFile(join(dir, 'sub', 'c.txt'), 'sea');
  await writeFile(join(dir, 'sub', 'deep', 'd.log'), 'log line');
}

async function listing(dir: string, rel = ''): Promise<string[]> {
  const out: string[] = [];
  for (const e of (await readdir(join(dir, rel), { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name))) {
    const r = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(`${r}/`, ...(await listing(dir, r)));
    else out.push(r);
  }
  return out;
}

describe('sync, copy and check between local folders', () => {
  it('sync twice: the second run copies nothing; a change and a deletion are carried over; --dry-run changes nothing', async () => {
    const src = join(work, 'l-src');
    const dst = join(work, 'l-dst');
    await makeTree(src);
    const first = await runCli(['sync', src, dst]);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/^copied 4 files, 64\.0 KiB in .*; 0 unchanged, 0 deleted, 0 failed; compared by size and mtime$/m);
    expect(await listing(dst)).toEqual(await listing(src));
    const second = await runCli(['sync', src, dst]);
    expect(second.code).toBe(0);
    expect(second.stdout).toMatch(/^copied 0 files, 0 B .*4 unchanged, 0 deleted/m);

    await writeFile(join(src, 'b.txt'), 'bee!');
    await rm(join(src, 'sub', 'deep'), { recursive: true });
    const before = await listing(dst);
    const dry = await runCli(['sync', '--dry-run', src, dst]);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout.split('\n')).toEqual(expect.arrayContaining([
      'would copy b.txt (changed, 4 B)', 'would delete sub/deep/d.log', 'would delete sub/deep/',
    ]));
    expect(dry.stdout).toMatch(/^dry run: would copy 1 file\(s\) \(4 B\), delete 2; 2 unchanged/m);
    expect(await listing(dst)).toEqual(before);
    expect(await readFile(join(dst, 'b.txt'), 'utf8')).toBe('bee');

    const third = await runCli(['sync', src, dst]);
    expect(third.code, third.stderr).toBe(0);
    expect(third.stdout).toMatch(/^copied 1 files, 4 B .*2 unchanged, 2 deleted, 0 failed/m);
    expect(await listing(dst)).toEqual(await listing(src));
    expect(await readFile(join(dst, 'b.txt'), 'utf8')).toBe('bee!');
  });

  it('check finds one changed byte: by mtime, and with --checksum when size and mtime agree', async () => {
    const src = join(work, 'c-src');
    const dst = join(work, 'c-dst');
    await makeTree(src);
    expect((await runCli(['copy', src, dst])).code).toBe(0);
    const same = await runCli(['check', src, dst]);
    expect(same.code, same.stdout + same.stderr).toBe(0);
    expect(same.stdout).toMatch(/^identical: 4 same/m);

    // One byte changed, size and mtime kept: only the content tells.
    const file = join(dst, 'a.bin');
    const { mtime } = await stat(file);
    const bytes = await readFile(file);
    bytes[1000] ^= 1;
    await writeFile(file, bytes);
    await utimes(file, mtime, mtime);
    expect((await runCli(['check', src, dst])).code).toBe(0);
    const deep = await runCli(['check', '--checksum', src, dst]);
    expect(deep.code).toBe(4);
    expect(deep.stdout).toMatch(/^differs: a\.bin$/m);
    expect(deep.stdout).toMatch(/compared by content/);

    // A new mtime alone is enough for the default comparison; missing and extra files are named.
    await writeFile(join(dst, 'b.txt'), 'bEe');
    await writeFile(join(dst, 'extra.txt'), 'x');
    await rm(join(dst, 'sub', 'c.txt'));
    const out = await runCli(['check', src, dst]);
    expect(out.code).toBe(4);
    expect(out.stdout.split('\n')).toEqual(expect.arrayContaining(['differs: b.txt', 'only on destination: extra.txt', 'missing on destination: sub/c.txt']));
    // copy (and cp -r --update) brings back what differs and skips the rest.
    const fix = await runCli(['cp', '-r', '--update', `${src}/`, join(work, 'c-dst-parent-missing')]);
    expect(fix.code, fix.stderr).toBe(0);
  });

  it('--include/--exclude globs and size/age filters; excluded files are neither copied nor deleted', async () => {
    const src = join(work, 'f-src');
    const dst = join(work, 'f-dst');
    await makeTree(src);
    const old = new Date(Date.now() - 10 * 86_400_000);
    await utimes(join(src, 'sub', 'c.txt'), old, old);
    const inc = await runCli(['copy', '--include', '*.txt', src, dst]);
    expect(inc.code, inc.stderr).toBe(0);
    expect(await listing(dst)).toEqual(['b.txt', 'sub/', 'sub/c.txt']);
    const age = await runCli(['copy', '--max-age', '7d', '--exclude', '/sub/deep/**', '--min-size', '4', src, join(work, 'f-age')]);
    expect(age.code, age.stderr).toBe(0);
    expect(await listing(join(work, 'f-age'))).toEqual(['a.bin']);
    // An excluded destination file survives sync's deletions.
    await writeFile(join(dst, 'keep.tmp'), 'mine');
    const sync = await runCli(['sync', '--exclude', '*.tmp', src, dst]);
    expect(sync.code, sync.stderr).toBe(0);
    expect(await readFile(join(dst, 'keep.tmp'), 'utf8')).toBe('mine');
    const bad = await runCli(['copy', '--min-size', 'lots', src, dst]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/expected a size such as 512k, 10M or 1\.5G/);
  });

  it('cp -r --update copies only what changed; plain cp -r copies everything again', async () => {
    const src = join(work, 'u-src');
    await makeTree(src);
    // An existing destination folder receives the source inside it (cp semantics): u-parent/u-src.
    const parent = join(work, 'u-parent');
    await mkdir(parent);
    expect((await runCli(['cp', '-r', src, parent])).code).toBe(0);
    const update = await runCli(['cp', '-r', '--update', src, parent]);
    expect(update.stdout).toMatch(/^copied 0 files, 0 B .*4 unchanged/m);
    await writeFile(join(src, 'b.txt'), 'changed');
    const one = await runCli(['cp', '-r', '--update', src, parent]);
    expect(one.stdout).toMatch(/^copied 1 files, 7 B .*3 unchanged/m);
    const all = await runCli(['cp', '-r', src, parent]);
    expect(all.stdout).toMatch(/^copied 4 files, 64\.0 KiB/m);
    // Onto itself: refused before anything is read or written.
    const self = await runCli(['cp', '-r', src, work]);
    expect(self.code).toBe(2);
    expect(self.stderr).toMatch(/^cloudmount: EINVAL: cannot copy .*u-src into itself/m);
    const nested = await runCli(['sync', src, join(src, 'sub')]);
    expect(nested.code).toBe(2);
    expect(await readFile(join(src, 'sub', 'c.txt'), 'utf8')).toBe('sea');
  });
});

describe.each(['cloudreve', 'couchdrop'] as const)('sync against the %s emulator', (provider) => {
  let cloudreve: CloudreveEmulator | undefined;
  let couchdrop: CouchdropEmulator | undefined;
  let env: NodeJS.ProcessEnv;
  const uploads = () => provider === 'cloudreve'
    ? cloudreve!.requests(/^(PUT \/file\/upload|POST \/file\/upload|PUT \/file\/content|POST \/file\/create)/).length
    : couchdrop!.log.filter((e) => e.route === '/file/upload').length;

  beforeAll(async () => {
    if (provider === 'cloudreve') {
      cloudreve = await startCloudreveEmulator({});
      env = { CLOUDREVE_URL: cloudreve.url, CLOUDREVE_EMAIL: cloudreve.email, CLOUDREVE_PASSWORD: cloudreve.password };
    } else {
      couchdrop = await startCouchdropEmulator({ latencyMs: 20 });
      env = { COUCHDROP_TOKEN: couchdrop.token, COUCHDROP_API_URL: couchdrop.url, COUCHDROP_FILEIO_URL: couchdrop.url };
    }
    env.XDG_CONFIG_HOME = join(work, `cfg-${provider}`);
  });
  afterAll(async () => {
    await cloudreve?.close();
    await couchdrop?.close();
  });

  it('sync twice: the second run uploads nothing (the emulator log says so); deletions after --dry-run', async () => {
    const src = join(work, `${provider}-src`);
    await makeTree(src);
    const first = await runCli(['sync', src, `${provider}:/s`], { env });
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/^copied 4 files/m);
    expect(uploads()).toBeGreaterThanOrEqual(4);
    const before = uploads();
    const second = await runCli(['sync', src, `${provider}:/s`], { env });
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout).toMatch(/^copied 0 files, 0 B .*4 unchanged/m);
    // Both keep the mtime an upload gives them (Cloudreve since 4.4.0: an upload session's last_modified).
    expect(second.stdout).toMatch(/compared by size and mtime/);
    expect(uploads()).toBe(before);

    await rm(join(src, 'sub'), { recursive: true });
    const dry = await runCli(['sync', '-n', src, `${provider}:/s`], { env });
    expect(dry.code).toBe(0);
    expect(dry.stdout).toMatch(/^would delete sub\/c\.txt$/m);
    expect((await runCli(['ls', `${provider}:/s/sub`], { env })).stdout).toMatch(/c\.txt/);
    const del = await runCli(['sync', src, `${provider}:/s`], { env });
    expect(del.code, del.stderr).toBe(0);
    expect(del.stdout).toMatch(/4 deleted/);
    expect((await runCli(['ls', `${provider}:/s`], { env })).stdout.split('\n').filter(Boolean).sort()).toEqual(['a.bin', 'b.txt', 'empty/']);
    // And back down: remote → local, then check both ways.
    const down = join(work, `${provider}-down`);
    expect((await runCli(['sync', `${provider}:/s`, down], { env })).code).toBe(0);
    const check = await runCli(['check', '--checksum', src, `${provider}:/s`], { env });
    expect(check.code, check.stdout).toBe(0);
  });

  it('check finds one changed byte on the remote with --checksum', async () => {
    const src = join(work, `${provider}-chk`);
    await mkdir(src, { recursive: true });
    await writeFile(join(src, 'x.bin'), pseudoRandomBytes(4096, 3));
    expect((await runCli(['copy', src, `${provider}:/chk`], { env })).code).toBe(0);
    const changed = pseudoRandomBytes(4096, 3);
    changed[7] ^= 0x80;
    // Same size written through the CLI from stdin: size-only or mtime may not tell, content does.
    expect((await runCli(['cp', '-q', '-', `${provider}:/chk/x.bin`], { env, input: changed.toString('latin1') })).code).toBe(0);
    const out = await runCli(['check', '--checksum', src, `${provider}:/chk`], { env });
    expect(out.code).toBe(4);
    expect(out.stdout).toMatch(/^differs: x\.bin$/m);
  });
});

describe('a provider that fails some uploads', () => {
  let emu: CouchdropEmulator;
  let env: NodeJS.ProcessEnv;
  beforeAll(async () => {
    emu = await startCouchdropEmulator({});
    env = { COUCHDROP_TOKEN: emu.token, COUCHDROP_API_URL: emu.url, COUCHDROP_FILEIO_URL: emu.url, XDG_CONFIG_HOME: join(work, 'cfg-faults') };
  });
  afterAll(async () => {
    await emu.close();
  });

  it('exit 3 when some failed, 1 when none succeeded; extra destination files are never deleted then', async () => {
    const src = join(work, 'fault-src');
    await mkdir(src, { recursive: true });
    for (let i = 0; i < 6; i++) await writeFile(join(src, `f${i}.txt`), `file ${i}`);
    await emu.store.mkdir('/fault');
    await emu.store.write('/fault/extra.txt', Buffer.from('keep me while a copy fails'));
    emu.setFaults([{ status: 422, routes: ['/file/upload'], every: 2, message: 'upstream storage refused the file' }]);
    const some = await runCli(['sync', '--transfers', '1', src, 'couchdrop:/fault'], { env });
    expect(some.code, some.stderr).toBe(3);
    expect(some.stderr).toMatch(/^cloudmount: f\d\.txt: /m);
    expect(some.stderr).toMatch(/^cloudmount: not deleting 1 extra file\(s\) or folder\(s\) on the destination because 3 transfer\(s\) failed$/m);
    expect((await emu.store.stat('/fault/extra.txt')).size).toBeGreaterThan(0);

    emu.setFaults([{ status: 422, routes: ['/file/upload'], every: 1 }]);
    await writeFile(join(src, 'f0.txt'), 'changed 0');
    await writeFile(join(src, 'f1.txt'), 'changed 1');
    const none = await runCli(['sync', src, 'couchdrop:/fault'], { env });
    expect(none.code, none.stdout + none.stderr).toBe(1);
    expect((await emu.store.stat('/fault/extra.txt')).size).toBeGreaterThan(0);

    emu.setFaults([]);
    const done = await runCli(['sync', src, 'couchdrop:/fault'], { env });
    expect(done.code, done.stderr).toBe(0);
    expect(done.stdout).toMatch(/1 deleted, 0 failed/);
    await expect(emu.store.stat('/fault/extra.txt')).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('--transfers caps the uploads in flight (1: one at a time; 4: several)', async () => {
    const src = join(work, 'tr-src');
    await mkdir(src, { recursive: true });
    for (let i = 0; i < 8; i++) await writeFile(join(src, `t${i}.bin`), pseudoRandomBytes(2048, i));
    emu.setFaults([{ kind: 'slow', routes: ['/file/upload'], every: 1, delayMs: 150 }]);
    const peak = async (args: string[]) => {
      let max = 0;
      const poll = setInterval(() => {
        max = Math.max(max, emu.log.filter((e) => e.route === '/file/upload' && e.status === 0).length);
      }, 10);
      const out = await runCli(args, { env });
      clearInterval(poll);
      expect(out.code, out.stderr).toBe(0);
      return max;
    };
    expect(await peak(['copy', '--transfers', '1', src, 'couchdrop:/tr1'])).toBe(1);
    expect(await peak(['copy', '--transfers', '4', src, 'couchdrop:/tr4'])).toBeGreaterThan(1);
    emu.setFaults([]);
    const bad = await runCli(['copy', '--transfers', '0', src, 'couchdrop:/tr0'], { env });
    expect(bad.code).toBe(2);
  });
});
