/**
 * CloudreveVfs: the Vfs contract on top of the Cloudreve v4 REST API.
 *
 * Where Cloudreve and POSIX disagree, this file bridges them:
 * - stat("/") is answered locally (the API says 403 for the root's info);
 * - mkdir/write check the parent first, because the server creates missing parents (mkdir -p);
 * - list of a file is ENOTDIR (the server says 40016 for both "missing" and "is a file");
 * - remove refuses a non-empty folder without `recursive` (the server would delete it);
 * - rename/copy with a new name in another folder take several calls (the server's move keeps
 *   names); moves.ts holds those sequences and what happens when one step fails.
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Scheduler } from '../../src/scheduler/index.js';
import type { Readable } from 'node:stream';
import { VfsError, isVfsError, opError, throwIfAborted } from '../../src/errors.js';
import { AdapterVfs } from '../../src/adapter-vfs.js';
import type { CheckedReadOptions } from '../../src/adapter-vfs.js';
import type { Logger } from '../../src/log.js';
import { silentLogger } from '../../src/log.js';
import { baseName, joinPath, parentPath } from '../../src/path.js';
import { metadataPatches, propsFromMetadata } from './dav-props.js';
import type {
  DeadProperty, DeadPropertyPatch, DeadPropertyStore, Entry, MoveOptions, OpOptions, RemoveOptions, ShareLink, ShareLinkOptions, ShareLinkStore, SpaceInfo, VfsCapabilities, VfsChange, WatchOptions, WriteData, WriteOptions,
} from '../../src/vfs.js';
import { providerMtime } from '../../src/mtime.js';
import { cloudreveCode, lockConflicts, recode } from './api-error.js';
import { MoveSequences } from './moves.js';
import { openByteSource, readExactly } from './byte-source.js';
import { CloudreveClient } from './client.js';
import type { CloudreveClientOptions } from './client.js';
import { settlingClient } from './settle.js';
import type { CloudreveTokens } from './auth.js';
import { ContentReader } from './content.js';
import { decodeName, encodeName } from './names.js';
import type { FileResponse, ShareCreateRequest, ShareResponse, StoragePolicy } from './types.js';
import { LRUCache } from 'lru-cache';
import { checkPolicy, flowOf } from './upload/policy.js';
import { isExpiredUpload, sendUpload } from './upload/flows.js';
import { VirtualFolders } from './virtual.js';
import type { VirtualFolderOptions } from './virtual.js';
import { UploadJournal, bootId, defaultStateDir, isAbandoned } from './upload-journal.js';
import type { UploadRecord } from './upload-journal.js';
import { pathToUri, uriToPath } from './uri.js';
import { CloudreveFeed, claimClientId, releaseClientId } from './events.js';
import { CODE } from './codes.js';

export interface CloudreveVfsOptions {
  /** Site root, e.g. https://drive.example.com (no /api/v4). */
  baseUrl: string;
  email?: string;
  password?: string;
  /** Existing tokens instead of (or as well as) the password. */
  tokens?: CloudreveTokens;
  /** Asked for a one-time code when the account has two-factor authentication. */
  otp?: () => string | Promise<string>;
  /**
   * Entries per listing request (default 2000, Cloudreve's default max_page_size, so a folder of up
   * to 2000 entries is one request; a server with a smaller max_page_size caps it, as the API says).
   */
  pageSize?: number;
  /** Requests in flight at once (default 8). */
  concurrency?: number;
  /** Requests per second at most (default: no cap). */
  requestsPerSecond?: number;
  /** Attempts per request before giving up (default: the scheduler's). */
  maxAttempts?: number;
  /** Per-request timeout in ms. */
  timeoutMs?: number;
  /**
   * Delete for good instead of moving to Cloudreve's trash. Default false: a drive user expects
   * deleted files to be recoverable from the web UI's trash, as Cloudreve itself does by default.
   */
  permanentDelete?: boolean;
  /**
   * Files up to this many bytes (size known, overwrite allowed) go in one `PUT /file/content`
   * instead of an upload session: one request instead of three. 0 turns it off. Default 256 KiB.
   */
  smallFileBytes?: number;
  /** Folder for spool files of uploads whose size is not known up front (default: os.tmpdir()). */
  spoolDir?: string;
  /**
   * Folder for state that must survive a crash: the journal of open upload sessions, so a session
   * left by a killed process is cancelled at the next start instead of locking its path for a day.
   * Default $XDG_STATE_HOME/cloudmount (~/.local/state/cloudmount); false keeps no journal.
   */
  stateDir?: string | false;
  /**
   * Upload parts in flight per file, instead of the storage policy's `chunk_concurrency` (the web
   * uploader's setting). 1 sends one part at a time. Default: the policy's value.
   */
  partConcurrency?: number;
  /**
   * Cloudreve's trash and file versions as read-only folders, unlisted in the root (reach them by
   * path: `ls /.Trash`, `ls /.versions/docs/a.txt`). Default `/.Trash` and `/.versions`; a field
   * false, or false for both, switches them off. See virtual.ts.
   */
  virtualFolders?: VirtualFolderOptions | false;
  /**
   * Concurrent ranged GETs that feed one large sequential read (1–16, default 1): for far servers,
   * where one TCP stream is limited by its window. Reads under 8 MiB stay one request.
   */
  readStreams?: number;
  /** Fine-tuning of the scheduler this Vfs creates (backoff, pacing…); the options above win. */
  schedulerOptions?: CloudreveClientOptions['schedulerOptions'];
  /** Share a Scheduler with other users of the same account. */
  scheduler?: CloudreveClientOptions['scheduler'];
  /**
   * X-Cr-Client-Id to send (a UUID). Default: a fresh one, replaced when this instance first
   * watches by one kept per running instance in `stateDir`, so a restart resumes the change feed's
   * subscription (events.ts `claimClientId`).
   */
  clientId?: string;
  /** `watch` on a server without the change feed (40019, or older than 4.11): re-listing interval (default 10 s). */
  pollIntervalMs?: number;
  /** Change feed reconnect delays in ms (default 1 000 doubling to 32 000). */
  feedBackoffMs?: { initial: number; max: number };
  logger?: Logger;
}

