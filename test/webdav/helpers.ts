/** Shared helpers of the WebDAV frontend tests: servers over MemoryVfs, child processes, raw HTTP. */
import { spawn, spawnSync } from 'node:child_process';
import { connect } from 'node:net';
import { MemoryVfs } from '../../adapters/memory/index.js';
import type { SeedTree } from '../../adapters/memory/index.js';
import { serveWebdav } from '../../mount/webdav.js';
import type { WebdavOptions, WebdavServer } from '../../mount/webdav.js';

/** Is `cmd` on PATH? */
export function hasCommand(cmd: string, versionArg = '--version'): boolean {
  const r = spawnSync(cmd, [versionArg], { stdio: 'ignore', timeout: 10_000 });
  return r.error === undefined;
}

/** Warn (visibly) why a test is skipped. */
export function warnSkip(what: string, why: string): void {
  console.warn(`[skip] ${what}: ${why}`);
}

/** A MemoryVfs served over WebDAV. */
export async function startMemoryServer(tree: SeedTree = {}, options: WebdavOptions = {}): Promise<{ vfs: MemoryVfs; server: WebdavServer }> {
  const vfs = await MemoryVfs.fromTree(tree);
  const server = await serveWebdav(vfs, options);
  return { vfs, server };
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Run a command with a hard timeout (killed by its pid), feeding `input` on stdin. */
export function run(cmd: string, args: string[], opts: { input?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number; cwd?: string } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: opts.env ?? process.env, cwd: opts.cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.on('error', () => {});
    child.stdin.end(opts.input ?? '');
  });
}

/**
 * Send raw bytes over a fresh TCP connection and collect the answer until the server closes or
 * `idleMs` passes: for requests fetch() refuses to send (raw paths, broken framing).
 */
export function rawRequest(port: number, data: string | Buffer, idleMs = 1500): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let out = '';
    let timer = setTimeout(() => socket.destroy(), idleMs);
    socket.on('data', (d) => {
      out += d.toString('latin1');
      clearTimeout(timer);
      timer = setTimeout(() => socket.destroy(), idleMs);
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(out);
    });
    socket.write(data);
  });
}

/** Status code of a raw HTTP answer (0 when there was none). */
export function statusOf(raw: string): number {
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(raw);
  return m ? Number(m[1]) : 0;
}
