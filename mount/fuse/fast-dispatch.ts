/**
 * A leaner path from the kernel to FuseFilesystem for the operations every `ls -l`, `find`, `cp`
 * and `cat` makes thousands of: getattr/fgetattr, readdir, open, create, read, write, flush, release.
 *
 * fuse-native's own JS layer costs, per request: a bound function, two argument-array copies, a
 * setTimeout/clearTimeout pair (its per-operation timeout), a process.nextTick hop, and a fresh
 * 72-byte Uint32Array for every stat — typed arrays that size live off the V8 heap, so 2000
 * lookups make 2000 external allocations. Here each handler calls fuse-native's native "signal"
 * function directly with the answer: a stat known from the caches is answered synchronously,
 * written into ONE reused stat array (the native side copies it before the call returns), with
 * no promise; an answer that needs the Vfs replies when it settles. Timeouts are kept, but as one
 * sweep a second over the pending requests instead of a timer per request.
 *
 * It relies on fuse-native 2.2.x internals (`_handlers`, the binding's `fuse_native_signal_*` and
 * `op_*`); when they are not as expected, `installFastDispatch` changes nothing and the mount uses
 * fuse-native's ordinary path (the same operations table, just slower).
 */
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import type { Logger } from '../../src/log.js';
import type { FuseStat } from './binding.js';
import { negErrno, toNegErrno, uploadErrno } from './errno.js';
import type { FuseFilesystem } from './filesystem.js';

type Signal = (handle: unknown, code: number, ...rest: unknown[]) => void;
type Handler = (handle: unknown, op: number, ...args: any[]) => void;

interface Binding {
  [name: string]: unknown;
}

/** Per-operation timeouts in ms (`false` = none), as given to fuse-native. */
export interface DispatchTimeouts {
  /** getattr, readdir, open, create, read. */
  metadata: number | false;
  /** write, flush, release (they may wait for an upload). */
  transfer: number | false;
}

const ETIMEDOUT = negErrno('ETIMEDOUT');
const STAT_INTS = 18;
const TWO_32 = 4294967296;

/** A request waiting for the Vfs: answered once, by its work or by the timeout sweep. */
interface Pending {
  expires: number;
  /** Reply with ETIMEDOUT (and whatever the operation's reply needs besides the code). */
  timeout: () => void;
  done: boolean;
}

/** Requests in flight, oldest first per timeout length (so a sweep stops at the first live one). */
class Deadlines {
  private readonly queues = new Map<number, Set<Pending>>();
  private timer: NodeJS.Timeout | undefined;

  add(ms: number | false, timeout: () => void): Pending {
    const p: Pending = { expires: ms === false ? Infinity : Date.now() + ms, timeout, done: false };
    if (ms === false) return p;
    let q = this.queues.get(ms);
    if (!q) this.queues.set(ms, (q = new Set()));
    q.add(p);
    if (!this.timer) {
      this.timer = setInterval(() => this.sweep(), Math.min(1000, Math.max(10, ms / 4)));
      this.timer.unref();
    }
    return p;
  }

  settle(ms: number | false, p: Pending): boolean {
    if (p.done) return false;
    p.done = true;
    if (ms !== false) this.queues.get(ms)?.delete(p);
    return true;
  }

