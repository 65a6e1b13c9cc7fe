/**
 * Dead properties shared by several instances through Redis (issue 21 part 3): PROPPATCH on one
 * instance is visible on every other at once. Each operation is ONE Lua script: a PROPPATCH's
 * limit check and its changes, and the move/copy/drop of a whole subtree's properties. (The
 * provider's namespace change itself cannot join a Redis transaction: the handler changes the
 * properties right after the provider confirmed the MOVE/COPY/DELETE, as the in-memory store does.)
 *
 * Keys under `<prefix>pr:` — `h:<path>` a hash of "{ns}name" → JSON [ns, name, valueXml];
 * `paths` a lexicographic index of paths holding properties (for subtrees); `b` bytes per path;
 * `tot` the total bytes and count (the same limits as PropStore: per resource, total, count).
 * Scripts build key names from the prefix: one Redis (or primary + replicas), not a Cluster.
 */
import type { RedisCoordinator } from '../../src/coordinator/redis.js';
import { withScripts } from '../../src/coordinator/redis.js';
import { HttpError } from './reply.js';
import { MAX_PROPS_TOTAL, MAX_PROP_BYTES_PER_RESOURCE, MAX_PROP_BYTES_TOTAL, propKey } from './props.js';
import type { DeadProp, DeadPropStore, PropChange } from './props.js';

const HEAD = `
local P = ARGV[1]
local function size(o) return #o[1] + #o[2] + #o[3] end

-- Paths holding properties: 'path' itself and (unless onlySelf) everything below it.
local function subtree(path, onlySelf)
  local out = {}
  if redis.call('ZSCORE', P .. 'paths', path) then out[1] = path end
  if onlySelf then return out end
  local prefix = path == '/' and '/' or path .. '/'
  local hi = string.sub(prefix, 1, #prefix - 1) .. '0'
  for _, p in ipairs(redis.call('ZRANGEBYLEX', P .. 'paths', '[' .. prefix, '(' .. hi)) do
    if p ~= path then out[#out + 1] = p end
  end
  return out
end

local function total(dBytes, dCount)
  redis.call('HINCRBY', P .. 'tot', 'bytes', dBytes)
  redis.call('HINCRBY', P .. 'tot', 'count', dCount)
end

local function drop(p)
  local bytes = tonumber(redis.call('HGET', P .. 'b', p) or '0')
  local n = redis.call('HLEN', P .. 'h:' .. p)
  redis.call('DEL', P .. 'h:' .. p)
  redis.call('ZREM', P .. 'paths', p)
  redis.call('HDEL', P .. 'b', p)
  total(-bytes, -n)
end

local function removeInside(path)
  for _, p in ipairs(subtree(path, false)) do drop(p) end
end
`;

/** ARGV: prefix, path, perResource, totalBytes, count, changes JSON [[kind, ns, name, valueXml]…]. */
const APPLY = `${HEAD}
local path = ARGV[2]
local perResource, maxBytes, maxCount = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local changes = cjson.decode(ARGV[6])
local hk = P .. 'h:' .. path
local bytes = tonumber(redis.call('HGET', P .. 'b', path) or '0')
local tb = tonumber(redis.call('HGET', P .. 'tot', 'bytes') or '0')
local tc = tonumber(redis.call('HGET', P .. 'tot', 'count') or '0')
local b0, tb0, tc0 = bytes, tb, tc
local pending, over = {}, {}
for i, c in ipairs(changes) do
  local key = '{' .. c[2] .. '}' .. c[3]
  local before
  if pending[key] ~= nil then before = pending[key] else
    local old = redis.call('HGET', hk, key)
    if old then before = size(cjson.decode(old)) else before = false end
  end
  local after = false
  if c[1] == 'set' then after = #c[2] + #c[3] + #c[4] end
  local delta = (after or 0) - (before or 0)
  local cd = (after and 1 or 0) - (before and 1 or 0)
  if c[1] == 'set' and (bytes + delta > perResource or tb + delta > maxBytes or tc + cd > maxCount) then
    over[#over + 1] = i - 1
  else
    bytes, tb, tc = bytes + delta, tb + delta, tc + cd
    pending[key] = after
  end
end
if #over > 0 then return over end
for _, c in ipairs(changes) do
  local key = '{' .. c[2] .. '}' .. c[3]
  if c[1] == 'set' then redis.call('HSET', hk, key, cjson.encode({c[2], c[3], c[4]}))
  else redis.call('HDEL', hk, key) end
end
if redis.call('HLEN', hk) == 0 then
  redis.call('ZREM', P .. 'paths', path)
  redis.call('HDEL', P .. 'b', path)
else
  redis.call('ZADD', P .. 'paths', 0, path)
  redis.call('HSET', P .. 'b', path, bytes)
end
total(tb - tb0, tc - tc0)
return {}
`;