/** Upload sessions open in this process, by id (any CloudreveVfs): never orphans, whatever the journal says. */
const LIVE_SESSIONS = new Set<string>();
/** Most pages one listing may take (20 million entries at the default page size). */
const MAX_LIST_PAGES = 10_000;

/** A Cloudreve v4 drive as a Vfs. */
export class CloudreveVfs extends AdapterVfs implements DeadPropertyStore, ShareLinkStore {
  readonly name = 'cloudreve';
  readonly capabilities: VfsCapabilities = {
    rangedReads: true,
    serverSideCopy: true,
    serverSideMove: true,
    caseSensitive: true,
    // An upload session's last_modified (ms) becomes the file's updated_at (Cloudreve 4.4.0+,
    // inventory/file.go UpgradePlaceholder); nothing sets it later, and a rename or move stamps it now.
    // PUT /file/content and empty files (POST /file/create) take no time: writes with one avoid them.
    preservesMtime: true,
    mtime: 'on-upload',
    mtimeResolutionMs: 1000,
    needsSizeForWrite: true,
    quota: true,
    readOnly: false,
    // The server's change feed; becomes 'poll' when the server has none (events.ts).
    changes: 'push',
  };
  /** The typed API client (exposed for diagnostics: token and scheduler stats). */
  readonly client: CloudreveClient;

  /** The Scheduler every request of this account goes through. */
  get scheduler(): Scheduler {
    return this.client.scheduler;
  }
  private readonly content: ContentReader;
  private readonly moves: MoveSequences;
  private readonly pageSize: number;
  private readonly permanentDelete: boolean;
  private readonly spoolDir: string | undefined;
  private readonly smallFileBytes: number;
  private readonly logger: Logger;
  private readonly rootTime = new Date();
  /** The last mutation asked for on each path (see inTurn). */
  private readonly pathTurns = new Map<string, Promise<void>>();
  private readonly journal: UploadJournal | undefined;
  private recovery: Promise<unknown> | undefined;
  private journalWarned = false;
  private readonly feed: CloudreveFeed;
  private clientId: string;
  /** The client id is ours to keep in the state folder (not given by the caller). */
  private keptId: { stateDir: string | false; account: string; baseUrl: string } | undefined;
  private readonly partConcurrency: number | undefined;
  private readonly virtual: VirtualFolders | undefined;
  /** The storage policy each folder's listing reports, for a short while (a write asks for it first). */
  private readonly policies = new LRUCache<string, { policy: StoragePolicy | null }>({ max: 1000, ttl: 30_000 });

  constructor(options: CloudreveVfsOptions) {
    super();
    this.logger = options.logger ?? silentLogger;
    const schedulerOptions: NonNullable<CloudreveClientOptions['schedulerOptions']> = { name: 'cloudreve', logger: this.logger, ...options.schedulerOptions };
    if (options.concurrency !== undefined) schedulerOptions.concurrency = options.concurrency;
    if (options.requestsPerSecond !== undefined) Object.assign(schedulerOptions, { intervalCap: options.requestsPerSecond, interval: 1000 });
    if (options.maxAttempts !== undefined) schedulerOptions.maxAttempts = options.maxAttempts;
    if (options.timeoutMs !== undefined) schedulerOptions.timeoutMs = options.timeoutMs;
    const clientOptions: CloudreveClientOptions = { baseUrl: options.baseUrl, logger: this.logger, schedulerOptions };
    if (options.email !== undefined) clientOptions.email = options.email;
    if (options.password !== undefined) clientOptions.password = options.password;
    if (options.tokens) clientOptions.tokens = options.tokens;
    if (options.otp) clientOptions.otp = options.otp;
    if (options.scheduler) clientOptions.scheduler = options.scheduler;
    if (options.timeoutMs !== undefined) clientOptions.timeoutMs = options.timeoutMs;
    // A fresh id until this instance watches: only then does it take a kept one (claimClientId), so
    // a one-shot command never uses, and empties the server's buffer of, a stopped mount's id.
    this.clientId = options.clientId ?? randomUUID();
    this.keptId = options.clientId === undefined
      ? { stateDir: options.stateDir ?? defaultStateDir(), account: options.email ?? '(tokens)', baseUrl: options.baseUrl }
      : undefined;
    clientOptions.clientId = this.clientId;
    // Non-idempotent calls that fail ambiguously (reset, 5xx, timeout) are settled by looking (settle.ts).
    this.client = settlingClient(new CloudreveClient(clientOptions));
    this.content = new ContentReader(this.client, options.readStreams !== undefined ? { readStreams: options.readStreams } : {});
    this.pageSize = Math.max(1, Math.floor(options.pageSize ?? 2000));
    this.permanentDelete = options.permanentDelete ?? false;
    this.spoolDir = options.spoolDir;
    this.smallFileBytes = Math.max(0, options.smallFileBytes ?? 256 * 1024);
    this.partConcurrency = options.partConcurrency;
    if (options.virtualFolders !== false) {
      this.virtual = new VirtualFolders(this.client, this.content, options.virtualFolders ?? {}, { stat: (p, o) => this.stat(p, o), list: (p, o) => this.list(p, o) });
      if (this.virtual.names.length > 0) this.capabilities.unlistedNames = this.virtual.names;
      else this.virtual = undefined;
    }
    this.journal = options.stateDir === false
      ? undefined
      : new UploadJournal(options.stateDir ?? defaultStateDir(), options.baseUrl, options.email ?? '(tokens)');
    this.feed = new CloudreveFeed(this.client, (dir, signal) => this.guard('list', dir, { signal }, (p) => this.listPlain(p, signal)), {
      logger: this.logger,
      beforeConnect: () => this.takeKeptId(),
      ...(options.pollIntervalMs !== undefined ? { pollIntervalMs: options.pollIntervalMs } : {}),
      ...(options.feedBackoffMs ? { backoffMs: options.feedBackoffMs } : {}),
    }, (mode) => {
      this.capabilities.changes = mode;
    });
    this.moves = new MoveSequences(this.client, this.logger, this.permanentDelete, (p, o) => this.stat(p, o));
  }

