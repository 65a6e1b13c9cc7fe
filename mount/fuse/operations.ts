/**
 * The fuse-native operations table: callback-style wrappers around FuseFilesystem. Each callback gets
 * 0 (or a byte count) on success and a NEGATIVE errno from `os.constants.errno` on failure.
 */
import type { Logger } from '../../src/log.js';
import type { FuseCallback, FuseOperations } from './binding.js';
import { toNegErrno, uploadErrno } from './errno.js';
import type { FuseFilesystem } from './filesystem.js';

/** Build the operations object fuse-native calls. */
export function fuseOperations(fs: FuseFilesystem, logger: Logger): FuseOperations {
  const fail = (op: string, path: string, e: unknown, toErrno: (e: unknown) => number = toNegErrno): number => {
    const errno = toErrno(e);
    // ENOENT is the answer to most lookups: not worth a log line.
    if (errno !== -2) logger.debug('fuse operation failed', { op, path, errno, error: e });
    return errno;
  };
  const done = (op: string, path: string, cb: FuseCallback, work: Promise<unknown>, toErrno?: (e: unknown) => number) => {
    work.then(() => cb(0), (e: unknown) => cb(fail(op, path, e, toErrno)));
  };
  const value = <T>(op: string, path: string, cb: FuseCallback, work: Promise<T>) => {
    work.then((v) => cb(0, v), (e: unknown) => cb(fail(op, path, e)));
  };
  const count = (op: string, path: string, cb: FuseCallback, work: Promise<number>) => {
    work.then((n) => cb(n), (e: unknown) => cb(fail(op, path, e)));
  };

  return {
    init: (cb: FuseCallback) => cb(0),
    getattr: (path: string, cb: FuseCallback) => value('getattr', path, cb, fs.getattr(path)),
    // fuse-native routes fgetattr to getattr(path); an open file's unsent size is found by path.
    fgetattr: (path: string, _fd: number, cb: FuseCallback) => value('fgetattr', path, cb, fs.getattr(path)),
    readdir: (path: string, cb: FuseCallback) => {
      fs.readdir(path).then(({ names, stats }) => cb(0, names, stats), (e: unknown) => cb(fail('readdir', path, e)));
    },
    statfs: (path: string, cb: FuseCallback) => value('statfs', path, cb, fs.statfs()),
    access: (path: string, mode: number, cb: FuseCallback) => done('access', path, cb, fs.access(path, mode)),
    open: (path: string, flags: number, cb: FuseCallback) => value('open', path, cb, fs.open(path, flags)),
    create: (path: string, _mode: number, cb: FuseCallback) => value('create', path, cb, fs.create(path)),
    read: (path: string, fd: number, buf: Buffer, len: number, pos: number, cb: FuseCallback) =>
      count('read', path, cb, fs.read(fd, buf, len, pos)),
    write: (path: string, fd: number, buf: Buffer, len: number, pos: number, cb: FuseCallback) =>
      count('write', path, cb, fs.write(fd, buf, len, pos)),
    truncate: (path: string, size: number, cb: FuseCallback) => done('truncate', path, cb, fs.truncate(path, size), uploadErrno),
    ftruncate: (path: string, fd: number, size: number, cb: FuseCallback) => done('ftruncate', path, cb, fs.ftruncate(fd, size)),
    flush: (path: string, fd: number, cb: FuseCallback) => done('flush', path, cb, fs.flush(fd), uploadErrno),
    fsync: (path: string, _datasync: number, fd: number, cb: FuseCallback) => done('fsync', path, cb, fs.flush(fd), uploadErrno),
    release: (path: string, fd: number, cb: FuseCallback) => done('release', path, cb, fs.release(fd), uploadErrno),
    utimens: (path: string, _atime: number, mtime: number, cb: FuseCallback) => done('utimens', path, cb, fs.utimens(path, mtime)),
    chmod: (path: string, _mode: number, cb: FuseCallback) => done('chmod', path, cb, fs.setOwnerOrMode(path, 'chmod')),
    chown: (path: string, _uid: number, _gid: number, cb: FuseCallback) => done('chown', path, cb, fs.setOwnerOrMode(path, 'chown')),
    unlink: (path: string, cb: FuseCallback) => done('unlink', path, cb, fs.unlink(path)),
    mkdir: (path: string, _mode: number, cb: FuseCallback) => done('mkdir', path, cb, fs.mkdir(path)),
    rmdir: (path: string, cb: FuseCallback) => done('rmdir', path, cb, fs.rmdir(path)),
    rename: (src: string, dest: string, cb: FuseCallback) => done('rename', src, cb, fs.rename(src, dest), uploadErrno),
  };
}
