/**
 * LocalVfs: a directory of the local filesystem behind the Vfs contract. The CLI uses it so that
 * `cp` between local paths and remotes is one Vfs-to-Vfs copy; it also passes the contract suite.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { cp, lstat, mkdir, open, readdir, rename, rm, rmdir, stat, statfs, unlink, utimes } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { VfsError, throwIfAborted, toVfsError } from '../../src/errors.js';
import { baseName, joinPath, moveConflict, normalizePath, parentPath } from '../../src/path.js';
import { readableFrom, iterateBytes } from '../../src/streams.js';
import type {
  Entry, MoveOptions, OpOptions, ReadOptions, RemoveOptions, SpaceInfo, Vfs, VfsCapabilities, WriteData, WriteOptions,
} from '../../src/vfs.js';

export interface LocalVfsOptions {
  /** The local directory that is "/" of this Vfs (default: the filesystem root). */
  root?: string;
}

export class LocalVfs implements Vfs {
  readonly name = 'local';
  readonly capabilities: VfsCapabilities = {
    rangedReads: true,
    serverSideCopy: true,
    serverSideMove: true,
    caseSensitive: true,
    preservesMtime: true,
    mtimeResolutionMs: 1,
    needsSizeForWrite: false,
    quota: true,
    readOnly: false,
  };
  private readonly root: string;

  constructor(options: LocalVfsOptions = {}) {
    this.root = options.root ?? '/';
  }

  private real(p: string): string {
    return p === '/' ? this.root : join(this.root, p);
  }

  async stat(path: string, options: OpOptions = {}): Promise<Entry> {
    const p = normalizePath(path);
    throwIfAborted(options.signal, { path: p });
    return this.wrap('stat', p, async () => toEntry(p, await stat(this.real(p))));
  }

  async list(dir: string, options: OpOptions = {}): Promise<Entry[]> {
    const p = normalizePath(dir);
    throwIfAborted(options.signal, { path: p });
    return this.wrap('list', p, async () => {
      const names = await readdir(this.real(p));
      const entries: Entry[] = [];
      for (const name of names) {
        const child = joinPath(p, name);
        try {
          entries.push(toEntry(child, await stat(this.real(child))));
        } catch {
          // Vanished between readdir and stat, or a dangling symlink: not listable.
        }
      }
      return entries;
    });
  }

  async read(path: string, options: ReadOptions = {}): Promise<Readable> {
    const p = normalizePath(path);
    throwIfAborted(options.signal, { path: p });
    const { offset = 0, length } = options;
    return this.wrap('read', p, async () => {
      const handle = await open(this.real(p), 'r');
      const info = await handle.stat();
      if (info.isDirectory()) {
        await handle.close();
        throw new VfsError('EISDIR', `read ${JSON.stringify(p)}: is a directory`, { path: p });
      }
      const end = length === undefined ? Infinity : offset + length - 1;
      if (length === 0 || offset >= info.size) {
        await handle.close();
        return readableFrom([]);
      }
      return createReadStream('', { fd: handle, start: offset, end, signal: options.signal } as Parameters<typeof createReadStream>[1]);
    });
  }

  /** Set an mtime in place (the access time is kept). */
  async setMtime(path: string, mtime: Date, options: OpOptions = {}): Promise<Entry> {
    const p = normalizePath(path);
    throwIfAborted(options.signal, { path: p });
    return this.wrap('setMtime', p, async () => {
      const real = this.real(p);
      await utimes(real, (await stat(real)).atime, mtime);
      return toEntry(p, await stat(real));
    });
  }

  async write(path: string, data: WriteData, options: WriteOptions = {}): Promise<Entry> {
    const p = normalizePath(path);
    throwIfAborted(options.signal, { path: p });
    if (p === '/') throw new VfsError('EISDIR', 'write "/": is a directory', { path: p });
    const target = this.real(p);
    return this.wrap('write', p, async () => {
      const parent = await stat(this.real(parentPath(p)));
      if (!parent.isDirectory()) throw new VfsError('ENOTDIR', `write ${JSON.stringify(p)}: parent is not a directory`, { path: p });
      const existing = await stat(target).catch(() => undefined);
      if (existing?.isDirectory()) throw new VfsError('EISDIR', `write ${JSON.stringify(p)}: is a directory`, { path: p });
      if (existing && options.overwrite === false) throw new VfsError('EEXIST', `write ${JSON.stringify(p)}: already exists`, { path: p });
      // Write beside the target and rename over it: a failed write never replaces a good file.
      const temp = join(this.real(parentPath(p)), `.${baseName(p).slice(0, 200)}.cloudmount-${randomBytes(4).toString('hex')}.part`);
      try {
        await pipeline(readableFrom(iterateBytes(data)), createWriteStream(temp, { flags: 'wx' }), { signal: options.signal });
        if (options.mtime) await utimes(temp, options.mtime, options.mtime);
        if (options.overwrite === false && (await stat(target).catch(() => undefined))) {
          throw new VfsError('EEXIST', `write ${JSON.stringify(p)}: already exists`, { path: p });
        }
        await rename(temp, target);
      } catch (e) {
        await unlink(temp).catch(() => undefined);
        throw e;
      }
      return toEntry(p, await stat(target));
    });
  }

