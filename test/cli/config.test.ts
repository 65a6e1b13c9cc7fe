/** The CLI's config handling and error reporting, run as a child process. */
import { mkdtemp, readFile, rm, stat, writeFile, chmod } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runCli } from './run-cli.js';

describe('cloudmount config', () => {
  let home: string;
  let env: NodeJS.ProcessEnv;
  beforeEach(async () => {
    home = await mkdtemp(join(tmpdir(), 'cloudmount-cli-'));
    env = { XDG_CONFIG_HOME: join(home, 'config'), HOME: home };
  });
  afterEach(async () => {
    await rm(home, { recursive: true, force: true });
  });

  it('add writes the file with mode 600; list masks secrets', async () => {
    const add = await runCli(['config', 'add', 'home', '--type', 'cloudreve', '--url', 'https://drive.example.com', '--email', 'me@example.com', '--password', 'S3cret-pass-word'], { env });
    expect(add.code, add.stderr).toBe(0);
    const file = join(home, 'config', 'cloudmount', 'config.json');
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect(JSON.parse(await readFile(file, 'utf8')).remotes.home).toMatchObject({ type: 'cloudreve', email: 'me@example.com' });

    const list = await runCli(['config', 'list'], { env });
    expect(list.code).toBe(0);
    expect(list.stdout).toContain('home:');
    expect(list.stdout).toContain('https://drive.example.com');
    const json = await runCli(['config', 'list', '--json'], { env });
    expect(JSON.parse(json.stdout).home.password).toBe('********');
    for (const out of [add, list, json]) expect(out.stdout + out.stderr).not.toContain('S3cret-pass-word');
  });

  it('add refuses a duplicate name without --force, and remove deletes', async () => {
    const args = ['config', 'add', 'cd', '--type', 'couchdrop', '--token', 'tok-123456789'];
    expect((await runCli(args, { env })).code).toBe(0);
    const again = await runCli(args, { env });
    expect(again.code).not.toBe(0);
    expect(again.stderr).toMatch(/already exists/);
    expect((await runCli([...args, '--force'], { env })).code).toBe(0);
    expect((await runCli(['config', 'remove', 'cd'], { env })).code).toBe(0);
    expect((await runCli(['config', 'list'], { env })).stdout).toMatch(/no remotes/);
  });

  it('warns when the config file is readable by others', async () => {
    await runCli(['config', 'add', 'm', '--type', 'memory'], { env });
    const file = join(home, 'config', 'cloudmount', 'config.json');
    await chmod(file, 0o644);
    const list = await runCli(['config', 'list'], { env });
    expect(list.stderr).toMatch(/readable by others.*chmod 600/);
  });

  it('a bad config file gives a clear one-line error and a non-zero exit', async () => {
    const file = join(home, 'bad.json');
    await writeFile(file, '{ "remotes": { "x": ', { mode: 0o600 });
    const out = await runCli(['--config', file, 'ls', 'x:/'], { env });
    expect(out.code).not.toBe(0);
    expect(out.stderr.trim().split('\n')).toHaveLength(1);
    expect(out.stderr).toMatch(/^cloudmount: EINVAL: config file .*bad\.json is not valid JSON/);
    expect(out.stderr).not.toMatch(/at .*\.js:\d+/);
  });

  it('a remote of unknown type in the file is reported with its name', async () => {
    const file = join(home, 'typo.json');
    await writeFile(file, JSON.stringify({ remotes: { work: { type: 'dropbox' } } }), { mode: 0o600 });
    const out = await runCli(['--config', file, 'ls', 'work:/'], { env });
    expect(out.code).not.toBe(0);
    expect(out.stderr).toMatch(/remote "work": unknown type "dropbox"/);
  });

  it('a missing remote names the known ones', async () => {
    const out = await runCli(['ls', 'nowhere:/'], { env });
    expect(out.code).toBe(1);
    expect(out.stderr).toMatch(/^cloudmount: ENOENT: no remote named "nowhere"/);
  });

  it('a missing argument prints usage and exits non-zero', async () => {
    const out = await runCli(['cp', 'memory:/a'], { env });
    expect(out.code).not.toBe(0);
    expect(out.stderr).toMatch(/missing required argument 'destination'/);
  });

  it('--verbose adds the stack trace that is otherwise hidden', async () => {
    const out = await runCli(['--verbose', 'stat', 'memory:/missing'], { env });
    expect(out.code).toBe(1);
    expect(out.stderr).toMatch(/ENOENT/);
    expect(out.stderr).toMatch(/\n\s+at /);
  });
});

describe('cloudmount file commands on local paths and memory:', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cloudmount-files-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('mkdir -p, cp, ls -l, cat with a range, mv and rm -r on local paths', async () => {
    await writeFile(join(dir, 'src.txt'), 'hello cloudmount');
    expect((await runCli(['mkdir', '-p', join(dir, 'a/b/c')])).code).toBe(0);
    const cp = await runCli(['cp', join(dir, 'src.txt'), join(dir, 'a/b/c')]);
    expect(cp.code, cp.stderr).toBe(0);
    expect(cp.stdout).toMatch(/copied .*src\.txt \(16 B/);
    const ls = await runCli(['ls', '-l', join(dir, 'a/b/c')]);
    expect(ls.stdout).toMatch(/^- +16 \d{4}-\d\d-\d\d \d\d:\d\d:\d\d src\.txt$/m);
    const cat = await runCli(['cat', '--offset', '6', '--length', '5', join(dir, 'a/b/c/src.txt')]);
    expect(cat.stdout).toBe('cloud');
    expect((await runCli(['mv', join(dir, 'a/b/c/src.txt'), join(dir, 'moved.txt')])).code).toBe(0);
    expect(await readFile(join(dir, 'moved.txt'), 'utf8')).toBe('hello cloudmount');
    const rmPlain = await runCli(['rm', join(dir, 'a')]);
    expect(rmPlain.code).toBe(1);
    expect(rmPlain.stderr).toMatch(/ENOTEMPTY/);
    expect((await runCli(['rm', '-r', join(dir, 'a')])).code).toBe(0);
    await expect(stat(join(dir, 'a'))).rejects.toThrow();
  });

  it('cp of a directory without -r is refused with a hint', async () => {
    const out = await runCli(['cp', dir, 'memory:/x']);
    expect(out.code).toBe(1);
    expect(out.stderr).toMatch(/EISDIR: .* is a directory \(use -r/);
  });
});
