// CPU seconds (user + system) spent by processes, for "CPU seconds per GiB moved" figures.
import { readFileSync } from 'node:fs';
import { execFile } from 'node:child_process';

const TICKS = 100; // USER_HZ: /proc/<pid>/stat counts in 1/100 s on Linux

/** User + system CPU seconds of `pid` so far (all its threads), or NaN when it is gone. */
export function cpuOf(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces) in parentheses: utime is 14th, stime 15th.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(rest[11]) + Number(rest[12])) / TICKS;
  } catch {
    return NaN;
  }
}

/** CPU seconds of this process (the benchmark, and any emulator running inside it). */
export function ownCpu() {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

/**
 * Run a shell command; resolves with its wall-clock seconds, stdout, and the CPU seconds its child
 * processes used (the shell's `times`, so curl's own CPU is counted, the shell's is not).
 */
export function shCpu(cmd, { timeoutMs = 600_000 } = {}) {
  const t = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    execFile('sh', ['-c', `${cmd}\ntimes >&2`], { maxBuffer: 64 * 1024 * 1024, timeout: timeoutMs }, (err, stdout, stderr) => {
      if (err) return reject(err);
      const seconds = Number(process.hrtime.bigint() - t) / 1e9;
      const lines = stderr.trim().split('\n');
      const kids = (lines[lines.length - 1] ?? '').match(/(\d+)m([\d.]+)s/g) ?? [];
      const cpu = kids.reduce((s, x) => { const m = /(\d+)m([\d.]+)s/.exec(x); return s + Number(m[1]) * 60 + Number(m[2]); }, 0);
      resolve({ seconds, stdout, cpu });
    });
  });
}