  async mkdir(path: string, options: OpOptions = {}): Promise<Entry> {
    const p = normalizePath(path);
    throwIfAborted(options.signal, { path: p });
    return this.wrap('mkdir', p, async () => {
      await mkdir(this.real(p));
      return toEntry(p, await stat(this.real(p)));
    });
  }

  async remove(path: string, options: RemoveOptions = {}): Promise<void> {
    const p = normalizePath(path);
    throwIfAborted(options.signal, { path: p });
    if (p === '/') throw new VfsError('EBUSY', 'remove "/": cannot remove the root', { path: p });
    await this.wrap('remove', p, async () => {
      const info = await lstat(this.real(p));
      if (!info.isDirectory()) await unlink(this.real(p));
      else if (options.recursive) await rm(this.real(p), { recursive: true });
      else await rmdir(this.real(p));
    });
  }

  async rename(from: string, to: string, options: MoveOptions = {}): Promise<Entry> {
    const [src, dst] = [normalizePath(from), normalizePath(to)];
    throwIfAborted(options.signal, { path: src });
    return this.wrap('rename', src, async () => {
      await this.checkMove(src, dst, options);
      if (src !== dst) await rename(this.real(src), this.real(dst));
      return toEntry(dst, await stat(this.real(dst)));
    });
  }

  async copy(from: string, to: string, options: MoveOptions = {}): Promise<Entry> {
    const [src, dst] = [normalizePath(from), normalizePath(to)];
    throwIfAborted(options.signal, { path: src });
    if (src === dst) throw new VfsError('EINVAL', 'copy: source and destination are the same', { path: src });
    return this.wrap('copy', src, async () => {
      const replaced = await this.checkMove(src, dst, options);
      if (replaced?.isDirectory()) await rmdir(this.real(dst));
      await cp(this.real(src), this.real(dst), { recursive: true, force: true, errorOnExist: false, preserveTimestamps: true });
      return toEntry(dst, await stat(this.real(dst)));
    });
  }

  async space(options: OpOptions = {}): Promise<SpaceInfo> {
    throwIfAborted(options.signal);
    const s = await statfs(this.root);
    const total = s.blocks * s.bsize;
    const free = s.bavail * s.bsize;
    return { used: total - s.bfree * s.bsize, total, free };
  }

  /** The checks rename(2) and cp do not make the way the contract wants. Returns the replaced target's stats. */
  private async checkMove(src: string, dst: string, options: MoveOptions): Promise<Stats | undefined> {
    if (src === '/' || dst === '/') throw new VfsError('EBUSY', 'cannot move, copy or replace the root', { path: src });
    const source = await stat(this.real(src));
    const conflict = moveConflict(src, dst);
    if (conflict) throw new VfsError('EINVAL', conflict, { path: dst });
    await stat(this.real(parentPath(dst)));
    const target = src === dst ? undefined : await stat(this.real(dst)).catch(() => undefined);
    if (target) {
      if (!options.overwrite) throw new VfsError('EEXIST', `${JSON.stringify(dst)}: destination exists`, { path: dst });
      if (source.isFile() && target.isDirectory()) throw new VfsError('EISDIR', 'destination is a directory', { path: dst });
      if (source.isDirectory() && !target.isDirectory()) throw new VfsError('ENOTDIR', 'destination is not a directory', { path: dst });
      if (target.isDirectory() && (await readdir(this.real(dst))).length > 0) {
        throw new VfsError('ENOTEMPTY', 'destination directory not empty', { path: dst });
      }
    }
    return target;
  }

  private async wrap<T>(operation: string, path: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      // Node reports EEXIST for rename onto a non-empty directory on some systems; keep its errno name.
      throw toVfsError(e, { provider: 'local', operation, path });
    }
  }
}

function toEntry(path: string, s: Stats): Entry {
  const isDir = s.isDirectory();
  const entry: Entry = {
    path,
    name: baseName(path),
    type: isDir ? 'directory' : 'file',
    size: isDir ? 0 : s.size,
    mtime: s.mtime,
    id: String(s.ino),
  };
  if (!isDir) entry.etag = `${s.ino.toString(16)}-${s.size.toString(16)}-${Math.floor(s.mtimeMs).toString(16)}`;
  return entry;
}
