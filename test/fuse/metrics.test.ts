/**
 * `cloudmount mount --metrics-addr`: FUSE operations with latency, provider requests, bytes and
 * pending uploads scraped during a workload on a real mount (against `cloudmount emulate
 * cloudreve`), with no path in any label. Filesystem calls on the mount run in child processes.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCli } from '../cli/run-cli.js';
import { fuseSkipReason, q, sh, shOk } from './harness.js';

function series(text: string, name: string): Array<[string, number]> {
  return text
    .split('\n')
    .filter((l) => l.startsWith(name + '{') || l.startsWith(name + ' '))
    .map((l) => [l.slice(0, l.lastIndexOf(' ')), Number(l.slice(l.lastIndexOf(' ') + 1))] as [string, number]);
}
const total = (text: string, name: string) => series(text, name).reduce((n, [, v]) => n + v, 0);

describe.skipIf(fuseSkipReason !== undefined)('mount --metrics-addr', () => {
  let emu: Awaited<ReturnType<typeof startCli>>;
  let dir: string;
  let env: NodeJS.ProcessEnv;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cm-fuse-metrics-'));
    emu = await startCli(['emulate', 'cloudreve', '--port', '0'], /CLOUDREVE_URL=(\S+) CLOUDREVE_EMAIL=(\S+) CLOUDREVE_PASSWORD=(\S+)/);
    env = { CLOUDREVE_URL: emu.match[1], CLOUDREVE_EMAIL: emu.match[2], CLOUDREVE_PASSWORD: emu.match[3], XDG_CONFIG_HOME: join(dir, 'cfg') };
  }, 60_000);
  afterAll(async () => {
    await sh(`fusermount -u -z ${q(join(dir, 'mnt'))} 2>/dev/null; true`);
    await emu?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('counts FUSE operations and provider requests during a workload', async () => {
    const mnt = join(dir, 'mnt');
    const mounted = await startCli(
      ['mount', 'cloudreve:/', mnt, '--spool-dir', join(dir, 'spool'), '--metrics-addr', '127.0.0.1:0'],
      /mounted .* at /,
      env,
    );
    try {
      const metricsUrl = /metrics at (\S+)/.exec(mounted.output())![1]!;
      const before = await (await fetch(metricsUrl)).text();
      await shOk(`mkdir ${q(join(mnt, 'Private-Dir-Kq'))} && head -c 200000 /dev/urandom > ${q(join(mnt, 'Private-Dir-Kq', 'hidden-name-Wz.bin'))} && cat ${q(join(mnt, 'Private-Dir-Kq', 'hidden-name-Wz.bin'))} > /dev/null && ls -la ${q(mnt)} > /dev/null`);
      const after = await (await fetch(metricsUrl)).text();
      expect(total(after, 'cloudmount_fuse_operations_total')).toBeGreaterThan(total(before, 'cloudmount_fuse_operations_total'));
      expect(series(after, 'cloudmount_fuse_operations_total').some(([k]) => k.includes('op="write"'))).toBe(true);
      expect(series(after, 'cloudmount_fuse_operations_total').some(([k]) => k.includes('op="getattr"'))).toBe(true);
      expect(total(after, 'cloudmount_fuse_operation_duration_seconds_count')).toBeGreaterThan(0);
      expect(total(after, 'cloudmount_provider_requests_total')).toBeGreaterThan(total(before, 'cloudmount_provider_requests_total'));
      expect(series(after, 'cloudmount_pending_uploads')).toHaveLength(1);
      expect(total(after, 'cloudmount_transfer_bytes')).toBeGreaterThanOrEqual(200_000);
      for (const secret of ['Private-Dir-Kq', 'hidden-name-Wz', mnt, env.CLOUDREVE_PASSWORD!]) expect(after, secret).not.toContain(secret);
    } finally {
      await mounted.stop();
    }
  }, 90_000);
});
