/**
 * `--redis <url>` / CLOUDMOUNT_REDIS_URL / `--redis-optional` for serve and mount: several
 * instances of one remote coordinate through Redis (shared provider budget; for WebDAV also
 * locks, dead properties and cache coherence). Without a URL nothing here runs.
 */
import { Option } from 'commander';
import type { Command } from 'commander';
import { RedisBudget } from '../src/coordinator/budget.js';
import { CacheCoherence } from '../src/coordinator/coherence.js';
import { ChangeFeedLeader } from '../src/coordinator/feed.js';
import { RedisCoordinator } from '../src/coordinator/redis.js';
import { VfsError } from '../src/errors.js';
import type { Logger } from '../src/log.js';
import type { Vfs } from '../src/vfs.js';

export interface RedisFlags {
  redis?: string;
  redisOptional?: boolean;
}

/** Add the flags to a command. */
export function addRedisOptions(command: Command): Command {
  return command
    .addOption(new Option('--redis <url>', 'coordinate with other instances of this remote through Redis (redis://[:password@]host:port/db)').env('CLOUDMOUNT_REDIS_URL'))
    .option('--redis-optional', 'if Redis cannot be reached at start, run alone with a warning instead of failing');
}

export interface Coordination {
  coordinator: RedisCoordinator;
  budget: RedisBudget;
  close(): Promise<void>;
  /** Pub/sub invalidations (WebDAV serving only). */
  coherence?: CacheCoherence;
  /** The election for the provider's change feed (with coherence, when the remote has a feed). */
  feed?: ChangeFeedLeader;
}

/**
 * Connect when a URL is given; `account` names what the instances share (remote and path), so
 * every instance must serve the same remote name and path. The provider budget is attached to
 * `vfs.scheduler` at once. `followChanges` (the served view, paths as the caches see them): one
 * instance of the account (elected) follows its change feed for all and republishes it as
 * invalidations; the caches then must not follow it themselves.
 */
export async function coordinate(flags: RedisFlags, account: string, vfs: Vfs, logger: Logger, withCoherence: boolean, followChanges?: Vfs): Promise<Coordination | undefined> {
  if (!flags.redis) return undefined;
  let coordinator: RedisCoordinator;
  try {
    coordinator = await RedisCoordinator.connect(flags.redis, { account, logger });
  } catch (e) {
    if (!flags.redisOptional) throw e instanceof VfsError ? new VfsError(e.code, `${e.reason} (add --redis-optional to run alone)`) : e;
    logger.warn(`${(e as Error).message}; running alone (--redis-optional): locks, properties, cache and the provider budget are this process's only`);
    return undefined;
  }
  const budget = new RedisBudget(coordinator, { logger });
  vfs.scheduler?.setCoordinator(budget);
  const coherence = withCoherence ? await CacheCoherence.start(coordinator, logger) : undefined;
  const changes = followChanges?.capabilities.changes;
  const feed = coherence && followChanges?.watch && (changes === 'push' || changes === 'poll')
    ? ChangeFeedLeader.start(coordinator, followChanges, (paths) => coherence.publish(paths, true), { logger })
    : undefined;
  return {
    coordinator,
    budget,
    ...(coherence ? { coherence } : {}),
    ...(feed ? { feed } : {}),
    close: async () => {
      vfs.scheduler?.setCoordinator(undefined);
      await feed?.close();
      await coherence?.close();
      await coordinator.close();
    },
  };
}
