/**
 * Write-back uploads that outlive their instance (issue 21 part 5): with write-back on a spool
 * folder every instance can read (a network volume in production, one folder in tests), the queue's
 * records are jobs in Redis, so any instance serves a queued file from the spool and, when the
 * instance that queued it dies, another uploads it. This is a store for the write-back queue (the
 * contract of mount/write-back/store.ts: allocate, enqueue, orphans, claim, progress, complete, fail,
 * update, remove; plus list/find for serving queued files, rename); the bytes stay in local data
 * files, Redis holds what they are for.
 *
 * - A job's identity is account (the key prefix) + path + version: every enqueue and every rename
 *   onto a path takes the path's next version (INCR), and a job whose version is no longer its
 *   path's newest is stale: `claim` refuses it (ESTALE) and its data file is dropped — two instances
 *   writing one path upload the newer bytes only, whatever order their workers run in.
 * - One upload per path at a time: a claim holds the path for UPLOAD_LEASE_MS, renewed by
 *   `progress`; a newer version waits (EBUSY) until the older attempt ends, so an old upload never
 *   lands after a newer one.
 * - Ownership: each instance renews `owner:<id>` every third of UPLOAD_LEASE_MS; `orphans()` takes
 *   over (atomically, so two survivors never both do) every job whose owner's key has lapsed, in
 *   the order they were queued. A kill -9'd instance's jobs are uploaded by the next survivor that
 *   calls it (the queue polls it).
 *
 * Every operation is one Lua script. Why not BullMQ: its job is processed by whichever worker takes
 * it, but a write-back entry must be served, renamed, superseded and deleted by path while it waits
 * (a WebDAV MOVE of a queued file renames the job; a PUT supersedes it), and a dead worker's job
 * must go to a survivor only when the spool is shared — BullMQ's stalled-job recovery and job-id
 * dedupe do part of this, but rename, per-path ordering and lookup by path would be a second
 * index beside it anyway. The scripts here are that index, with the leases in the same step.
 */
import { randomUUID } from 'node:crypto';
import { unlink } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { VfsError, toVfsError } from '../errors.js';
import type { Logger } from '../log.js';
import { silentLogger } from '../log.js';
import { redact } from '../redact.js';
import type { RedisCoordinator } from './redis.js';
import { withScripts } from './redis.js';
import { folderOnce } from '../write-back-store.js';
import type { BaseVersion, QueuedUpload, WriteBackStore } from '../write-back-store.js';

/** An owner's or an upload's lease: a dead instance's jobs are taken over this long after its last renewal. */
export const UPLOAD_LEASE_MS = 15_000;
/** Longest error message kept with a failed job. */
const MAX_ERROR_CHARS = 500;

/** One queued upload as a job: the path's version it uploads besides the queue's fields. */
export interface QueuedJob extends QueuedUpload {
  version: number;
}

const NOW = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
`;

/** Drop job `id` (record and indexes); returns its data file. Shared by several scripts. */
const DROP = `
local function drop(P, id)
  local h = redis.call('HMGET', P .. 'j:' .. id, 'path', 'dataFile')
  if not h[1] then return false end
  if redis.call('GET', P .. 'p:' .. h[1]) == id then redis.call('DEL', P .. 'p:' .. h[1]) end
  if redis.call('GET', P .. 'busy:' .. h[1]) == id then redis.call('DEL', P .. 'busy:' .. h[1]) end
  redis.call('DEL', P .. 'j:' .. id)
  redis.call('ZREM', P .. 'jobs', id)
  return h[2]
end
`;

/** Make `id` the newest version of `path`; the job it replaces there (if any) goes stale. Returns the version. */
const TAKE_PATH = `
local function takePath(P, id, path)
  local v = redis.call('INCR', P .. 'v:' .. path)
  local prev = redis.call('GET', P .. 'p:' .. path)
  if prev and prev ~= id then redis.call('HSET', P .. 'j:' .. prev, 'state', 'stale') end
  redis.call('SET', P .. 'p:' .. path, id)
  return v
end
`;

/** ARGV: prefix, id, path, dataFile, size, base JSON, mtime ('' none), owner. Returns the version. */
const ENQUEUE = `${NOW}${TAKE_PATH}
local P, id, path = ARGV[1], ARGV[2], ARGV[3]
local v = takePath(P, id, path)
redis.call('HSET', P .. 'j:' .. id, 'path', path, 'dataFile', ARGV[4], 'size', ARGV[5], 'base', ARGV[6], 'mtime', ARGV[7],
  'owner', ARGV[8], 'state', 'queued', 'attempts', '0', 'createdAt', tostring(now), 'version', tostring(v))
