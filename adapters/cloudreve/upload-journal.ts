/**
 * A durable list of the upload sessions this machine has open on a Cloudreve account.
 *
 * An upload session locks its path on the server for the session's lifetime (a day by default) and
 * leaves a listed placeholder. A process killed mid-upload cannot cancel it, so before the first
 * chunk the session is written here (one small JSON file per session, write-temp-fsync-rename, so a
 * crash leaves a whole record or none) and removed when it completes or is cancelled. What is left
 * at the next start belongs to a dead process and is cancelled (vfs.ts `recoverUploads`).
 *
 * A record holds no secret: the session id is useless without the account's token, and the
 * callback secret is not stored.
 */
import { createHash, randomBytes } from 'node:crypto';
import { lstat, mkdir, open, readFile, readdir, rename, rm, rmdir, unlink } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { homedir, hostname } from 'node:os';
import { join } from 'node:path';

/** One open upload session, as recorded. */
export interface UploadRecord {
  v: 1;
  sessionId: string;
  /** The `cloudreve://my/…` URI the session uploads to (what DELETE /file/upload wants). */
  uri: string;
  /** The Vfs path (matched against lock conflicts and reads). */
  path: string;
  size: number;
  /** When the server drops the session by itself (ms since the epoch). */
  expiresAt: number;
  /** The process that opened it, and where (a state folder shared between machines is possible). */
  pid: number;
  host: string;
  /** The kernel's boot id (Linux): a record from an earlier boot is dead whatever its pid. */
  boot?: string;
  /**
   * Written before `PUT /file/upload` is sent, replaced by the session's own record once the server
   * answers: a process killed in between leaves this, not nothing. It has no session id to cancel;
   * a lock conflict on its path from an upload lock is then ours (see vfs.ts `clearAbandonedUploads`).
   */
  intent?: true;
}

/** Records read per listing at most: a folder flooded with files is not read whole. */
export const MAX_JOURNAL_RECORDS = 10_000;
/** Bytes of one record read at most (a record is ~300 bytes). */
const MAX_RECORD_BYTES = 16 * 1024;
/** A temp file older than this is a crash's leftover, not a record being written. */
const STALE_TEMP_MS = 10 * 60_000;

/** The folder for cloudmount's state: $XDG_STATE_HOME/cloudmount or ~/.local/state/cloudmount. */
export function defaultStateDir(): string {
  const base = process.env.XDG_STATE_HOME && process.env.XDG_STATE_HOME.startsWith('/')
    ? process.env.XDG_STATE_HOME
    : join(homedir(), '.local', 'state');
  return join(base, 'cloudmount');
}

/** The upload sessions of one account (server URL + login) in one state folder. */
export class UploadJournal {
  readonly dir: string;

  /** `maxRecords`: records read per listing (default MAX_JOURNAL_RECORDS; tests make it small). */
  constructor(stateDir: string, baseUrl: string, account: string, private readonly maxRecords = MAX_JOURNAL_RECORDS) {
    // Hashed: the folder name says which account without spelling the address out.
    const key = createHash('sha256').update(`${baseUrl.replace(/\/+$/, '')}\n${account}`).digest('hex').slice(0, 32);
    this.dir = join(stateDir, 'cloudreve-uploads', key);
  }

  /** Record `record` durably (mode 600); resolves once it is on disk. */
  async add(record: UploadRecord): Promise<void> {
    const file = this.fileOf(record.sessionId);
    const temp = join(this.dir, `.${randomBytes(6).toString('hex')}.tmp`);
    const handle = await open(temp, 'wx', 0o600).catch(async (e: NodeJS.ErrnoException) => {
      if (e.code !== 'ENOENT') throw e;
      await mkdir(this.dir, { recursive: true, mode: 0o700 });
      return open(temp, 'wx', 0o600);
    });
    try {
      await handle.writeFile(JSON.stringify(record));
      await handle.sync();
    } finally {
      await handle.close();
    }
    try {
      await rename(temp, file);
    } catch (e) {
      await rm(temp, { force: true });
      throw e;
    }
    await this.syncDir();
  }

