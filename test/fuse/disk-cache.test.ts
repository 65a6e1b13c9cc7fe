/**
 * The disk cache through real `cloudmount mount --cache-dir` processes over the Cloudreve emulator:
 * a restart reads with zero content requests, kill -9 in the middle of caching then a restart
 * serves the right bytes, and a second mount on the same cache dir is refused with one line.
 * All file access goes through child processes (head, tail, sha256sum) on the mountpoint.
 */
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startCloudreveEmulator } from '../../adapters/cloudreve/index.js';
import type { CloudreveEmulator } from '../../adapters/cloudreve/index.js';
import { runCli, startCli } from '../cli/run-cli.js';
import { pseudoRandomBytes, sha256 } from '../helpers.js';
import { fuseSkipReason, q, sh, shOk } from './harness.js';

const MiB = 1024 * 1024;
const hasBuild = existsSync(new URL('../../dist/cli/index.js', import.meta.url));
if (!hasBuild) console.warn('disk cache FUSE test skipped: dist/ is not built (run `npm run build` first)');

const children: ChildProcess[] = [];
const mountpoints: string[] = [];
const cleanups: Array<() => Promise<void>> = [];
afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const m of mountpoints) await sh(`fusermount -u -z ${q(m)}`);
  for (const c of cleanups) await c().catch(() => undefined);
});

const contentRequests = (emu: CloudreveEmulator) => emu.requests('GET /file/content').length;

async function setup(seed: Record<string, unknown>, options: { downloadSpeed?: number } = {}) {
  const emu = await startCloudreveEmulator({ seed: seed as never, maxLogEntries: 1_000_000, ...options });
  const tmp = await mkdtemp(join(tmpdir(), 'cloudmount-fuse-disk-cache-'));
  cleanups.push(async () => {
    await emu.close();
    await rm(tmp, { recursive: true, force: true });
  });
  const env = {
    CLOUDMOUNT_CONFIG: join(tmp, 'no-config.json'), XDG_CACHE_HOME: join(tmp, 'xdg'),
    CLOUDREVE_URL: emu.url, CLOUDREVE_EMAIL: emu.email, CLOUDREVE_PASSWORD: emu.password,
  };
  const cacheDir = join(tmp, 'cache');
  const mount = async (mnt: string, extra: string[] = []) => {
    mountpoints.push(mnt);
    const m = await startCli(['mount', 'cloudreve:/media', mnt, '--cache-dir', cacheDir, '--cache-min-free-space', '0', ...extra], /mounted .* at /, env);
    children.push(m.child);
    return m;
  };
  return { emu, tmp, env, cacheDir, mount };
}

async function recordLines(cacheDir: string): Promise<string> {
  const out: string[] = [];
  const root = join(cacheDir, 'v1');
  for (const shard of await readdir(root).catch(() => [] as string[])) {
    for (const name of await readdir(join(root, shard))) {
      if (name.endsWith('.meta')) {
        const lines = (await readFile(join(root, shard, name), 'utf8')).split('\n');
        out.push(`${JSON.parse(lines[0]!).path}: ${lines.slice(1, -1).map((l) => l.split(' ')[0]).join(',')}`);
      }
    }
  }
  return out.join(' | ');
}

/** Record lines (blocks kept) in the cache folder's meta files. */
async function recordedBlocks(cacheDir: string): Promise<number> {
  let n = 0;
  const root = join(cacheDir, 'v1');
  for (const shard of await readdir(root).catch(() => [] as string[])) {
    for (const name of await readdir(join(root, shard))) {
      if (name.endsWith('.meta')) n += (await readFile(join(root, shard, name), 'utf8')).split('\n').slice(1, -1).length;
    }
  }
  return n;
}

describe.skipIf(fuseSkipReason !== undefined || !hasBuild)('disk cache through cloudmount mount --cache-dir', { timeout: 120_000 }, () => {
  it('heads and tails read before a restart are read after it with zero content requests', async () => {
    const files: Record<string, Buffer> = {};
    for (let i = 0; i < 5; i++) files[`clip${i}.mkv`] = pseudoRandomBytes(4 * MiB + i * 1000, 20 + i);
    const { emu, tmp, mount, cacheDir } = await setup({ media: files });
    const mnt = join(tmp, 'mnt');
    const probe = async () => {
      const out: string[] = [];
      for (const name of Object.keys(files)) {
        out.push(await shOk(`head -c 262144 ${q(join(mnt, name))} | sha256sum; tail -c 65536 ${q(join(mnt, name))} | sha256sum`));
      }
      return out;
    };
    const expected = Object.values(files).map((d) => `${sha256(d.subarray(0, 262144))}  -\n${sha256(d.subarray(d.length - 65536))}  -\n`);

    const first = await mount(mnt);
    expect(await probe()).toEqual(expected);
    expect(contentRequests(emu)).toBeGreaterThan(0);
    await first.stop();
    // What pass 1 kept: the blocks it read, each file's head and tail at least.
    for (const line of (await recordLines(cacheDir)).split(' | ')) expect(line).toMatch(/: (?=.*\b0\b)/);

    emu.clearLog();
    const second = await mount(mnt);
    expect(await probe()).toEqual(expected);
    expect(contentRequests(emu)).toBe(0);
    await second.stop();
  });

  it('a second mount on the same cache dir is refused with one line naming the first', async () => {
    const { tmp, env, cacheDir, mount } = await setup({ media: { 'a.bin': Buffer.from('hello') } });
    const first = await mount(join(tmp, 'one'));
    const other = join(tmp, 'two');
    mountpoints.push(other);
    const second = await runCli(['mount', 'cloudreve:/media', other, '--cache-dir', cacheDir], { env, timeoutMs: 30_000 });
    expect(second.code).not.toBe(0);
    const lines = second.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(new RegExp(`cache dir .* is in use by process ${first.child.pid}`));
    // The first one still serves.
    expect(await shOk(`cat ${q(join(tmp, 'one', 'a.bin'))}`)).toBe('hello');
    await first.stop();
  });

  it('kill -9 of the mount while it is caching a file, then a restart: the right bytes', async () => {
    const data = pseudoRandomBytes(24 * MiB + 77, 30);
    // A slow link, so the mount is killed with some blocks written and more on the way.
    const { emu, tmp, cacheDir, mount } = await setup({ media: { 'film.mkv': data } }, { downloadSpeed: 6 * MiB });
    const mnt = join(tmp, 'mnt');
    const first = await mount(mnt);
    const reading = sh(`cat ${q(join(mnt, 'film.mkv'))} > /dev/null`);
    for (let i = 0; i < 600 && (await recordedBlocks(cacheDir)) < 3; i++) await new Promise((r) => setTimeout(r, 50));
    const kept = await recordedBlocks(cacheDir);
    expect(kept).toBeGreaterThanOrEqual(3);
    const died = new Promise((r) => first.child.once('exit', r));
    process.kill(first.child.pid!, 'SIGKILL');
    await died;
    await reading;
    expect(await recordedBlocks(cacheDir)).toBeLessThan(25);
    await sh(`fusermount -u -z ${q(mnt)}`);

    emu.settings.downloadSpeed = 0;
    emu.clearLog();
    const second = await mount(mnt);
    expect(await shOk(`sha256sum < ${q(join(mnt, 'film.mkv'))}`)).toBe(`${sha256(data)}  -\n`);
    // The blocks kept before the kill were used: fewer bytes fetched than the file.
    expect(emu.bytesOut('GET /file/content')).toBeLessThan(data.length);
    await second.stop();
  });
});
