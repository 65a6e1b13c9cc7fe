/**
 * A fix for fuse-native 2.2.6's utimens bridge. Its C side (fuse-native.c, FUSE_METHOD_VOID(utimens))
 * stores both times in its per-thread struct, `l->atime = tv[0]` and `l->mtime = tv[1]`, but then
 * builds the JS arguments from `l->atime` TWICE (`FUSE_UINT64_TO_INTS_ARGV(l->atime, 3)` and
 * `(l->atime, 5)`), so index.js's `_op_utimens` hands us the access time as the modification time:
 * `cp -p` and `tar x` stored access times as mtimes.
 *
 * The true mtime is still in that struct, and the handle fuse-native passes to every JS handler IS
 * that struct (a Buffer index.js allocated with `_malloc(sizeof(fuse_thread_locals_t))`). On 64-bit
 * Linux its `size_t atime` sits at byte 104 and `size_t mtime` at 112. We wrap fuse-native's utimens
 * handler and read the mtime from there, but only after checking the layout: the value at 104 must
 * equal the atime argument. When it does not (another fuse-native, a 32-bit build), the arguments
 * are used as given, which is also right for a fuse-native that fixed its bridge.
 */
import { createRequire } from 'node:module';
import { dirname } from 'node:path';

const ATIME_AT = 104;
const MTIME_AT = 112;
const TWO_32 = 4294967296;

/**
 * What the last utimens call showed about fuse-native's bridge: 'swapped' (the 2.2.6 bug: atime in
 * the mtime argument), 'faithful' (a fixed bridge), 'unreadable' (the struct is not laid out as
 * expected; arguments used as given), 'unknown' (no call yet).
 */
export type UtimensBridge = 'swapped' | 'faithful' | 'unreadable' | 'unknown';

let observed: UtimensBridge = 'unknown';

/** What the most recent utimens call showed about fuse-native's bridge (for tests and diagnostics). */
export function utimensBridgeObserved(): UtimensBridge {
  return observed;
}

/** The mtime (ms) libfuse gave, from fuse-native's per-thread struct when its layout checks out. */
export function trueUtimensMtime(handle: unknown, atimeArg: number, mtimeArg: number): { mtime: number; bridge: UtimensBridge } {
  if (Buffer.isBuffer(handle) && handle.length >= MTIME_AT + 8) {
    // Signed: a time before 1970 is a negative count of ms in the unsigned field.
    const atime = Number(handle.readBigInt64LE(ATIME_AT));
    if (atime === atimeArg) {
      const mtime = Number(handle.readBigInt64LE(MTIME_AT));
      return { mtime, bridge: mtime === mtimeArg ? 'faithful' : 'swapped' };
    }
  }
  return { mtime: mtimeArg, bridge: 'unreadable' };
}

/** fuse-native's two 32-bit halves of a 64-bit count of ms, read as signed (times before 1970 are negative). */
function signed(low: number, high: number): number {
  return Number(BigInt.asIntN(64, (BigInt(high >>> 0) << 32n) | BigInt(low >>> 0)));
}

type Handler = (handle: unknown, op: number, ...args: unknown[]) => unknown;

function utimensOpcode(): number | undefined {
  try {
    const req = createRequire(import.meta.url);
    const dir = dirname(req.resolve('fuse-native/package.json'));
    const gyp = createRequire(req.resolve('fuse-native'))('node-gyp-build') as (dir: string) => Record<string, unknown>;
    const op = gyp(dir).op_utimens;
    return typeof op === 'number' ? op : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Wrap fuse-native's utimens handler on `fuse` (before mounting) so the operations table receives the
 * true mtime. Returns false when fuse-native's internals are not as expected (nothing changed).
 */
export function installUtimensFix(fuse: object): boolean {
  const handlers = (fuse as { _handlers?: unknown })._handlers;
  if (!Array.isArray(handlers)) return false;
  const op = utimensOpcode();
  if (op === undefined || typeof handlers[op] !== 'function') return false;
  const original = handlers[op] as Handler;
  // fuse-native calls handler(handle, op, path, atimeLow, atimeHigh, mtimeLow, mtimeHigh).
  handlers[op] = (handle: unknown, opCode: number, ...args: unknown[]) => {
    const [path, aLow, aHigh, mLow, mHigh] = args as [string, number, number, number, number];
    const { mtime, bridge } = trueUtimensMtime(handle, signed(aLow, aHigh), signed(mLow, mHigh));
    observed = bridge;
    const low = mtime % TWO_32;
    return original(handle, opCode, path, aLow, aHigh, low, (mtime - low) / TWO_32);
  };
  return true;
}
