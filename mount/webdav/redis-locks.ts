/**
 * WebDAV locks shared by several instances through Redis (issue 21): a lock taken on one instance
 * binds every instance serving the account at once. Each operation is ONE Lua script, so the
 * conflict check and the creation of a lock cannot be split by another instance's LOCK (SabreDAV's
 * check-then-insert can). Time is Redis's own clock (TIME), so instances with skewed clocks agree
 * on expiry.
 *
 * Keys under `<prefix>lk:` — `t:<token>` a hash per lock; `roots` a lexicographic index of
 * "<root>\0<token>" (covering locks: one range per ancestor; locks below a path: one range);
 * `all` and `c:<client>` sorted by expiry (bounds, and the sweep of expired locks, 64 per call).
 * Scripts build key names from the prefix, so this runs on one Redis (or a primary with replicas),
 * not on a Redis Cluster.
 *
 * Redis unreachable → every method throws a 503 HttpError: LOCK and every lock-protected write
 * fail closed (nothing is granted twice, nothing unlocked is assumed).
 */
import { randomUUID } from 'node:crypto';
import type { RedisCoordinator } from '../../src/coordinator/redis.js';
import { withScripts } from '../../src/coordinator/redis.js';
import { HttpError } from './reply.js';
import { MAX_LOCKS, MAX_LOCKS_PER_CLIENT } from './locks.js';
import type { Lock, LockRequest, LockStore } from './locks.js';

const HEAD = `
local P = ARGV[1]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local FIELDS = {'root', 'depth', 'scope', 'owner', 'timeout', 'exp', 'user', 'client'}

local function drop(tok)
  local h = redis.call('HMGET', P .. 't:' .. tok, 'root', 'client')
  if h[1] then redis.call('ZREM', P .. 'roots', h[1] .. '\\0' .. tok) end
  if h[2] then redis.call('ZREM', P .. 'c:' .. h[2], tok) end
  redis.call('ZREM', P .. 'all', tok)
  redis.call('DEL', P .. 't:' .. tok)
end

for _, tok in ipairs(redis.call('ZRANGEBYSCORE', P .. 'all', '-inf', now, 'LIMIT', 0, 64)) do drop(tok) end

-- A live lock as {token, root, depth, scope, owner, timeout, exp, user, client}, or nil.
local function get(tok)
  local h = redis.call('HMGET', P .. 't:' .. tok, unpack(FIELDS))
  if not h[1] then return nil end
  if tonumber(h[6]) <= now then drop(tok) return nil end
  local r = {tok}
  for i = 1, #FIELDS do r[i + 1] = h[i] or '' end
  return r
end

-- Locks whose root is exactly 'path' (all, or depth infinity only).
local function at(path, onlyInfinity, out, seen)
  for _, m in ipairs(redis.call('ZRANGEBYLEX', P .. 'roots', '[' .. path .. '\\0', '(' .. path .. '\\1')) do
    local tok = string.sub(m, #path + 2)
    if not seen[tok] then
      local r = get(tok)
      if r and (not onlyInfinity or r[3] == 'infinity') then seen[tok] = true out[#out + 1] = r end
    end
  end
end

-- Locks that cover 'path': on it, or on an ancestor with depth infinity.
local function covering(path, out, seen)
  if path ~= '/' then
    at('/', true, out, seen)
    local i = 1
    while true do
      local j = string.find(path, '/', i + 1, true)
      if not j then break end
      at(string.sub(path, 1, j - 1), true, out, seen)
      i = j
    end
  end
  at(path, false, out, seen)
end

-- Locks on 'path' or below it.
local function inside(path, out, seen)
  at(path, false, out, seen)
  local prefix = path == '/' and '/' or path .. '/'
  local hi = string.sub(prefix, 1, #prefix - 1) .. '0'
  for _, m in ipairs(redis.call('ZRANGEBYLEX', P .. 'roots', '[' .. prefix, '(' .. hi)) do
    local z = string.find(m, '\\0', 1, true)
    local root = string.sub(m, 1, z - 1)
    local tok = string.sub(m, z + 1)
    if root ~= path and not seen[tok] then
      local r = get(tok)
      if r then seen[tok] = true out[#out + 1] = r end
    end
  end
end

local function flat(list)
  local out = {}
  for _, r in ipairs(list) do for _, v in ipairs(r) do out[#out + 1] = v end end
  return out
end

local function covers(r, path)
  if r[2] == path then return true end
  if r[3] ~= 'infinity' then return false end
  return r[2] == '/' or string.sub(path, 1, #r[2] + 1) == r[2] .. '/'
end
`;

