/**
 * Users of a share, each with their own view (mirroring Cloudreve's WebDAV accounts): a root
 * folder they cannot leave, read-only, and whether OS junk files are hidden. Passwords come as
 * plain text (kept only as a SHA-256 digest, compared in constant time) or as htpasswd hashes
 * (bcrypt `$2y$`/`$2a$`/`$2b$`, Apache MD5 `$apr1$`, SHA-1 `{SHA}`), inline or from an htpasswd
 * file that is re-read when it changes. Plain-text and crypt(3) htpasswd entries are refused: a
 * password file must never be a list of passwords.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import bcrypt from 'bcryptjs';
import { LRUCache } from 'lru-cache';
import { VfsError } from '../../src/errors.js';
import { silentLogger } from '../../src/log.js';
import type { Logger } from '../../src/log.js';
import { normalizePath } from '../../src/path.js';
import { registerSecret } from '../../src/redact.js';

const apacheMd5 = createRequire(import.meta.url)('apache-md5') as (password: string, salt?: string) => string;

/** What a user may see and do. Unset fields take the share's settings. */
export interface UserView {
  /** Folder of the share that is this user's "/" (default "/"). */
  root?: string;
  /** Refuse every change for this user. */
  readOnly?: boolean;
  /** Hide OS junk files (.DS_Store, Thumbs.db…) for this user; default: the share's junk filter. */
  hideSystemFiles?: boolean;
}

/** A user as configured: a plain password or an htpasswd-style hash, and their view. */
export interface UserSpec extends UserView {
  name: string;
  password?: string;
  passwordHash?: string;
}

/** Failed checks and unknown names look alike: both resolve false. */
export interface UserDirectory {
  readonly size: number;
  has(name: string): boolean;
  view(name: string): UserView | undefined;
  verify(name: string, password: string): Promise<boolean>;
}

/** Longest htpasswd file read (a million users fit in a few tens of MB; beyond, refuse). */
export const MAX_HTPASSWD_BYTES = 16 * 1024 * 1024;
/** How often, at most, an htpasswd file is checked for changes (on the next login after this long). */
const RECHECK_MS = 1000;
/** Good (name, password, hash) triples remembered, so bcrypt's deliberate slowness is paid once per login, not per request. */
const VERIFIED_MAX = 1000;
const VERIFIED_TTL_MS = 10 * 60_000;

type Verifier = (password: string) => Promise<boolean>;

/** A verifier for a password hash, or a reason it is refused. */
export function hashVerifier(hash: string): Verifier | string {
  if (/^\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}$/.test(hash)) {
    // bcryptjs reads $2y$ (PHP/Apache) like $2b$.
    const normalized = hash.startsWith('$2y$') ? '$2b$' + hash.slice(4) : hash;
    return (password) => bcrypt.compare(password, normalized);
  }
  if (/^\$apr1\$[./A-Za-z0-9]{1,8}\$[./A-Za-z0-9]{22}$/.test(hash)) {
    return async (password) => equal(apacheMd5(password, hash), hash);
  }
  if (/^\{SHA\}[A-Za-z0-9+/]{27}=$/.test(hash)) {
    return async (password) => equal('{SHA}' + createHash('sha1').update(password, 'utf8').digest('base64'), hash);
  }
  if (/^\$[156]\$/.test(hash)) return 'crypt(3) SHA-2/MD5 hashes are not supported (use htpasswd -B)';
  return 'not a bcrypt, $apr1$ or {SHA} hash (plain-text and crypt entries are refused; use htpasswd -B)';
}

function equal(a: string, b: string): boolean {
  const x = createHash('sha256').update(a).digest();
  const y = createHash('sha256').update(b).digest();
  return timingSafeEqual(x, y);
}

interface Account {
  verify: Verifier;
  /** What the verified cache is keyed with (the hash, or a digest of the password). */
  secretId: string;
  view: UserView;
}

function checkView(spec: UserView, where: string): UserView {
  const out: UserView = {};
  if (spec.root !== undefined) {
    if (typeof spec.root !== 'string') throw new VfsError('EINVAL', `${where}: root must be a path`);
    out.root = normalizePath(spec.root);
  }
  if (spec.readOnly !== undefined) out.readOnly = Boolean(spec.readOnly);
  if (spec.hideSystemFiles !== undefined) out.hideSystemFiles = Boolean(spec.hideSystemFiles);
  return out;
}