  protected async doStat(p: string, options: OpOptions): Promise<Entry> {
    if (p === '/') return { path: '/', name: '', type: 'directory', size: 0, mtime: new Date(this.rootTime) };
    const v = this.virtual?.match(p);
    if (v) return this.virtual!.stat(p, v, options);
    const file = await this.client.info(pathToUri(p), options.signal, p);
    this.content.observe(p, file.primary_entity);
    return toEntry(p, file);
  }

  protected async doList(p: string, options: OpOptions): Promise<Entry[]> {
    const v = this.virtual?.match(p);
    if (v) return this.virtual!.list(p, v, options);
    const entries = await this.listPlain(p, options.signal);
    this.feed.record(p, entries);
    return entries;
  }

  /** Changes made elsewhere under `path`, from the server's change feed (events.ts). */
  watch(path: string, options: WatchOptions = {}): AsyncIterable<VfsChange> {
    return this.feed.watch(path, options);
  }

  /** How the feed runs now, for diagnostics: push or poll (and why), streams opened. */
  feedStatus(): { mode: 'push' | 'poll'; reason?: string; clientId: string } & CloudreveFeed['counts'] {
    return { mode: this.feed.mode, ...(this.feed.fallbackReason ? { reason: this.feed.fallbackReason } : {}), clientId: this.clientId, ...this.feed.counts };
  }

  /** Before the first subscription: switch to this instance's kept client id (once). */
  private takeKeptId(): void {
    if (!this.keptId) return;
    const { stateDir, baseUrl, account } = this.keptId;
    this.keptId = undefined;
    const id = claimClientId(stateDir, baseUrl, account, this.logger);
    if (stateDir === false) return; // nothing kept: the fresh id is as good
    releaseClientId(this.clientId);
    this.clientId = id;
    this.client.setClientId(id);
  }

  private async listPlain(p: string, signal: AbortSignal | undefined): Promise<Entry[]> {
    const files = await this.listRaw(p, this.pageSize, signal, true);
    return files.map((f) => {
      const child = joinPath(p, decodeName(f.name));
      this.content.observe(child, f.primary_entity);
      return toEntry(child, f);
    });
  }

  protected async doRead(p: string, options: CheckedReadOptions): Promise<Readable> {
    const { offset, length } = options;
    const v = this.virtual?.match(p);
    if (v) return this.virtual!.read(p, v, offset, length, options);
    return this.unlocking(p, async () => {
      try {
        return await this.content.read(p, offset, length, options.signal);
      } catch (e) {
        // 40077 "entity not exist": a folder (or a placeholder whose upload has not finished).
        if (cloudreveCode(e) === CODE.EntityNotExist && isVfsError(e)) {
          const entry = await this.stat(p, options);
          if (entry.type === 'directory') throw recode(e, 'EISDIR', 'is a directory', 'read', p);
          throw recode(e, 'EBUSY', 'the file has no content yet (upload in progress?)', 'read', p);
        }
        throw e;
      }
    });
  }

