/**
 * One soak run: an emulator with faults in this process, `cloudmount mount` and `cloudmount serve
 * webdav` of the same remote as two child processes (the way a user runs both), the seeded workload
 * in a third child process, RSS samples of both serving processes, and the final comparison of what
 * the emulator stores with what the workload believes it wrote.
 *
 * Why two processes and not one CachedVfs shared by both frontends: that is the realistic setup
 * (the CLI has no "serve both" mode), each process then has its own Scheduler and cache exactly as a
 * user gets them, a kill or leak shows up per process, and the FUSE mount is never served by the
 * process that drives it. Each workload worker owns one folder and uses one frontend, so the two
 * caches never have to agree on a file (cross-process freshness is a TTL matter, not a soak finding).
 */
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { startCli } from '../cli/run-cli.js';
import { startSoakProvider } from './providers.js';
import type { ProviderName, SoakFaults, StoredFile } from './providers.js';

const run = promisify(execFile);
const WORKLOAD = resolve(import.meta.dirname, 'workload.mjs');
const MiB = 1024 * 1024;

export interface SoakOptions {
  provider: ProviderName;
  seed: number;
  opsPerWorker: number;
  fuseWorkers: number;
  davWorkers: number;
  maxSize: number;
  faults: SoakFaults;
}

export interface WorkloadReport {
  ops: number;
  counts: Record<string, number>;
  errors: Array<{ worker: string; op: string; path: string; target?: string; message: string; code?: string }>;
  uncertain: string[];
  files: Record<string, StoredFile>;
  bytesWritten: number;
  bytesRead: number;
  ms: number;
}

export interface SchedulerFigures {
  requests: number;
  retries: number;
  throttled: number;
  failures: number;
}

export interface SoakResult {
  report: WorkloadReport;
  stored: Map<string, StoredFile>;
  /** Files whose stored sha256 or size differs from the model, or that are missing. */
  mismatched: Array<{ path: string; want?: StoredFile; got?: StoredFile }>;
  /** Files the emulator has that the workload does not know of. */
  unexpected: string[];
  faults: Record<string, number>;
  providerRequests: number;
  scheduler: { mount?: SchedulerFigures; webdav?: SchedulerFigures };
  rss: { mount: number[]; webdav: number[] };
  bytesChecked: number;
  pendingAfter: string;
  logs: { mount: string; webdav: string };
}

/** What a run started, for `cleanupSoaks` when a test times out before its own `finally` runs. */
const live = { mountpoints: new Set<string>(), children: new Set<{ stop(): Promise<void>; child: { pid?: number | undefined } }>() };

/** Kill what runs still own and clear their mountpoints (afterAll). */
export async function cleanupSoaks(): Promise<void> {
  for (const c of live.children) {
    try {
      if (c.child.pid) process.kill(c.child.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  for (const m of live.mountpoints) await run('fusermount', ['-u', '-z', m]).catch(() => {});
  live.children.clear();
  live.mountpoints.clear();
}

/** Run one soak and return everything a test asserts on and prints. */
export async function runSoak(o: SoakOptions): Promise<SoakResult> {
  const tmp = await mkdtemp(join(tmpdir(), `cloudmount-soak-${o.provider}-`));
  const mountpoint = join(tmp, 'mnt');
  const spoolDir = join(tmp, 'spool');
  const env = {
    CLOUDMOUNT_CONFIG: join(tmp, 'no-config.json'),
    XDG_CACHE_HOME: join(tmp, 'cache'),
    CLOUDMOUNT_LOG_LEVEL: 'warn',
  };
  const provider = await startSoakProvider(o.provider, o.faults);
  let mount: Awaited<ReturnType<typeof startCli>> | undefined;
  let webdav: Awaited<ReturnType<typeof startCli>> | undefined;
  const rss = { mount: [] as number[], webdav: [] as number[] };
  let sampler: NodeJS.Timeout | undefined;
  try {
    await provider.mkdir('/soak');
    const penv = { ...env, ...provider.env };
    live.mountpoints.add(mountpoint);
    mount = await startCli(['mount', `${o.provider}:/`, mountpoint, '--spool-dir', spoolDir, '--stats'], /mounted .* at /, penv);
    live.children.add(mount);
    webdav = await startCli(['serve', 'webdav', `${o.provider}:/`, '--addr', '127.0.0.1:0', '--spool-dir', join(tmp, 'dav-spool'), '--stats'], /over WebDAV at (http\S+)/, penv);
    live.children.add(webdav);
    const davUrl = webdav.match[1]!.replace(/\/$/, '');
    const sample = async () => {
      rss.mount.push(await rssOf(mount!.child.pid!));
      rss.webdav.push(await rssOf(webdav!.child.pid!));
    };
    await sample();
    sampler = setInterval(() => void sample().catch(() => {}), 1000);
    const report = await runWorkload({
      seed: o.seed, opsPerWorker: o.opsPerWorker, maxSize: o.maxSize, mountpoint, fuseWorkers: o.fuseWorkers,
      davUrl, davWorkers: o.davWorkers, root: '/soak', verbose: !!process.env.SOAK_VERBOSE,
    });
    clearInterval(sampler);
    sampler = undefined;
    await sample();
    provider.calm();
    await mount.stop();
    await webdav.stop();
    const stored = await provider.files('/soak');
    const mismatched: SoakResult['mismatched'] = [];
    let bytesChecked = 0;
    for (const [path, want] of Object.entries(report.files)) {
      const got = stored.get(path);
      if (!got || got.sha256 !== want.sha256 || got.size !== want.size) mismatched.push({ path, want, ...(got ? { got } : {}) });
      else bytesChecked += got.size;
    }
    const uncertain = new Set(report.uncertain);
    const unexpected = [...stored.keys()].filter((p) => !(p in report.files) && !uncertain.has(p));
    const pending = await startPendingList(spoolDir, { ...env, ...provider.env });
    return {
      report, stored, mismatched, unexpected, bytesChecked,
      faults: provider.faults(),
      providerRequests: provider.requests(),
      scheduler: { ...lastStats(mount.output(), 'mount'), ...lastStats(webdav.output(), 'webdav') },
      rss, pendingAfter: pending,
      logs: { mount: mount.output(), webdav: webdav.output() },
    };
  } finally {
    if (sampler) clearInterval(sampler);
    await mount?.stop().catch(() => {});
    await webdav?.stop().catch(() => {});
    await run('fusermount', ['-u', '-z', mountpoint]).catch(() => {});
    await provider.close();
    await rm(tmp, { recursive: true, force: true }).catch(() => {});
  }
}

/** `cloudmount pending list` output for the mount's spool (should be "no pending uploads"). */
async function startPendingList(spoolDir: string, env: Record<string, string>): Promise<string> {
  const { runCli } = await import('../cli/run-cli.js');
  const r = await runCli(['pending', 'list', '--spool-dir', spoolDir], { env });
  return (r.stdout + r.stderr).trim();
}

/** Run the workload child process and parse its JSON report. */
export function runWorkload(config: Record<string, unknown>): Promise<WorkloadReport> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [WORKLOAD, JSON.stringify(config)], { stdio: ['ignore', 'pipe', 'pipe'] });
    const entry = { child, stop: async () => {} };
    live.children.add(entry);
    child.once('exit', () => live.children.delete(entry));
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => {
      err += c.toString();
      if (process.env.SOAK_VERBOSE) process.stderr.write(c);
    });
    child.once('error', reject);
    child.once('exit', (code) => {
      const last = out.trim().split('\n').pop() ?? '';
      try {
        resolvePromise(JSON.parse(last) as WorkloadReport);
      } catch {
        reject(new Error(`workload exited with ${code} without a report:\n${out}\n${err}`));
      }
    });
  });
}

