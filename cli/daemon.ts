/**
 * `--daemon`: run the command in a detached child and return only once it is ready (the mount is
 * served), exiting 0; if the child fails first, print its reason and exit non-zero. What the boot-
 * time mount helper and `mount -t fuse.cloudmount` need: mount(8) waits for the helper to exit.
 */
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';

/** Set in the child's environment (internal). */
const CHILD_ENV = 'CLOUDMOUNT_DAEMON_CHILD';
/** Longest wait for the child to be ready before giving up on it (a provider that never answers the first stat). */
export const DAEMON_READY_TIMEOUT_MS = 120_000;
/** Most of the child's early output kept to explain a failure. */
const MAX_REASON_BYTES = 16 * 1024;

export function isDaemonChild(): boolean {
  return process.env[CHILD_ENV] === '1' && typeof process.send === 'function';
}

/** In the child: stderr may outlive the parent (a broken pipe afterwards must not kill the mount). */
export function prepareDaemonChild(): void {
  if (!isDaemonChild()) return;
  process.stderr.on('error', () => {});
  process.stdout.on('error', () => {});
  process.on('disconnect', () => {});
  // The IPC channel would keep a child that failed to start alive forever.
  process.channel?.unref();
}

/** In the child: tell the parent the service is ready. */
export function notifyReady(detail: string): void {
  if (!isDaemonChild()) return;
  process.send?.({ ready: true, detail }, () => process.disconnect?.());
}

/**
 * In the parent: start the same command line without --daemon, detached, and wait. Resolves the
 * exit code this process should end with (0 ready; else the child's, with its reason printed).
 */
export async function daemonize(write: (line: string) => void, warn: (line: string) => void): Promise<number> {
  const args = process.argv.slice(1).filter((a) => a !== '--daemon');
  const child = spawn(process.execPath, [...process.execArgv, ...args], {
    detached: true,
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    env: { ...process.env, [CHILD_ENV]: '1' },
  });
  let reason = '';
  child.stderr!.on('data', (d: Buffer) => {
    if (reason.length < MAX_REASON_BYTES) reason += d.toString();
  });
  return new Promise<number>((resolve) => {
    const timer = setTimeout(() => {
      warn(`cloudmount: not ready after ${DAEMON_READY_TIMEOUT_MS / 1000} s; stopping it`);
      child.kill('SIGTERM');
    }, DAEMON_READY_TIMEOUT_MS);
    child.on('message', (m: { ready?: boolean; detail?: string }) => {
      if (!m?.ready) return;
      clearTimeout(timer);
      if (m.detail) write(m.detail);
      write(`running in the background as pid ${child.pid}`);
      child.stderr!.destroy();
      child.unref();
      resolve(0);
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      const text = reason.trim();
      warn(text || `cloudmount: the background process ended (${signal ?? `exit ${code}`}) before it was ready`);
      resolve(code && code !== 0 ? code : 1);
    });
  });
}

/** How often the mount table is read to notice an unmount made from outside (umount, fusermount -u). */