  protected async doWrite(p: string, data: WriteData, options: WriteOptions): Promise<Entry> {
    if (this.virtual?.match(p)) throw this.virtual.readOnly('write', p);
    const overwrite = options.overwrite ?? true;
    return this.inTurn([p], async () => {
      const uri = pathToUri(p); // ENAMETOOLONG before any request
      await (this.recovery ??= this.recoverUploads().catch((e) => this.logger.warn('cloudreve: could not recover upload sessions left by an earlier run', { error: String(e) })));
      await this.checkParent(p, options.signal);
      const knownSize = data instanceof Uint8Array ? data.byteLength : options.size;
      if (knownSize === 0 && !overwrite) {
        // An empty new file needs no storage round trip (and OneDrive takes no empty range).
        await readExactly(data, 0, options.signal);
        return this.createEmpty(p, uri, options.signal);
      }
      if (overwrite && knownSize !== undefined && knownSize <= this.smallFileBytes && (!providerMtime(options.mtime) || knownSize === 0)) {
        // One request through the master, whatever the policy (the server itself refuses over max_size).
        return this.writeSmall(p, uri, await readExactly(data, knownSize, options.signal), options.signal);
      }
      // max_size and the suffix rules of the folder's policy refuse before any byte is sent.
      const policy = await this.policyOf(parentPath(p), options.signal);
      if (knownSize !== undefined) checkPolicy(policy, encodeName(baseName(p)), knownSize, p);
      const source = await openByteSource(data, options.size, this.spoolDir, options.signal);
      try {
        throwIfAborted(options.signal, { path: p });
        if (knownSize === undefined) checkPolicy(policy, encodeName(baseName(p)), source.size, p);
        if (source.size === 0 && overwrite) return await this.writeSmall(p, uri, new Uint8Array(0), options.signal);
        if (source.size === 0) return await this.createEmpty(p, uri, options.signal);
        await this.uploadReopening(p, uri, source, overwrite, options);
      } finally {
        await source.dispose();
      }
      this.content.forget(p);
      return this.stat(p, options);
    });
  }

  protected async doMkdir(p: string, options: OpOptions): Promise<Entry> {
    if (this.virtual?.match(p)) throw this.virtual.readOnly('mkdir', p);
    const uri = pathToUri(p);
    await this.checkParent(p, options.signal);
    try {
      return toEntry(p, await this.client.create(uri, 'folder', true, options.signal, p));
    } catch (e) {
      if (cloudreveCode(e) === CODE.ObjectExist && isVfsError(e)) throw recode(e, 'EEXIST', 'already exists', 'mkdir', p);
      throw e;
    }
  }

  protected async doRemove(p: string, options: RemoveOptions): Promise<void> {
    const v = this.virtual?.match(p);
    if (v) return this.virtual!.purge(p, v, options);
    await this.inTurn([p], async () => {
      if (!options.recursive) {
        // One cheap page tells "folder with children" apart; 40016 means a file or nothing,
        // which the delete itself sorts out.
        try {
          const page = await this.client.listPage(pathToUri(p), 1, undefined, options.signal, p);
          if (page.files.length > 0) throw opError('ENOTEMPTY', 'directory not empty', 'remove', p);
        } catch (e) {
          if (cloudreveCode(e) !== CODE.ParentNotExist) throw e;
        }
      }
      this.content.forget(p);
      await this.unlocking(p, () => this.client.delete([pathToUri(p)], this.permanentDelete, options.signal, p));
    });
  }

  protected async doRename(src: string, dst: string, options: MoveOptions): Promise<Entry> {
    if (this.virtual?.match(dst)) throw this.virtual.readOnly('rename', dst);
    const v = this.virtual?.match(src);
    if (v) {
      // Out of the trash: restore to where it was, then move on when asked for another place.
      const back = await this.virtual!.restore(src, v, options);
      this.content.forget(back);
      return back === dst ? this.stat(dst, options) : this.rename(back, dst, options);
    }
    return this.sendOnto('rename', src, dst, options, () => this.moves.moveInto(src, dst, options.signal),
      async (entry) => ({ ...entry, path: dst, name: baseName(dst) }));
  }

  protected async doCopy(src: string, dst: string, options: MoveOptions): Promise<Entry> {
    if (this.virtual?.match(dst)) throw this.virtual.readOnly('copy', dst);
    // A version or trashed item has no server-side copy: EXDEV makes callers read and write instead.
    if (this.virtual?.match(src)) throw opError('EXDEV', 'copy out of a virtual folder goes by reading and writing', 'copy', src);
    return this.sendOnto('copy', src, dst, options, () => this.moves.copyInto(src, dst, options.signal), () => this.stat(dst, options));
  }

  /**
   * A rename or copy onto `dst`, in turn with the other mutations of both paths: the target's parent
   * must be a folder; a target the options allow replacing is moved aside first (moves.ts), put back
   * when `send` fails and discarded once it succeeded. `done` makes the answer from the source's entry.
   */
  private sendOnto(op: 'rename' | 'copy', src: string, dst: string, options: MoveOptions, send: () => Promise<void>, done: (source: Entry) => Promise<Entry>): Promise<Entry> {
    return this.inTurn([src, dst], () => this.unlocking(src, async () => {
      pathToUri(dst);
      const entry = await this.stat(src, options);
      await this.checkParent(dst, options.signal);
      const displaced = await this.moves.makeRoom(entry, dst, options, op);
      if (op === 'rename') this.content.forget(src);
      this.content.forget(dst);
      try {
        await send();
      } catch (e) {
        if (displaced) await this.moves.putBack(displaced, dst);
        throw e;
      }
      if (displaced) await this.moves.discard(displaced);
      return done(entry);
    }));
  }

  /** WebDAV dead properties of `path`, from its `dav:` metadata (the format Cloudreve's /dav uses: dav-props.ts). */
  getProps(path: string, options: OpOptions = {}): Promise<DeadProperty[]> {
    return this.guard('get properties', path, options, async (p) => {
      // The root and the virtual folders have no metadata of their own.
      if (p === '/' || this.virtual?.match(p)) return [];
      return propsFromMetadata((await this.client.info(pathToUri(p), options.signal, p)).metadata);
    });
  }

