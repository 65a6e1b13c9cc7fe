/**
 * The CLI as a user runs it: `emulate` in one process, then ls/cp/rm/serve/mount against it from others.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient } from 'webdav';
import { pseudoRandomBytes } from '../helpers.js';
import { runCli, startCli } from './run-cli.js';

const exec = promisify(execFile);

async function treeDigest(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  async function walk(at: string, rel: string) {
    for (const name of (await readdir(at)).sort()) {
      const full = join(at, name);
      if ((await stat(full)).isDirectory()) await walk(full, `${rel}${name}/`);
      else out[rel + name] = createHash('sha256').update(await readFile(full)).digest('hex');
    }
  }
  await walk(dir, '');
  return out;
}

describe('cloudmount against `cloudmount emulate cloudreve`', () => {
  let emu: Awaited<ReturnType<typeof startCli>>;
  let env: NodeJS.ProcessEnv;
  let work: string;
  let password: string;

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'cloudmount-cli-e2e-'));
    emu = await startCli(['emulate', 'cloudreve', '--port', '0'], /CLOUDREVE_URL=(\S+) CLOUDREVE_EMAIL=(\S+) CLOUDREVE_PASSWORD=(\S+)/);
    env = { CLOUDREVE_URL: emu.match[1], CLOUDREVE_EMAIL: emu.match[2], CLOUDREVE_PASSWORD: emu.match[3], XDG_CONFIG_HOME: join(work, 'cfg') };
    password = emu.match[3]!;
  });
  afterAll(async () => {
    await emu?.stop();
    await rm(work, { recursive: true, force: true });
  });

  it('ls shows the demo tree', async () => {
    const out = await runCli(['ls', 'cloudreve:/'], { env });
    expect(out.code, out.stderr).toBe(0);
    expect(out.stdout.split('\n')).toEqual(expect.arrayContaining(['Documents/', 'hello.txt']));
  });

  it('cp -r of a tree with awkward names to the emulator and back is byte-identical; rm -r removes it', async () => {
    const src = join(work, 'tree');
    await mkdir(join(src, 'sub dir #1', 'deeper ü'), { recursive: true });
    await writeFile(join(src, 'a?b "c".txt'), 'question and quotes');
    await writeFile(join(src, 'sub dir #1', '100% + plus.bin'), pseudoRandomBytes(3 * 1024 * 1024 + 17, 5));
    await writeFile(join(src, 'sub dir #1', 'deeper ü', 'empty'), '');
    const up = await runCli(['cp', '-r', src, 'cloudreve:/upload'], { env });
    expect(up.code, up.stderr).toBe(0);
    expect(up.stdout).toMatch(/3 files, 3\.0 MiB/);
    const back = join(work, 'back');
    const down = await runCli(['cp', '-r', 'cloudreve:/upload', back], { env });
    expect(down.code, down.stderr).toBe(0);
    expect(await treeDigest(back)).toEqual(await treeDigest(src));
    expect((await runCli(['rm', '-r', 'cloudreve:/upload'], { env })).code).toBe(0);
    const gone = await runCli(['stat', 'cloudreve:/upload'], { env });
    expect(gone.code).toBe(1);
    expect(gone.stderr).toMatch(/^cloudmount: ENOENT/);
  });

  it('mv within the remote, cat with a range, mkdir -p', async () => {
    expect((await runCli(['mkdir', '-p', 'cloudreve:/x/y/z'], { env })).code).toBe(0);
    expect((await runCli(['cp', 'cloudreve:/hello.txt', 'cloudreve:/x/y/z/copy.txt'], { env })).code).toBe(0);
    expect((await runCli(['mv', 'cloudreve:/x/y/z/copy.txt', 'cloudreve:/x/moved.txt'], { env })).code).toBe(0);
    const original = (await runCli(['cat', 'cloudreve:/hello.txt'], { env })).stdout;
    const part = await runCli(['cat', '--offset', '2', '--length', '5', 'cloudreve:/x/moved.txt'], { env });
    expect(part.stdout).toBe(original.slice(2, 7));
    expect((await runCli(['ls', 'cloudreve:/x/y/z'], { env })).stdout).toBe('');
  });

  it('a wrong password is a one-line EACCES without the password, non-zero exit', async () => {
    const out = await runCli(['ls', 'cloudreve:/'], { env: { ...env, CLOUDREVE_PASSWORD: 'definitely-wrong-pw' } });
    expect(out.code).toBe(1);
    expect(out.stderr.trim().split('\n')).toHaveLength(1);
    expect(out.stderr).toMatch(/^cloudmount: EACCES: .*Incorrect password/);
    expect(out.stderr + out.stdout).not.toContain('definitely-wrong-pw');
  });

  it('no command output carries the account password', async () => {
    for (const args of [['ls', '-l', 'cloudreve:/'], ['stat', 'cloudreve:/hello.txt'], ['df', 'cloudreve:'], ['--verbose', 'stat', 'cloudreve:/missing']]) {
      const out = await runCli(args, { env });
      expect(out.stdout + out.stderr).not.toContain(password);
    }
  });

  it('serve webdav is answered by a WebDAV client', async () => {
    const served = await startCli(['serve', 'webdav', 'cloudreve:/Documents', '--addr', '127.0.0.1:0', '--user', 'alice:pw-for-alice'], /at (http:\/\/\S+)/, env);
    try {
      const client = createClient(served.match[1]!, { username: 'alice', password: 'pw-for-alice' });
      await client.putFileContents('/from-webdav.txt', 'hello over dav');
      const names = (await client.getDirectoryContents('/') as Array<{ basename: string }>).map((e) => e.basename);
      expect(names).toContain('from-webdav.txt');
      expect(await client.getFileContents('/from-webdav.txt', { format: 'text' })).toBe('hello over dav');
      // The share is a folder of the remote: the file landed in /Documents.
      expect((await runCli(['cat', 'cloudreve:/Documents/from-webdav.txt'], { env })).stdout).toBe('hello over dav');
      const anonymous = createClient(served.match[1]!);
      await expect(anonymous.getDirectoryContents('/')).rejects.toThrow(/401/);
    } finally {
      await served.stop();
    }
  });

  const fuseReady = existsSync('/dev/fuse') && (existsSync('/bin/fusermount') || existsSync('/usr/bin/fusermount'));
  if (!fuseReady) console.warn('skipping the CLI mount test: /dev/fuse or fusermount is missing (apt-get install fuse libfuse2)');
  it.skipIf(!fuseReady)('mount shows the remote as a folder and unmounts on SIGTERM', async () => {
    const dir = join(work, 'mnt');
    const mounted = await startCli(['mount', 'cloudreve:/', dir], /mounted .* at (\S+)/, env);
    try {
      const { stdout } = await exec('ls', [dir]);
      expect(stdout.split('\n')).toEqual(expect.arrayContaining(['Documents', 'hello.txt']));
      await exec('sh', ['-c', `printf 'via fuse' > "${dir}/fuse.txt"`]);
      expect((await runCli(['cat', 'cloudreve:/fuse.txt'], { env })).stdout).toBe('via fuse');
    } finally {
      await mounted.stop();
    }
    const { stdout: mounts } = await exec('cat', ['/proc/mounts']);
    expect(mounts).not.toContain(dir);
  });
});

describe('cloudmount against `cloudmount emulate couchdrop`', () => {
  it('ls, cp up and down through the token remote', async () => {
    const emu = await startCli(['emulate', 'couchdrop', '--port', '0'], /COUCHDROP_TOKEN=(\S+) COUCHDROP_FILEIO_URL=(\S+) COUCHDROP_API_URL=(\S+)/);
    const work = await mkdtemp(join(tmpdir(), 'cloudmount-cli-cd-'));
    try {
      const env = { COUCHDROP_TOKEN: emu.match[1], COUCHDROP_FILEIO_URL: emu.match[2], COUCHDROP_API_URL: emu.match[3] };
      const ls = await runCli(['ls', 'couchdrop:/'], { env });
      expect(ls.code, ls.stderr).toBe(0);
      expect(ls.stdout.trim().length).toBeGreaterThan(0);
      const file = join(work, 'up.bin');
      await writeFile(file, pseudoRandomBytes(200_000, 3));
      const top = ls.stdout.split('\n').find((l) => l.endsWith('/'))!.slice(0, -1);
      expect((await runCli(['cp', file, `couchdrop:/${top}/up.bin`], { env })).code).toBe(0);
      expect((await runCli(['cp', `couchdrop:/${top}/up.bin`, join(work, 'down.bin')], { env })).code).toBe(0);
      expect((await readFile(join(work, 'down.bin'))).equals(await readFile(file))).toBe(true);
      const df = await runCli(['df', 'couchdrop:'], { env });
      expect(df.code).toBe(1);
      expect(df.stderr).toMatch(/ENOTSUP/);
    } finally {
      await emu.stop();
      await rm(work, { recursive: true, force: true });
    }
  });
});
