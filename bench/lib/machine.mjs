// One-line description of the machine a benchmark ran on (for RESULTS.md).
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';

function tryRead(path) {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

/** First match of `re` in the command's output (stdout and stderr: some tools print their version on stderr or exit non-zero). */
function version(cmd, args, re) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  if (r.error) return undefined;
  const out = `${r.stdout ?? ''}\n${r.stderr ?? ''}`;
  return (re ? re.exec(out)?.[1] : out.trim().split('\n')[0])?.trim();
}

/** { cpu, cores, memory, os, node, tools } describing this machine. */
export function describeMachine() {
  const cpus = os.cpus();
  const osRelease = /PRETTY_NAME="([^"]+)"/.exec(tryRead('/etc/os-release'))?.[1] ?? os.type();
  return {
    cpu: cpus[0]?.model?.replace(/\s+/g, ' ').trim() ?? 'unknown',
    cores: cpus.length,
    memoryGiB: +(os.totalmem() / 1024 ** 3).toFixed(1),
    os: `${osRelease}, kernel ${os.release()}`,
    node: process.version,
    load: os.loadavg().map((x) => x.toFixed(2)).join(' '),
    tools: {
      rclone: version('rclone', ['version'], /^rclone (\S+)/),
      curl: version('curl', ['--version'], /^curl (\S+)/),
      wrk: version('wrk', ['--version'], /^wrk (\S+)/),
      fusermount: version('fusermount', ['-V'], /version:?\s*(\S+)/),
    },
  };
}
