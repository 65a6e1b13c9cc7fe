/**
 * Notices when a mount disappears without us: `fusermount -u <dir>`, `umount`, or the kernel
 * aborting the connection. fuse-native tells JS nothing when its FUSE loop ends, so this reads
 * /proc/self/mountinfo once a second (a few KiB, on an unref'd timer that never keeps the process
 * alive) and calls `onGone` once when the mountpoint is no longer listed.
 */
import { readFile } from 'node:fs/promises';

/** How often the mount table is read, in ms. */
export const MOUNT_WATCH_INTERVAL_MS = 1000;

/** mountinfo escapes space, tab, newline and backslash in paths as octal (\040…). */
export function mountinfoPath(path: string): string {
  return path.replace(/[ \t\n\\]/g, (c) => `\\${c.charCodeAt(0).toString(8).padStart(3, '0')}`);
}

/** Whether `mountpoint` (absolute) is in this process's mount table; undefined when it cannot be read. */
export async function isMounted(mountpoint: string): Promise<boolean | undefined> {
  let table: string;
  try {
    table = await readFile('/proc/self/mountinfo', 'utf8');
  } catch {
    return undefined;
  }
  const want = mountinfoPath(mountpoint);
  for (const line of table.split('\n')) {
    // Field 5 is the mount point: split on the first five spaces only.
    let at = 0;
    for (let i = 0; i < 4 && at >= 0; i++) at = line.indexOf(' ', at) + 1 || -1;
    if (at < 0) continue;
    const end = line.indexOf(' ', at);
    if ((end < 0 ? line.slice(at) : line.slice(at, end)) === want) return true;
  }
  return false;
}

/**
 * Start watching; returns the stop function. `mountpoint` must be spelled as the mount table spells
 * it (resolved through symlinks before mounting, see `mountFuse`), or the mount would look gone.
 */
export function watchMount(mountpoint: string, onGone: () => void, intervalMs = MOUNT_WATCH_INTERVAL_MS): () => void {
  let stopped = false;
  let busy = false;
  const timer = setInterval(() => {
    if (busy || stopped) return;
    busy = true;
    isMounted(mountpoint).then((mounted) => {
      busy = false;
      if (mounted === false && !stopped) {
        stop();
        onGone();
      }
    }, () => {
      busy = false;
    });
  }, intervalMs);
  timer.unref();
  const stop = () => {
    stopped = true;
    clearInterval(timer);
  };
  return stop;
}
