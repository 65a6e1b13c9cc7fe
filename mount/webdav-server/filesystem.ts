/**
 * A webdav-server v2 `FileSystem` backed by any Vfs, so a webdav-server app can mount a Cloudreve
 * or Couchdrop account (or any Vfs) at a path of its tree next to its other file systems.
 *
 * - Reads: webdav-server 2.6.3 never passes a Range to `_openReadStream`; it opens the whole file
 *   and drops the bytes before the range (server/v2/commands/Get.js, RangedStream). So we read the
 *   Range header from the request ourselves and ask the Vfs for just the span the ranges cover,
 *   preceded by a run of shared zero chunks that stand in for the skipped bytes: RangedStream
 *   counts and discards them, and the provider only ever sees one ranged request.
 * - Writes stream into `vfs.write` and the stream's 'finish' comes only after the commit, so the
 *   201/200 is not sent for an upload that then fails.
 * - Errors map to webdav-server's `Errors` (which it turns into statuses); anything else is 500.
 * - Locks and dead properties live in memory (webdav-server's Local managers), per path.
 */
import { PassThrough, Readable, Writable } from 'node:stream';
import { v2 } from 'webdav-server';
import { VfsError, isVfsError, toVfsError } from '../../src/errors.js';
import { parseRangeSpecs } from '../../src/http/range.js';
import { normalizePath, parentPath } from '../../src/path.js';
import type { Entry, Vfs } from '../../src/vfs.js';

type Path = v2.Path;
type Callback<T> = (error?: Error | null, value?: T) => void;

/** Serializer: a Vfs file system holds live connections, nothing webdav-server could save and reload. */
class VfsSerializer implements v2.FileSystemSerializer {
  uid(): string {
    return 'cloudmount-VfsFileSystem-1';
  }
  serialize(_fs: v2.FileSystem, callback: v2.ReturnCallback<unknown>): void {
    callback(undefined, {});
  }
  unserialize(_data: unknown, callback: v2.ReturnCallback<v2.FileSystem>): void {
    callback(new Error('a VfsFileSystem cannot be restored from a saved state; mount it again with setFileSystem'));
  }
}

/** Largest zero chunk used to stand in for skipped bytes (one shared buffer, never copied). */
const SKIP_CHUNK = Buffer.alloc(64 * 1024);

export class VfsFileSystem extends v2.FileSystem {
  /** Lock and property managers of paths that have locks or dead properties (created on first use). */
  private readonly locks = new Map<string, v2.LocalLockManager>();
  private readonly props = new Map<string, v2.LocalPropertyManager>();

  constructor(readonly vfs: Vfs) {
    super(new VfsSerializer());
  }

  private entry(path: Path, ctx: v2.IContextInfo | undefined, callback: Callback<Entry>): void {
    later(() => this.vfs.stat(vfsPath(path), signalOf(ctx))).then((e) => callback(null, e), (e: unknown) => callback(mapError(e)));
  }

  protected override _fastExistCheck(_ctx: v2.RequestContext, path: Path, callback: (exists: boolean) => void): void {
    later(() => this.vfs.stat(vfsPath(path))).then(() => callback(true), () => callback(false));
  }

  protected override _type(path: Path, ctx: v2.TypeInfo, callback: v2.ReturnCallback<v2.ResourceType>): void {
    this.entry(path, ctx, (e, entry) => callback(e ?? undefined, entry && (entry.type === 'directory' ? v2.ResourceType.Directory : v2.ResourceType.File)));
  }

  protected override _size(path: Path, ctx: v2.SizeInfo, callback: v2.ReturnCallback<number>): void {
    this.entry(path, ctx, (e, entry) => callback(e ?? undefined, entry?.size));
  }

  protected override _lastModifiedDate(path: Path, ctx: v2.LastModifiedDateInfo, callback: v2.ReturnCallback<number>): void {
    this.entry(path, ctx, (e, entry) => callback(e ?? undefined, entry?.mtime.getTime()));
  }

  protected override _creationDate(path: Path, ctx: v2.CreationDateInfo, callback: v2.ReturnCallback<number>): void {
    this.entry(path, ctx, (e, entry) => callback(e ?? undefined, entry?.mtime.getTime()));
  }

