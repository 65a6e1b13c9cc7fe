/**
 * Test harness for real kernel mounts. ONE pattern everywhere: the mount lives in the test process,
 * and every filesystem call on it is made by a child process (`sh -c …`), never by this process
 * (whose event loop serves the mount: a call from here could deadlock it).
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mountFuse } from '../../mount/fuse.js';
import type { FuseMount, FuseMountOptions } from '../../mount/fuse.js';
import { createLogger } from '../../src/log.js';
import type { LogLevel } from '../../src/log.js';
import type { Vfs } from '../../src/vfs.js';

/** Why FUSE tests cannot run here, or undefined when they can. */
export function fuseUnavailableReason(): string | undefined {
  if (!existsSync('/dev/fuse')) return '/dev/fuse is missing (no FUSE in this machine or container)';
  const path = (process.env.PATH ?? '').split(':');
  if (!path.some((dir) => dir && existsSync(join(dir, 'fusermount')))) return 'fusermount is not installed (apt-get install fuse)';
  return undefined;
}

export const fuseSkipReason = fuseUnavailableReason();
if (fuseSkipReason) console.warn(`[fuse tests skipped] ${fuseSkipReason}`);

export interface ShResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run a shell command in a child process; never throws for a non-zero exit. */
export function sh(command: string, options: { cwd?: string; timeoutMs?: number } = {}): Promise<ShResult> {
  return new Promise((resolve) => {
    execFile('sh', ['-c', command], { cwd: options.cwd, timeout: options.timeoutMs ?? 120_000, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

/** Like `sh`, but fails the test with the command's stderr when it exits non-zero. */
export async function shOk(command: string, options: { cwd?: string; timeoutMs?: number } = {}): Promise<string> {
  const r = await sh(command, options);
  if (r.code !== 0) throw new Error(`command failed (${r.code}): ${command}\n${r.stderr}`);
  return r.stdout;
}

/** Quote a string for sh. */
export function q(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

export interface TestMount {
  /** The mounted folder. */
  dir: string;
  /** A scratch folder outside the mount (source and destination of copies). */
  scratch: string;
  spoolDir: string;
  mount: FuseMount;
  /** Unmount and delete the temp folders. */
  close(): Promise<void>;
}

/** Mount `vfs` at a fresh temp folder with a private spool dir. */
export async function mountTemp(vfs: Vfs, options: FuseMountOptions = {}): Promise<TestMount> {
  const base = await mkdtemp(join(tmpdir(), 'cloudmount-fuse-'));
  const dir = join(base, 'mnt');
  const scratch = join(base, 'scratch');
  const spoolDir = options.spoolDir ?? join(base, 'spool');
  await shOk(`mkdir -p ${q(scratch)}`);
  // CLOUDMOUNT_TEST_LOG=debug shows what the mount does while a test runs.
  const level = process.env.CLOUDMOUNT_TEST_LOG as LogLevel | undefined;
  const logger = level ? createLogger({ level }) : undefined;
  const mount = await mountFuse(vfs, dir, { spoolDir, ...(logger ? { logger } : {}), ...options });
  return {
    dir, scratch, spoolDir, mount,
    async close() {
      try {
        await mount.unmount();
      } finally {
        // If anything went wrong, make sure no mount is left behind before deleting the folder.
        await sh(`grep -q " ${dir} " /proc/mounts && fusermount -u -z ${q(dir)}`);
        await rm(base, { recursive: true, force: true });
      }
    },
  };
}
