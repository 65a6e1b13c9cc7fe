/**
 * CouchdropVfs: the Vfs contract on top of Couchdrop's REST file API.
 *
 * What the API gives: ls/lstat/download/upload/mkdir (known) and rename/delete (PROVISIONAL routes,
 * see routes.ts). Everything else is built here: POSIX checks the service does not make (EEXIST,
 * ENOTEMPTY, EISDIR…), copy as download + upload, ranges cut locally when `Range` is ignored, and
 * uploads from a spool file so a retry re-sends the whole body.
 */
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { VfsError, isVfsError, opError, toVfsError } from '../../src/errors.js';
import { AdapterVfs } from '../../src/adapter-vfs.js';
import type { CheckedReadOptions } from '../../src/adapter-vfs.js';
import type { Logger } from '../../src/log.js';
import { silentLogger } from '../../src/log.js';
import { parseContentRange } from '../../src/http/range.js';
import { ResumableStream } from '../../src/http/resumable-stream.js';
import type { ResumableSource } from '../../src/http/resumable-stream.js';
import { spoolToTempFile } from '../../src/http/temp-file.js';
import type { TempFile } from '../../src/http/temp-file.js';
import { providerMtime } from '../../src/mtime.js';
import { isNetworkError } from '../../src/scheduler/classify.js';
import { baseName, joinPath, parentPath } from '../../src/path.js';
import type { Scheduler } from '../../src/scheduler/index.js';
import { DEFAULT_CAPABILITIES } from '../../src/vfs.js';
import type {
  Entry, MoveOptions, OpOptions, RemoveOptions, SpaceInfo, VfsCapabilities, VfsChange, WatchOptions, WriteData, WriteOptions,
} from '../../src/vfs.js';
import type { CouchdropCredentials } from './auth.js';
import { CouchdropClient } from './client.js';
import { settlingClient } from './settle.js';
import type { CouchdropClientOptions, UploadBody } from './client.js';
import { cutRange } from './range.js';
import { CouchdropChanges } from './changes.js';
import type { CouchdropWireEntry } from './wire.js';

/** What a CouchdropVfs takes besides its credentials. */
export interface CouchdropVfsSettings extends CouchdropClientOptions {
  /** Folder for upload spool files (default the OS temp dir). */
  spoolDir?: string;
  /** Cap on requests per second sent to Couchdrop (default: none; the Scheduler learns the limit from 429s). */
  requestsPerSecond?: number;
  /** Most requests in flight at once (default 8). */
  concurrency?: number;
  /**
   * The service honours `Range` on downloads (default false: undocumented). Ranges are always asked
   * for; this only sets `capabilities.rangedReads` so caches know whether small reads are cheap.
   */
  rangeRequests?: boolean;
  /** Override capability flags (e.g. `caseSensitive: false` for a Dropbox-backed mount). */
  capabilities?: Partial<VfsCapabilities>;
  /** `watch`: how often the folders in use are listed again, in ms (default 10 000). */
  pollIntervalMs?: number;
  /** `watch`: host:port to accept Couchdrop's upload webhooks on, as immediate hints (default: none). */
  webhookAddr?: string;
  logger?: Logger;
}

/** `new CouchdropVfs({ token })` or `new CouchdropVfs({ username, password })`, plus settings. */
export type CouchdropVfsOptions = CouchdropCredentials & CouchdropVfsSettings;
/** @deprecated Use CouchdropVfsOptions (the same type, named as CloudreveVfsOptions is). */
export type CouchdropVfsConfig = CouchdropVfsOptions;

/** Parallel transfers of one directory copy. */
const COPY_PARALLELISM = 4;
/** Times a download that broke off mid-body is resumed before the reader gets the error. */
const MAX_RESUMES = 3;

/** A download whose headers arrived: its body, bytes to skip locally, a way to stop it, the file size. */
interface OpenDownload {
  body: AsyncIterable<Uint8Array>;
  skip: number;
  stop: AbortController;
  total?: number;
}