  protected override _etag(path: Path, ctx: v2.ETagInfo, callback: v2.ReturnCallback<string>): void {
    this.entry(path, ctx, (e, entry) => callback(e ?? undefined, entry && etagFor(entry)));
  }

  protected override _readDir(path: Path, ctx: v2.ReadDirInfo, callback: v2.ReturnCallback<string[] | Path[]>): void {
    later(() => this.vfs.list(vfsPath(path), signalOf(ctx))).then((list) => callback(undefined, list.map((e) => e.name)), (e: unknown) => callback(mapError(e)));
  }

  protected override _create(path: Path, ctx: v2.CreateInfo, callback: v2.SimpleCallback): void {
    later(() => {
      const p = vfsPath(path);
      return ctx.type.isDirectory ? this.vfs.mkdir(p) : this.vfs.write(p, new Uint8Array(0), { size: 0, overwrite: false });
    }).then(() => callback(), (e: unknown) => callback(mapError(e)));
  }

  protected override _delete(path: Path, ctx: v2.DeleteInfo, callback: v2.SimpleCallback): void {
    let p = '/';
    later(() => this.vfs.remove((p = vfsPath(path)), { recursive: ctx.depth !== 0 })).then(
      () => {
        this.forget(p);
        callback();
      },
      (e: unknown) => callback(mapError(e)),
    );
  }

  protected override _move(from: Path, to: Path, ctx: v2.MoveInfo, callback: v2.ReturnCallback<boolean>): void {
    let src = '/';
    later(() => {
      src = vfsPath(from);
      const dst = vfsPath(to);
      return this.replaceTarget(dst, ctx.overwrite, (overwrite) => this.vfs.rename(src, dst, { overwrite }));
    }).then(
      (overwritten) => {
        this.forget(src);
        callback(undefined, overwritten);
      },
      (e: unknown) => callback(mapError(e)),
    );
  }

  protected override _copy(from: Path, to: Path, ctx: v2.CopyInfo, callback: v2.ReturnCallback<boolean>): void {
    later(() => {
      const src = vfsPath(from);
      const dst = vfsPath(to);
      return this.replaceTarget(dst, ctx.overwrite, (overwrite) => this.vfs.copy(src, dst, { overwrite }));
    }).then(
      (overwritten) => callback(undefined, overwritten),
      (e: unknown) => callback(mapError(e)),
    );
  }

  protected override _rename(from: Path, newName: string, ctx: v2.RenameInfo, callback: v2.ReturnCallback<boolean>): void {
    this._move(from, ctx.destinationPath, { context: ctx.context, overwrite: false }, callback);
  }

  /**
   * Run a move/copy onto `dst`: with `overwrite`, an existing target is removed first (the Vfs only
   * replaces a file or an empty directory); resolves whether something was replaced.
   */
  private async replaceTarget(dst: string, overwrite: boolean, run: (overwrite: boolean) => Promise<Entry>): Promise<boolean> {
    let existing: Entry | undefined;
    try {
      existing = await this.vfs.stat(dst);
    } catch (e) {
      if (!isVfsError(e, 'ENOENT', 'ENOTDIR')) throw e;
    }
    if (existing && !overwrite) throw new VfsError('EEXIST', 'the destination exists', { path: dst });
    if (existing) {
      await this.vfs.remove(dst, { recursive: true });
      this.forget(dst);
    }
    try {
      await run(false);
    } catch (e) {
      // A missing parent of the destination is a 409 in WebDAV, not the 404 of a missing source.
      if (isVfsError(e, 'ENOENT', 'ENOTDIR') && !(await this.vfs.stat(parentPath(dst)).then(() => true, () => false))) throw v2.Errors.IntermediateResourceMissing;
      throw e;
    }
    return existing !== undefined;
  }

  protected override _openReadStream(path: Path, ctx: v2.OpenReadStreamInfo, callback: v2.ReturnCallback<Readable>): void {
    const range = ctx.context?.headers?.find('Range');
    const signal = abortSignalOf(ctx);
    (async () => {
      const p = vfsPath(path);
      const span = range ? await this.spanOf(p, range) : undefined;
      if (!span) return this.vfs.read(p, { ...(signal ? { signal } : {}) });
      const source = await this.vfs.read(p, { offset: span.start, length: span.end - span.start + 1, ...(signal ? { signal } : {}) });
      return withSkippedPrefix(span.start, source);
    })().then((s) => callback(undefined, s), (e: unknown) => callback(mapError(e)));
  }