/** Resident set size of a process, in bytes (Linux /proc). */
export async function rssOf(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return kb * 1024;
}

/** The Scheduler figures of the last `stats:` line a CLI process printed. */
function lastStats(output: string, key: 'mount' | 'webdav'): Partial<Record<'mount' | 'webdav', SchedulerFigures>> {
  const lines = output.split('\n').filter((l) => l.startsWith('stats:'));
  const line = lines.pop();
  if (!line) return {};
  const num = (name: string) => Number(new RegExp(`${name} (\\d+)`).exec(line)?.[1] ?? NaN);
  return { [key]: { requests: num('requests'), retries: num('retries'), throttled: num('429s'), failures: num('failures') } };
}

/** Growth of RSS after warm-up: median of the last quarter of samples minus median of the second quarter. */
export function rssGrowth(samples: number[]): number {
  if (samples.length < 8) return 0;
  const q = Math.floor(samples.length / 4);
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  return median(samples.slice(-q)) - median(samples.slice(q, 2 * q));
}

/** The figures a run prints. */
export function formatSoak(label: string, o: SoakOptions, r: SoakResult): string {
  const mb = (n: number) => `${(n / MiB).toFixed(1)} MiB`;
  const faultTotal = Object.values(r.faults).reduce((a, b) => a + b, 0);
  const sched = (s?: SchedulerFigures) => (s ? `requests ${s.requests}, retries ${s.retries}, 429s ${s.throttled}, failures ${s.failures}` : 'no stats line');
  const peak = (xs: number[]) => mb(Math.max(...xs));
  return [
    `[soak ${label}] ${o.provider}: seed ${o.seed}, ${o.fuseWorkers} FUSE + ${o.davWorkers} WebDAV workers, max file ${mb(o.maxSize)}, ${(r.report.ms / 1000).toFixed(1)} s`,
    `  operations ${r.report.ops} (${Object.entries(r.report.counts).map(([k, v]) => `${k} ${v}`).join(', ')})`,
    `  provider requests ${r.providerRequests}, faults injected ${faultTotal} (${Object.entries(r.faults).map(([k, v]) => `${k} ${v}`).join(', ')}) = ${((100 * faultTotal) / Math.max(1, r.providerRequests)).toFixed(1)} %`,
    `  scheduler (mount): ${sched(r.scheduler.mount)}`,
    `  scheduler (webdav): ${sched(r.scheduler.webdav)}`,
    `  errors surfaced ${r.report.errors.length}, files checked ${Object.keys(r.report.files).length}, bytes checked ${mb(r.bytesChecked)}, written ${mb(r.report.bytesWritten)}, read back ${mb(r.report.bytesRead)}`,
    `  mismatched ${r.mismatched.length}, unexpected files ${r.unexpected.length}, pending after: ${r.pendingAfter.split('\n')[0]}`,
    `  RSS mount: start ${mb(r.rss.mount[0] ?? 0)}, peak ${peak(r.rss.mount)}, end ${mb(r.rss.mount.at(-1) ?? 0)}, growth after warm-up ${mb(rssGrowth(r.rss.mount))}`,
    `  RSS webdav: start ${mb(r.rss.webdav[0] ?? 0)}, peak ${peak(r.rss.webdav)}, end ${mb(r.rss.webdav.at(-1) ?? 0)}, growth after warm-up ${mb(rssGrowth(r.rss.webdav))}`,
  ].join('\n');
}
