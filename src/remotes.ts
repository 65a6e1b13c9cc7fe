/**
 * Open a Vfs for a configured remote. Adapters are imported on demand so that `cloudmount ls /tmp`
 * does not load provider code it does not use.
 */
import { MemoryVfs } from '../adapters/memory/index.js';
import { VfsError } from './errors.js';
import type { RemoteConfig } from './config.js';
import type { Logger } from './log.js';
import type { Vfs } from './vfs.js';

export interface OpenRemoteOptions {
  logger?: Logger;
}

/** Create the Vfs that serves `remote`. */
export async function openRemote(remote: RemoteConfig, _options: OpenRemoteOptions = {}): Promise<Vfs> {
  switch (remote.type) {
    case 'memory':
      return new MemoryVfs();
    default:
      throw new VfsError('ENOTSUP', `remote type "${remote.type}" is not available in this build`);
  }
}