  /** The byte span [start, end] covering every range of a Range header, as webdav-server will cut it; undefined = read it all. */
  private async spanOf(path: string, header: string): Promise<{ start: number; end: number } | undefined> {
    const entry = await this.vfs.stat(path);
    const spans = parseRanges(header, entry.size);
    if (!spans || spans.length === 0) return undefined;
    const start = Math.min(...spans.map((s) => s.start));
    const end = Math.max(...spans.map((s) => s.end));
    if (start <= 0 || end < start) return undefined;
    return { start, end };
  }

  protected override _openWriteStream(path: Path, ctx: v2.OpenWriteStreamInfo, callback: v2.ReturnCallback<Writable>): void {
    let p: string;
    try {
      p = vfsPath(path);
    } catch (e) {
      callback(mapError(e));
      return;
    }
    const body = new PassThrough({ highWaterMark: 256 * 1024 });
    const controller = new AbortController();
    const request = ctx.context && (ctx.context as v2.HTTPRequestContext).request;
    const size = ctx.estimatedSize >= 0 && request?.headers['content-length'] !== undefined ? ctx.estimatedSize : undefined;
    const committed = this.vfs.write(p, body, { ...(size !== undefined ? { size } : {}), signal: controller.signal });
    committed.catch(() => {});
    // A client that goes away mid-upload cancels it (the old content stays).
    const onClose = () => {
      if (request && !request.complete) controller.abort();
    };
    request?.once('close', onClose);
    const writer = new Writable({
      highWaterMark: 256 * 1024,
      write(chunk: Buffer, _enc, done) {
        if (body.write(chunk)) done();
        else body.once('drain', () => done());
      },
      final(done) {
        body.end();
        committed.then(
          () => {
            request?.off('close', onClose);
            done();
          },
          (e: unknown) => done(mapError(e)),
        );
      },
      destroy(err, done) {
        if (err) {
          controller.abort();
          body.destroy(err);
        }
        done(err);
      },
    });
    callback(undefined, writer);
  }

  protected override _lockManager(path: Path, _ctx: v2.LockManagerInfo, callback: v2.ReturnCallback<v2.ILockManager>): void {
    const key = safePath(path);
    let m = this.locks.get(key);
    if (!m) {
      m = new v2.LocalLockManager();
      // Keep only managers that hold a lock: a PROPFIND over 10 000 entries must not leave 10 000 behind.
      const manager = m;
      const setLock = manager.setLock.bind(manager);
      manager.setLock = (lock, cb) => {
        this.locks.set(key, manager);
        setLock(lock, cb);
      };
    }
    callback(undefined, m);
  }

  protected override _propertyManager(path: Path, _ctx: v2.PropertyManagerInfo, callback: v2.ReturnCallback<v2.IPropertyManager>): void {
    const key = safePath(path);
    let m = this.props.get(key);
    if (!m) {
      m = new v2.LocalPropertyManager();
      const manager = m;
      const setProperty = manager.setProperty.bind(manager);
      manager.setProperty = (name, value, attributes, cb) => {
        this.props.set(key, manager);
        setProperty(name, value, attributes, cb);
      };
    }
    callback(undefined, m);
  }

  /**
   * The live locks covering `path` (on it, or depth-infinity on an ancestor), and with `tree` also
   * those below it: what a change of `path` must submit the tokens of.
   */
  locksCovering(path: string, tree: boolean): v2.Lock[] {
    const out: v2.Lock[] = [];
    for (const [key, manager] of this.locks) {
      const on = key === path;
      const above = path === key || path.startsWith(key === '/' ? '/' : key + '/');
      const below = tree && (path === '/' ? key !== '/' : key.startsWith(path + '/'));
      if (!on && !above && !below) continue;
      manager.getLocks((_e, locks) => {
        for (const l of locks ?? []) if (on || below || l.depth === -1) out.push(l);
      });
    }
    return out;
  }

  /** The (quoted) ETag webdav-server shows for `path` (see `_etag`). */
  async etagOf(path: string): Promise<string> {
    return etagFor(await this.vfs.stat(path));
  }

  /** Drop the locks and dead properties of `path` and everything below it. */
  private forget(path: string): void {
    for (const map of [this.locks, this.props] as Map<string, unknown>[]) {
      for (const key of map.keys()) if (key === path || key.startsWith(path === '/' ? '/' : path + '/')) map.delete(key);
    }
  }
}

