/**
 * Before mounting: is FUSE usable here (/dev/fuse, fusermount), and is a dead mount left at the
 * mountpoint by a crashed process ("Transport endpoint is not connected")? A dead mount is lazily
 * unmounted; a live one is refused. Every failure is a VfsError with a one-line explanation.
 */
import { execFile } from 'node:child_process';
import { constants } from 'node:fs';
import { access, mkdir, readFile, readdir, stat } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { promisify } from 'node:util';
import { VfsError } from '../../src/errors.js';

const run = promisify(execFile);

/** Throws ENOSYS with a one-line reason when this machine cannot mount FUSE filesystems. */
export async function checkFuseAvailable(): Promise<void> {
  try {
    await access('/dev/fuse', constants.R_OK | constants.W_OK);
  } catch (e) {
    const missing = (e as NodeJS.ErrnoException).code === 'ENOENT';
    throw new VfsError('ENOSYS', missing
      ? 'FUSE is not available: /dev/fuse is missing (load the fuse module, or run the container with --device /dev/fuse --cap-add SYS_ADMIN)'
      : 'FUSE is not available: no permission to open /dev/fuse (add your user to the "fuse" group or run as root)', {
      provider: 'fuse', operation: 'mount',
    });
  }
  if (!(await findOnPath('fusermount'))) {
    throw new VfsError('ENOSYS', 'FUSE is not available: fusermount is not installed (apt-get install fuse)', {
      provider: 'fuse', operation: 'mount',
    });
  }
}

/** Full path of an executable on $PATH, or undefined. */
export async function findOnPath(name: string): Promise<string | undefined> {
  for (const dir of (process.env.PATH ?? '/usr/bin:/bin').split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, name);
    if (await access(candidate, constants.X_OK).then(() => true, () => false)) return candidate;
  }
  return undefined;
}

/** True when /proc/mounts lists `mountpoint` (an absolute, resolved path). */
export async function isMountpoint(mountpoint: string): Promise<boolean> {
  const mounts = await readFile('/proc/mounts', 'utf8').catch(() => '');
  return mounts.split('\n').some((line) => decodeMountPath(line.split(' ')[1] ?? '') === mountpoint);
}

/** /proc/mounts escapes space, tab, newline and backslash as octal. */
function decodeMountPath(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

/**
 * Make `mountpoint` ready: clear a dead FUSE mount there (fusermount -u -z), refuse a live one,
 * create the folder when missing, refuse a folder with files in it unless `allowNonEmpty`.
 */
export async function prepareMountpoint(mountpoint: string, allowNonEmpty = false): Promise<void> {
  if (await isMountpoint(mountpoint)) {
    const health = await probe(mountpoint);
    if (health === 'alive') {
      throw new VfsError('EBUSY', `${mountpoint} is already mounted (unmount it first: fusermount -u ${mountpoint})`, {
        provider: 'fuse', operation: 'mount', path: mountpoint,
      });
    }
    // 'dead' (ENOTCONN: its process died) or 'hung' (no answer): detach it.
    try {
      await run('fusermount', ['-u', '-z', mountpoint]);
    } catch (e) {
      throw new VfsError('EBUSY', `a stale mount at ${mountpoint} could not be cleared (try: fusermount -u -z ${mountpoint}): ${firstLine(e)}`, {
        provider: 'fuse', operation: 'mount', path: mountpoint,
      });
    }
  }
  let entries: string[];
  try {
    await mkdir(mountpoint, { recursive: true });
    if (!(await stat(mountpoint)).isDirectory()) throw new Error('not a directory');
    entries = await readdir(mountpoint);
  } catch (e) {
    throw new VfsError('ENOTDIR', `cannot use ${mountpoint} as a mountpoint: ${firstLine(e)}`, {
      provider: 'fuse', operation: 'mount', path: mountpoint,
    });
  }
  // Mounting over files hides them (and fusermount refuses it for ordinary users with a cryptic error).
  if (entries.length > 0 && !allowNonEmpty) {
    throw new VfsError('ENOTEMPTY', `${mountpoint} is not empty; mount on an empty folder (or pass allowNonEmpty)`, {
      provider: 'fuse', operation: 'mount', path: mountpoint,
    });
  }
}

/**
 * Is the mount at `mountpoint` answering? A dead FUSE mount fails stat at once with ENOTCONN; a hung one
 * does not answer at all, so the stat runs in a child process with a time limit (never in this
 * process's thread pool, where it could stay stuck).
 */
async function probe(mountpoint: string): Promise<'alive' | 'dead' | 'hung'> {
  try {
    await run('stat', ['-c', '%i', mountpoint], { timeout: 3000 });
    return 'alive';
  } catch (e) {
    const err = e as { killed?: boolean; signal?: string; stderr?: string };
    if (err.killed || err.signal) return 'hung';
    return 'dead';
  }
}

function firstLine(e: unknown): string {
  const text = (e as { stderr?: string }).stderr || (e instanceof Error ? e.message : String(e));
  return text.trim().split('\n')[0] ?? '';
}
