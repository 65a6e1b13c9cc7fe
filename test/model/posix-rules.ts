/**
 * POSIX commands for the model tests of the FUSE mount: their generator and what Linux says each
 * must do on the model's state (success, or one of the errno codes its violated preconditions
 * allow, with no change). The mount adds one promise: a write that failed (ENOSPC spool, a dead
 * provider) never replaces the file with a partial one.
 */
import fc from 'fast-check';
import type { Model } from './model.js';
import { sameOrInside } from './model.js';
import type { Content, DestRef, PathRef } from './names.js';
import { bytesOf, contentArb, destRefArb, lookalikeClash, nameArb, pathRefArb, resolveDest, resolvePath, sourceRefArb } from './names.js';

/** mtimes the generator sets (whole seconds, far from "now" so a write's own mtime never matches). */
export const MTIMES = [1_000_000_000, 1_234_567_890, 1_500_000_000] as const;

export type PosixCommand =
  | { op: 'write'; p: PathRef; append: boolean; bytes: Content }
  | { op: 'truncate'; p: PathRef; size: number }
  | { op: 'mkdir' | 'unlink' | 'rmdir' | 'rmrf'; p: PathRef }
  | { op: 'rename'; p: PathRef; dest: DestRef }
  | { op: 'copy'; p: PathRef; dest: PathRef }
  /** utimes (both times), or `touch -m` (mtime only: atime UTIME_OMIT). */
  | { op: 'utimes'; p: PathRef; mtime: number; atime: number; mtimeOnly: boolean }
  | { op: 'fault'; kind: 500 | 503 | 429; times: number }
  /** A write larger than the spool can hold (only where the spool is a small tmpfs). */
  | { op: 'bigWrite'; p: PathRef; size: number }
  /** A writer killed (SIGKILL) after writing half of `size` bytes. */
  | { op: 'killWriter'; p: PathRef; size: number };

export interface PosixGenOptions {
  faults: boolean;
  kills: boolean;
  /** Spool capacity in bytes when it is a small tmpfs (enables bigWrite). */
  spoolBytes?: number;
}

export function posixCommandArb(opts: PosixGenOptions): fc.Arbitrary<PosixCommand> {
  const arbs: Array<fc.WeightedArbitrary<PosixCommand>> = [
    { weight: 5, arbitrary: fc.record({ op: fc.constant('write' as const), p: pathRefArb, append: fc.boolean(), bytes: contentArb }) },
    { weight: 2, arbitrary: fc.record({ op: fc.constant('truncate' as const), p: pathRefArb, size: fc.nat(30) }) },
    { weight: 3, arbitrary: fc.record({ op: fc.constantFrom('mkdir' as const, 'mkdir' as const, 'unlink' as const, 'rmdir' as const, 'rmrf' as const), p: pathRefArb }) },
    { weight: 4, arbitrary: fc.record({ op: fc.constant('rename' as const), p: sourceRefArb, dest: destRefArb }) },
    { weight: 2, arbitrary: fc.record({ op: fc.constant('copy' as const), p: sourceRefArb, dest: pathRefArb }) },
    { weight: 2, arbitrary: fc.record({ op: fc.constant('utimes' as const), p: sourceRefArb, mtime: fc.constantFrom(...MTIMES), atime: fc.constantFrom(...MTIMES), mtimeOnly: fc.boolean() }) },
  ];
  if (opts.faults) arbs.push({ weight: 1, arbitrary: fc.record({ op: fc.constant('fault' as const), kind: fc.constantFrom(500 as const, 503 as const, 429 as const), times: fc.constantFrom(1, 2, 8) }) });
  if (opts.kills) arbs.push({ weight: 1, arbitrary: fc.record({ op: fc.constant('killWriter' as const), p: sourceRefArb, size: fc.integer({ min: 2, max: 400_000 }) }) });
  if (opts.spoolBytes) {
    const s = opts.spoolBytes;
    arbs.push({ weight: 2, arbitrary: fc.record({ op: fc.constant('bigWrite' as const), p: sourceRefArb, size: fc.integer({ min: s + 1, max: 3 * s }) }) });
  }
  return fc.oneof(...arbs);
}

export function posixSequenceArb(opts: PosixGenOptions, maxCommands: number): fc.Arbitrary<PosixCommand[]> {
  const build = fc.oneof(
    fc.record({ op: fc.constant('mkdir' as const), p: fc.record({ kind: fc.constant('child' as const), idx: fc.constantFrom(0, 0, 1), name: nameArb }) }),
    fc.record({ op: fc.constant('write' as const), p: fc.record({ kind: fc.constant('child' as const), idx: fc.constantFrom(0, 1), name: nameArb }), append: fc.constant(false), bytes: contentArb }),
  );
  return fc
    .tuple(fc.array(build, { minLength: 0, maxLength: 5 }), fc.array(posixCommandArb(opts), { minLength: 1, maxLength: maxCommands, size: 'max' }))
    .map(([prelude, rest]) => [...prelude, ...rest]);
}

