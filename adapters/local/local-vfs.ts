/**
 * LocalVfs: a directory of the local filesystem behind the Vfs contract. The CLI uses it so that
 * `cp` between local paths and remotes is one Vfs-to-Vfs copy; it also passes the contract suite.
 *
 * Symbolic links (issue 16 #8): by default none is followed, wherever it points, and links do not
 * appear at all: a listing skips them, and a path through or onto one is ENOENT. Following a link
 * that stays inside the root would be safe only with a realpath check per use, and a link can be
 * swapped between that check and the open; "links are invisible" is simple, matches rclone's local
 * backend without -L, and cannot leak. To make that hold against races too, every operation walks
 * from the root one component at a time, opening each directory with O_NOFOLLOW|O_DIRECTORY relative
 * to the one before (through /proc/self/fd/N, Linux's openat for Node), and acts on the last name
 * relative to the directory it holds open: a link swapped in anywhere mid-operation is refused by the
 * kernel, not by a check that might be stale. `followSymlinks: true` (the CLI's -L/--copy-links) is
 * the old behaviour: plain paths, every link followed, even out of the root.
 */
import { constants as fsConstants, createReadStream, createWriteStream, existsSync } from 'node:fs';
import { cp, lstat, lutimes, mkdir, open, readdir, rename, rm, rmdir, stat, statfs, unlink, utimes } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { VfsError, opError } from '../../src/errors.js';
import { AdapterVfs, LOCAL_STORE_CAPABILITIES, checkTime } from '../../src/adapter-vfs.js';
import type { CheckedReadOptions } from '../../src/adapter-vfs.js';
import { baseName, joinPath, parentPath } from '../../src/path.js';
import { readableFrom, iterateBytes } from '../../src/streams.js';
import type {
  Entry, MoveOptions, OpOptions, RemoveOptions, SpaceInfo, VfsCapabilities, WriteData, WriteOptions,
} from '../../src/vfs.js';

export interface LocalVfsOptions {
  /** The local directory that is "/" of this Vfs (default: the filesystem root). Links in it are the caller's. */
  root?: string;
  /**
   * Follow symbolic links below the root, wherever they point (default false: links are neither
   * followed nor listed, see the header). Like rclone's -L/--copy-links: only for trees you trust.
   */
  followSymlinks?: boolean;
}

const { O_RDONLY, O_DIRECTORY, O_NOFOLLOW } = fsConstants;

/**
 * Where one Vfs path lives on disk: `path` is what to hand to fs calls (its last component relative
 * to a held directory when links are not followed), `close` releases what was held.
 */
interface Place {
  path: string;
  /** The held parent directory's path (for temp files beside the target). */
  dir: string;
  close(): Promise<void>;
}

export class LocalVfs extends AdapterVfs {
  readonly name = 'local';
  readonly capabilities: VfsCapabilities = { ...LOCAL_STORE_CAPABILITIES };
  private readonly root: string;
  private readonly follow: boolean;

  constructor(options: LocalVfsOptions = {}) {
    super();
    this.root = options.root ?? '/';
    this.follow = options.followSymlinks ?? false;
    // The race-free walk needs Linux's /proc/self/fd (Node has no openat): say so rather than fail oddly.
    if (!this.follow && !existsSync('/proc/self/fd')) {
      throw new VfsError('ENOTSUP', 'LocalVfs: refusing symbolic links safely needs /proc/self/fd (Linux); pass followSymlinks: true to follow them all', {});
    }
  }

  private real(p: string): string {
    return p === '/' ? this.root : join(this.root, p);
  }

