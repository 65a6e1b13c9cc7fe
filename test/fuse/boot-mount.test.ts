/**
 * Boot-time mounts, as root with real kernel mounts: the shipped `mount.fuse.cloudmount` helper
 * makes `mount -t fuse.cloudmount home:/ <dir> -o config=…` and an fstab-style line (`mount -T
 * <fstab> <dir>`) work against `cloudmount emulate cloudreve`; `--daemon` returns once the mount is
 * ready, or non-zero with the reason; `umount` from outside ends the background process after it
 * has uploaded what was written. Every filesystem call on a mountpoint runs in a child process.
 */
import { existsSync, lstatSync, readlinkSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, rm, symlink, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, startCli } from '../cli/run-cli.js';
import { fuseSkipReason, q, sh, shOk } from './harness.js';

const HELPER = resolve(import.meta.dirname, '../../bin/mount.fuse.cloudmount');
const INSTALLED = '/sbin/mount.fuse.cloudmount';

function skipReason(): string | undefined {
  if (fuseSkipReason) return fuseSkipReason;
  if (process.getuid?.() !== 0) return 'mount(8) with a helper in /sbin needs root (CI runs as root)';
  if (existsSync(INSTALLED) && !(lstatSync(INSTALLED).isSymbolicLink() && readlinkSync(INSTALLED) === HELPER)) return `${INSTALLED} exists and is not this checkout's helper`;
  return undefined;
}
const reason = skipReason();
if (reason) console.warn(`[boot-mount tests skipped] ${reason}`);

async function gone(pid: number): Promise<boolean> {
  for (let i = 0; i < 300; i++) {
    if (!existsSync(`/proc/${pid}`)) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

describe.skipIf(reason !== undefined)('mount -t fuse.cloudmount and fstab', () => {
  let emu: Awaited<ReturnType<typeof startCli>>;
  let dir: string;
  let config: string;
  let installed = false;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cm-boot-'));
    emu = await startCli(['emulate', 'cloudreve', '--port', '0'], /CLOUDREVE_URL=(\S+) CLOUDREVE_EMAIL=(\S+) CLOUDREVE_PASSWORD=(\S+)/);
    config = join(dir, 'config.json');
    await writeFile(config, JSON.stringify({ remotes: { home: { type: 'cloudreve', url: emu.match[1], email: emu.match[2], password: emu.match[3] } } }));
    await chmod(config, 0o600);
    env = { XDG_CONFIG_HOME: join(dir, 'cfg') };
    if (!existsSync(INSTALLED)) {
      await symlink(HELPER, INSTALLED);
      installed = true;
    }
  }, 60_000);
  afterAll(async () => {
    for (const m of ['mnt-t', 'mnt-fstab']) await sh(`umount ${q(join(dir, m))} 2>/dev/null || fusermount -u -z ${q(join(dir, m))} 2>/dev/null; true`);
    if (installed) await unlink(INSTALLED).catch(() => {});
    await emu?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('mount -t fuse.cloudmount returns once mounted; umount ends the background process after the upload', async () => {
    const mnt = join(dir, 'mnt-t');
    await mkdir(mnt);
    const r = await sh(`mount -t fuse.cloudmount home:/ ${q(mnt)} -o ${q(`config=${config},noauto,_netdev,nodev`)}`);
    expect(r.code, r.stderr).toBe(0);
    const pid = Number(/pid (\d+)/.exec(r.stdout)?.[1]);
    expect(pid).toBeGreaterThan(0);
    // Mounted already when mount(8) returned: no waiting here.
    expect(await shOk(`grep -c ' ${mnt} fuse.cloudmount ' /proc/mounts`)).toBe('1\n');
    expect(await shOk(`cat ${q(join(mnt, 'hello.txt'))}`)).toContain('Hello');
    await shOk(`echo boot-time > ${q(join(mnt, 'written.txt'))}`);
    await shOk(`umount ${q(mnt)}`);
    expect(await gone(pid)).toBe(true);
    const back = await runCli(['--config', config, 'cat', 'home:/written.txt'], { env });
    expect(back.stdout).toBe('boot-time\n');
  }, 90_000);

  it('an fstab line mounts read-only with mount -T and unmounts', async () => {
    const mnt = join(dir, 'mnt-fstab');
    await mkdir(mnt);
    const fstab = join(dir, 'fstab');
    await writeFile(fstab, `# test fstab\nhome:/Documents  ${mnt}  fuse.cloudmount  config=${config},ro,noauto,nofail,_netdev,x-systemd.automount  0  0\n`);
    const r = await sh(`mount -T ${q(fstab)} ${q(mnt)}`);
    expect(r.code, r.stderr).toBe(0);
    const pid = Number(/pid (\d+)/.exec(r.stdout)?.[1]);
    const listing = await shOk(`ls ${q(mnt)}`);
    expect(listing.length).toBeGreaterThan(0);
    const write = await sh(`touch ${q(join(mnt, 'nope'))}`);
    expect(write.code).not.toBe(0);
    expect(write.stderr).toMatch(/Read-only file system/);
    await shOk(`umount ${q(mnt)}`);
    expect(await gone(pid)).toBe(true);
  }, 90_000);

  it('--daemon exits non-zero with the reason when the mount cannot start', async () => {
    const r = await runCli(['--config', config, 'mount', 'nosuch:/', join(dir, 'never'), '--daemon'], { env, timeoutMs: 60_000 });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/nosuch/);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    const helper = await sh(`mount -t fuse.cloudmount home:/ ${q(join(dir, 'never'))} -o ${q(`config=${config},bogus_option`)}`);
    expect(helper.code).not.toBe(0);
    expect(helper.stderr).toMatch(/unknown option: bogus_option/);
  }, 60_000);
});
