/**
 * The Vfs contract: one promise-based filesystem interface that every provider adapter implements
 * and every frontend (FUSE, WebDAV, library users) consumes. The rules every implementation follows
 * are checked by the shared suite in test/contract.
 */
import type { Scheduler } from './scheduler/index.js';
import type { Readable } from 'node:stream';

export type EntryType = 'file' | 'directory';

/** Metadata of one file or directory. */
export interface Entry {
  /** Normalised absolute path, e.g. "/docs/a.txt"; "/" for the root. */
  path: string;
  /** Last path segment; "" for the root. */
  name: string;
  type: EntryType;
  /** Bytes for files; 0 for directories. */
  size: number;
  /** Last modification time. */
  mtime: Date;
  /** Changes whenever the content changes (provider etag, entity id, or derived). */
  etag?: string;
  mimeType?: string;
  /** The provider's own id for this object, when it has one. */
  id?: string;
}

/** Bytes to write: a Node stream, any async iterable of bytes, or one buffer. */
export type WriteData = Readable | AsyncIterable<Uint8Array> | Uint8Array;

export interface OpOptions {
  /** Abort the operation; it rejects with ECANCELED. */
  signal?: AbortSignal;
}

export interface ReadOptions extends OpOptions {
  /** First byte to return (default 0). */
  offset?: number;
  /** How many bytes at most (default: to the end). A range past the end yields the bytes that exist. */
  length?: number;
}

export interface WriteOptions extends OpOptions {
  /** Total bytes, when known in advance (some providers need it before the upload starts). */
  size?: number;
  /** Modification time to record, where the provider keeps it. */
  mtime?: Date;
  /** Replace an existing file (default true); false → EEXIST when the path exists. */
  overwrite?: boolean;
}

export interface RemoveOptions extends OpOptions {
  /** Remove a directory with everything in it; without it a non-empty directory is ENOTEMPTY. */
  recursive?: boolean;
}

export interface MoveOptions extends OpOptions {
  /**
   * Replace an existing target (default false → EEXIST). A file replaces a file, a directory
   * replaces an empty directory; a type mismatch is EISDIR/ENOTDIR, a non-empty directory ENOTEMPTY.
   */
  overwrite?: boolean;
}

/** Storage quota, in bytes. `total`/`free` are absent when the provider does not say. */
export interface SpaceInfo {
  used: number;
  total?: number;
  free?: number;
}

/** What a provider does natively; frontends and the cache use it to choose strategies. */
export interface VfsCapabilities {
  /** `read` with an offset fetches only the requested bytes. */
  rangedReads: boolean;
  /** `copy` happens on the server without moving bytes through us. */
  serverSideCopy: boolean;
  /** `rename` happens on the server. */
  serverSideMove: boolean;
  /** Largest file the provider accepts, in bytes, when known. */
  maxFileSize?: number;
  /** "A" and "a" are different names. */
  caseSensitive: boolean;
  /** `write` keeps the `mtime` it is given. */
  preservesMtime: boolean;
  /** Smallest mtime step the provider stores, in ms (1000 for Unix-seconds providers). */
  mtimeResolutionMs: number;
  /**
   * How a client's modification time can be stored (see MtimeSupport). Absent: derived by
   * `mtimeSupportOf` from `setMtime` and `preservesMtime`.
   */
  mtime?: MtimeSupport;
  /** `write` works better (or only) when `size` is given up front. */
  needsSizeForWrite: boolean;
  /** `space()` can tell used/total bytes. */
  quota: boolean;
  /** Every mutation fails with EROFS. */
  readOnly: boolean;
  /**
   * How `watch` learns of changes made elsewhere: `push` (the provider streams them, seconds),
   * `poll` (re-listing folders at an interval), absent or `none` (no `watch`).
   */
  changes?: 'push' | 'poll' | 'none';
  /**
   * Names in the root that exist without being listed (virtual folders such as a provider's trash):
   * `stat`/`list`/`read` of them and below work, a listing of "/" does not show them, so `find` and
   * PROPFIND do not wander in. Caches must not take "not in the root listing" as "missing" for them.
   */
  unlistedNames?: readonly string[];
}