  /** Set/remove dead properties of `path` in one `PATCH /file/metadata`. */
  setProps(path: string, patch: DeadPropertyPatch, options: OpOptions = {}): Promise<void> {
    return this.guard('set properties', path, options, async (p) => {
      if (p === '/') throw opError('EACCES', 'the root cannot carry properties on Cloudreve', 'set properties', p);
      if (this.virtual?.match(p)) throw this.virtual.readOnly('set properties', p);
      const patches = metadataPatches(patch, p);
      if (patches.length === 0) return;
      await this.unlocking(p, () => this.client.patchMetadata([pathToUri(p)], patches, options.signal, p));
    });
  }

  /** A share link of `path` (`PUT /share`); a password (or `private`) makes it private. */
  createShare(path: string, options: ShareLinkOptions = {}): Promise<ShareLink> {
    return this.guard('share', path, options, async (p) => {
      if (p === '/' || this.virtual?.match(p)) throw opError('EINVAL', 'only a file or folder of the drive can be shared', 'share', p);
      const request = shareRequest(pathToUri(p), options, p);
      const url = await this.client.createShare(request, options.signal, p);
      if (typeof url !== 'string' || url === '') throw opError('EPROTO', 'the server answered no link', 'share', p);
      const id = shareIdOf(url);
      // The answer is just the link: the list says the rest (expiry, password as the server set it).
      const listed = (await this.listShares(options)).find((s) => s.id === id);
      return listed ?? { id, url, path: p };
    });
  }

  /** Every share link of the account (`GET /share`, all pages). */
  listShares(options: OpOptions = {}): Promise<ShareLink[]> {
    return this.guard('list shares', undefined, options, async () => {
      const out: ShareLink[] = [];
      let token: string | undefined;
      const seen = new Set<string>();
      for (let page = 0; page < MAX_SHARE_PAGES; page++) {
        const res = await this.client.listShares(100, token, options.signal);
        for (const s of res.shares ?? []) out.push(toShareLink(s));
        token = res.pagination?.next_token;
        if (!token || seen.has(token)) break;
        seen.add(token);
      }
      return out;
    });
  }

  /** Delete a share link by id (`DELETE /share/{id}`). */
  removeShare(id: string, options: OpOptions = {}): Promise<void> {
    return this.guard('remove share', undefined, options, async () => {
      if (!/^[A-Za-z0-9_-]{1,64}$/.test(id)) throw opError('EINVAL', `not a share id: ${JSON.stringify(id.slice(0, 80))}`, 'remove share');
      await this.client.deleteShare(id, options.signal);
    });
  }

  protected async doSpace(options: OpOptions): Promise<SpaceInfo> {
    const { total, used } = await this.client.capacity(options.signal);
    return { used, total, free: Math.max(0, total - used) };
  }

  async close(): Promise<void> {
    this.feed.close();
    releaseClientId(this.clientId);
    this.client.close();
  }

  // ---- internals -------------------------------------------------------------------------

  /** Every page of a folder (cursor pages, or offset pages on servers with cursors off). */
  private async listRaw(p: string, pageSize: number, signal: AbortSignal | undefined, explain: boolean): Promise<FileResponse[]> {
    const uri = pathToUri(p);
    const out: FileResponse[] = [];
    let token: string | undefined;
    let page = 0;
    const seen = new Set<string>();
    try {
      for (let requests = 1; ; requests++) {
        // A server that hands out the same cursor again (or pages without end) would keep this loop,
        // and the listing in memory, growing forever.
        if (requests > MAX_LIST_PAGES) throw opError('EPROTO', `the listing did not end after ${MAX_LIST_PAGES} pages`, 'list', p);
        const res = await this.client.listPage(uri, pageSize, token, signal, p, page);
        out.push(...res.files);
        if (res.pagination.next_token) {
          if (seen.has(res.pagination.next_token)) throw opError('EPROTO', 'the server sent the same listing cursor twice', 'list', p);
          token = res.pagination.next_token;
          seen.add(token);
          continue;
        }
        // Offset mode (admin turned cursors off): page numbers until total_items are in.
        const total = res.pagination.total_items;
        if (!res.pagination.is_cursor && total !== undefined && out.length < total && res.files.length > 0) {
          page++;
          continue;
        }
        return out;
      }
    } catch (e) {
      // 40016 covers "missing" and "is a file": a stat tells which.
      if (explain && cloudreveCode(e) === CODE.ParentNotExist && p !== '/') {
        const entry = await this.stat(p, signal ? { signal } : {});
        if (entry.type === 'file') throw opError('ENOTDIR', 'not a directory', 'list', p);
      }
      throw e;
    }
  }

  /** The parent of `p` must be an existing folder (the server would create it, or say 403). */
  private async checkParent(p: string, signal?: AbortSignal): Promise<void> {
    const parent = parentPath(p);
    if (parent === '/') return;
    let entry: Entry;
    try {
      entry = await this.stat(parent, signal ? { signal } : {});
    } catch (e) {
      if (isVfsError(e, 'ENOENT')) throw opError('ENOENT', 'parent directory does not exist', 'check parent', p);
      throw e;
    }
    if (entry.type !== 'directory') throw opError('ENOTDIR', 'parent is not a directory', 'check parent', p);
  }

