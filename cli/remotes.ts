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
import type { Vfs } from '../src/vfs.js';

export interface OpenRemoteOptions {
  logger?: Logger;
  /** Spool folder for uploads whose size is unknown up front. */
  spoolDir?: string;
}

/** Create the Vfs that serves `remote` (its Scheduler, if any, is `vfs.scheduler`). */
export async function openRemote(remote: RemoteConfig, options: OpenRemoteOptions = {}): Promise<Vfs> {
  const provider = providerOf(remote.type);
  if (!provider) throw new VfsError('EINVAL', `unknown remote type ${JSON.stringify(remote.type)}`);
  for (const field of provider.fields) {
    const value = remote[field.name];
    if (field.secret && typeof value === 'string') registerSecret(value);
  }
  return provider.open(remote, { logger: options.logger ?? silentLogger, ...(options.spoolDir ? { spoolDir: options.spoolDir } : {}) });
}