redis.call('ZADD', P .. 'jobs', now, id)
return v
`;

/** ARGV: prefix, id, attempts, owner, lease ms. 'ok', 'stale' (dropped; returns its data file too), 'busy', 'missing'. */
const CLAIM = `${DROP}
local P, id = ARGV[1], ARGV[2]
local h = redis.call('HMGET', P .. 'j:' .. id, 'path', 'state', 'version')
if not h[1] then return {'missing'} end
local current = tonumber(redis.call('GET', P .. 'v:' .. h[1]) or '0')
if h[2] == 'stale' or tonumber(h[3]) < current then return {'stale', drop(P, id)} end
local busy = redis.call('GET', P .. 'busy:' .. h[1])
if busy and busy ~= id and redis.call('EXISTS', P .. 'j:' .. busy) == 1 then return {'busy'} end
redis.call('SET', P .. 'busy:' .. h[1], id, 'PX', tonumber(ARGV[5]))
redis.call('HSET', P .. 'j:' .. id, 'attempts', ARGV[3], 'owner', ARGV[4], 'state', 'queued', 'bytesSent', '0')
return {'ok'}
`;

/** ARGV: prefix, id, bytes sent, lease ms. Renews the path's upload lease. */
const PROGRESS = `
local P, id = ARGV[1], ARGV[2]
local path = redis.call('HGET', P .. 'j:' .. id, 'path')
if not path then return 0 end
redis.call('HSET', P .. 'j:' .. id, 'bytesSent', ARGV[3])
if redis.call('GET', P .. 'busy:' .. path) == id then redis.call('PEXPIRE', P .. 'busy:' .. path, tonumber(ARGV[4])) end
return 1
`;

/** ARGV: prefix, id. Returns the data file of the job dropped (false if none). */
const REMOVE = `${DROP}
return drop(ARGV[1], ARGV[2])
`;

/** ARGV: prefix, id, error JSON, final ('1'/'0'). The attempt ended: the path is free again. */
const FAIL = `
local P, id = ARGV[1], ARGV[2]
local path = redis.call('HGET', P .. 'j:' .. id, 'path')
if not path then return 0 end
if redis.call('GET', P .. 'busy:' .. path) == id then redis.call('DEL', P .. 'busy:' .. path) end
redis.call('HSET', P .. 'j:' .. id, 'error', ARGV[3])
if ARGV[4] == '1' then redis.call('HSET', P .. 'j:' .. id, 'state', 'failed') end
return 1
`;

/** ARGV: prefix, id, new path ('' = unchanged), base JSON ('' = unchanged), mtime ('' = unchanged). */
const UPDATE = `${TAKE_PATH}
local P, id = ARGV[1], ARGV[2]
local old = redis.call('HGET', P .. 'j:' .. id, 'path')
if not old then return 0 end
if ARGV[3] ~= '' and ARGV[3] ~= old then
  if redis.call('GET', P .. 'p:' .. old) == id then redis.call('DEL', P .. 'p:' .. old) end
  if redis.call('GET', P .. 'busy:' .. old) == id then redis.call('DEL', P .. 'busy:' .. old) end
  local v = takePath(P, id, ARGV[3])
  redis.call('HSET', P .. 'j:' .. id, 'path', ARGV[3], 'version', tostring(v))
