/**
 * Open a Vfs for a configured remote. Each remote gets its own Scheduler (one per provider account,
 * as the design asks), kept beside the Vfs so `--stats` can report it. Adapters are imported on
 * demand so `cloudmount ls /tmp` does not load provider code it does not use.
 */
import { MemoryVfs } from '../adapters/memory/index.js';
import type { RemoteConfig } from './config.js';
import type { Logger } from './log.js';
import { silentLogger } from './log.js';
import { registerSecret } from './redact.js';
import { Scheduler } from './scheduler.js';
import type { Vfs } from './vfs.js';

export interface OpenRemoteOptions {
  logger?: Logger;
  /** Spool folder for uploads whose size is unknown up front. */
  spoolDir?: string;
}

const schedulers = new WeakMap<Vfs, Scheduler>();

/** The Scheduler a remote's Vfs sends its requests through (undefined for memory/local). */
export function schedulerOf(vfs: Vfs): Scheduler | undefined {
  return schedulers.get(vfs);
}

/** Create the Vfs that serves `remote`. */
export async function openRemote(remote: RemoteConfig, options: OpenRemoteOptions = {}): Promise<Vfs> {
  const logger = options.logger ?? silentLogger;
  switch (remote.type) {
    case 'memory':
      return new MemoryVfs();
    case 'cloudreve': {
      registerSecret(remote.password);
      registerSecret(remote.accessToken);
      registerSecret(remote.refreshToken);
      const { CloudreveVfs } = await import('../adapters/cloudreve/index.js');
      const scheduler = new Scheduler({ name: 'cloudreve', logger });
      const tokens = remote.refreshToken || remote.accessToken
        ? { accessToken: remote.accessToken ?? '', refreshToken: remote.refreshToken ?? '' }
        : undefined;
      const vfs = new CloudreveVfs({
        baseUrl: remote.url,
        ...(remote.email ? { email: remote.email } : {}),
        ...(remote.password ? { password: remote.password } : {}),
        ...(tokens ? { tokens } : {}),
        ...(options.spoolDir ? { spoolDir: options.spoolDir } : {}),
        scheduler,
        logger,
      });
      schedulers.set(vfs, scheduler);
      // Upload sessions a killed run left would lock their paths for a day: cancel them now.
      await vfs.recoverUploads().catch((e) => logger.warn('cloudreve: upload session recovery failed', { error: String(e) }));
      return vfs;
    }
    case 'couchdrop': {
      registerSecret(remote.password);
      registerSecret(remote.token);
      const { CouchdropVfs } = await import('../adapters/couchdrop/index.js');
      const scheduler = new Scheduler({ name: 'couchdrop', logger });
      const credentials = remote.token ? { token: remote.token } : { username: remote.username ?? '', password: remote.password ?? '' };
      const vfs = new CouchdropVfs({
        ...credentials,
        ...(remote.fileioUrl ? { fileioUrl: remote.fileioUrl } : {}),
        ...(remote.apiUrl ? { apiUrl: remote.apiUrl } : {}),
        ...(remote.routes ? { routes: remote.routes } : {}),
        ...(options.spoolDir ? { spoolDir: options.spoolDir } : {}),
        scheduler,
        logger,
      });
      schedulers.set(vfs, scheduler);
      return vfs;
    }
  }
}
