/**
 * The emulator's drive: a folder tree of files whose content lives in entities, a trash, upload
 * sessions with their locks and quota reservations. Operations throw EmuError with the codes the
 * reference lists for each case ("which operation returns what").
 */
import { randomUUID } from 'node:crypto';
import { EmuError, emuFail } from './errors.js';
import type { FeedFolder, StoreChange } from './feed.js';
import { buildUri, keyOf } from './uri.js';

export interface Entity {
  id: number;
  hashId: string;
  data: Buffer;
  createdAt: Date;
}

export interface FsNode {
  id: number;
  hashId: string;
  type: 0 | 1;
  name: string;
  parent: FsNode | undefined;
  children: Map<string, FsNode>;
  entity: Entity | undefined;
  /** Earlier versions, newest first (Cloudreve keeps them as entities of type 0 "version"). */
  versions?: Entity[];
  /** Declared size while a new file's first upload runs (no entity yet). */
  placeholderSize?: number;
  createdAt: Date;
  updatedAt: Date;
  metadata: Record<string, string>;
}

export interface TrashItem {
  node: FsNode;
  restoreUri: string;
  deletedAt: Date;
}

export interface Lock {
  token: string;
  app: 'upload' | 'dav' | 'viewer';
  /** Path key ("/a/b") of the locked object. */
  key: string;
  type: 0 | 1;
  expiresAt: number;
}

export interface UploadSession {
  id: string;
  key: string;
  segments: string[];
  size: number;
  chunkSize: number;
  chunkCount: number;
  expiresAt: number;
  received: Set<number>;
  buffer: Buffer;
  /** The file node: a placeholder (new file) or the existing file (version upload). */
  node: FsNode;
  isVersion: boolean;
  lockToken: string;
  callbackSecret: string;
  lastModified?: number;
}

export interface StoreOptions {
  quota: number;
  /** Policy max_size (0 = unlimited). */
  maxFileSize: number;
}