  /**
   * Hold directory `dir` (a Vfs path) open, reached from the root without following any link: each
   * component is opened O_NOFOLLOW|O_DIRECTORY relative to the previous one. A link anywhere on the
   * way is ENOENT (invisible, like in listings); a file on the way ENOTDIR.
   */
  private async openDir(dir: string): Promise<FileHandle> {
    let handle = await open(this.root, O_RDONLY | O_DIRECTORY);
    for (const name of dir.split('/').filter(Boolean)) {
      try {
        const next = await open(`/proc/self/fd/${handle.fd}/${name}`, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
        await handle.close();
        handle = next;
      } catch (e) {
        // With O_DIRECTORY, Linux says ENOTDIR (not ELOOP) for a link: tell a link from a file.
        const code = (e as NodeJS.ErrnoException).code;
        const link = code === 'ELOOP' || (code === 'ENOTDIR' && (await lstat(`/proc/self/fd/${handle.fd}/${name}`).catch(() => undefined))?.isSymbolicLink());
        await handle.close();
        throw link ? linkError(dir) : e;
      }
    }
    return handle;
  }

  /** Where `p` lives: its parent held open (see openDir) and its name relative to it. */
  private async place(p: string): Promise<Place> {
    if (this.follow) return { path: this.real(p), dir: this.real(parentPath(p)), close: async () => undefined };
    if (p === '/') {
      const handle = await this.openDir('/');
      // "/." : the held directory itself (the bare /proc/self/fd/N is a link, which lstat would see).
      return { path: `/proc/self/fd/${handle.fd}/.`, dir: `/proc/self/fd/${handle.fd}`, close: () => handle.close() };
    }
    const handle = await this.openDir(parentPath(p));
    const dir = `/proc/self/fd/${handle.fd}`;
    return { path: `${dir}/${baseName(p)}`, dir, close: () => handle.close() };
  }

  /** Run `fn` with `p`'s place, releasing it afterwards. */
  private async at<T>(p: string, fn: (place: Place) => Promise<T>): Promise<T> {
    const place = await this.place(p);
    try {
      return await fn(place);
    } finally {
      await place.close();
    }
  }

  /** stat that follows links only when asked to: a link (not followed) is ENOENT. */
  private async statAt(path: string, vfsPath: string): Promise<Stats> {
    if (this.follow) return stat(path);
    const info = await lstat(path);
    if (info.isSymbolicLink()) throw linkError(vfsPath);
    return info;
  }

  protected doStat(p: string): Promise<Entry> {
    return this.at(p, async (at) => toEntry(p, await this.statAt(at.path, p)));
  }

  protected async doList(p: string): Promise<Entry[]> {
    if (this.follow) return this.listAt(p, this.real(p));
    const handle = await this.openDir(p);
    try {
      return await this.listAt(p, `/proc/self/fd/${handle.fd}`);
    } finally {
      await handle.close();
    }
  }

  protected async doRead(p: string, options: CheckedReadOptions): Promise<Readable> {
    const { offset, length } = options;
    const handle = await this.at(p, async (at) => {
      try {
        // O_NOFOLLOW: a link swapped in for the file after any check is refused by the kernel.
        return await open(at.path, this.follow ? O_RDONLY : O_RDONLY | O_NOFOLLOW);
      } catch (e) {
        throw (e as NodeJS.ErrnoException).code === 'ELOOP' ? linkError(p) : e;
      }
    });
    const info = await handle.stat();
    if (info.isDirectory()) {
      await handle.close();
      throw opError('EISDIR', 'is a directory', 'read', p);
    }
    const end = length === undefined ? Infinity : offset + length - 1;
    if (length === 0 || offset >= info.size) {
      await handle.close();
      return readableFrom([]);
    }
    return createReadStream('', { fd: handle, start: offset, end, signal: options.signal } as Parameters<typeof createReadStream>[1]);
  }

  /** Set an mtime in place (the access time is kept). */
  setMtime(path: string, mtime: Date, options: OpOptions = {}): Promise<Entry> {
    return this.guard('setMtime', path, options, (p) => this.at(p, async (at) => {
      checkTime(mtime, 'setMtime', p);
      const info = await this.statAt(at.path, p);
      // lutimes: a link swapped in after the check gets the time itself; its target is never touched.
      await (this.follow ? utimes : lutimes)(at.path, info.atime, mtime);
      return toEntry(p, await this.statAt(at.path, p));
    }));
  }

  protected doWrite(p: string, data: WriteData, options: WriteOptions): Promise<Entry> {
    return this.at(p, async (at) => {
      const target = at.path;
      const parent = await stat(at.dir);
      if (!parent.isDirectory()) throw opError('ENOTDIR', 'parent is not a directory', 'write', p);
      // A link at the name (not followed) counts as absent: the rename below replaces the link itself.
      const existing = await this.statAt(target, p).catch(() => undefined);
      if (existing?.isDirectory()) throw opError('EISDIR', 'is a directory', 'write', p);
      if (existing && options.overwrite === false) throw opError('EEXIST', 'already exists', 'write', p);
      // Write beside the target and rename over it: a failed write never replaces a good file. 'wx'
      // (O_EXCL) never follows a link at the temp name either.
      const temp = join(at.dir, `.${baseName(p).slice(0, 200)}.cloudmount-${randomBytes(4).toString('hex')}.part`);
      try {
        await pipeline(readableFrom(iterateBytes(data)), createWriteStream(temp, { flags: 'wx' }), { signal: options.signal });
        if (options.mtime) await utimes(temp, options.mtime, options.mtime);
        if (options.overwrite === false && (await lstat(target).catch(() => undefined))) {
          throw opError('EEXIST', 'already exists', 'write', p);
        }
        await rename(temp, target);
      } catch (e) {
        await unlink(temp).catch(() => undefined);
        throw e;
      }
      return toEntry(p, await this.statAt(target, p));
    });
  }

  protected doMkdir(p: string): Promise<Entry> {
    return this.at(p, async (at) => {
      await mkdir(at.path);
      return toEntry(p, await this.statAt(at.path, p));
    });
  }

  protected doRemove(p: string, options: RemoveOptions): Promise<void> {
    return this.at(p, async (at) => {
      // A link (not followed) is invisible, so not removable either; rm never follows links inside.
      const info = this.follow ? await lstat(at.path) : await this.statAt(at.path, p);
      if (!info.isDirectory()) await unlink(at.path);
      else if (options.recursive) await rm(at.path, { recursive: true });
      else await rmdir(at.path);
    });
  }

  protected doRename(src: string, dst: string, options: MoveOptions): Promise<Entry> {
    return this.at(src, (from) => this.at(dst, async (to) => {
      await this.checkMove('rename', src, dst, from.path, to, options);
      await rename(from.path, to.path);
      return toEntry(dst, await this.statAt(to.path, dst));
    }));
  }

  protected doCopy(src: string, dst: string, options: MoveOptions): Promise<Entry> {
    return this.at(src, (from) => this.at(dst, async (to) => {
      const replaced = await this.checkMove('rename', src, dst, from.path, to, options);
      if (replaced?.isDirectory()) await rmdir(to.path);
      // cp copies links inside a tree as links (never their targets); not followed, they stay invisible.
      await cp(from.path, to.path, { recursive: true, force: true, errorOnExist: false, preserveTimestamps: true, verbatimSymlinks: true });
      return toEntry(dst, await this.statAt(to.path, dst));
    }));
  }

  protected async doSpace(): Promise<SpaceInfo> {
    const s = await statfs(this.root);
    const total = s.blocks * s.bsize;
    const free = s.bavail * s.bsize;
    return { used: total - s.bfree * s.bsize, total, free };
  }

  /**
   * The checks rename(2) and cp do not make the way the contract wants (AdapterVfs has made the
   * path checks). Returns the replaced target's stats.
   */
  private async checkMove(op: 'rename' | 'copy', src: string, dst: string, from: string, to: Place, options: MoveOptions): Promise<Stats | undefined> {
    const source = await this.statAt(from, src);
    await stat(to.dir);
    // A link at the destination (not followed) counts as absent, as in write.
    const target = await this.statAt(to.path, dst).catch(() => undefined);
    if (target) {
      if (!options.overwrite) throw opError('EEXIST', 'destination exists', op, dst);
      if (source.isFile() && target.isDirectory()) throw opError('EISDIR', 'destination is a directory', op, dst);
      if (source.isDirectory() && !target.isDirectory()) throw opError('ENOTDIR', 'destination is not a directory', op, dst);
      if (target.isDirectory() && (await readdir(to.path)).length > 0) {
        throw opError('ENOTEMPTY', 'destination directory not empty', op, dst);
      }
    }
    return target;
  }

  /** The entries of the directory at `real`; links are skipped unless followed (then dangling ones are). */
  private async listAt(p: string, real: string): Promise<Entry[]> {
    const names = await readdir(real);
    const entries: Entry[] = [];
    for (const name of names) {
      const child = joinPath(p, name);
      try {
        entries.push(toEntry(child, await this.statAt(`${real}/${name}`, child)));
      } catch {
        // Vanished between readdir and stat, a link not followed, or a dangling one: not listable.
      }
    }
    return entries;
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

/** A symbolic link not followed: invisible, as if absent. */
function linkError(path: string): VfsError {
  return opError('ENOENT', 'no such file (symbolic links are not followed; see followSymlinks)', 'resolve', path);
}
