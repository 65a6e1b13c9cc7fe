/**
 * One process per disk cache folder: a `lock` file holding the owner's pid, created with O_EXCL.
 * A second process (or a second CachedVfs in this one) is refused with one line naming the owner;
 * a lock left by a process that is gone (kill -9, a crash, a reboot) is taken over. Sharing one
 * folder between processes would need every index change and eviction to be coordinated across
 * them; refusing is simple and cannot corrupt anything. (A pid reused by an unrelated process
 * after a reboot makes the lock look held: the message says which file to remove.)
 */
import { closeSync, mkdirSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { VfsError } from '../errors.js';

/** Folders locked by this process (a second CachedVfs here must be refused too: same pid). */
const heldHere = new Set<string>();

/** Take the lock of `dir` (created if missing) or throw EBUSY; returns the function that releases it. */
export function lockCacheDir(dir: string): () => void {
  const folder = resolve(dir);
  mkdirSync(folder, { recursive: true, mode: 0o700 });
  const file = join(folder, 'lock');
  if (heldHere.has(folder)) throw busy(folder, file, process.pid);
  for (let attempt = 0; ; attempt++) {
    try {
      const fd = openSync(file, 'wx', 0o600);
      try {
        writeSync(fd, `${process.pid}\n`);
      } catch (w) {
        // A full disk: no lock left behind without a pid in it.
        closeSync(fd);
        unlinkSync(file);
        throw w;
      }
      closeSync(fd);
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 2) throw e;
      const owner = ownerOf(file);
      if (owner !== undefined && alive(owner)) throw busy(folder, file, owner);
      // Gone (or a lock torn before its pid was written): take it over.
      try {
        unlinkSync(file);
      } catch (u) {
        if ((u as NodeJS.ErrnoException).code !== 'ENOENT') throw u;
      }
    }
  }
  heldHere.add(folder);
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    heldHere.delete(folder);
    process.removeListener('exit', release);
    try {
      if (ownerOf(file) === process.pid) unlinkSync(file);
    } catch {
      // already gone
    }
  };
  // A clean exit without close() (a frontend that does not own the cache) leaves no lock behind.
  process.once('exit', release);
  return release;
}

function ownerOf(file: string): number | undefined {
  try {
    const pid = Number.parseInt(readFileSync(file, 'utf8').trim(), 10);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function alive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function busy(folder: string, file: string, pid: number): VfsError {
  return new VfsError('EBUSY',
    `cache dir ${folder} is in use by process ${pid} (one process per cache dir): give this one its own --cache-dir, or remove ${file} if that process is not cloudmount`,
    { provider: 'cache', operation: 'open', path: folder });
}