/** ARGV: prefix, path. */
const REMOVE_INSIDE = `${HEAD}
removeInside(ARGV[2])
return 1
`;

/** ARGV: prefix, from, to, mode, depthZero (0/1), totalBytes, count. */
const TRANSFER = `${HEAD}
local from, to, mode = ARGV[2], ARGV[3], ARGV[4]
local maxBytes, maxCount = tonumber(ARGV[6]), tonumber(ARGV[7])
removeInside(to)
for _, p in ipairs(subtree(from, ARGV[5] == '1')) do
  local target = to .. string.sub(p, #from + 1)
  local bytes = tonumber(redis.call('HGET', P .. 'b', p) or '0')
  local n = redis.call('HLEN', P .. 'h:' .. p)
  if mode == 'move' then
    redis.call('RENAME', P .. 'h:' .. p, P .. 'h:' .. target)
    redis.call('ZREM', P .. 'paths', p)
    redis.call('HDEL', P .. 'b', p)
    redis.call('ZADD', P .. 'paths', 0, target)
    redis.call('HSET', P .. 'b', target, bytes)
  else
    local tb = tonumber(redis.call('HGET', P .. 'tot', 'bytes') or '0')
    local tc = tonumber(redis.call('HGET', P .. 'tot', 'count') or '0')
    if tc + n <= maxCount and tb + bytes <= maxBytes then
      redis.call('COPY', P .. 'h:' .. p, P .. 'h:' .. target, 'REPLACE')
      redis.call('ZADD', P .. 'paths', 0, target)
      redis.call('HSET', P .. 'b', target, bytes)
      total(bytes, n)
    end
  end
end
return 1
`;

type Scripted = {
  cmPropApply(...args: string[]): Promise<number[]>;
  cmPropRemoveInside(...args: string[]): Promise<number>;
  cmPropTransfer(...args: string[]): Promise<number>;
};

export interface RedisPropLimits {
  perResource: number;
  totalBytes: number;
  count: number;
}

/** A DeadPropStore in Redis, shared by every instance using the same coordinator account. */
export class RedisPropStore implements DeadPropStore {
  private readonly prefix: string;
  private readonly redis: Scripted;

  constructor(private readonly coordinator: RedisCoordinator, private readonly limits: RedisPropLimits = { perResource: MAX_PROP_BYTES_PER_RESOURCE, totalBytes: MAX_PROP_BYTES_TOTAL, count: MAX_PROPS_TOTAL }) {
    this.prefix = `${coordinator.prefix}pr:`;
    this.redis = withScripts<Scripted>(coordinator.redis, { cmPropApply: APPLY, cmPropRemoveInside: REMOVE_INSIDE, cmPropTransfer: TRANSFER });
  }

  async get(path: string): Promise<Map<string, DeadProp> | undefined> {
    const raw = await this.call(() => this.coordinator.redis.hgetall(`${this.prefix}h:${path}`));
    const out = new Map<string, DeadProp>();
    for (const value of Object.values(raw)) {
      const [ns, name, valueXml] = JSON.parse(value) as [string, string, string];
      out.set(propKey(ns, name), { ns, name, valueXml });
    }
    return out.size > 0 ? out : undefined;
  }

  async apply(path: string, changes: PropChange[]): Promise<Set<number>> {
    const json = JSON.stringify(changes.map((c) => [c.kind, c.prop.ns, c.prop.name, c.prop.valueXml]));
    const over = await this.call(() =>
      this.redis.cmPropApply(this.prefix, path, String(this.limits.perResource), String(this.limits.totalBytes), String(this.limits.count), json),
    );
    return new Set(over);
  }

  async removeInside(path: string): Promise<void> {
    await this.call(() => this.redis.cmPropRemoveInside(this.prefix, path));
  }

  async transfer(from: string, to: string, mode: 'move' | 'copy', depthZero = false): Promise<void> {
    await this.call(() => this.redis.cmPropTransfer(this.prefix, from, to, mode, depthZero ? '1' : '0', String(this.limits.totalBytes), String(this.limits.count)));
  }

  private async call<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch {
      throw new HttpError(503, 'the shared property store (Redis) is unavailable; try again', { 'Retry-After': '5' });
    }
  }
}