/** Accounts from a list of specs (config file, --user). */
function accountsOf(specs: UserSpec[]): Map<string, Account> {
  const out = new Map<string, Account>();
  for (const spec of specs) {
    const where = `user ${JSON.stringify(spec.name)}`;
    if (typeof spec.name !== 'string' || spec.name === '' || spec.name.includes(':')) throw new VfsError('EINVAL', `user names must be non-empty and hold no ":"`);
    if (out.has(spec.name)) throw new VfsError('EINVAL', `${where} is defined twice`);
    const view = checkView(spec, where);
    if (typeof spec.password === 'string') {
      registerSecret(spec.password);
      const expected = createHash('sha256').update(spec.password).digest();
      out.set(spec.name, {
        verify: async (password) => timingSafeEqual(createHash('sha256').update(password).digest(), expected),
        secretId: expected.toString('base64'),
        view,
      });
    } else if (typeof spec.passwordHash === 'string') {
      const verify = hashVerifier(spec.passwordHash);
      if (typeof verify === 'string') throw new VfsError('EINVAL', `${where}: passwordHash is ${verify}`);
      out.set(spec.name, { verify, secretId: spec.passwordHash, view });
    } else throw new VfsError('EINVAL', `${where} needs a password or a passwordHash`);
  }
  return out;
}

/**
 * Users from a list and/or an htpasswd file. A name in both takes the list's view (root, read-only)
 * and the file's password. The file is re-read (at most once a second, on a login) when its size,
 * mtime or inode change; a file that turns unreadable or malformed keeps the last good users and
 * logs one warning.
 */
export class Users implements UserDirectory {
  private fromList: Map<string, Account>;
  private fromFile = new Map<string, Account>();
  private fileStamp = '';
  private lastCheck = 0;
  private readonly verified = new LRUCache<string, true>({ max: VERIFIED_MAX, ttl: VERIFIED_TTL_MS });
  private readonly logger: Logger;

  constructor(specs: UserSpec[] = [], private readonly htpasswdFile?: string, logger?: Logger) {
    this.logger = logger ?? silentLogger;
    this.fromList = accountsOf(specs);
    // Salt for the verified-cache keys, so a memory dump does not hand out cheap password digests.
    this.salt = createHash('sha256').update(String(Math.random()) + process.hrtime.bigint()).digest();
    if (htpasswdFile) this.reload(true);
  }

  private readonly salt: Buffer;

  get size(): number {
    this.refresh();
    return new Set([...this.fromList.keys(), ...this.fromFile.keys()]).size;
  }

  has(name: string): boolean {
    this.refresh();
    return this.fromList.has(name) || this.fromFile.has(name);
  }

  view(name: string): UserView | undefined {
    const a = this.fromList.get(name) ?? this.fromFile.get(name);
    return a ? this.fromList.get(name)?.view ?? a.view : undefined;
  }

  async verify(name: string, password: string): Promise<boolean> {
    this.refresh();
    const account = this.fromFile.get(name) ?? this.fromList.get(name);
    if (!account) return false;
    const key = createHash('sha256').update(this.salt).update(name).update('\0').update(password).update('\0').update(account.secretId).digest('base64');
    if (this.verified.has(key)) return true;
    const ok = await account.verify(password);
    if (ok) this.verified.set(key, true);
    return ok;
  }

  /** Re-read the htpasswd file when it changed (checked at most once per RECHECK_MS). */
  private refresh(): void {
    if (!this.htpasswdFile) return;
    const now = Date.now();
    if (now - this.lastCheck < RECHECK_MS) return;
    this.lastCheck = now;
    this.reload(false);
  }

  private reload(first: boolean): void {
    const file = this.htpasswdFile!;
    try {
      const st = statSync(file);
      const stamp = `${st.ino}:${st.size}:${st.mtimeMs}`;
      if (stamp === this.fileStamp) return;
      if (st.size > MAX_HTPASSWD_BYTES) throw new VfsError('EFBIG', `${file} is larger than ${MAX_HTPASSWD_BYTES} bytes`);
      const accounts = parseHtpasswd(readFileSync(file, 'utf8'), file, this.logger);
      this.fromFile = accounts;
      this.fileStamp = stamp;
      this.verified.clear();
      if (!first) this.logger.info('htpasswd file re-read', { users: accounts.size });
    } catch (e) {
      if (first) throw e instanceof VfsError ? e : new VfsError('EACCES', `cannot read --htpasswd ${file}: ${(e as Error).message}`);
      if (this.fileStamp !== 'broken') this.logger.warn('cannot re-read the htpasswd file; keeping the users read before', { error: e });
      this.fileStamp = 'broken';
    }
  }
}

/** `name:hash` lines; blank lines and `#` comments skipped; bad entries skipped with a warning (never the hash in it). */
export function parseHtpasswd(text: string, file: string, logger: Logger): Map<string, Account> {
  const out = new Map<string, Account>();
  let lineNo = 0;
  for (const raw of text.split('\n')) {
    lineNo++;
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const colon = line.indexOf(':');
    if (colon <= 0) {
      logger.warn('htpasswd line skipped: expected name:hash', { file, line: lineNo });
      continue;
    }
    const name = line.slice(0, colon);
    const verify = hashVerifier(line.slice(colon + 1));
    if (typeof verify === 'string') {
      logger.warn(`htpasswd entry skipped: ${verify}`, { file, line: lineNo });
      continue;
    }
    out.set(name, { verify, secretId: line.slice(colon + 1), view: {} });
  }
  return out;
}