/**
 * Where a client's modification time can go: `set` (on an existing file or folder, `setMtime`, and
 * with every upload), `on-upload` (only with the bytes of an upload, `write`'s `mtime`; a time set
 * later needs a new upload), `none` (the provider records its own times).
 */
export type MtimeSupport = 'set' | 'on-upload' | 'none';

/** The MtimeSupport of `vfs`: its capability when stated, else what its methods and flags imply. */
export function mtimeSupportOf(vfs: Pick<Vfs, 'capabilities' | 'setMtime'>): MtimeSupport {
  const stated = vfs.capabilities.mtime;
  // A wrapper may state `set` for an inner Vfs it forwards; without the method it cannot.
  if (stated === 'set' && typeof vfs.setMtime !== 'function') return vfs.capabilities.preservesMtime ? 'on-upload' : 'none';
  if (stated) return stated;
  if (typeof vfs.setMtime === 'function') return 'set';
  return vfs.capabilities.preservesMtime ? 'on-upload' : 'none';
}

/** What changed. Paths are absolute Vfs paths. */
export interface VfsChange {
  /** `resync`: changes under `path` may have been missed; reread what you hold there. */
  type: 'create' | 'modify' | 'delete' | 'rename' | 'resync';
  path: string;
  /** The path before a `rename`. */
  oldPath?: string;
}

export interface WatchOptions {
  /** Stop watching; the iterator then ends. */
  signal?: AbortSignal;
}

/** A WebDAV dead property (RFC 4918 §4): its qualified name, its XML content, its xml:lang. */
export interface DeadProperty {
  /** Namespace URI ("" for none). */
  namespace: string;
  /** Local name. */
  name: string;
  /** The element's inner XML as sent (namespace declarations it relies on included by the sender). */
  innerXml: string;
  lang?: string;
}

/** A PROPPATCH's effect: properties to set (replace) and names to remove, applied as one. */
export interface DeadPropertyPatch {
  set?: DeadProperty[];
  remove?: Array<{ namespace: string; name: string }>;
}

/**
 * A provider that keeps WebDAV dead properties itself (Cloudreve: its `dav:` metadata, which its own
 * `/dav` reads), so every share and client of the account sees the same ones. A WebDAV frontend uses
 * it when `getProps` and `setProps` are both present and keeps its own store otherwise.
 */
export interface DeadPropertyStore {
  /** The dead properties of `path` (ENOENT when it is missing). */
  getProps(path: string, options?: OpOptions): Promise<DeadProperty[]>;
  /** Apply `patch` to `path`; all or nothing. */
  setProps(path: string, patch: DeadPropertyPatch, options?: OpOptions): Promise<void>;
}

/** True when `vfs` stores dead properties itself (see DeadPropertyStore). */
export function hasDeadPropertyStore(vfs: Vfs): vfs is Vfs & DeadPropertyStore {
  return typeof vfs.getProps === 'function' && typeof vfs.setProps === 'function';
}

/** A public link to a file or folder, as the provider reports it. */
export interface ShareLink {
  id: string;
  /** The link to hand out (with its password in it when the provider puts it there). */
  url: string;
  /** The shared object's path in this Vfs, when known and inside it. */
  path?: string;
  name?: string;
  /** Set on private links. */
  password?: string;
  expires?: Date;
  /** Downloads left before the link stops working. */
  remainingDownloads?: number;
  visited?: number;
  expired?: boolean;
}

export interface ShareLinkOptions extends OpOptions {
  /** A private link with this password (provider rules apply: Cloudreve takes 1–32 letters and digits). */
  password?: string;
  /** A private link with a password the provider picks. */
  private?: boolean;
  /** Seconds until the link expires. */
  expiresInSeconds?: number;
  /** Downloads allowed before it stops working. */
  downloads?: number;
}

