/**
 * Timing of FUSE operations for metrics: wraps the async methods of a FuseFilesystem instance so
 * both dispatch paths (fuse-native's and the fast one) are measured, without touching either.
 * The callback gets the operation name, an outcome ("ok" or an errno code name) and seconds:
 * never a path.
 */
import { toVfsError } from '../src/errors.js';

/** Called once per finished FUSE operation. */
export type FuseOperationObserver = (op: string, outcome: string, seconds: number) => void;

/** The FuseFilesystem methods the kernel's requests end in (getattrNow is the synchronous cache probe, not timed). */
const OPERATIONS = [
  'getattr', 'readdir', 'statfs', 'access', 'open', 'create', 'read', 'write', 'ftruncate', 'flush', 'release',
  'truncate', 'utimens', 'mkdir', 'rmdir', 'unlink', 'rename', 'setOwnerOrMode',
] as const;

/** Wrap `fs`'s operation methods in place; returns `fs`. */
export function observeFuseOperations<T extends object>(fs: T, observe: FuseOperationObserver): T {
  const target = fs as Record<string, unknown>;
  for (const op of OPERATIONS) {
    const original = target[op];
    if (typeof original !== 'function') continue;
    const name = op === 'setOwnerOrMode' ? 'chmod' : op;
    target[op] = function (this: unknown, ...args: unknown[]) {
      const started = performance.now();
      const result = (original as (...a: unknown[]) => Promise<unknown>).apply(fs, args);
      result.then(
        () => observe(name, 'ok', (performance.now() - started) / 1000),
        (e: unknown) => observe(name, toVfsError(e).code, (performance.now() - started) / 1000),
      );
      return result;
    };
  }
  return fs;
}