/** The errno a lookup of `path`'s parent chain meets: a missing or non-directory ancestor. */
function parentError(model: Model, path: string): string | undefined {
  const segs = path.split('/').filter(Boolean);
  let p = '';
  for (let i = 0; i < segs.length - 1; i++) {
    p += '/' + segs[i];
    const n = model.get(p);
    if (!n) return 'ENOENT';
    if (n.type !== 'dir') return 'ENOTDIR';
  }
  return undefined;
}

export interface PosixPrediction {
  label: string;
  /** Errno codes allowed when the command must fail; empty = it must succeed. */
  errors: string[];
  /** Errno codes of an allowed refusal (no change) although success is fine too. */
  mayRefuse?: string[];
  /** Changes the model on success. */
  apply: () => void;
  /** The child-process request. */
  request: { op: string; args: Record<string, unknown> };
}

export interface PosixRuleOptions {
  /** The provider stores mtimes (Vfs `preservesMtime`); otherwise utimes may be refused and is not checked. */
  mtimes: boolean;
  /** Names differing only by look-alikes may be refused with EEXIST (issue 16 item 3). */
  lookalikeRefusal?: boolean;
}

/** Predict one command (not fault/kill) on the model; `real` maps a model path to the mountpoint. */
export function predictPosix(model: Model, cmd: Exclude<PosixCommand, { op: 'fault' | 'killWriter' }>, real: (p: string) => string, opts: PosixRuleOptions = { mtimes: true }): PosixPrediction {
  const pred = predictPosixRaw(model, cmd, real, opts);
  if (opts.lookalikeRefusal && pred.errors.length === 0 && cmd.op !== 'utimes' && cmd.op !== 'truncate') {
    const created = cmd.op === 'rename' ? resolveDest(model, cmd.dest, resolvePath(model, cmd.p)) : cmd.op === 'copy' ? resolvePath(model, cmd.dest) : resolvePath(model, cmd.p);
    if (!model.get(created) && lookalikeClash(model, created)) pred.mayRefuse = ['EEXIST'];
  }
  if (cmd.op === 'utimes' && !opts.mtimes) {
    pred.mayRefuse = ['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS'];
    pred.apply = () => undefined;
  }
  return pred;
}

