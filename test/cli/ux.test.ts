/**
 * Issue 24 (and issue 16 item 6): progress on and off a terminal, --log-file, -q, --bwlimit,
 * --tpslimit, errors that say what to fix (first words asserted), mount/serve refusing to start with
 * a wrong password, `cp` with standard input/output, FIFOs, symlinks and devices, and EPIPE.
 */
import { execFile, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { lstat, mkdir, mkdtemp, readFile, readlink, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startCloudreveEmulator } from '../../adapters/cloudreve/index.js';
import type { CloudreveEmulator } from '../../adapters/cloudreve/index.js';
import { startCouchdropEmulator } from '../../adapters/couchdrop/index.js';
import type { CouchdropEmulator } from '../../adapters/couchdrop/index.js';
import { pseudoRandomBytes } from '../helpers.js';
import { CLI, runCli, startCli } from './run-cli.js';

// Each test runs several CLI processes in turn; on a loaded 2-core machine that can pass 30 s.
vi.setConfig({ testTimeout: 120_000 });

const exec = promisify(execFile);

let work: string;
let cloudreve: CloudreveEmulator;
let couchdrop: CouchdropEmulator;
let crEnv: NodeJS.ProcessEnv;
let cdEnv: NodeJS.ProcessEnv;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'cloudmount-ux-'));
  cloudreve = await startCloudreveEmulator({});
  couchdrop = await startCouchdropEmulator({});
  const cfg = { XDG_CONFIG_HOME: join(work, 'cfg') };
  crEnv = { ...cfg, CLOUDREVE_URL: cloudreve.url, CLOUDREVE_EMAIL: cloudreve.email, CLOUDREVE_PASSWORD: cloudreve.password };
  cdEnv = { ...cfg, COUCHDROP_TOKEN: couchdrop.token, COUCHDROP_API_URL: couchdrop.url, COUCHDROP_FILEIO_URL: couchdrop.url };
});
afterAll(async () => {
  await cloudreve?.close();
  await couchdrop?.close();
  await rm(work, { recursive: true, force: true });
});

/** A folder of 3 files, 3 × 200 KiB: at --bwlimit 200k the run lasts at least ~2.5 s (the limiter's floor). */
async function slowTree(name: string): Promise<string> {
  const dir = join(work, name);
  await mkdir(dir, { recursive: true });
  for (let i = 0; i < 3; i++) await writeFile(join(dir, `part-${i}.bin`), pseudoRandomBytes(200 * 1024, 10 + i));
  return dir;
}