export class CouchdropVfs extends AdapterVfs {
  readonly name = 'couchdrop';
  readonly capabilities: VfsCapabilities;
  readonly client: CouchdropClient;
  readonly #spoolDir: string | undefined;
  readonly #log: Logger;
  readonly #changes: CouchdropChanges;

  constructor(config: CouchdropVfsOptions) {
    super();
    const { spoolDir, requestsPerSecond, concurrency, rangeRequests, capabilities, scheduler, apiUrl, fileioUrl, routes, logger } = config;
    this.#log = (logger ?? silentLogger).child({ provider: 'couchdrop' });
    this.client = new CouchdropClient(credentialsOf(config), {
      ...(apiUrl !== undefined ? { apiUrl } : {}),
      ...(fileioUrl !== undefined ? { fileioUrl } : {}),
      ...(routes !== undefined ? { routes } : {}),
      ...(logger !== undefined ? { logger } : {}),
      scheduler: isScheduler(scheduler)
        ? scheduler
        : {
          ...(requestsPerSecond !== undefined ? { intervalCap: requestsPerSecond, interval: 1000 } : {}),
          ...(concurrency !== undefined ? { concurrency } : {}),
          ...scheduler,
        },
    });
    // rename/delete/mkdir that fail ambiguously (reset, 5xx) are settled by looking (settle.ts).
    this.client = settlingClient(this.client);
    this.#spoolDir = spoolDir;
    this.capabilities = {
      ...DEFAULT_CAPABILITIES,
      rangedReads: rangeRequests ?? false,
      serverSideCopy: false, // no copy route: download + upload
      serverSideMove: true, // the PROVISIONAL rename route takes full paths and moves across folders
      preservesMtime: true, // upload's `modtime`
      mtime: 'on-upload', // no API changes the time of a stored file
      mtimeResolutionMs: 1000, // Unix seconds
      needsSizeForWrite: false, // streams are spooled anyway (for retries), which gives the size
      quota: false, // no documented usage route
      readOnly: false,
      changes: 'poll', // no change feed: re-listing (changes.ts)
      ...capabilities,
    };
    this.#changes = new CouchdropChanges((dir, signal) => this.guard('list', dir, { signal }, (p) => this.#list(p, signal)), {
      logger: this.#log,
      ...(config.pollIntervalMs !== undefined ? { pollIntervalMs: config.pollIntervalMs } : {}),
      ...(config.webhookAddr !== undefined ? { webhookAddr: config.webhookAddr } : {}),
    });
  }

  /** The Scheduler every request of this Vfs goes through (stats, events). */
  get scheduler(): Scheduler {
    return this.client.scheduler;
  }

  protected async doStat(p: string, options: OpOptions): Promise<Entry> {
    return toEntry(p, await this.client.lstat(p, options.signal));
  }

  protected async doList(p: string, options: OpOptions): Promise<Entry[]> {
    const entries = await this.#list(p, options.signal);
    this.#changes.record(p, entries);
    return entries;
  }

  /** Changes made elsewhere under `path`: found by re-listing the folders in use (changes.ts). */
  watch(path: string, options: WatchOptions = {}): AsyncIterable<VfsChange> {
    return this.#changes.watch(path, options);
  }

  /** Start the webhook listener when `webhookAddr` is set; resolves with its URL (give it to Couchdrop). */
  listenForWebhooks(): Promise<string | undefined> {
    return this.#changes.listen();
  }

  async #list(p: string, signal: AbortSignal | undefined): Promise<Entry[]> {
    // ls of a file or of a missing folder: the service's answer is undocumented; ask lstat.
    const wire = await this.client.ls(p, signal).catch((e: unknown) => this.#explain(e, 'list', p, signal));
    // A service may answer ls of a file with the file itself; a folder holding one file of its own name looks the same.
    if (p !== '/' && wire.length === 1 && !isDir(wire[0]!) && bareName(wire[0]!.filename) === baseName(p)) {
      if ((await this.#kindOf(p, signal)) === 'file') throw opError('ENOTDIR', 'not a directory', 'list', p);
    }
    const entries: Entry[] = [];
    for (const w of wire) {
      const name = bareName(w.filename);
      if (name === '' || name === '.' || name === '..') continue;
      entries.push(toEntry(joinPath(p, name), w));
    }
    return entries;
  }

  protected async doRead(p: string, options: CheckedReadOptions): Promise<Readable> {
    const { offset, length, signal } = options;
    if (length === 0) {
      // No byte range can say "nothing"; check the path is a file and answer empty.
      if ((await this.stat(p, { signal })).type === 'directory') throw opError('EISDIR', 'is a directory', 'read', p);
      return Readable.from([]);
    }
    const end = length === undefined ? undefined : offset + length;
    const first = await this.#openDownload(p, offset, end, signal).catch((e: unknown) => this.#explain(e, 'read', p, signal));
    if (!first) return Readable.from([]);
    return this.#resumable(p, first, offset, end, signal);
  }

  protected async doWrite(p: string, data: WriteData, options: WriteOptions): Promise<Entry> {
    const { signal, mtime, overwrite = true } = options;
    if (!overwrite) {
      // Best effort: the API has no create-if-absent, so a file created by someone else between
      // this check and the upload is still replaced.
      const kind = await this.#kindOf(p, signal);
      if (kind === 'directory') throw opError('EISDIR', 'is a directory', 'write', p);
      if (kind === 'file') throw opError('EEXIST', 'already exists', 'write', p);
    }
    let spool: TempFile | undefined;
    try {
      let body: UploadBody;
      let size: number;
      if (data instanceof Uint8Array) {
        body = data;
        size = data.byteLength;
      } else {
        // A 429 or a dropped connection means sending the whole body again: keep it on disk.
        spool = await spoolToTempFile(data, { owner: 'couchdrop', dir: this.#spoolDir, signal, highWaterMark: 256 * 1024 });
        body = spool.open;
        size = spool.size;
      }
      if (options.size !== undefined && options.size !== size) {
        throw opError('EINVAL', `the size given (${options.size}) does not match the bytes received (${size}); nothing was uploaded`, 'write', p);
      }
      const kept = providerMtime(mtime);
      const modtime = kept ? Math.floor(kept.getTime() / 1000) : undefined;
      try {
        await this.client.upload(p, body, size, modtime, signal);
      } catch (e) {
        // 404 parent-folder-not-found is ENOENT already; a folder in the way is a 4xx we diagnose.
        if (!diagnosable(e) || e.code === 'ENOENT') throw e;
        if ((await this.#kindOf(p, signal)) === 'directory') throw opError('EISDIR', 'is a directory', 'write', p);
        throw e;
      }
      const when = modtime !== undefined ? modtime * 1000 : Math.floor(Date.now() / 1000) * 1000;
      return { path: p, name: baseName(p), type: 'file', size, mtime: new Date(when) };
    } finally {
      await spool?.dispose();
    }
  }

  protected async doMkdir(p: string, options: OpOptions): Promise<Entry> {
    const { signal } = options;
    // Check first: whether the service refuses an existing folder (and with which code) is unknown.
    if ((await this.#kindOf(p, signal)) !== undefined) throw opError('EEXIST', 'already exists', 'mkdir', p);
    try {
      await this.client.mkdir(p, signal);
    } catch (e) {
      if (!diagnosable(e)) throw e;
      if ((await this.#kindOf(p, signal)) !== undefined) throw opError('EEXIST', 'already exists', 'mkdir', p);
      const parent = await this.#kindOf(parentPath(p), signal);
      if (parent === 'file') throw opError('ENOTDIR', 'parent is not a directory', 'mkdir', p);
      if (parent === undefined) throw e.code === 'ENOENT' ? e : opError('ENOENT', 'parent directory does not exist', 'mkdir', p);
      throw e;
    }
    return { path: p, name: baseName(p), type: 'directory', size: 0, mtime: new Date() };
  }

  protected async doRemove(p: string, options: RemoveOptions): Promise<void> {
    const { signal, recursive = false } = options;
    const entry = await this.stat(p, { signal });
    if (entry.type === 'file') return this.client.delete(p, signal);
    // The service may delete folders recursively: look before deleting, so ENOTEMPTY protects the
    // contents (best effort: a file added between the look and the delete would go too).
    const children = await this.list(p, { signal });
    if (children.length > 0 && !recursive) throw opError('ENOTEMPTY', 'directory not empty', 'remove', p);
    try {
      await this.client.delete(p, signal);
    } catch (e) {
      if (children.length === 0 || !diagnosable(e) || e.code === 'ENOENT') throw e;
      // The service refuses non-empty folders after all: empty it ourselves, depth first.
      this.#log.debug('couchdrop refused to delete a non-empty folder; deleting its contents first', { path: p });
      for (const child of children) await this.remove(child.path, { signal, recursive: true });
      await this.client.delete(p, signal);
    }
  }

  protected async doRename(src: string, dst: string, options: MoveOptions): Promise<Entry> {
    const { signal, overwrite = false } = options;
    const { source, target } = await this.#prepareMove('rename', src, dst, overwrite, signal);
    if (!target) {
      await this.client.rename(src, dst, signal);
    } else {
      await this.#replace(src, dst, signal);
    }
    return { ...source, path: dst, name: baseName(dst) };
  }

  protected async doCopy(src: string, dst: string, options: MoveOptions): Promise<Entry> {
    const { signal, overwrite = false } = options;
    const { source, target } = await this.#prepareMove('copy', src, dst, overwrite, signal);
    if (source.type === 'file') return this.#copyFile(source, dst, signal);
    if (!target) await this.client.mkdir(dst, signal);
    await this.#copyTree(src, dst, signal);
    return { path: dst, name: baseName(dst), type: 'directory', size: 0, mtime: new Date() };
  }

  protected async doSpace(): Promise<SpaceInfo> {
    throw opError('ENOTSUP', 'the API documents no storage usage or quota route, so free space cannot be told', 'space');
  }

  async close(): Promise<void> {
    await this.#changes.close();
    await this.client.scheduler.onIdle();
  }

  // ---- internals -------------------------------------------------------------------------

  /**
   * A definite refusal (`diagnosable`) of a list or read, explained by looking at `p`: the wrong kind
   * of object (ENOTDIR, EISDIR) or nothing there (ENOENT); anything else is rethrown as it came.
   */
  async #explain(e: unknown, op: 'list' | 'read', p: string, signal: AbortSignal | undefined): Promise<never> {
    if (!diagnosable(e)) throw e;
    const kind = await this.#kindOf(p, signal);
    if (op === 'list' && kind === 'file') throw opError('ENOTDIR', 'not a directory', op, p);
    if (op === 'read' && kind === 'directory') throw opError('EISDIR', 'is a directory', op, p);
    if (kind === undefined) throw e.code === 'ENOENT' ? e : opError('ENOENT', 'no such file or directory', op, p);
    throw e;
  }

  /** 'file', 'directory', or undefined when the path (or a parent) does not exist. */
  async #kindOf(p: string, signal: AbortSignal | undefined): Promise<'file' | 'directory' | undefined> {
    try {
      return isDir(await this.client.lstat(p, signal)) ? 'directory' : 'file';
    } catch (e) {
      if (isVfsError(e, 'ENOENT', 'ENOTDIR')) return undefined;
      throw e;
    }
  }

  async #statOrUndefined(p: string, signal: AbortSignal | undefined): Promise<Entry | undefined> {
    try {
      return await this.stat(p, { signal });
    } catch (e) {
      if (isVfsError(e, 'ENOENT', 'ENOTDIR')) return undefined;
      throw e;
    }
  }

  /** The POSIX checks of rename and copy the service makes none of reliably (the path rules: AdapterVfs). */
  async #prepareMove(op: string, src: string, dst: string, overwrite: boolean, signal: AbortSignal | undefined) {
    const source = await this.stat(src, { signal });
    const target = await this.#statOrUndefined(dst, signal);
    if (target) {
      if (!overwrite) throw opError('EEXIST', 'destination exists', op, dst);
      if (source.type === 'file' && target.type === 'directory') throw opError('EISDIR', 'destination is a directory', op, dst);
      if (source.type === 'directory' && target.type === 'file') throw opError('ENOTDIR', 'destination is not a directory', op, dst);
      if (target.type === 'directory' && (await this.list(dst, { signal })).length > 0) {
        throw opError('ENOTEMPTY', 'destination directory not empty', op, dst);
      }
    }
    return { source, target };
  }

  /**
   * Rename onto an existing target: move the target aside, move the source in, then delete the
   * target. If the second move fails the target is put back, so nothing is lost either way.
   */
  async #replace(src: string, dst: string, signal: AbortSignal | undefined): Promise<void> {
    const aside = joinPath(parentPath(dst), `.cloudmount-replaced-${randomBytes(6).toString('hex')}`);
    await this.client.rename(dst, aside, signal);
    try {
      await this.client.rename(src, dst, signal);
    } catch (e) {
      await this.client.rename(aside, dst).catch((restore: unknown) => {
        this.#log.error('could not put a replaced file back after a failed rename', { path: dst, aside, error: restore });
      });
      throw e;
    }
    await this.client.delete(aside, signal).catch((e: unknown) => {
      this.#log.warn('renamed, but could not delete the replaced target', { path: dst, aside, error: e });
    });
  }

  /** Download + upload (through a spool file, so the upload can be retried); keeps the source's mtime. */
  async #copyFile(source: Entry, dst: string, signal: AbortSignal | undefined): Promise<Entry> {
    const bytes = await this.read(source.path, { signal });
    try {
      return await this.write(dst, bytes, { mtime: source.mtime, size: source.size, ...(signal ? { signal } : {}) });
    } finally {
      bytes.destroy(); // ends the download if the upload failed before reading it all
    }
  }

  async #copyTree(src: string, dst: string, signal: AbortSignal | undefined): Promise<void> {
    const children = await this.list(src, { signal });
    let next = 0;
    const worker = async () => {
      while (next < children.length) {
        const child = children[next++]!;
        const to = joinPath(dst, child.name);
        if (child.type === 'file') {
          await this.#copyFile(child, to, signal);
        } else {
          await this.client.mkdir(to, signal);
          await this.#copyTree(child.path, to, signal);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(COPY_PARALLELISM, children.length) }, worker));
  }

  /**
   * One download from `from` up to `end` (exclusive; the end of the file when undefined), headers
   * received. Undefined when the range starts past the end (416). A `Range` is always asked for; a
   * 200 answer is skipped through locally.
   */
  async #openDownload(p: string, from: number, end: number | undefined, signal: AbortSignal | undefined): Promise<OpenDownload | undefined> {
    // Our own controller lets a locally cut range stop the download once it has its bytes.
    const stop = new AbortController();
    const downloadSignal = signal ? AbortSignal.any([signal, stop.signal]) : stop.signal;
    // A Range even for the whole file: a 206's Content-Range then tells how many bytes must arrive.
    const res = await this.client.download(p, { start: from, ...(end !== undefined ? { end: end - 1 } : {}) }, downloadSignal);
    if (res.status === 416) {
      // The range starts at or past the end: the bytes that exist there are none.
      await res.body?.cancel().catch(() => undefined);
      return undefined;
    }
    const body = (res.body ?? Readable.from([])) as AsyncIterable<Uint8Array>;
    if (res.status === 206) {
      const range = parseContentRange(res.headers.get('content-range'));
      if (!range || range.start !== from) {
        stop.abort();
        throw opError('EPROTO', `asked for bytes from ${from}, got the range ${JSON.stringify(res.headers.get('content-range'))}`, 'read', p);
      }
      return { body, skip: 0, stop, ...(range.total !== undefined ? { total: range.total } : {}) };
    }
    const contentLength = res.headers.get('content-length');
    return { body, skip: from, stop, ...(contentLength !== null ? { total: Number(contentLength) } : {}) };
  }

  /**
   * The bytes of a download as one ResumableStream: when the connection breaks off mid-body, or a
   * body ends "cleanly" short of what its answer announced (a Content-Length that lied, a
   * close-delimited body cut off), the rest is asked for again from where it stopped (a few times,
   * each through the Scheduler), checking the file did not change size.
   */
  #resumable(p: string, first: OpenDownload, offset: number, end: number | undefined, signal: AbortSignal | undefined): Readable {
    const sourceOf = (download: OpenDownload | undefined, position: number): ResumableSource => {
      if (!download) return { body: Readable.from([]), expected: 0 };
      const due = download.total === undefined ? undefined : Math.min(end ?? download.total, download.total);
      const limit = end === undefined ? undefined : end - position;
      const body = Readable.from(cutRange(download.body, download.skip, limit, () => download.stop.abort()));
      return { body, ...(due !== undefined ? { expected: Math.max(0, due - position) } : {}) };
    };
    let current = first;
    return new ResumableStream({
      first: sourceOf(first, offset),
      maxResumes: MAX_RESUMES,
      signal,
      canResume: (e) => isNetworkError(e) || e instanceof ShortBody,
      lengthError: (got, expected) => new ShortBody(got, expected),
      reopen: async (delivered) => {
        const position = offset + delivered;
        this.#log.info('download broke off; asking for the rest', { path: p, at: position });
        const next = await this.#openDownload(p, position, end, signal);
        const before = current.total;
        const after = next?.total;
        if (before !== undefined && (next ? after !== undefined && after !== before : position < before)) {
          next?.stop.abort();
          throw opError('EIO', 'the file changed while it was being read', 'read', p);
        }
        if (next) current = next;
        return sourceOf(next, position);
      },
      // Errors while the caller reads a download become VfsErrors too.
      mapError: (e) => (e instanceof ShortBody ? opError('EIO', e.message, 'read', p) : toVfsError(e, { provider: 'couchdrop', operation: 'read', path: p })),
    });
  }
}

/** A download body that stopped before the bytes its answer announced. */
class ShortBody extends Error {
  constructor(got: number, due: number) {
    super(`the download ${got > due ? 'ran past' : 'stopped at byte ' + got + ', short of'} the ${due} bytes its answer announced`);
  }
}

/** The credentials part of the config: a token, or a username and password. */
function credentialsOf(config: CouchdropVfsOptions): CouchdropCredentials {
  const c = config as { token?: unknown; username?: unknown; password?: unknown; system?: unknown };
  if (typeof c.token === 'string') return { token: c.token };
  if (typeof c.username === 'string' && typeof c.password === 'string') {
    return { username: c.username, password: c.password, ...(typeof c.system === 'string' ? { system: c.system } : {}) };
  }
  throw new TypeError('CouchdropVfs needs { token } or { username, password }');
}

function isScheduler(value: unknown): value is Scheduler {
  return typeof value === 'object' && value !== null && typeof (value as Scheduler).run === 'function';
}

/** A refusal worth a second look with lstat: the service answered with a definite, non-auth 4xx. */
function diagnosable(e: unknown): e is VfsError {
  if (!(e instanceof VfsError) || e.retryable) return false;
  const status = e.details.status;
  return status !== undefined && status >= 400 && status < 500 && status !== 401 && status !== 403;
}

function isDir(w: CouchdropWireEntry): boolean {
  const v = w.is_dir as unknown;
  return v === true || v === 'true' || v === 1;
}

/** `filename` is a bare name; tolerate a full path anyway. */
function bareName(filename: unknown): string {
  const name = typeof filename === 'string' ? filename : String(filename ?? '');
  return name.replace(/\/+$/, '').slice(name.replace(/\/+$/, '').lastIndexOf('/') + 1);
}

function num(v: unknown): number {
  const n = typeof v === 'number' ? v : typeof v === 'string' ? Number(v) : NaN;
  return Number.isFinite(n) ? n : 0;
}

/** Wire entry → Entry. Size from `size` or the docs' `"size:"`; folders 0; `modtime` is Unix seconds. */
function toEntry(path: string, w: CouchdropWireEntry): Entry {
  const dir = isDir(w);
  return {
    path,
    name: baseName(path),
    type: dir ? 'directory' : 'file',
    size: dir ? 0 : num(w.size ?? w['size:']),
    mtime: new Date(num(w.modtime) * 1000),
  };
}