function predictPosixRaw(model: Model, cmd: Exclude<PosixCommand, { op: 'fault' | 'killWriter' }>, real: (p: string) => string, _opts: PosixRuleOptions): PosixPrediction {
  const path = resolvePath(model, cmd.p);
  const node = model.get(path);
  const pErr = parentError(model, path);
  const errors: string[] = [];
  const mustExist = () => {
    if (pErr) errors.push(pErr);
    else if (!node) errors.push('ENOENT');
  };
  switch (cmd.op) {
    case 'write':
    case 'bigWrite': {
      const old = node?.type === 'file' ? node.data : Buffer.alloc(0);
      const bytes = cmd.op === 'bigWrite' ? Buffer.alloc(cmd.size, 0x42) : bytesOf(cmd.bytes);
      const append = cmd.op === 'write' && cmd.append;
      const data = append ? Buffer.concat([old, bytes]) : bytes;
      if (pErr) errors.push(pErr);
      else if (node?.type === 'dir') errors.push('EISDIR');
      const args = cmd.op === 'bigWrite' ? { path: real(path), size: cmd.size, fill: 0x42 } : { path: real(path), append, b64: bytes.toString('base64') };
      return {
        label: `${cmd.op === 'bigWrite' ? 'big ' : ''}${append ? 'append' : 'write'} ${JSON.stringify(path)} (${bytes.length} bytes)`,
        errors,
        apply: () => model.setFile(path, data),
        request: { op: 'write', args },
      };
    }
    case 'truncate': {
      mustExist();
      if (node?.type === 'dir') errors.push('EISDIR');
      return {
        label: `truncate ${JSON.stringify(path)} to ${cmd.size}`,
        errors,
        apply: () => {
          const old = (node as { data: Buffer }).data;
          model.setFile(path, cmd.size <= old.length ? old.subarray(0, cmd.size) : Buffer.concat([old, Buffer.alloc(cmd.size - old.length)]));
        },
        request: { op: 'truncate', args: { path: real(path), size: cmd.size } },
      };
    }
    case 'mkdir':
      if (pErr) errors.push(pErr);
      else if (node) errors.push('EEXIST');
      return { label: `mkdir ${JSON.stringify(path)}`, errors, apply: () => model.nodes.set(path, { type: 'dir' }), request: { op: 'mkdir', args: { path: real(path) } } };
    case 'unlink':
      mustExist();
      if (node?.type === 'dir') errors.push('EISDIR', 'EPERM');
      return { label: `unlink ${JSON.stringify(path)}`, errors, apply: () => model.removeTree(path), request: { op: 'unlink', args: { path: real(path) } } };
    case 'rmdir':
      mustExist();
      if (node?.type === 'file') errors.push('ENOTDIR');
      else if (node && model.hasChildren(path)) errors.push('ENOTEMPTY', 'EEXIST');
      return { label: `rmdir ${JSON.stringify(path)}`, errors, apply: () => model.removeTree(path), request: { op: 'rmdir', args: { path: real(path) } } };
    case 'rmrf':
      mustExist();
      return { label: `rm -r ${JSON.stringify(path)}`, errors, apply: () => model.removeTree(path), request: { op: 'rmrf', args: { path: real(path) } } };
    case 'utimes':
      mustExist();
      return {
        label: cmd.mtimeOnly ? `touch -m ${JSON.stringify(path)} mtime=${cmd.mtime}` : `utimes ${JSON.stringify(path)} mtime=${cmd.mtime} atime=${cmd.atime}`,
        errors,
        apply: () => {
          const n = model.get(path);
          if (n?.type === 'file') n.mtime = cmd.mtime;
        },
        request: cmd.mtimeOnly ? { op: 'touchM', args: { path: real(path), mtime: cmd.mtime } } : { op: 'utimes', args: { path: real(path), atime: cmd.atime, mtime: cmd.mtime } },
      };
    case 'copy': {
      const dest = resolvePath(model, cmd.dest);
      const destNode = model.get(dest);
      const dErr = parentError(model, dest);
      mustExist();
      if (node?.type === 'dir') errors.push('EISDIR', 'ENOTSUP', 'EINVAL');
      if (dErr) errors.push(dErr);
      else if (destNode?.type === 'dir') errors.push('EISDIR');
      return {
        label: `copy ${JSON.stringify(path)} → ${JSON.stringify(dest)}`,
        errors,
        apply: () => model.setFile(dest, Buffer.from((node as { data: Buffer }).data)),
        request: { op: 'copy', args: { from: real(path), to: real(dest) } },
      };
    }
    case 'rename': {
      const dest = resolveDest(model, cmd.dest, path);
      const destNode = model.get(dest);
      const dErr = parentError(model, dest);
      mustExist();
      if (dErr) errors.push(dErr);
      if (node && dest !== path) {
        if (sameOrInside(path, dest)) errors.push('EINVAL');
        // Onto an ancestor: the target is a non-empty directory (Linux: ENOTEMPTY; the run root: EBUSY).
        else if (sameOrInside(dest, path)) errors.push('ENOTEMPTY', 'EEXIST', 'EBUSY', 'EINVAL');
        else if (destNode?.type === 'file' && node.type === 'dir') errors.push('ENOTDIR');
        else if (destNode?.type === 'dir' && node.type === 'file') errors.push('EISDIR');
        else if (destNode?.type === 'dir' && model.hasChildren(dest)) errors.push('ENOTEMPTY', 'EEXIST');
      }
      return {
        label: `rename ${JSON.stringify(path)} → ${JSON.stringify(dest)}`,
        errors,
        apply: () => {
          if (dest !== path) model.transfer(path, dest, 'move');
        },
        request: { op: 'rename', args: { from: real(path), to: dest === '/' ? real('/') : real(dest) } },
      };
    }
  }
}

/**
 * Commands whose outcome Linux itself leaves to the filesystem, so they are not sent: copyFile onto
 * itself, and copyFile of a directory (libuv copies st_size bytes: EISDIR on ext4's 4096-byte
 * directories, an empty file where directories report size 0, as on this mount and many others).
 */
export function notModelled(model: Model, cmd: PosixCommand): boolean {
  // An mtime-only change (atime UTIME_OMIT: `touch -m`, tar's file times) never reaches a libfuse 2
  // filesystem: libfuse drops it unless flag_utime_omit_ok is set, which fuse-native 2.2.6 does not
  // do. A known limit (README, "Mount"), pinned by test/fuse/mtime.test.ts's canary and by the
  // it.fails regression in regressions.test.ts, so it is not generated here.
  if (cmd.op === 'utimes' && cmd.mtimeOnly) return true;
  if (cmd.op !== 'copy') return false;
  const from = resolvePath(model, cmd.p);
  return from === resolvePath(model, cmd.dest) || model.isDir(from);
}