function etagFor(entry: Entry): string {
  // Quoted, as webdav-server's own default etag is (it shows `_etag`'s answer as it is).
  return `"${(entry.etag ?? `${entry.size.toString(16)}-${entry.mtime.getTime().toString(16)}`).replace(/["\\]/g, '')}"`;
}

/** A webdav-server Path as a Vfs path. webdav-server has already decoded and resolved it ("..", "."). */
function vfsPath(path: Path): string {
  // normalizePath refuses NUL, empty or over-long names with EINVAL like every other entry point.
  return normalizePath('/' + path.paths.join('/'));
}

/** For the lock and property tables: a path the Vfs would refuse still gets a (never stored under a clash) key. */
function safePath(path: Path): string {
  try {
    return vfsPath(path);
  } catch {
    return '\0' + path.toString();
  }
}

/** Run `fn` so that a synchronous throw (a refused path) becomes a rejection. */
function later<T>(fn: () => Promise<T>): Promise<T> {
  return Promise.resolve().then(fn);
}

function signalOf(_ctx: v2.IContextInfo | undefined): { signal?: AbortSignal } {
  const signal = abortSignalOf(_ctx);
  return signal ? { signal } : {};
}

/** Aborted when the client of the request goes away. */
function abortSignalOf(ctx: v2.IContextInfo | undefined): AbortSignal | undefined {
  const res = (ctx?.context as v2.HTTPRequestContext | undefined)?.response;
  if (!res || typeof res.once !== 'function') return undefined;
  const cached = (res as { _cmSignal?: AbortSignal })._cmSignal;
  if (cached) return cached;
  const controller = new AbortController();
  res.once('close', () => {
    if (!res.writableFinished) controller.abort();
  });
  (res as { _cmSignal?: AbortSignal })._cmSignal = controller.signal;
  return controller.signal;
}

/**
 * The ranges of a Range header as webdav-server's parseRangeBlock reads them ("a-b", "a-", "-n"),
 * clamped to the size; undefined when a block does not parse (webdav-server then reads it all).
 */
export function parseRanges(header: string, size: number): Array<{ start: number; end: number }> | undefined {
  // A client asking for hundreds of ranges gets the whole span read once anyway: the parse is bounded.
  const specs = parseRangeSpecs(header, { grammar: 'webdav-server' });
  if (!specs) return undefined;
  const last = size - 1;
  return specs.map((spec) => {
    if ('suffix' in spec) return { start: Math.max(0, size - spec.suffix), end: last };
    if (spec.last === undefined) return { start: Math.min(size, spec.first), end: last };
    return { start: Math.min(last, spec.first), end: Math.min(last, spec.last) };
  });
}

/** `source` preceded by `skip` bytes of zeros, made of one shared buffer (webdav-server drops them before the range). */
function withSkippedPrefix(skip: number, source: Readable): Readable {
  async function* gen(): AsyncGenerator<Buffer> {
    let left = skip;
    while (left > 0) {
      const n = Math.min(left, SKIP_CHUNK.length);
      yield n === SKIP_CHUNK.length ? SKIP_CHUNK : SKIP_CHUNK.subarray(0, n);
      left -= n;
    }
    yield* source as AsyncIterable<Buffer>;
  }
  const out = Readable.from(gen(), { objectMode: false });
  out.on('close', () => source.destroy());
  return out;
}

/** A Vfs failure as one of webdav-server's errors (it maps those to statuses); others stay as they are (500). */
export function mapError(e: unknown): Error {
  if (Object.values(v2.Errors).includes(e)) return e as Error;
  const v = toVfsError(e);
  const E = v2.Errors;
  switch (v.code) {
    case 'ENOENT':
      return E.ResourceNotFound;
    case 'EEXIST':
      return E.ResourceAlreadyExists;
    case 'ENOTDIR':
      return E.WrongParentTypeForCreation;
    case 'EACCES':
    case 'EPERM':
    case 'EROFS':
      return E.Forbidden;
    case 'ENOSPC':
    case 'EDQUOT':
      return E.InsufficientStorage;
    case 'EINVAL':
    case 'ENAMETOOLONG':
      return E.IllegalArguments;
    default:
      return v;
  }
}