  private sweep(): void {
    const now = Date.now();
    for (const q of this.queues.values()) {
      for (const p of q) {
        if (p.expires > now) break;
        q.delete(p);
        if (!p.done) {
          p.done = true;
          p.timeout();
        }
      }
    }
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}

/** fuse-native's compiled binding (the same module instance fuse-native itself loaded). */
function loadBinding(): Binding | undefined {
  try {
    const req = createRequire(import.meta.url);
    const dir = dirname(req.resolve('fuse-native/package.json'));
    const gyp = createRequire(req.resolve('fuse-native'))('node-gyp-build') as (dir: string) => Binding;
    return gyp(dir);
  } catch {
    return undefined;
  }
}

/** Write a FuseStat into `ints` at `at` (the layout of fuse-native's getStatArray). */
function putStat(ints: Uint32Array, at: number, st: FuseStat): void {
  ints[at] = st.mode;
  ints[at + 1] = st.uid;
  ints[at + 2] = st.gid;
  putDouble(ints, at + 3, st.size);
  ints[at + 5] = 0;
  ints[at + 6] = st.nlink || 1;
  ints[at + 7] = st.ino ?? 0;
  ints[at + 8] = 0;
  ints[at + 9] = st.blksize ?? 0;
  putDouble(ints, at + 10, st.blocks ?? 0);
  putDouble(ints, at + 12, st.atime.getTime());
  putDouble(ints, at + 14, st.mtime.getTime());
  putDouble(ints, at + 16, st.ctime.getTime());
}

function putDouble(ints: Uint32Array, at: number, n: number): void {
  const low = n % TWO_32;
  ints[at] = low;
  ints[at + 1] = (n - low) / TWO_32;
}

/**
 * The stats of a listing as libfuse 2 uses them: a directory entry carries only the type bits of
 * st_mode (fuse.c fill_dir → fuse_add_direntry; the inode is FUSE_UNKNOWN_INO without use_ino, which
 * the mount does not set). So every entry of one mode shares ONE stat view (a listing of 100 000
 * files makes one or two typed arrays, not 100 000 views over a 7 MB buffer filled with times and
 * sizes nobody reads). libfuse 2's high-level readdir takes the whole listing at offset 0 into its
 * own buffer and pages the kernel's READDIR requests from it: fuse-native's filler is always
 * called with offset 0 and its JS readdir is given no offset, so the listing cannot be paged from JS.
 */
function typeStats(stats: readonly FuseStat[]): Uint32Array[] {
  const byMode = new Map<number, Uint32Array>();
  const out: Uint32Array[] = new Array(stats.length);
  for (let i = 0; i < stats.length; i++) {
    const mode = stats[i]!.mode;
    let view = byMode.get(mode);
    if (!view) {
      view = new Uint32Array(STAT_INTS);
      view[0] = mode;
      view[6] = 1; // nlink
      byMode.set(mode, view);
    }
    out[i] = view;
  }
  return out;
}

/**
 * Replace fuse-native's JS handlers of the hot operations on `fuse` (before it is mounted).
 * Returns a stop function (ends the timeout sweep), or undefined when fuse-native's internals are
 * not as expected and nothing was changed.
 */
export function installFastDispatch(fuse: object, fs: FuseFilesystem, logger: Logger, timeouts: DispatchTimeouts): (() => void) | undefined {
  const handlers = (fuse as { _handlers?: unknown })._handlers;
  const binding = loadBinding();
  const names = ['getattr', 'fgetattr', 'readdir', 'open', 'create', 'read', 'write', 'flush', 'release'] as const;
  if (!Array.isArray(handlers) || !binding) return undefined;
  const signal = {} as Record<(typeof names)[number], Signal>;
  const opcode = {} as Record<(typeof names)[number], number>;
  for (const name of names) {
    const fn = binding[`fuse_native_signal_${name}`];
    const op = binding[`op_${name}`];
    if (typeof fn !== 'function' || typeof op !== 'number' || typeof handlers[op] !== 'function') return undefined;
    signal[name] = fn as Signal;
    opcode[name] = op;
  }

  const deadlines = new Deadlines();
  const { metadata, transfer } = timeouts;
  const fail = (op: string, path: string, e: unknown, toErrno: (e: unknown) => number = toNegErrno): number => {
    const errno = toErrno(e);
    if (errno !== -2) logger.debug('fuse operation failed', { op, path, errno, error: e });
    return errno;
  };
  // The stat of a synchronous answer: the native side copies it before the signal returns.
  const oneStat = new Uint32Array(STAT_INTS);
  const replyStat = (sig: Signal, h: unknown, st: FuseStat): void => {
    putStat(oneStat, 0, st);
    sig(h, 0, oneStat);
  };
  const statOp = (name: 'getattr' | 'fgetattr'): Handler => {
    const sig = signal[name];
    return (h, _op, path: string) => {
      let known: FuseStat | null | undefined;
      try {
        known = fs.getattrNow(path);
      } catch (e) {
        sig(h, fail(name, path, e), oneStat);
        return;
      }
      if (known) return replyStat(sig, h, known);
      if (known === null) return sig(h, -2, oneStat);
      const p = deadlines.add(metadata, () => sig(h, ETIMEDOUT, oneStat));
      fs.getattr(path).then(
        (st) => deadlines.settle(metadata, p) && replyStat(sig, h, st),
        (e: unknown) => deadlines.settle(metadata, p) && sig(h, fail(name, path, e), oneStat),
      );
    };
  };

  /** An operation whose reply is a number (0, an fd or a byte count) or a negative errno. */
  const numberOp = <A extends unknown[]>(
    name: 'open' | 'create' | 'flush' | 'release',
    ms: number | false,
    work: (...args: A) => Promise<number | void>,
    toErrno?: (e: unknown) => number,
  ): Handler => {
    const sig = signal[name];
    // open/create answer (0, fd); flush/release just the code.
    const withFd = name === 'open' || name === 'create';
    return (h, _op, ...args) => {
      const path = args[0] as string;
      const p = deadlines.add(ms, () => (withFd ? sig(h, ETIMEDOUT, 0) : sig(h, ETIMEDOUT)));
      let run: Promise<number | void>;
      try {
        run = work(...(args as A));
      } catch (e) {
        run = Promise.reject(e);
      }
      run.then(
        (v) => {
          if (!deadlines.settle(ms, p)) return;
          if (withFd) sig(h, 0, v ?? 0);
          else sig(h, 0);
        },
        (e: unknown) => {
          if (!deadlines.settle(ms, p)) return;
          const code = fail(name, path, e, toErrno);
          if (withFd) sig(h, code, 0);
          else sig(h, code);
        },
      );
    };
  };

  /** read/write: the reply carries the byte count and hands the kernel's buffer back (it is detached). */
  const ioOp = (name: 'read' | 'write', ms: number | false): Handler => {
    const sig = signal[name];
    return (h, _op, path: string, fd: number, buf: Buffer, len: number, low: number, high: number) => {
      const p = deadlines.add(ms, () => sig(h, ETIMEDOUT, 0, buf.buffer));
      const offset = low + high * TWO_32;
      let run: Promise<number>;
      try {
        run = name === 'read' ? fs.read(fd, buf, len, offset) : fs.write(fd, buf, len, offset);
      } catch (e) {
        run = Promise.reject(e);
      }
      run.then(
        (n) => deadlines.settle(ms, p) && sig(h, n, 0, buf.buffer),
        (e: unknown) => deadlines.settle(ms, p) && sig(h, fail(name, path, e), 0, buf.buffer),
      );
    };
  };

  const readdir: Handler = (h, _op, path: string) => {
    const sig = signal.readdir;
    const p = deadlines.add(metadata, () => sig(h, ETIMEDOUT, [], []));
    fs.readdir(path).then(
      ({ names: entries, stats }) => {
        if (!deadlines.settle(metadata, p)) return;
        sig(h, 0, entries, typeStats(stats));
      },
      (e: unknown) => deadlines.settle(metadata, p) && sig(h, fail('readdir', path, e), [], []),
    );
  };

  handlers[opcode.getattr] = statOp('getattr');
  handlers[opcode.fgetattr] = statOp('fgetattr');
  handlers[opcode.readdir] = readdir;
  handlers[opcode.open] = numberOp('open', metadata, (path: string, flags: number) => fs.open(path, flags));
  handlers[opcode.create] = numberOp('create', metadata, (path: string) => fs.create(path));
  handlers[opcode.flush] = numberOp('flush', transfer, (_path: string, fd: number) => fs.flush(fd), uploadErrno);
  handlers[opcode.release] = numberOp('release', transfer, (_path: string, fd: number) => fs.release(fd), uploadErrno);
  handlers[opcode.read] = ioOp('read', metadata);
  handlers[opcode.write] = ioOp('write', transfer);
  return () => deadlines.stop();
}