/** A port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  await new Promise((r) => server.close(r));
  return port;
}

const shellQuote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

describe('progress', () => {
  it('on a terminal (script(1) gives a pty): one overall line with files, bytes, rate and ETA, the current files under it', async () => {
    const src = await slowTree('pty-src');
    const cmd = [process.execPath, CLI, 'copy', '--bwlimit', '200k', '--transfers', '2', src, 'couchdrop:/pty'].map(shellQuote).join(' ');
    const { stdout } = await exec('script', ['-qec', cmd, '/dev/null'], { env: { ...process.env, ...cdEnv, TERM: 'xterm' }, timeout: 60_000 });
    const frames = stdout.split('\x1b[2K').map((l) => l.replace(/\r?\n$/, '').replace(/\r/g, ''));
    expect(frames.some((l) => /^Transferred [0-3]\/3 files, \d[\d.]* (B|KiB)\/600 KiB \(\d+%\), \d[\d.]* (B|KiB|MiB)\/s, ETA (\d[\d.]* s|-)/.test(l))).toBe(true);
    expect(frames.some((l) => /^ \* part-\d\.bin: +\d+% [\d.]+ (B|KiB)\/200 KiB/.test(l))).toBe(true);
    // Rates are rounded like a human writes them (never 709.6774193548387 B/s).
    expect(stdout).not.toMatch(/\d\.\d{3,}/);
    // The live block is cleared; the summary stays.
    expect(stdout).toMatch(/copied 3 files, 600 KiB in [\d.]+ s \([\d.]+ KiB\/s\); 0 unchanged/);
  });

  it('off a terminal: a summary line per --stats interval on stderr, no line per file, one summary on stdout', async () => {
    const src = await slowTree('pipe-src');
    const out = await runCli(['copy', '--bwlimit', '200k', '--stats', '500ms', src, 'couchdrop:/piped'], { env: cdEnv });
    expect(out.code, out.stderr).toBe(0);
    const lines = out.stderr.split('\n').filter(Boolean);
    expect(lines.length).toBeGreaterThan(0);
    for (const l of lines) expect(l).toMatch(/^(Listing files… [\d.]+ s|Transferred \d\/3 files, [\d.]+ (B|KiB)\/600 KiB \(\d+%\), [\d.]+ (B|KiB|MiB)\/s, ETA \S+( s)?)$/);
    expect(out.stdout.split('\n').filter(Boolean)).toEqual([expect.stringMatching(/^copied 3 files, 600 KiB in /)]);
    expect(out.stdout).not.toMatch(/part-/);
  });

  it('-q prints nothing; --log-file records every file and the summary', async () => {
    const src = join(work, 'log-src');
    await mkdir(src, { recursive: true });
    await writeFile(join(src, 'one.txt'), '1');
    await writeFile(join(src, 'two.txt'), '22');
    const log = join(work, 'run.log');
    const out = await runCli(['--log-file', log, 'sync', '-q', src, join(work, 'log-dst')]);
    expect(out).toMatchObject({ code: 0, stdout: '', stderr: '' });
    const text = await readFile(log, 'utf8');
    expect(text).toMatch(/INFO +copied one\.txt \(1 B\)/);
    expect(text).toMatch(/INFO +copied two\.txt \(2 B\)/);
    expect(text).toMatch(/INFO +copied 2 files, 3 B in/);
  });

  it('--tpslimit holds a remote to N requests per second (a floor on the run time: no upper bound asserted)', async () => {
    const src = join(work, 'tps-src');
    await mkdir(src, { recursive: true });
    for (let i = 0; i < 6; i++) await writeFile(join(src, `r${i}.txt`), `r${i}`);
    couchdrop.clearLog();
    const started = Date.now();
    const out = await runCli(['--tpslimit', '4', 'copy', src, 'couchdrop:/tps'], { env: cdEnv });
    expect(out.code, out.stderr).toBe(0);
    expect(out.stderr).toBe('');
    const requests = couchdrop.log.length;
    expect(requests).toBeGreaterThanOrEqual(8);
    // N requests at 4/s need at least (N - 4) / 4 seconds (the first window may hold 4).
    expect(Date.now() - started).toBeGreaterThanOrEqual(((requests - 4) / 4) * 1000 - 50);
    const bad = await runCli(['--tpslimit', '0', 'ls', '/tmp']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--tpslimit expects a number above 0/);
  });
});

describe('errors say what to fix (one line, first words asserted)', () => {
  const noEnv = { CLOUDREVE_URL: '', CLOUDREVE_EMAIL: '', CLOUDREVE_PASSWORD: '', COUCHDROP_TOKEN: '', COUCHDROP_USERNAME: '', COUCHDROP_PASSWORD: '' };
  const one = (s: string) => {
    const lines = s.split('\n').filter(Boolean);
    expect(lines).toHaveLength(1);
    return lines[0]!;
  };

  it('a missing env variable is named', async () => {
    const out = await runCli(['ls', 'cloudreve:/'], { env: { ...noEnv, XDG_CONFIG_HOME: join(work, 'cfg') } });
    expect(out.code).toBe(2);
    expect(one(out.stderr)).toMatch(/^cloudmount: EINVAL: CLOUDREVE_URL is not set \(the ad-hoc remote "cloudreve:" is read from CLOUDREVE_URL, CLOUDREVE_EMAIL, CLOUDREVE_PASSWORD/);
    const half = await runCli(['ls', 'cloudreve:/'], { env: { ...noEnv, CLOUDREVE_URL: cloudreve.url, XDG_CONFIG_HOME: join(work, 'cfg') } });
    expect(one(half.stderr)).toMatch(/^cloudmount: EINVAL: CLOUDREVE_EMAIL is not set \(/);
    const cd = await runCli(['ls', 'couchdrop:/'], { env: { ...noEnv, XDG_CONFIG_HOME: join(work, 'cfg') } });
    expect(one(cd.stderr)).toMatch(/^cloudmount: EINVAL: COUCHDROP_TOKEN is not set \(.*needs COUCHDROP_TOKEN, or COUCHDROP_USERNAME and COUCHDROP_PASSWORD/);
  });

  it('an unknown remote: "did you mean", and the env remotes listed', async () => {
    const out = await runCli(['ls', 'clodreve:/'], { env: { XDG_CONFIG_HOME: join(work, 'cfg') } });
    expect(out.code).toBe(1);
    const line = one(out.stderr);
    expect(line).toMatch(/^cloudmount: ENOENT: no remote named "clodreve" — did you mean "cloudreve:"\?/);
    expect(line).toMatch(/from the environment: cloudreve: \(CLOUDREVE_URL, CLOUDREVE_EMAIL, CLOUDREVE_PASSWORD\); couchdrop: \(COUCHDROP_TOKEN/);
  });

  it('a network failure names the host and the cause, for both providers', async () => {
    const port = await closedPort();
    const cr = await runCli(['ls', 'cloudreve:/'], { env: { ...crEnv, CLOUDREVE_URL: `http://127.0.0.1:${port}` }, timeoutMs: 120_000 });
    expect(cr.code).toBe(1);
    expect(one(cr.stderr)).toMatch(new RegExp(`^cloudmount: EIO: connection refused to 127\\.0\\.0\\.1:${port} \\(ECONNREFUSED; cloudreve `));
    const cd = await runCli(['ls', 'couchdrop:/'], { env: { ...cdEnv, COUCHDROP_API_URL: `http://127.0.0.1:${port}`, COUCHDROP_FILEIO_URL: `http://127.0.0.1:${port}` }, timeoutMs: 120_000 });
    expect(one(cd.stderr)).toMatch(new RegExp(`^cloudmount: EIO: connection refused to 127\\.0\\.0\\.1:${port} \\(ECONNREFUSED; couchdrop `));
  }, 240_000);

  it('an invalid URL is EINVAL with its value; the errno is printed once', async () => {
    const out = await runCli(['ls', 'cloudreve:/'], { env: { ...crEnv, CLOUDREVE_URL: 'notaurl' } });
    expect(out.code).toBe(2);
    expect(one(out.stderr)).toMatch(/^cloudmount: EINVAL: CLOUDREVE_URL is not a URL: "notaurl"/);
    const missing = await runCli(['stat', join(work, 'does-not-exist')]);
    expect(one(missing.stderr)).toMatch(/^cloudmount: ENOENT: no such file or directory/);
    expect(missing.stderr).not.toMatch(/ENOENT: ENOENT/);
  });

  it('CLI flag names, never library option names; --addr PORT means 127.0.0.1:PORT', async () => {
    const open = await runCli(['serve', 'webdav', work, '--addr', '0.0.0.0:0']);
    expect(open.code).toBe(1);
    expect(one(open.stderr)).toMatch(/^cloudmount: EACCES: refusing to serve 0\.0\.0\.0 with no login required: add --user NAME:PASSWORD \(or --htpasswd FILE\), or --allow-remote-without-auth/);
    expect(open.stderr).not.toMatch(/allowUnauthenticatedRemote|users/);
    const port = await closedPort();
    const served = await startCli(['serve', 'webdav', work, '--addr', String(port)], /serving .* at (http:\S+)/);
    try {
      expect(served.match[1]).toBe(`http://127.0.0.1:${port}/`);
    } finally {
      await served.stop();
    }
    const bad = await runCli(['serve', 'webdav', work, '--addr', 'localhost:http']);
    expect(one(bad.stderr)).toMatch(/^cloudmount: EINVAL: --addr must be PORT, :PORT or HOST:PORT/);
  });

  it('mount over a non-empty folder names --allow-non-empty', async () => {
    const mnt = join(work, 'busy-mountpoint');
    await mkdir(mnt, { recursive: true });
    await writeFile(join(mnt, 'file'), 'x');
    const out = await runCli(['mount', join(work, 'log-src'), mnt]);
    expect(out.code).toBe(1);
    expect(one(out.stderr)).toMatch(/^cloudmount: ENOTEMPTY: .*busy-mountpoint is not empty.*--allow-non-empty/);
    expect(out.stderr).not.toMatch(/allowNonEmpty/);
  });
});

describe('mount and serve check the login before saying ready', () => {
  it.each(['mount', 'serve'] as const)('%s with a wrong Cloudreve password exits non-zero naming the account', async (command) => {
    const mnt = join(work, `mnt-cr-${command}`);
    const args = command === 'mount' ? ['mount', 'cloudreve:/', mnt] : ['serve', 'webdav', 'cloudreve:/', '--addr', '0'];
    const out = await runCli(args, { env: { ...crEnv, CLOUDREVE_PASSWORD: 'wrong-password' }, timeoutMs: 30_000 });
    expect(out.code).toBe(1);
    expect(out.stdout).not.toMatch(/mounted|serving/);
    expect(out.stderr).toMatch(new RegExp(`^cloudmount: EACCES: remote "cloudreve:" refused the login of ${cloudreve.email.replace('.', '\\.')} at 127\\.0\\.0\\.1:\\d+ \\(check CLOUDREVE_PASSWORD\\)`, 'm'));
    expect(out.stderr).not.toMatch(/wrong-password/);
  });

  it.each(['mount', 'serve'] as const)('%s with a wrong Couchdrop login exits non-zero naming the account', async (command) => {
    const mnt = join(work, `mnt-cd-${command}`);
    const args = command === 'mount' ? ['mount', 'couchdrop:/', mnt] : ['serve', 'webdav', 'couchdrop:/', '--addr', '0'];
    const env = { ...cdEnv, COUCHDROP_TOKEN: '', COUCHDROP_USERNAME: couchdrop.username, COUCHDROP_PASSWORD: 'wrong-password' };
    const out = await runCli(args, { env, timeoutMs: 30_000 });
    expect(out.code).toBe(1);
    expect(out.stdout).not.toMatch(/mounted|serving/);
    expect(out.stderr).toMatch(new RegExp(`^cloudmount: EACCES: remote "couchdrop:" refused the login of ${couchdrop.username} at 127\\.0\\.0\\.1:\\d+`, 'm'));
  });

  it('serve with an unreachable server exits non-zero with the host', async () => {
    const port = await closedPort();
    const out = await runCli(['serve', 'webdav', 'couchdrop:/', '--addr', '0'], {
      env: { ...cdEnv, COUCHDROP_API_URL: `http://127.0.0.1:${port}`, COUCHDROP_FILEIO_URL: `http://127.0.0.1:${port}` }, timeoutMs: 120_000,
    });
    expect(out.code).toBe(1);
    expect(out.stderr).toMatch(new RegExp(`^cloudmount: EIO: connection refused to 127\\.0\\.0\\.1:${port}`, 'm'));
  }, 150_000);
});

describe('cp with pipes and special files (issue 16 item 6)', () => {
  it('cp - DST reads standard input; cp SRC - writes standard output', async () => {
    const data = 'from standard input\n';
    const up = await runCli(['cp', '-', 'couchdrop:/stdin.txt'], { env: cdEnv, input: data });
    expect(up.code, up.stderr).toBe(0);
    expect((await runCli(['cat', 'couchdrop:/stdin.txt'], { env: cdEnv })).stdout).toBe(data);
    const down = await runCli(['cp', 'couchdrop:/stdin.txt', '-'], { env: cdEnv });
    expect(down).toMatchObject({ code: 0, stdout: data });
    const local = join(work, 'stdin-local.txt');
    expect((await runCli(['cp', '-', local], { input: data })).code).toBe(0);
    expect(await readFile(local, 'utf8')).toBe(data);
    const dir = await runCli(['cp', '-', work], { input: data });
    expect(dir.stderr).toMatch(/^cloudmount: EISDIR: .* is a directory: give standard input a file name/);
  });

  it('copying from /dev/stdin or a FIFO streams the bytes (not the 0 bytes stat says)', async () => {
    const viaDevStdin = join(work, 'dev-stdin.txt');
    const out = await runCli(['cp', '/dev/stdin', viaDevStdin], { input: 'piped bytes', timeoutMs: 10_000 });
    expect(out.code, out.stderr).toBe(0);
    expect(await readFile(viaDevStdin, 'utf8')).toBe('piped bytes');
    const fifo = join(work, 'in.fifo');
    await exec('mkfifo', [fifo]);
    const writer = spawn('sh', ['-c', `printf 'fifo bytes' > ${shellQuote(fifo)}`]);
    const written = new Promise((r) => writer.once('exit', r));
    const up = await runCli(['cp', fifo, 'couchdrop:/from-fifo.txt'], { env: cdEnv, timeoutMs: 15_000 });
    await written;
    expect(up.code, up.stderr).toBe(0);
    expect((await runCli(['cat', 'couchdrop:/from-fifo.txt'], { env: cdEnv })).stdout).toBe('fifo bytes');
  });

  it('a FIFO or a character device as destination is written into, never replaced', async () => {
    const src = join(work, 'special-src.txt');
    await writeFile(src, 'into the special file');
    const fifo = join(work, 'out.fifo');
    await exec('mkfifo', [fifo]);
    const reader = exec('cat', [fifo]);
    const out = await runCli(['cp', src, fifo]);
    expect(out.code, out.stderr).toBe(0);
    expect((await reader).stdout).toBe('into the special file');
    expect((await lstat(fifo)).isFIFO()).toBe(true);
    const devnull = await runCli(['cp', 'couchdrop:/stdin.txt', '/dev/null'], { env: cdEnv });
    expect(devnull.code, devnull.stderr).toBe(0);
    expect((await stat('/dev/null')).isCharacterDevice()).toBe(true);
  });

  it('cp to an existing symlink writes through it; the link stays a link', async () => {
    const target = join(work, 'link-target.txt');
    const link = join(work, 'the-link');
    await writeFile(target, 'old');
    await symlink('link-target.txt', link);
    const out = await runCli(['cp', 'couchdrop:/stdin.txt', link], { env: cdEnv });
    expect(out.code, out.stderr).toBe(0);
    expect((await lstat(link)).isSymbolicLink()).toBe(true);
    expect(await readlink(link)).toBe('link-target.txt');
    expect(await readFile(target, 'utf8')).toBe('from standard input\n');
  });

  it('output into a closed pipe (| head -1) ends quietly with status 0 or 141', async () => {
    const big = join(work, 'lines.txt');
    await writeFile(big, Array.from({ length: 200_000 }, (_, i) => `line ${i}`).join('\n'));
    for (const args of [['cat', big], ['cp', big, '-']]) {
      const cmd = `${[process.execPath, CLI, ...args].map(shellQuote).join(' ')} | head -1; echo "status \${PIPESTATUS[0]}" >&2`;
      const { stdout, stderr } = await exec('bash', ['-c', cmd], { timeout: 60_000 });
      expect(stdout).toBe('line 0\n');
      expect(stderr).toMatch(/^status (0|141)\n$/);
    }
  });
});