/** A provider that makes public links (Cloudreve shares); pass-through layers forward it. */
export interface ShareLinkStore {
  createShare(path: string, options?: ShareLinkOptions): Promise<ShareLink>;
  listShares(options?: OpOptions): Promise<ShareLink[]>;
  removeShare(id: string, options?: OpOptions): Promise<void>;
}

/** True when `vfs` makes share links (see ShareLinkStore). */
export function hasShareLinks(vfs: Vfs): vfs is Vfs & ShareLinkStore {
  return typeof vfs.createShare === 'function' && typeof vfs.listShares === 'function' && typeof vfs.removeShare === 'function';
}

/** A filesystem. Every method normalises its paths first and rejects with a `VfsError`. */
export interface Vfs {
  /** Short name for logs and errors: "memory", "cloudreve", "cached(cloudreve)". */
  readonly name: string;
  readonly capabilities: VfsCapabilities;
  /** The Scheduler its provider requests go through, for stats; pass-through layers forward it. */
  readonly scheduler?: Scheduler;

  /** Metadata of one path. ENOENT when it or its parent is missing. */
  stat(path: string, options?: OpOptions): Promise<Entry>;
  /** Every child of a directory with its metadata, in no particular order. ENOTDIR for a file. */
  list(dir: string, options?: OpOptions): Promise<Entry[]>;
  /** A byte stream of a file (or a range of it). Rejects before the first byte on ENOENT/EISDIR. */
  read(path: string, options?: ReadOptions): Promise<Readable>;
  /** Create or replace a file from a stream; resolves after the new content is committed. */
  write(path: string, data: WriteData, options?: WriteOptions): Promise<Entry>;
  /** Create one directory (the parent must exist). EEXIST when the path exists. */
  mkdir(path: string, options?: OpOptions): Promise<Entry>;
  /** Remove a file or directory. EBUSY for "/". */
  remove(path: string, options?: RemoveOptions): Promise<void>;
  /** Move/rename. EINVAL when a directory would move into itself. */
  rename(from: string, to: string, options?: MoveOptions): Promise<Entry>;
  /** Copy a file or a directory tree. */
  copy(from: string, to: string, options?: MoveOptions): Promise<Entry>;
  /** Quota. ENOTSUP when the provider cannot tell. */
  space(options?: OpOptions): Promise<SpaceInfo>;
  /**
   * Set the modification time of an existing file or directory without rewriting it (`touch -d`,
   * `rsync -a`, `tar x`), resolving to its new metadata. Optional: absent when the provider has no
   * way to change an mtime after the upload; a wrapper may also reject with ENOTSUP when the Vfs it
   * wraps lacks it. Callers must not fake it with a re-upload.
   */
  setMtime?(path: string, mtime: Date, options?: OpOptions): Promise<Entry>;
  /**
   * Changes made elsewhere under `path` (the whole subtree), as hints: a consumer that missed one is
   * told by a `resync`. The provider's own changes made through this Vfs may be left out.
   */
  watch?(path: string, options?: WatchOptions): AsyncIterable<VfsChange>;
  /** Release timers, sockets and caches. */
  close?(): Promise<void>;
  /** Optional DeadPropertyStore: pass-through layers forward it when their inner Vfs has it. */
  getProps?(path: string, options?: OpOptions): Promise<DeadProperty[]>;
  setProps?(path: string, patch: DeadPropertyPatch, options?: OpOptions): Promise<void>;
  /** Optional ShareLinkStore. */
  createShare?(path: string, options?: ShareLinkOptions): Promise<ShareLink>;
  listShares?(options?: OpOptions): Promise<ShareLink[]>;
  removeShare?(id: string, options?: OpOptions): Promise<void>;
}

/** Capabilities with every flag at its most conservative value, for adapters to spread. */
export const DEFAULT_CAPABILITIES: VfsCapabilities = {
  rangedReads: false,
  serverSideCopy: false,
  serverSideMove: false,
  caseSensitive: true,
  preservesMtime: false,
  mtimeResolutionMs: 1000,
  needsSizeForWrite: false,
  quota: false,
  readOnly: false,
};