/** ARGV: prefix, path, tree(0/1), membership(0/1), parent. */
const PROTECTING = `${HEAD}
local out, seen = {}, {}
covering(ARGV[2], out, seen)
if ARGV[3] == '1' then inside(ARGV[2], out, seen) end
if ARGV[4] == '1' and ARGV[2] ~= '/' then covering(ARGV[5], out, seen) end
return flat(out)
`;

/** ARGV: prefix, token, root, scope, depth, owner, timeoutSeconds, user, client, maxPerClient, maxTotal. */
const ACQUIRE = `${HEAD}
local tok, root, scope, depth, client = ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[9]
local ckey = P .. 'c:' .. client
redis.call('ZREMRANGEBYSCORE', ckey, '-inf', now)
if redis.call('ZCARD', ckey) >= tonumber(ARGV[10]) then return {'client'} end
if redis.call('ZCOUNT', P .. 'all', '(' .. now, '+inf') >= tonumber(ARGV[11]) then return {'table'} end
local held, seen = {}, {}
covering(root, held, seen)
if depth == 'infinity' then inside(root, held, seen) end
for _, r in ipairs(held) do
  if r[4] == 'exclusive' or scope == 'exclusive' then return {'conflict'} end
end
local exp = now + tonumber(ARGV[7]) * 1000
redis.call('HSET', P .. 't:' .. tok, 'root', root, 'depth', depth, 'scope', scope, 'owner', ARGV[6], 'timeout', ARGV[7], 'exp', exp, 'user', ARGV[8], 'client', client)
redis.call('ZADD', P .. 'roots', 0, root .. '\\0' .. tok)
redis.call('ZADD', P .. 'all', exp, tok)
redis.call('ZADD', ckey, exp, tok)
return flat({get(tok)})
`;

/** ARGV: prefix, token, path, timeoutSeconds, user. */
const REFRESH = `${HEAD}
local r = get(ARGV[2])
if not r or not covers(r, ARGV[3]) or (r[8] ~= '' and r[8] ~= ARGV[5]) then return {} end
local exp = now + tonumber(ARGV[4]) * 1000
redis.call('HSET', P .. 't:' .. ARGV[2], 'timeout', ARGV[4], 'exp', exp)
redis.call('ZADD', P .. 'all', exp, ARGV[2])
redis.call('ZADD', P .. 'c:' .. r[9], exp, ARGV[2])
return flat({get(ARGV[2])})
`;

/** ARGV: prefix, token, path, user. */
const RELEASE = `${HEAD}
local r = get(ARGV[2])
if not r or not covers(r, ARGV[3]) then return 'missing' end
if r[8] ~= '' and r[8] ~= ARGV[4] then return 'forbidden' end
drop(ARGV[2])
return 'ok'
`;

/** ARGV: prefix, path. */
const REMOVE_INSIDE = `${HEAD}
local out, seen = {}, {}
inside(ARGV[2], out, seen)
for _, r in ipairs(out) do drop(r[1]) end
return #out
`;

type Scripted = {
  cmLockProtecting(...args: string[]): Promise<string[]>;
  cmLockAcquire(...args: string[]): Promise<string[]>;
  cmLockRefresh(...args: string[]): Promise<string[]>;
  cmLockRelease(...args: string[]): Promise<string>;
  cmLockRemoveInside(...args: string[]): Promise<number>;
};

export interface RedisLockStoreOptions {
  /** Most live locks one client holds across all instances (default MAX_LOCKS_PER_CLIENT). */
  maxPerClient?: number;
  /** Most live locks in the shared table (default MAX_LOCKS). */
  maxTotal?: number;
}

