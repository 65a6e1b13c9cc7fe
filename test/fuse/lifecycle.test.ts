/**
 * Issue 16 item 16 (lifecycle): the /dev/fuse descriptor of a mount is not inherited by child
 * processes (an inherited copy keeps a dead connection alive after unmount), and a mount that is
 * unmounted from outside (`fusermount -u`) ends the `cloudmount mount` process cleanly instead of
 * leaving it running (and a later Ctrl-C hanging). Needs `npm run build` (both run dist/).
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { startCli } from '../cli/run-cli.js';
import { fuseSkipReason, q, sh, shOk } from './harness.js';

const root = join(import.meta.dirname, '../..');
const built = existsSync(join(root, 'dist/mount/fuse.js')) && existsSync(join(root, 'dist/cli/index.js'));
if (!built && !fuseSkipReason) console.warn('[fuse lifecycle tests skipped] dist/ is missing: run `npm run build` first');

/** The mount's line in /proc/self/mountinfo, split, or undefined. */
function mountinfo(dir: string): string[] | undefined {
  return readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')).find((f) => f[4] === dir);
}

/** Descriptors of a process that point at /dev/fuse. */
function fuseFds(pid: number): string[] {
  const out: string[] = [];
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      if (readlinkSync(`/proc/${pid}/fd/${fd}`) === '/dev/fuse') out.push(fd);
    } catch {
      // closed meanwhile
    }
  }
  return out;
}

const alive = (pid: number) => existsSync(`/proc/${pid}`);

describe.skipIf(!!fuseSkipReason || !built)('FUSE mount lifecycle', () => {
  const bases: string[] = [];
  const procs: ChildProcess[] = [];
  const pids: number[] = [];
  afterAll(async () => {
    for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
    for (const pid of pids) if (alive(pid)) process.kill(pid, 'SIGKILL');
    for (const base of bases) await sh(`fusermount -u -z ${q(base + '/mnt')} 2>/dev/null; rm -rf ${q(base)}`);
  });

  it('a child process of a program that mounts holds no /dev/fuse, and unmounting really ends the connection', async () => {
    const base = (await shOk('mktemp -d')).trim();
    bases.push(base);
    const dir = join(base, 'mnt');
    await sh('[ -n "$(ls -A /sys/fs/fuse/connections 2>/dev/null)" ] || mount -t fusectl none /sys/fs/fuse/connections');
    const holder = spawn(process.execPath, [join(import.meta.dirname, 'fixtures/hold-mount.mjs'), dir, join(base, 'spool')], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    procs.push(holder);
    let out = '';
    holder.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((r) => holder.once('exit', (code) => r(code)));
    await vi.waitFor(() => expect(out).toContain('"ready"'), { timeout: 30_000, interval: 50 });
    const { childPid } = JSON.parse(out.split('\n')[0]!) as { childPid: number };
    pids.push(childPid);
    expect(fuseFds(holder.pid!).length).toBeGreaterThan(0); // the mount's own descriptor
    expect(fuseFds(childPid)).toEqual([]);
    const connection = mountinfo(dir)![2]!.split(':')[1]!; // "0:NN": the fusectl connection id
    expect(existsSync(`/sys/fs/fuse/connections/${connection}`)).toBe(true);

    holder.stdin!.write('unmount\n');
    await vi.waitFor(() => expect(out).toContain('"unmounted"'), { timeout: 30_000, interval: 50 });
    expect(mountinfo(dir)).toBeUndefined();
    // The long-lived child still runs, yet the connection is gone: nothing keeps a dead mount alive.
    expect(alive(childPid)).toBe(true);
    await vi.waitFor(() => expect(existsSync(`/sys/fs/fuse/connections/${connection}`)).toBe(false), { timeout: 10_000, interval: 50 });
    // The program returns by itself once unmounted: nothing holds its event loop.
    expect(await exited).toBe(0);
  });

  it('a library mount unmounted from outside ends by itself: ended says "external" and the program returns', async () => {
    const base = (await shOk('mktemp -d')).trim();
    bases.push(base);
    const dir = join(base, 'mnt');
    const holder = spawn(process.execPath, [join(import.meta.dirname, 'fixtures/hold-mount.mjs'), dir, join(base, 'spool')], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    procs.push(holder);
    let out = '';
    holder.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((r) => holder.once('exit', (code) => r(code)));
    await vi.waitFor(() => expect(out).toContain('"ready"'), { timeout: 30_000, interval: 50 });
    pids.push((JSON.parse(out.split('\n')[0]!) as { childPid: number }).childPid);
    await shOk(`fusermount -u ${q(dir)}`);
    expect(await exited).toBe(0);
    expect(out).toContain('{"ended":"external"}');
  });

  it('cloudmount mount exits cleanly with a message when unmounted from outside (fusermount -u)', async () => {
    const base = (await shOk('mktemp -d')).trim();
    bases.push(base);
    const dir = join(base, 'mnt');
    await shOk(`mkdir -p ${q(base + '/store')} && printf kept > ${q(base + '/store/a.txt')}`);
    const env = { CLOUDMOUNT_CONFIG: join(base, 'no-config.json'), XDG_CACHE_HOME: join(base, 'cache') };
    const cli = await startCli(['mount', join(base, 'store'), dir, '--spool-dir', join(base, 'spool')], /mounted .* at /, env);
    procs.push(cli.child);
    const exited = new Promise<number | null>((r) => cli.child.once('exit', (code) => r(code)));
    expect(await shOk(`cat ${q(dir + '/a.txt')}`)).toBe('kept');
    await shOk(`fusermount -u ${q(dir)}`);
    expect(await exited).toBe(0);
    expect(cli.output()).toMatch(/unmounted from outside/);
    expect(mountinfo(dir)).toBeUndefined();
  }, 60_000);
});