  /** A small file in one request: PUT /file/content creates it or adds a version (same id). */
  private async writeSmall(p: string, uri: string, body: Uint8Array, signal?: AbortSignal): Promise<Entry> {
    throwIfAborted(signal, { path: p });
    try {
      const file = await this.unlocking(p, () => this.client.putContent(uri, body, signal, p));
      this.content.forget(p);
      return toEntry(p, file);
    } catch (e) {
      // 40004: the path is a folder.
      if (cloudreveCode(e) === CODE.ObjectExist && isVfsError(e)) throw recode(e, 'EISDIR', 'is a directory', 'write', p);
      throw e;
    }
  }

  /** The storage policy the listing of `dir` reports (undefined when the server sends none). */
  private async policyOf(dir: string, signal?: AbortSignal): Promise<StoragePolicy | undefined> {
    const hit = this.policies.get(dir);
    if (hit) return hit.policy ?? undefined;
    let policy: StoragePolicy | undefined;
    try {
      policy = (await this.client.listPage(pathToUri(dir), 1, undefined, signal, dir)).storage_policy;
    } catch (e) {
      // A missing or non-folder parent is checkParent's to report; an unknown policy is the server's to enforce.
      if (cloudreveCode(e) === CODE.ParentNotExist || isVfsError(e, 'ENOENT')) return undefined;
      throw e;
    }
    this.policies.set(dir, { policy: policy ?? null });
    return policy;
  }

  /** POST /file/create of an empty file that must not exist yet. */
  private async createEmpty(p: string, uri: string, signal?: AbortSignal): Promise<Entry> {
    try {
      const file = await this.unlocking(p, () => this.client.create(uri, 'file', true, signal, p));
      this.content.forget(p);
      return toEntry(p, file);
    } catch (e) {
      if (cloudreveCode(e) === CODE.ObjectExist && isVfsError(e)) {
        const existing = await this.stat(p, signal ? { signal } : {}).catch(() => undefined);
        throw recode(e, existing?.type === 'directory' ? 'EISDIR' : 'EEXIST', existing?.type === 'directory' ? 'is a directory' : 'already exists', 'write', p);
      }
      throw e;
    }
  }

  /**
   * upload(), once more with a new session when the storage says the session's presigned URLs (or
   * its own upload) expired: the failed session is cancelled first. Only a source that can be read
   * again from the start (bytes, a spool file) can go round again; a stream fails with ESTALE.
   */
  private async uploadReopening(p: string, uri: string, source: Awaited<ReturnType<typeof openByteSource>>, overwrite: boolean, options: WriteOptions): Promise<void> {
    try {
      await this.upload(p, uri, source, overwrite, options);
    } catch (e) {
      if (!isExpiredUpload(e) || !source.restartable) throw e;
      this.logger.info('cloudreve: the upload session expired at the storage; opening a new one', { path: p });
      await this.upload(p, uri, source, overwrite, options);
    }
  }

  /** Upload `source` to `p` through an upload session; cancels the session on any failure. */
  private async upload(p: string, uri: string, source: Awaited<ReturnType<typeof openByteSource>>, overwrite: boolean, options: WriteOptions): Promise<void> {
    const mtime = providerMtime(options.mtime);
    const request = { uri, size: source.size, ...(mtime ? { last_modified: mtime.getTime() } : {}) };
    // The server locks the path as soon as it creates the session, before its answer reaches us: an
    // intent record first, so a kill in that window still leaves something the next start can match.
    const intent: UploadRecord = {
      v: 1, sessionId: `intent-${randomUUID()}`, intent: true, uri, path: p, size: source.size,
      expiresAt: Date.now() + 25 * 3600_000, pid: process.pid, host: hostname(), ...(bootId() ? { boot: bootId()! } : {}),
    };
    LIVE_SESSIONS.add(intent.sessionId);
    const intended = await this.recordSession(intent);
    let session;
    try {
      // "version" uploads a new version of an existing file (keeps its id) and creates a missing one.
      session = await this.unlocking(p, () => this.client.createUploadSession(overwrite ? { ...request, entity_type: 'version' } : request, options.signal, p));
    } catch (e) {
      if (cloudreveCode(e) === CODE.ObjectExist && isVfsError(e)) {
        if (overwrite) throw recode(e, 'EISDIR', 'is a directory', 'write', p);
        const existing = await this.stat(p, options).catch(() => undefined);
        if (existing?.type === 'directory') throw recode(e, 'EISDIR', 'is a directory', 'write', p);
        throw recode(e, 'EEXIST', 'already exists', 'write', p);
      }
      throw e;
    } finally {
      LIVE_SESSIONS.delete(intent.sessionId);
      // On failure no session exists; on success the session's own record replaces it (below).
      if (!session && intended) await this.forgetSession(intent.sessionId);
    }
    LIVE_SESSIONS.add(session.session_id);
    const record: UploadRecord = {
      v: 1, sessionId: session.session_id, uri, path: p, size: source.size,
      expiresAt: Number(session.expires) > 0 ? Number(session.expires) * 1000 : Date.now() + 86_400_000,
      pid: process.pid, host: hostname(), ...(bootId() ? { boot: bootId()! } : {}),
    };
    // Before the first chunk: a process killed from here on leaves a record the next start cancels.
    const recorded = await this.recordSession(record);
    // Only now, with the session's own record on disk: a kill between the two leaves one or both.
    if (intended) await this.forgetSession(intent.sessionId);
    try {
      // The session's own policy decides the flow (the listing's may be stale); relay = through the master.
      const policy = session.storage_policy ?? (await this.policyOf(parentPath(p), options.signal)) ?? { id: '', name: '', type: 'local', max_size: 0 };
      const flow = flowOf(policy);
      if (!flow) {
        throw opError('ENOTSUP', `unknown storage policy type ${JSON.stringify(policy.type)}`, 'write', p);
      }
      await sendUpload({
        client: this.client, scheduler: this.client.scheduler, session, policy, flow, source, path: p,
        signal: options.signal, concurrency: this.partConcurrency,
      });
    } catch (e) {
      // Abandoned: cancel so the placeholder/pending version goes and the previous version stays.
      const cancelled = await this.client.cancelUpload(session.session_id, uri, p).then(() => true, (err) => {
        this.logger.warn('cloudreve: could not cancel an abandoned upload session (cancelled at the next start, or it expires on its own)', { path: p, error: String(err) });
        return false;
      });
      // A session that could not be cancelled stays in the journal: no longer live, so it is an orphan.
      if (cancelled && recorded) await this.forgetSession(record.sessionId);
      throw e;
    } finally {
      LIVE_SESSIONS.delete(session.session_id);
    }
    if (recorded) await this.forgetSession(record.sessionId);
  }

