/**
 * Keep /dev/fuse out of child processes. libfuse 2 opens the FUSE device without O_CLOEXEC (and
 * receives it from fusermount without MSG_CMSG_CLOEXEC), and libuv's spawn closes nothing it was not
 * told about, so every child of a program that mounts inherited the descriptor: a long-lived child
 * then kept the FUSE connection (a dead mount) alive after unmount. Node has no fcntl, so this calls
 * libc's through koffi (an FFI with prebuilt binaries), for every descriptor of this process that
 * points at /dev/fuse (found in /proc/self/fd). Linux only; elsewhere, or without koffi, it does
 * nothing and says why.
 */
import { readdirSync, readlinkSync } from 'node:fs';
import { createRequire } from 'node:module';

const F_GETFD = 1;
const F_SETFD = 2;
const FD_CLOEXEC = 1;

type Fcntl = (fd: number, cmd: number, ...rest: unknown[]) => number;
let fcntl: Fcntl | null | undefined;
let unavailable = '';

function loadFcntl(): Fcntl | null {
  if (fcntl !== undefined) return fcntl;
  try {
    const koffi = createRequire(import.meta.url)('koffi') as {
      load(name: string): { func(signature: string): Fcntl };
    };
    fcntl = koffi.load('libc.so.6').func('int fcntl(int fd, int cmd, ...)');
  } catch (e) {
    unavailable = e instanceof Error ? e.message.split('\n')[0]! : String(e);
    fcntl = null;
  }
  return fcntl;
}

/** Descriptors of this process that are /dev/fuse. */
export function fuseDescriptors(): number[] {
  const out: number[] = [];
  let names: string[];
  try {
    names = readdirSync('/proc/self/fd');
  } catch {
    return out;
  }
  for (const name of names) {
    try {
      if (readlinkSync(`/proc/self/fd/${name}`) === '/dev/fuse') out.push(Number(name));
    } catch {
      // closed meanwhile (the directory's own descriptor is one of those)
    }
  }
  return out;
}

/**
 * Mark every /dev/fuse descriptor of this process close-on-exec. Resolves to how many are marked
 * now, or throws an Error saying why it cannot (no /proc, no koffi, fcntl failed).
 */
export function closeFuseOnExec(): number {
  if (process.platform !== 'linux') throw new Error('close-on-exec of /dev/fuse is only done on Linux');
  const fn = loadFcntl();
  if (!fn) throw new Error(`cannot call fcntl (koffi: ${unavailable})`);
  let marked = 0;
  for (const fd of fuseDescriptors()) {
    const flags = fn(fd, F_GETFD, 'int', 0);
    if (flags < 0) continue; // closed meanwhile
    if (!(flags & FD_CLOEXEC) && fn(fd, F_SETFD, 'int', flags | FD_CLOEXEC) < 0) throw new Error(`fcntl(${fd}, F_SETFD) failed`);
    marked++;
  }
  return marked;
}
