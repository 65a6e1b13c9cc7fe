/**
 * `--stats`: one line every few seconds with requests, retries, 429s, cache hit rate, bytes up and
 * down, and uploads kept in the spool.
 */
import type { CacheStats } from '../src/cache.js';
import type { MeteredVfs } from '../src/metered-vfs.js';
import type { Scheduler } from '../src/scheduler/index.js';
import { formatBytes } from './progress.js';

export interface StatsSources {
  scheduler?: Scheduler;
  cache?: { stats(): CacheStats };
  metered?: MeteredVfs;
  /** Uploads waiting in the spool (FUSE). */
  pending?: () => Promise<number>;
}

/** One stats line from the current figures. */
export async function statsLine(sources: StatsSources): Promise<string> {
  const parts: string[] = [];
  if (sources.scheduler) {
    const s = sources.scheduler.stats();
    parts.push(`requests ${s.requests}`, `retries ${s.retries}`, `429s ${s.throttled}`, `failures ${s.failures}`, `queued ${s.queued}`);
    // The pace the scheduler learned from the provider's 429/503s (absent while unpaced).
    if (typeof s.rate === 'number' && Number.isFinite(s.rate)) parts.push(`pace ${s.rate.toFixed(1)}/s`);
  }
  if (sources.cache) {
    const c = sources.cache.stats();
    const total = c.hits + c.misses;
    parts.push(`cache hits ${total ? Math.round((100 * c.hits) / total) : 0}%`);
  }
  if (sources.metered) parts.push(`up ${formatBytes(sources.metered.bytesUp)}`, `down ${formatBytes(sources.metered.bytesDown)}`);
  if (sources.pending) parts.push(`pending uploads ${await sources.pending()}`);
  return `stats: ${parts.join(', ')}`;
}

/** Print a stats line every `intervalMs` until the returned stop function is called. */
export function startStats(sources: StatsSources, write: (line: string) => void, intervalMs = 10_000): () => void {
  const timer = setInterval(() => {
    statsLine(sources).then(write, () => {});
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