/** A LockStore in Redis, shared by every instance using the same coordinator account. */
export class RedisLockStore implements LockStore {
  readonly empty = false;
  private readonly prefix: string;
  private readonly redis: Scripted;
  private readonly maxPerClient: number;
  private readonly maxTotal: number;

  constructor(coordinator: RedisCoordinator, options: RedisLockStoreOptions = {}) {
    this.prefix = `${coordinator.prefix}lk:`;
    this.redis = withScripts<Scripted>(coordinator.redis, {
      cmLockProtecting: PROTECTING, cmLockAcquire: ACQUIRE, cmLockRefresh: REFRESH, cmLockRelease: RELEASE, cmLockRemoveInside: REMOVE_INSIDE,
    });
    this.maxPerClient = options.maxPerClient ?? MAX_LOCKS_PER_CLIENT;
    this.maxTotal = options.maxTotal ?? MAX_LOCKS;
  }

  covering(path: string): Promise<Lock[]> {
    return this.protecting(path, {});
  }

  async protecting(path: string, opts: { tree?: boolean; membership?: boolean }): Promise<Lock[]> {
    const parent = path === '/' ? '/' : path.slice(0, path.lastIndexOf('/')) || '/';
    const flat = await this.call(() => this.redis.cmLockProtecting(this.prefix, path, opts.tree ? '1' : '0', opts.membership ? '1' : '0', parent));
    return parseLocks(flat);
  }

  async acquire(q: LockRequest): Promise<Lock | 'conflict' | 'client' | 'table'> {
    const token = `opaquelocktoken:${randomUUID()}`;
    const flat = await this.call(() =>
      this.redis.cmLockAcquire(
        this.prefix,
        token,
        q.root,
        q.scope,
        q.depth === 0 ? '0' : 'infinity',
        q.ownerXml,
        String(q.timeoutSeconds),
        userField(q.user),
        q.client,
        String(this.maxPerClient),
        String(this.maxTotal),
      ),
    );
    if (flat.length === 1) return flat[0] as 'conflict' | 'client' | 'table';
    const lock = parseLocks(flat)[0];
    if (!lock) throw new HttpError(503, 'the lock service answered nonsense', { 'Retry-After': '5' });
    return lock;
  }

  async refresh(token: string, path: string, timeoutSeconds: number, user: string | undefined): Promise<Lock | undefined> {
    const flat = await this.call(() => this.redis.cmLockRefresh(this.prefix, token, path, String(timeoutSeconds), userField(user)));
    return parseLocks(flat)[0];
  }

  async release(token: string, path: string, user: string | undefined): Promise<'ok' | 'missing' | 'forbidden'> {
    return (await this.call(() => this.redis.cmLockRelease(this.prefix, token, path, userField(user)))) as 'ok' | 'missing' | 'forbidden';
  }

  async removeInside(path: string): Promise<void> {
    await this.call(() => this.redis.cmLockRemoveInside(this.prefix, path));
  }

  /** Run one script; any Redis failure is a 503 (fail closed), with no detail that could leak a URL. */
  private async call<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      if (e instanceof HttpError) throw e;
      throw new HttpError(503, 'the shared lock table (Redis) is unavailable; try again', { 'Retry-After': '5' });
    }
  }
}

function userField(user: string | undefined): string {
  return user === undefined ? '' : `u:${user}`;
}

function parseLocks(flat: string[]): Lock[] {
  const out: Lock[] = [];
  for (let i = 0; i + 9 <= flat.length; i += 9) {
    const [token, root, depth, scope, owner, timeout, exp, user, client] = flat.slice(i, i + 9) as string[] as [string, string, string, string, string, string, string, string, string];
    out.push({
      token,
      root,
      depth: depth === 'infinity' ? 'infinity' : 0,
      scope: scope === 'shared' ? 'shared' : 'exclusive',
      ownerXml: owner,
      timeoutSeconds: Number(timeout),
      expiresAt: Number(exp),
      ...(user.startsWith('u:') ? { user: user.slice(2) } : {}),
      ...(client !== '' ? { client } : {}),
    });
  }
  return out;
}