  /** Forget a session (completed or cancelled). Missing is fine. */
  async remove(sessionId: string): Promise<void> {
    await unlink(this.fileOf(sessionId)).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== 'ENOENT') throw e;
    });
    // An empty folder goes too (one per account and server would pile up); a busy one stays.
    await rmdir(this.dir).catch(() => undefined);
  }

  /** Every whole record (a malformed file is removed: nothing of ours can be read from it). */
  async list(): Promise<UploadRecord[]> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw e;
    }
    // A temp file a crash left before its rename (a fresh one may be another process's record in the making).
    for (const name of names.filter((n) => n.endsWith('.tmp')).slice(0, this.maxRecords)) {
      const file = join(this.dir, name);
      const info = await lstat(file).catch(() => undefined);
      if (info && Date.now() - info.mtimeMs > STALE_TEMP_MS) await rm(file, { force: true });
    }
    const out: UploadRecord[] = [];
    for (const name of names.filter((n) => n.endsWith('.json')).slice(0, this.maxRecords)) {
      const file = join(this.dir, name);
      const record = await readFile(file).then((b) => (b.length <= MAX_RECORD_BYTES ? parseRecord(b.toString('utf8')) : undefined), () => undefined);
      if (record && this.fileOf(record.sessionId) === file) out.push(record);
      else await rm(file, { force: true });
    }
    return out;
  }

  private fileOf(sessionId: string): string {
    // The id comes from the server: hashed, it can never name a path outside the folder.
    return join(this.dir, `${createHash('sha256').update(sessionId).digest('hex').slice(0, 40)}.json`);
  }

  private async syncDir(): Promise<void> {
    // The rename is durable once the folder is synced (not possible everywhere: best effort).
    const dir = await open(this.dir, 'r').catch(() => undefined);
    if (!dir) return;
    await dir.sync().catch(() => undefined);
    await dir.close();
  }
}

let cachedBootId: string | undefined | null = null;

/** This boot's id (Linux /proc), undefined elsewhere. */
export function bootId(): string | undefined {
  if (cachedBootId === null) {
    try {
      cachedBootId = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim() || undefined;
    } catch {
      cachedBootId = undefined;
    }
  }
  return cachedBootId;
}

/** Whether the process that opened `record` is gone (so its session can only be an orphan). */
export function isAbandoned(record: UploadRecord, liveInThisProcess: ReadonlySet<string>, now = Date.now()): boolean {
  // Another machine's record: its process cannot be checked from here; only an expired session is surely dead.
  if (record.host !== hostname()) return record.expiresAt <= now;
  // Written before a reboot: its pid may name an unrelated process now.
  const boot = bootId();
  if (boot !== undefined && record.boot !== undefined && record.boot !== boot) return true;
  if (record.pid === process.pid) return !liveInThisProcess.has(record.sessionId);
  try {
    process.kill(record.pid, 0);
    return false; // alive (or its pid was reused: then the lock simply stays until it expires)
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

function parseRecord(text: string): UploadRecord | undefined {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof v !== 'object' || v === null) return undefined;
  const r = v as Record<string, unknown>;
  const ok = r.v === 1 && typeof r.sessionId === 'string' && r.sessionId !== '' && typeof r.uri === 'string' && r.uri.startsWith('cloudreve://')
    && typeof r.path === 'string' && r.path.startsWith('/') && typeof r.size === 'number' && typeof r.expiresAt === 'number'
    && typeof r.pid === 'number' && Number.isInteger(r.pid) && r.pid > 0 && typeof r.host === 'string'
    && (r.boot === undefined || typeof r.boot === 'string') && (r.intent === undefined || r.intent === true);
  return ok ? (r as unknown as UploadRecord) : undefined;
}