  /**
   * Cancel the upload sessions a killed process left (its journal records), so their paths are not
   * locked for the sessions' lifetime. `mount` and `serve` call it at start; the first write does too.
   * Records of live processes (this one's included) are left alone.
   */
  async recoverUploads(): Promise<{ cancelled: number; left: number }> {
    if (!this.journal) return { cancelled: 0, left: 0 };
    let cancelled = 0;
    let left = 0;
    const records = await this.journal.list();
    // An intent whose session record was written too is covered by that record.
    const sessions = new Set(records.filter((r) => !r.intent).map((r) => `${r.pid}\n${r.path}`));
    for (const record of records) {
      if (record.intent && sessions.has(`${record.pid}\n${record.path}`) && isAbandoned(record, LIVE_SESSIONS)) {
        await this.forgetSession(record.sessionId);
      } else if (record.intent) {
        // Dropped once surely expired; a dead process's intent may name a session the server opened
        // (killed before its record was written): that session is found by its path and cancelled.
        if (record.expiresAt <= Date.now()) await this.forgetSession(record.sessionId);
        else if (isAbandoned(record, LIVE_SESSIONS) && (await this.cancelIntended(record, records))) cancelled++;
        else left++;
      } else if (isAbandoned(record, LIVE_SESSIONS) && (await this.cancelRecorded(record))) cancelled++;
      else left++;
    }
    if (cancelled > 0) this.logger.info('cloudreve: cancelled upload sessions left by an earlier run', { cancelled });
    return { cancelled, left };
  }

  /**
   * Run `fn`; when it fails on a path held by an upload session our journal names and whose process
   * is gone (40073 naming that path, or 40077 on its content-less placeholder), cancel that session
   * and run `fn` once more. Any other lock, or a live upload, stays an EBUSY.
   */
  private async unlocking<T>(p: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      if (!(await this.clearAbandonedUploads(e, p))) throw e;
      return fn();
    }
  }

  private async clearAbandonedUploads(e: unknown, p: string): Promise<boolean> {
    if (!this.journal) return false;
    const code = cloudreveCode(e);
    const held = new Set<string>();
    const tokens = new Map<string, string[]>();
    if (code === CODE.LockConflict) {
      for (const lock of lockConflicts(e)) {
        if (lock.owner?.application?.type !== 'upload' || typeof lock.path !== 'string') continue;
        const path = uriToPath(lock.path);
        if (path === undefined) continue;
        held.add(path);
        if (typeof lock.token === 'string' && lock.token !== '') tokens.set(path, [...(tokens.get(path) ?? []), lock.token]);
      }
    } else if (code === CODE.EntityNotExist && isVfsError(e, 'EBUSY')) {
      held.add(p);
    }
    if (held.size === 0) return false;
    const records = await this.journal.list().catch(() => []);
    let cleared = false;
    for (const record of records) {
      if (!held.has(record.path) || !isAbandoned(record, LIVE_SESSIONS)) continue;
      if (!record.intent) {
        if (await this.cancelRecorded(record)) cleared = true;
        continue;
      }
      // A dead process of ours was creating an upload session on this very path when it died, and an
      // upload lock holds it: that lock is the session it never heard of. Release it by its token.
      const locks = tokens.get(record.path);
      if (!locks) continue;
      try {
        await this.client.releaseLocks(locks, record.path);
        this.content.forget(record.path);
        await this.forgetSession(record.sessionId);
        cleared = true;
      } catch (err) {
        this.logger.warn('cloudreve: could not release the lock of an upload a killed run left', { path: record.path, error: String(err) });
      }
    }
    return cleared;
  }

  /**
   * Cancel the upload session a dead process opened on `intent.path` without recording it: the
   * server names it in the file's `sys:upload_session_id` (dbfs/upload.go PrepareUpload, for a new
   * file's placeholder and a new version alike). False when there is none (the kill came before the
   * server saw the request: the intent stays for a lock conflict to match) or a record owns it.
   */
  private async cancelIntended(intent: UploadRecord, records: UploadRecord[]): Promise<boolean> {
    const file = await this.client.info(intent.uri, undefined, intent.path).catch(() => undefined);
    const sessionId = file?.metadata?.['sys:upload_session_id'];
    if (!sessionId) return false;
    // A session some record names is that record's (a live process's, or cancelled by its own entry).
    if (records.some((r) => !r.intent && r.sessionId === sessionId) || LIVE_SESSIONS.has(sessionId)) return false;
    if (!(await this.cancelRecorded({ ...intent, sessionId }))) return false;
    await this.forgetSession(intent.sessionId);
    return true;
  }

  /** DELETE /file/upload of a recorded session; true when it is gone (cancelled now or before). */
  private async cancelRecorded(record: UploadRecord): Promise<boolean> {
    try {
      await this.client.cancelUpload(record.sessionId, record.uri, record.path);
    } catch (e) {
      // Gone already: completed or replaced (404), expired (40011), or the path itself (40016).
      const code = cloudreveCode(e);
      if (code !== CODE.NotFound && code !== CODE.UploadSessionExpired && code !== CODE.ParentNotExist) {
        this.logger.warn('cloudreve: could not cancel an upload session left by an earlier run', { path: record.path, error: String(e) });
        return false;
      }
    }
    this.content.forget(record.path);
    await this.forgetSession(record.sessionId);
    return true;
  }

  /** Write `record` to the journal; false (and one warning) when the state folder cannot take it. */
  private async recordSession(record: UploadRecord): Promise<boolean> {
    if (!this.journal) return false;
    try {
      await this.journal.add(record);
      return true;
    } catch (e) {
      if (!this.journalWarned) {
        this.journalWarned = true;
        this.logger.warn('cloudreve: cannot record upload sessions; one cut short by a crash stays locked until it expires', { dir: this.journal.dir, error: String(e) });
      }
      return false;
    }
  }

  private async forgetSession(sessionId: string): Promise<void> {
    await this.journal?.remove(sessionId).catch((e) => this.logger.warn('cloudreve: could not remove an upload journal record', { error: String(e) }));
  }

  /**
   * Mutations of one path run one after another, in the order they were asked for: a write cut short
   * (a client gone mid-PUT) cancels its upload session before the next write, move or delete of that
   * path is sent, which would otherwise meet the session's lock (423) while the cancel is in flight.
   */
  private async inTurn<T>(paths: string[], fn: () => Promise<T>): Promise<T> {
    const keys = [...new Set(paths)];
    const before = keys.map((k) => this.pathTurns.get(k)).filter((t): t is Promise<void> => t !== undefined);
    let done!: () => void;
    const mine = new Promise<void>((resolve) => (done = resolve));
    for (const k of keys) this.pathTurns.set(k, mine);
    try {
      await Promise.all(before); // turns only ever resolve
      return await fn();
    } finally {
      done();
      for (const k of keys) if (this.pathTurns.get(k) === mine) this.pathTurns.delete(k);
    }
  }

}

