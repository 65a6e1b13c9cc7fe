/**
 * Open a Vfs for a configured remote through its provider's descriptor. Every secret field is
 * registered with the redactor before anything can log it. Descriptors import their adapter on
 * demand, so `cloudmount ls /tmp` loads no provider code.
 */
import { providerOf } from '../adapters/index.js';
import type { RemoteConfig } from './config.js';
import { VfsError } from '../src/errors.js';
import type { Logger } from '../src/log.js';
import { silentLogger } from '../src/log.js';
import { registerSecret } from '../src/redact.js';
import type { RequestLimits } from '../src/provider.js';
import type { Vfs } from '../src/vfs.js';

export interface OpenRemoteOptions {
  logger?: Logger;
  /** Spool folder for uploads whose size is unknown up front. */
  spoolDir?: string;
  /** Request limits (from the command line; the remote's config fills what is not given). */
  limits?: RequestLimits;
}

/** Create the Vfs that serves `remote` (its Scheduler, if any, is `vfs.scheduler`). */
export async function openRemote(remote: RemoteConfig, options: OpenRemoteOptions = {}): Promise<Vfs> {
  const provider = providerOf(remote.type);
  if (!provider) throw new VfsError('EINVAL', `unknown remote type ${JSON.stringify(remote.type)}`);
  for (const field of provider.fields) {
    const value = remote[field.name];
    if (field.secret && typeof value === 'string') registerSecret(value);
  }
  const limits = { ...limitsOf(remote), ...options.limits };
  const vfs = await provider.open(remote, {
    logger: options.logger ?? silentLogger,
    ...(options.spoolDir ? { spoolDir: options.spoolDir } : {}),
    ...(Object.keys(limits).length ? { limits } : {}),
  });
  // The scheduler's concurrency can be changed at any time: applied here whatever the provider does
  // with `limits`, so --max-concurrency never depends on a descriptor forwarding it.
  if (limits.concurrency !== undefined) vfs.scheduler?.setConcurrency(limits.concurrency);
  if (limits.requestsPerSecond !== undefined && vfs.scheduler) {
    const rate = vfs.scheduler.stats().rate;
    if (rate === null || rate > limits.requestsPerSecond) {
      process.stderr.write(`cloudmount: warning: --tpslimit is not applied: the ${remote.type} provider does not take request limits yet\n`);
    }
  }
  return vfs;
}

/** Limit fields any remote may hold in the config file (like rclone's per-remote overrides). */
export const LIMIT_FIELDS = ['tpslimit', 'maxConcurrency', 'bwlimit', 'readStreams'] as const;

/** The request limits written in a remote's config. */
export function limitsOf(remote: RemoteConfig): RequestLimits {
  const num = (v: unknown) => (typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : undefined);
  const tps = num(remote.tpslimit);
  const conc = num(remote.maxConcurrency);
  const streams = num(remote.readStreams);
  return {
    ...(streams !== undefined && streams >= 1 ? { readStreams: Math.floor(streams) } : {}),
    ...(tps !== undefined && tps > 0 ? { requestsPerSecond: tps } : {}),
    ...(conc !== undefined && conc > 0 ? { concurrency: Math.floor(conc) } : {}),
  };
}