end
if ARGV[4] ~= '' then redis.call('HSET', P .. 'j:' .. id, 'base', ARGV[4]) end
if ARGV[5] ~= '' then redis.call('HSET', P .. 'j:' .. id, 'mtime', ARGV[5]) end
return 1
`;

/**
 * ARGV: prefix, new owner. Every job whose owner's lease lapsed becomes the new owner's (its path's
 * upload lease dropped); stale ones are dropped. Returns {taken ids…}, then '', then stale data files.
 */
const ORPHANS = `${DROP}
local P, me = ARGV[1], ARGV[2]
local taken, dropped = {}, {}
for _, id in ipairs(redis.call('ZRANGE', P .. 'jobs', 0, -1)) do
  local h = redis.call('HMGET', P .. 'j:' .. id, 'owner', 'state', 'path', 'version')
  if not h[1] then
    redis.call('ZREM', P .. 'jobs', id)
  elseif h[1] ~= me and redis.call('EXISTS', P .. 'owner:' .. h[1]) == 0 then
    local current = tonumber(redis.call('GET', P .. 'v:' .. h[3]) or '0')
    if h[2] == 'stale' or tonumber(h[4]) < current then
      dropped[#dropped + 1] = drop(P, id)
    else
      redis.call('HSET', P .. 'j:' .. id, 'owner', me)
      if redis.call('GET', P .. 'busy:' .. h[3]) == id then redis.call('DEL', P .. 'busy:' .. h[3]) end
      if h[2] == 'queued' then taken[#taken + 1] = id end
    end
  end
end
taken[#taken + 1] = ''
for _, f in ipairs(dropped) do taken[#taken + 1] = f end
return taken
`;

type Scripted = {
  cmWbEnqueue(...a: string[]): Promise<number>;
  cmWbClaim(...a: string[]): Promise<[string, string?]>;
  cmWbProgress(...a: string[]): Promise<number>;
  cmWbRemove(...a: string[]): Promise<string | null>;
  cmWbFail(...a: string[]): Promise<number>;
  cmWbUpdate(...a: string[]): Promise<number>;
  cmWbOrphans(...a: string[]): Promise<string[]>;
};

export interface UploadJobsOptions {
  /** The shared spool folder (mode 0700 when created). */
  dir: string;
  /** Owner and upload lease (default UPLOAD_LEASE_MS). */
  leaseMs?: number;
  logger?: Logger;
}

/** Write-back queue records as jobs in Redis (see the module comment). */
export class RedisUploadJobs implements WriteBackStore {
  /** This instance as a job owner. */
  readonly owner = randomUUID();
  private readonly prefix: string;
  private readonly redis: RedisCoordinator['redis'] & Scripted;
  private readonly leaseMs: number;
  private readonly logger: Logger;
  private readonly heartbeat: NodeJS.Timeout;
  private readonly folderReady: () => Promise<void>;

  private constructor(coordinator: RedisCoordinator, private readonly options: UploadJobsOptions) {
    this.folderReady = folderOnce(options.dir);
    this.prefix = `${coordinator.prefix}wb:`;
    this.leaseMs = Math.max(300, options.leaseMs ?? UPLOAD_LEASE_MS);
    this.logger = (options.logger ?? silentLogger).child({ layer: 'upload-jobs' });
    this.redis = withScripts<Scripted>(coordinator.redis, {
      cmWbEnqueue: ENQUEUE, cmWbClaim: CLAIM, cmWbProgress: PROGRESS, cmWbRemove: REMOVE, cmWbFail: FAIL, cmWbUpdate: UPDATE, cmWbOrphans: ORPHANS,
    });
    this.heartbeat = setInterval(() => this.beat().catch(() => this.logger.warn('cannot renew the upload owner lease (Redis unreachable)')), this.leaseMs / 3);
    this.heartbeat.unref();
  }

  /** A store for the account of `coordinator`, owning jobs from now on (its owner lease is taken at once). */
  static async open(coordinator: RedisCoordinator, options: UploadJobsOptions): Promise<RedisUploadJobs> {
    const jobs = new RedisUploadJobs(coordinator, options);
    await jobs.beat();
    return jobs;
  }

  /** How often a queue on this store looks for a dead instance's jobs: a third of a lease, so takeover comes soon after it lapses. */
  get takeoverPollMs(): number {
    return this.leaseMs / 3;
  }

  /** Stop renewing the owner lease: this instance's queued jobs go to a survivor once it lapses. */
  close(): void {
    clearInterval(this.heartbeat);
  }

  async allocate(): Promise<{ id: string; dataFile: string }> {
    await this.folderReady();
    const id = randomUUID();
    return { id, dataFile: this.dataFileOf(id) };
  }

  /** Queue the (already fsynced) data file of `id` as the newest version of `fields.path`. */
  async enqueue(id: string, fields: { path: string; size: number; base: BaseVersion; mtime?: Date }): Promise<QueuedJob> {
    const dataFile = this.dataFileOf(id);
    const version = await this.redis.cmWbEnqueue(
      this.prefix, id, fields.path, dataFile, String(fields.size), JSON.stringify(fields.base), fields.mtime?.toISOString() ?? '', this.owner,
    );
    return {
      id, path: fields.path, dataFile, size: fields.size, base: fields.base, ...(fields.mtime ? { mtime: fields.mtime } : {}),
      state: 'queued', attempts: 0, createdAt: new Date(), version,
    };
  }

  /** Jobs whose owner died: this instance's now, oldest first (stale ones are dropped with their bytes). */
  async orphans(): Promise<QueuedJob[]> {
    const reply = await this.redis.cmWbOrphans(this.prefix, this.owner);
    const cut = reply.indexOf('');
    for (const file of reply.slice(cut + 1)) await this.unlinkData(file);
    const jobs = await Promise.all(reply.slice(0, cut).map((id) => this.get(id)));
    return jobs.filter((j): j is QueuedJob => j !== undefined);
  }

  /** An upload attempt of `id` starts. ESTALE: a newer version of its path was queued (the job is gone); EBUSY: an older attempt on its path still runs. */
  async claim(id: string, attempts: number): Promise<void> {
    const [status, dataFile] = await this.redis.cmWbClaim(this.prefix, id, String(attempts), this.owner, String(this.leaseMs));
    if (status === 'ok') return;
    if (status === 'stale') {
      if (dataFile) await this.unlinkData(dataFile);
      throw new VfsError('ESTALE', 'a newer version of this file was queued; this upload is dropped', { retryable: false });
    }
    if (status === 'busy') throw new VfsError('EBUSY', 'an earlier version of this file is being uploaded', { retryable: true });
    throw new VfsError('ENOENT', 'no such queued upload', { retryable: false });
  }

  async progress(id: string, bytesSent: number): Promise<void> {
    await this.redis.cmWbProgress(this.prefix, id, String(bytesSent), String(this.leaseMs));
  }

  /** Uploaded: forget the job and delete the data file. */
  async complete(id: string): Promise<void> {
    await this.remove(id);
  }

  async fail(id: string, error: unknown, final: boolean): Promise<void> {
    const e = toVfsError(error);
    await this.redis.cmWbFail(this.prefix, id, JSON.stringify({ code: e.code, message: redact(e.message).slice(0, MAX_ERROR_CHARS) }), final ? '1' : '0');
  }

  /** The queued file moved (its job becomes the newest version at the new path) or its base changed. */
  async update(id: string, fields: { path?: string; base?: BaseVersion; mtime?: Date }): Promise<void> {
    await this.redis.cmWbUpdate(this.prefix, id, fields.path ?? '', fields.base !== undefined ? JSON.stringify(fields.base) : '', fields.mtime?.toISOString() ?? '');
  }

  rename(id: string, path: string): Promise<void> {
    return this.update(id, { path });
  }

  /** Drop without uploading: record and data file. */
  async remove(id: string): Promise<void> {
    const file = await this.redis.cmWbRemove(this.prefix, id);
    if (file) await this.unlinkData(file);
  }

  /** Every job still owed (queued or failed), oldest first: what every instance overlays on the remote. */
  async list(): Promise<QueuedJob[]> {
    const ids = await this.redis.zrange(`${this.prefix}jobs`, 0, -1);
    const jobs = await Promise.all(ids.map((id) => this.get(id)));
    return jobs.filter((j): j is QueuedJob => j !== undefined);
  }

  /** The newest queued version of `path`, whoever queued it: serve its data file instead of the remote. */
  async find(path: string): Promise<QueuedJob | undefined> {
    const id = await this.redis.get(`${this.prefix}p:${path}`);
    return id ? this.get(id) : undefined;
  }

  private async get(id: string): Promise<QueuedJob | undefined> {
    const h = await this.redis.hgetall(`${this.prefix}j:${id}`);
    if (!h.path || (h.state !== 'queued' && h.state !== 'failed')) return undefined;
    return {
      // The file in THIS instance's spool folder: the shared volume may be mounted elsewhere on each machine.
      id, path: h.path, dataFile: this.dataFileOf(id), size: Number(h.size), base: JSON.parse(h.base ?? 'null') as BaseVersion,
      ...(h.mtime ? { mtime: new Date(h.mtime) } : {}), state: h.state, attempts: Number(h.attempts ?? 0),
      ...(h.error ? { error: JSON.parse(h.error) as { code: string; message: string } } : {}),
      createdAt: new Date(Number(h.createdAt)), version: Number(h.version),
    };
  }

  private async beat(): Promise<void> {
    await this.redis.set(`${this.prefix}owner:${this.owner}`, '1', 'PX', this.leaseMs);
  }

  private dataFileOf(id: string): string {
    return join(this.options.dir, `${id}.data`);
  }

  /**
   * Only a job's data file in this instance's spool folder is ever deleted (a record is data, not an
   * instruction to delete anything): the name recorded by whichever instance queued it, under our folder.
   */
  private async unlinkData(file: string): Promise<void> {
    const name = basename(file);
    if (!/^[0-9a-f-]{36}\.data$/.test(name)) return;
    await unlink(join(this.options.dir, name)).catch(() => undefined);
  }
}