/** Most pages of shares read (100 per page). */
const MAX_SHARE_PAGES = 1000;

/** PUT /share's body; Cloudreve's own rules checked first (EINVAL): a password of 1–32 letters and digits. */
function shareRequest(uri: string, o: ShareLinkOptions, p: string): ShareCreateRequest {
  if (o.password !== undefined && !/^[A-Za-z0-9]{1,32}$/.test(o.password)) throw opError('EINVAL', 'a share password is 1 to 32 letters and digits', 'share', p);
  for (const [name, v] of [['expiry', o.expiresInSeconds], ['downloads', o.downloads]] as const) {
    if (v !== undefined && (!Number.isInteger(v) || v < 0 || v > 2 ** 31 - 1)) throw opError('EINVAL', `bad ${name} ${v}`, 'share', p);
  }
  return {
    uri,
    is_private: o.password !== undefined || o.private === true,
    ...(o.password !== undefined ? { password: o.password } : {}),
    ...(o.expiresInSeconds ? { expire: o.expiresInSeconds } : {}),
    ...(o.downloads ? { downloads: o.downloads } : {}),
  };
}

/** The id in a share link `{site}/s/{id}[/{password}]` (pkg/cluster/routes MasterShareUrl). */
function shareIdOf(url: string): string {
  try {
    const parts = new URL(url).pathname.split('/').filter(Boolean);
    const at = parts.lastIndexOf('s');
    return at >= 0 && parts[at + 1] ? decodeURIComponent(parts[at + 1]!) : url;
  } catch {
    return url;
  }
}

function toShareLink(s: ShareResponse): ShareLink {
  const expires = s.expires ? new Date(s.expires) : undefined;
  const path = s.source_uri ? uriToPath(s.source_uri) : undefined;
  return {
    id: s.id, url: s.url,
    ...(path !== undefined ? { path } : {}),
    ...(s.name ? { name: decodeName(s.name) } : {}),
    ...(s.password ? { password: s.password } : {}),
    ...(expires && !Number.isNaN(expires.getTime()) ? { expires } : {}),
    ...(typeof s.remain_downloads === 'number' ? { remainingDownloads: s.remain_downloads } : {}),
    visited: Number(s.visited) || 0,
    expired: s.expired === true,
  };
}

function toEntry(path: string, f: FileResponse): Entry {
  const type = f.type === 1 ? 'directory' : 'file';
  const mtime = new Date(f.updated_at);
  const entry: Entry = {
    path,
    name: baseName(path),
    type,
    size: type === 'file' ? Number(f.size) || 0 : 0,
    mtime: Number.isNaN(mtime.getTime()) ? new Date(0) : mtime,
    id: f.id,
  };
  if (type === 'file') entry.etag = f.primary_entity ? `${f.id}:${f.primary_entity}` : `${f.id}:${f.updated_at}`;
  return entry;
}