/** A Cloudreve name rule breach (validator.go): 40052. */
export function validateName(name: string): void {
  const bytes = Buffer.byteLength(name);
  if (bytes === 0 || bytes > 255) emuFail(40052, 'Invalid object name: length of name must be between 1 and 255');
  if (/[\\/:*?"<>|]/.test(name)) emuFail(40052, 'Invalid object name: name contains illegal characters');
  if (name === '.' || name === '..') emuFail(40052, 'Invalid object name: name cannot be only dot');
}

/** The in-memory drive of one user. */
export class DriveStore {
  readonly root: FsNode;
  /** Told of every change, through any route (the change feed, feed.ts). */
  onChange: ((change: StoreChange) => void) | undefined;
  readonly trash: TrashItem[] = [];
  readonly sessions = new Map<string, UploadSession>();
  readonly locks = new Map<string, Lock>();
  /** Share links by id (routes/shares.ts). */
  readonly shares = new Map<string, { id: string; node: FsNode; password: string; expiresAt?: number; downloads: number; visited: number; createdAt: Date }>();
  private nextId = 1;
  private nextEntityId = 1;
  /** Called when a session ends (completed, cancelled, expired): the emulated storage drops its parts. */
  onSessionClosed: ((sessionId: string) => void) | undefined;

  constructor(readonly options: StoreOptions) {
    this.root = this.newNode(1, '', undefined);
  }

  // ---- lookup --------------------------------------------------------------------------

  /** The node at `segments`, or undefined (a file on the way also means "not found"). */
  find(segments: string[]): FsNode | undefined {
    let node = this.root;
    for (const s of segments) {
      if (node.type !== 1) return undefined;
      const child = node.children.get(s);
      if (!child) return undefined;
      node = child;
    }
    return node;
  }

  /** Like find, 40016 "Path not exist" when missing. */
  get(segments: string[]): FsNode {
    return this.find(segments) ?? emuFail(40016, 'Path not exist');
  }

  /** Segments of a node's path. */
  segmentsOf(node: FsNode): string[] {
    const out: string[] = [];
    for (let n: FsNode | undefined = node; n && n.parent; n = n.parent) out.unshift(n.name);
    return out;
  }

  uriOf(node: FsNode, prefix = ''): string {
    return buildUri('my', this.segmentsOf(node), prefix);
  }

  /** Bytes counted against quota: live files, trash, and open upload reservations. */
  used(): number {
    let total = 0;
    const walk = (n: FsNode) => {
      if (n.type === 0) total += n.entity ? n.entity.data.length : 0;
      else for (const c of n.children.values()) walk(c);
    };
    walk(this.root);
    for (const t of this.trash) walk(t.node);
    for (const s of this.sessions.values()) total += s.size;
    return total;
  }

  checkCapacity(extra: number): void {
    if (extra > 0 && this.used() + extra > this.options.quota) emuFail(40051, 'Insufficient capacity');
  }

  // ---- locks ---------------------------------------------------------------------------

  /** 40073 when `key`, an ancestor of it, or (for `deep`) something below it is locked. */
  checkLock(key: string, deep: boolean, prefix = ''): void {
    this.dropExpiredLocks();
    const conflicts: Lock[] = [];
    for (const lock of this.locks.values()) {
      const above = lock.key === key || key.startsWith(lock.key === '/' ? '/' : lock.key + '/');
      const below = deep && (key === '/' || lock.key.startsWith(key + '/'));
      if (above || below) conflicts.push(lock);
    }
    if (conflicts.length > 0) {
      throw new EmuError(40073, 'Lock conflict', conflicts.map((l) => ({
        path: buildUri('my', l.key.split('/').filter(Boolean), prefix),
        token: l.token,
        owner: { application: { type: l.app } },
        type: l.type,
      })));
    }
  }

  lock(key: string, app: Lock['app'], type: 0 | 1, ttlMs: number): Lock {
    const lock: Lock = { token: `opaquelocktoken:${randomUUID()}`, app, key, type, expiresAt: Date.now() + ttlMs };
    this.locks.set(lock.token, lock);
    return lock;
  }

  private dropExpiredLocks(): void {
    const now = Date.now();
    for (const [t, l] of this.locks) if (l.expiresAt <= now) this.locks.delete(t);
  }

  // ---- mutations ------------------------------------------------------------------------

  /** POST /file/create: mkdir -p, then the object; idempotent unless errOnConflict. */
  create(segments: string[], type: 0 | 1, errOnConflict: boolean): FsNode {
    if (segments.length === 0) emuFail(40004, 'Object existed');
    const parent = this.ensureFolders(segments.slice(0, -1));
    const name = segments[segments.length - 1]!;
    const existing = parent.children.get(name);
    if (existing) {
      if (existing.type !== type || errOnConflict) emuFail(40004, 'Object existed');
      return existing;
    }
    validateName(name);
    this.checkLock(keyOf(segments), false);
    const node = this.attach(parent, this.newNode(type, name, parent));
    if (type === 0) node.entity = this.newEntity(Buffer.alloc(0));
    this.emit('create', node);
    return node;
  }

  /** Folders along `segments`, created when missing; a file on the way → 403. */
  ensureFolders(segments: string[]): FsNode {
    let node = this.root;
    for (const s of segments) {
      if (node.type !== 1) emuFail(403, 'Parent is not a folder');
      let child = node.children.get(s);
      if (!child) {
        validateName(s);
        child = this.attach(node, this.newNode(1, s, node));
        this.emit('create', child);
      }
      node = child;
    }
    if (node.type !== 1) emuFail(403, 'Parent is not a folder');
    return node;
  }

  /** POST /file/rename. */
  rename(segments: string[], newName: string): FsNode {
    if (segments.length === 0) emuFail(403, 'Cannot operate root file');
    const node = this.get(segments);
    validateName(newName);
    if (newName === node.name) return node;
    this.checkLock(keyOf(segments), true);
    const parent = node.parent!;
    if (parent.children.has(newName)) emuFail(40004, 'Object existed');
    const before = this.segmentsOf(node);
    parent.children.delete(node.name);
    node.name = newName;
    parent.children.set(newName, node);
    // Every update of a file row stamps updated_at now unless it sets it (ent/schema/file.go Hooks).
    node.updatedAt = new Date();
    parent.updatedAt = new Date();
    this.emit('rename', node, before);
    return node;
  }

  /** POST /file/move (copy when `copy`). Source failures aggregate into 40081. */
  move(sources: Array<{ uri: string; segments: string[] }>, dstSegments: string[], copy: boolean): void {
    const dst = this.get(dstSegments);
    if (dst.type !== 1) emuFail(403, 'Destination is not a folder');
    const failures: Record<string, { code: number; msg: string; correlation_id: string }> = {};
    const nodes: FsNode[] = [];
    for (const { uri, segments } of sources) {
      const node = this.find(segments);
      if (segments.length === 0) failures[uri] = aggregate(403, 'Cannot operate root file');
      else if (!node) failures[uri] = aggregate(40016, 'Path not exist');
      else if (node.type === 1 && isInside(dst, node)) failures[uri] = aggregate(403, 'Cannot move a folder into its own descendant');
      else nodes.push(node);
    }
    if (Object.keys(failures).length > 0) throw new EmuError(40081, 'Batch operation not fully completed', undefined, failures);
    for (const node of nodes) {
      if (dst.children.has(node.name)) emuFail(40004, 'Object existed');
      if (!copy) this.checkLock(keyOf(this.segmentsOf(node)), true);
    }
    if (copy) this.checkCapacity(nodes.reduce((n, node) => n + bytesIn(node), 0));
    for (const node of nodes) {
      if (copy) {
        this.emit('create', this.attach(dst, this.cloneNode(node, dst)));
      } else {
        const from = this.segmentsOf(node);
        const ancestors = this.ancestors(node);
        node.parent!.children.delete(node.name);
        node.parent!.updatedAt = new Date();
        node.parent = dst;
        node.updatedAt = new Date(); // SetParent is an update of the row: updated_at becomes now (as rename)
        this.attach(dst, node);
        this.onChange?.({
          type: 'move', fileId: node.hashId, from, to: this.segmentsOf(node), ancestors,
          dstChain: [this.folderOf(dst), ...this.ancestors(dst)],
        });
      }
    }
  }

  /** DELETE /file: soft (to trash) or permanent. Missing or root → 40081 aggregates. */
  delete(targets: Array<{ uri: string; segments: string[] }>, permanent: boolean): void {
    const failures: Record<string, { code: number; msg: string; correlation_id: string }> = {};
    const nodes: Array<{ node: FsNode; uri: string }> = [];
    for (const { uri, segments } of targets) {
      const node = this.find(segments);
      if (segments.length === 0) failures[uri] = aggregate(403, 'Cannot operate root file');
      else if (!node) failures[uri] = aggregate(40016, 'Path not exist');
      else nodes.push({ node, uri });
    }
    if (Object.keys(failures).length > 0) throw new EmuError(40081, 'Batch operation not fully completed', undefined, failures);
    for (const { node } of nodes) this.checkLock(keyOf(this.segmentsOf(node)), true);
    for (const { node } of nodes) {
      this.emit('delete', node);
      const restoreUri = this.uriOf(node);
      node.parent!.children.delete(node.name);
      node.parent!.updatedAt = new Date();
      if (!permanent) {
        node.metadata['sys:restore_uri'] = restoreUri;
        this.trash.push({ node, restoreUri, deletedAt: new Date() });
      }
      node.parent = undefined;
    }
  }

  /** The current content becomes a version (at most 100 are kept, as a group's version retention would). */
  private keepVersion(node: FsNode): void {
    if (!node.entity) return;
    (node.versions ??= []).unshift(node.entity);
    if (node.versions.length > 100) node.versions.length = 100;
  }

  /** DELETE /file of `cloudreve://trash/{name}` URIs: gone for good. */
  purgeTrash(names: string[]): void {
    for (const name of names) {
      const i = this.trash.findIndex((t) => t.node.name === name);
      if (i < 0) emuFail(40016, 'Path not exist');
      this.trash.splice(i, 1);
    }
  }

  /** POST /file/restore: trashed items back to where they were (parents re-created). */
  restore(names: string[]): void {
    for (const name of names) {
      const i = this.trash.findIndex((t) => t.node.name === name);
      if (i < 0) emuFail(40016, 'Path not exist');
      const item = this.trash[i]!;
      const segments = decodeUriSegments(item.restoreUri);
      const parent = this.ensureFolders(segments.slice(0, -1));
      if (parent.children.has(item.node.name)) emuFail(40004, 'Object existed');
      this.trash.splice(i, 1);
      delete item.node.metadata['sys:restore_uri'];
      item.node.parent = parent;
      this.attach(parent, item.node);
      this.emit('create', item.node);
    }
  }

  /** Store `data` as the new content of the file at `segments` (creating it and its parents). */
  putContent(segments: string[], data: Buffer, lastModified?: number): FsNode {
    if (segments.length === 0) emuFail(403, 'Cannot operate root file');
    const parent = this.ensureFolders(segments.slice(0, -1));
    const name = segments[segments.length - 1]!;
    validateName(name);
    let node = parent.children.get(name);
    if (node && node.type !== 0) emuFail(40004, 'Object existed');
    const previous = node?.entity?.data.length ?? 0;
    this.checkCapacity(data.length - previous);
    const existed = node !== undefined;
    node ??= this.attach(parent, this.newNode(0, name, parent));
    this.keepVersion(node);
    node.entity = this.newEntity(data);
    delete node.placeholderSize;
    node.updatedAt = lastModified ? new Date(lastModified) : new Date();
    parent.updatedAt = new Date();
    this.emit(existed ? 'modify' : 'create', node);
    return node;
  }

  // ---- upload sessions ------------------------------------------------------------------

  /** PUT /file/upload. */
  openSession(segments: string[], size: number, isVersion: boolean, chunkSize: number, ttlMs: number, lastModified?: number, maxSize = this.options.maxFileSize): UploadSession {
    if (segments.length === 0) emuFail(403, 'Cannot operate root file');
    const existing = this.find(segments);
    if (existing && (!isVersion || existing.type !== 0)) emuFail(40004, 'Object existed');
    const name = segments[segments.length - 1]!;
    validateName(name);
    if (maxSize > 0 && size > maxSize) emuFail(40049, 'File too large');
    const key = keyOf(segments);
    this.checkLock(key, false);
    this.checkCapacity(size);
    const parent = existing?.parent ?? this.ensureFolders(segments.slice(0, -1));
    const id = randomUUID();
    let node = existing;
    if (!node) {
      node = this.attach(parent, this.newNode(0, name, parent));
      node.placeholderSize = size;
      this.emit('create', node);
    }
    // On the placeholder and on an existing file alike (dbfs/upload.go PrepareUpload: UpsertMetadata of targetFile).
    node.metadata['sys:upload_session_id'] = id;
    const lock = this.lock(key, 'upload', 0, ttlMs);
    const effectiveChunk = chunkSize > 0 ? chunkSize : Math.max(1, size);
    const session: UploadSession = {
      id, key, segments, size, chunkSize, expiresAt: Date.now() + ttlMs,
      chunkCount: Math.max(1, Math.ceil(size / effectiveChunk)),
      received: new Set(), buffer: Buffer.alloc(size), node, isVersion: !!existing,
      lockToken: lock.token, callbackSecret: randomUUID().replace(/-/g, ''),
      ...(lastModified ? { lastModified } : {}),
    };
    this.sessions.set(id, session);
    return session;
  }

  /** POST /file/upload/{id}/{index}; finalises when every chunk is in. Returns true when done. */
  writeChunk(session: UploadSession, index: number, data: Buffer): boolean {
    const effectiveChunk = session.chunkSize > 0 ? session.chunkSize : Math.max(1, session.size);
    data.copy(session.buffer, index * effectiveChunk);
    session.received.add(index);
    if (session.received.size < session.chunkCount) return false;
    this.finishSession(session, session.buffer);
    return true;
  }

  /** Complete a session with `data` (last chunk, or a storage callback): the placeholder becomes the file. */
  finishSession(session: UploadSession, data: Buffer): void {
    // Only completion confirms the session's lock (dbfs/upload.go CompleteUpload → fs.ErrLockExpired, 40073).
    if (!this.locks.has(session.lockToken)) emuFail(40073, 'Lock expired');
    const node = session.node;
    this.keepVersion(node);
    node.entity = this.newEntity(data);
    delete node.placeholderSize;
    delete node.metadata['sys:upload_session_id'];
    // The session's last_modified becomes the file's updated_at (inventory/file.go UpgradePlaceholder, 4.4.0+).
    node.updatedAt = session.lastModified ? new Date(session.lastModified) : new Date();
    if (node.parent) node.parent.updatedAt = new Date();
    this.closeSession(session);
    this.emit('modify', node);
  }

  /** End a session: drop a new file's placeholder unless it was finalised, release lock and reservation. */
  cancelSession(session: UploadSession): void {
    const node = session.node;
    if (!session.isVersion && node.metadata['sys:upload_session_id'] === session.id && node.parent) {
      this.emit('delete', node);
      node.parent.children.delete(node.name);
      node.parent = undefined;
    }
    // dbfs/upload.go CancelUploadSession removes the metadata from a file that stays.
    if (node.metadata['sys:upload_session_id'] === session.id) delete node.metadata['sys:upload_session_id'];
    this.closeSession(session);
  }

  private closeSession(session: UploadSession): void {
    this.sessions.delete(session.id);
    this.locks.delete(session.lockToken);
    this.onSessionClosed?.(session.id);
  }

  /** Cancel sessions past their expiry (called on every request). */
  sweepSessions(): void {
    const now = Date.now();
    for (const s of [...this.sessions.values()]) if (s.expiresAt <= now) this.cancelSession(s);
  }

  /** Let every open session reach its expiry now (tests: "a day later"), then sweep. */
  expireSessions(): void {
    for (const s of this.sessions.values()) {
      s.expiresAt = 0;
      const lock = this.locks.get(s.lockToken);
      if (lock) lock.expiresAt = 0;
    }
    this.sweepSessions();
  }

  /** Session by id, or 40011. */
  session(id: string): UploadSession {
    this.sweepSessions();
    return this.sessions.get(id) ?? emuFail(40011, 'Upload session expired or not exist');
  }

  // ---- seeding and helpers --------------------------------------------------------------

  /** Add a file with content directly (seeding). */
  seedFile(segments: string[], data: Buffer): FsNode {
    return this.putContent(segments, data);
  }

  /** Entity by hash id (content route). */
  findEntity(hashId: string): Entity | undefined {
    let found: Entity | undefined;
    const walk = (n: FsNode) => {
      if (found) return;
      if (n.entity?.hashId === hashId) found = n.entity;
      else found = n.versions?.find((e) => e.hashId === hashId);
      for (const c of n.children.values()) walk(c);
    };
    walk(this.root);
    for (const t of this.trash) walk(t.node);
    return found;
  }

  /** Report a change of `node` (its current place; `before`: its segments before a rename). */
  private emit(type: 'create' | 'modify' | 'rename' | 'delete', node: FsNode, before?: string[]): void {
    if (!this.onChange || !node.parent) return;
    const now = this.segmentsOf(node);
    this.onChange({
      type, fileId: node.hashId, from: before ?? now, ...(before ? { to: now } : {}), ancestors: this.ancestors(node),
    });
  }

  private folderOf(node: FsNode): FeedFolder {
    return { id: node.id, segments: () => this.segmentsOf(node) };
  }

  /** The folders above `node`, nearest first (dbfs File.Ancestors: the object itself excluded). */
  private ancestors(node: FsNode): FeedFolder[] {
    const out: FeedFolder[] = [];
    for (let n = node.parent; n; n = n.parent) out.push(this.folderOf(n));
    return out;
  }

  private newNode(type: 0 | 1, name: string, parent: FsNode | undefined): FsNode {
    const id = this.nextId++;
    const now = new Date();
    return {
      id, hashId: hashId(id, 7919, 4099), type, name, parent, children: new Map(), entity: undefined,
      createdAt: now, updatedAt: now, metadata: {},
    };
  }

  private newEntity(data: Buffer): Entity {
    const id = this.nextEntityId++;
    return { id, hashId: hashId(id, 104729, 77777), data, createdAt: new Date() };
  }

  private attach(parent: FsNode, node: FsNode): FsNode {
    node.parent = parent;
    parent.children.set(node.name, node);
    parent.updatedAt = new Date();
    return node;
  }

  private cloneNode(node: FsNode, parent: FsNode): FsNode {
    const copy = this.newNode(node.type, node.name, parent);
    copy.metadata = { ...node.metadata };
    if (node.entity) copy.entity = this.newEntity(node.entity.data);
    for (const child of node.children.values()) this.attach(copy, this.cloneNode(child, copy));
    return copy;
  }
}

/** Opaque ids like Cloudreve's hashids (any injective, non-sequential-looking encoding will do). */
function hashId(id: number, mul: number, add: number): string {
  return (id * mul + add).toString(36);
}

function aggregate(code: number, msg: string) {
  return { code, msg, correlation_id: randomUUID() };
}

function isInside(node: FsNode, ancestor: FsNode): boolean {
  for (let n: FsNode | undefined = node; n; n = n.parent) if (n === ancestor) return true;
  return false;
}

function bytesIn(node: FsNode): number {
  if (node.type === 0) return node.entity?.data.length ?? 0;
  let total = 0;
  for (const c of node.children.values()) total += bytesIn(c);
  return total;
}

function decodeUriSegments(uri: string): string[] {
  const path = uri.replace(/^cloudreve:\/\/[^/]*/, '');
  return path.split('/').filter(Boolean).map(decodeURIComponent);
}
