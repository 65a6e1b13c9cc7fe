// Start and stop a cloudmount frontend (FUSE mount or WebDAV share) in a child process.
import { execFile, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { promisify } from 'node:util';

const run = promisify(execFile);
const SERVE = new URL('./serve-frontend.mjs', import.meta.url).pathname;
const PIPE_PROXY = new URL('./pipe-proxy.mjs', import.meta.url).pathname;

/** True when `dir` is a mount point right now. */
export function isMounted(dir) {
  return readFileSync('/proc/mounts', 'utf8').split('\n').some((l) => l.split(' ')[1] === dir);
}

/**
 * Start `kind` ('fuse' | 'webdav') over `backend` (see serve-frontend.mjs) in a child process;
 * 'nodepipe' starts the bare node:http pipe proxy (pipe-proxy.mjs, `backend` unused) instead.
 * Returns { pid, url?, dir?, stop() }. `nodeArgs` go to node (e.g. --cpu-prof).
 */
export async function startFrontend(kind, backend, { mountpoint, nodeArgs = [], env } = {}) {
  if (kind === 'fuse') await mkdir(mountpoint, { recursive: true });
  const args = kind === 'nodepipe' ? [...nodeArgs, PIPE_PROXY] : [...nodeArgs, SERVE, kind, JSON.stringify(backend), ...(kind === 'fuse' ? [mountpoint] : [])];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'], env: env ?? process.env });
  const where = await new Promise((resolve, reject) => {
    let buf = '';
    const onData = (d) => {
      buf += d;
      const m = /ready (\S+)/.exec(buf);
      if (m) {
        child.stdout.off('data', onData);
        child.stdout.resume();
        resolve(m[1]);
      }
    };
    child.stdout.on('data', onData);
    child.once('exit', (code) => reject(new Error(`${kind} frontend exited with ${code} before it was ready`)));
  });
  const exited = new Promise((r) => (child.exitCode !== null ? r() : child.once('exit', r)));
  return {
    pid: child.pid,
    ...(kind === 'fuse' ? { dir: where } : { url: where }),
    /** SIGTERM, wait for a clean exit (10 s), then make sure nothing stays mounted. */
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(t);
      if (kind === 'fuse' && isMounted(where)) await run('fusermount', ['-u', '-z', where]).catch(() => undefined);
    },
  };
}

/** Run a shell command; resolves with its wall-clock seconds and stdout. */
export async function sh(cmd, { timeoutMs = 600_000 } = {}) {
  const t = process.hrtime.bigint();
  const { stdout } = await run('sh', ['-c', cmd], { maxBuffer: 64 * 1024 * 1024, timeout: timeoutMs });
  return { seconds: Number(process.hrtime.bigint() - t) / 1e9, stdout };
}
