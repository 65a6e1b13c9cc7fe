/**
 * What every command needs: the config, a logger, and `open(location)` that turns a
 * `remote:path` or local path argument into a Vfs and a normalised path.
 */
import { realpath } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { LocalVfs } from '../adapters/local/index.js';
import { defaultConfigPath, loadConfig, parseLocation, permissionWarning, resolveRemote } from './config.js';
import type { ConfigFile } from './config.js';
import type { Logger } from '../src/log.js';
import { normalizePath } from '../src/path.js';
import { openRemote } from './remotes.js';
import type { OpenRemoteOptions } from './remotes.js';
import type { Vfs } from '../src/vfs.js';
import type { RequestLimits } from '../src/provider.js';
import { providerOf } from '../adapters/index.js';

export interface CliContext {
  logger: Logger;
  /** Print one line of normal output to stdout. */
  out(line: string): void;
  /** Print a warning line to stderr. */
  warn(line: string): void;
  configPath(): string;
  config(): Promise<ConfigFile>;
  /** A Vfs and path for a command-line location; one Vfs per remote name per process. */
  open(location: string, options?: OpenRemoteOptions): Promise<{ vfs: Vfs; path: string; remote?: string }>;
  /** Close every Vfs opened (timers, sockets). */
  closeAll(): Promise<void>;
  /** The server hosts of the remotes opened so far, by provider type (for network error messages). */
  hostsOf(provider: string): string[];
}

export interface ContextOptions {
  logger: Logger;
  /** Follow symbolic links below local paths, even out of them (-L/--copy-links); default: never. */
  followSymlinks?: () => boolean;
  configPath?: () => string | undefined;
  /** Request limits from the command line (--tpslimit, --max-concurrency), for every remote opened. */
  limits?: () => RequestLimits | undefined;
}

/** Build the context commands share. */
export function createContext(options: ContextOptions): CliContext {
  const opened = new Map<string, Vfs>();
  const hosts = new Map<string, Set<string>>();
  let local: LocalVfs | undefined;
  let loaded: Promise<ConfigFile> | undefined;
  let warned = false;

  const ctx: CliContext = {
    logger: options.logger,
    out: (line) => process.stdout.write(line + '\n'),
    warn: (line) => process.stderr.write(line + '\n'),
    configPath: () => options.configPath?.() ?? process.env.CLOUDMOUNT_CONFIG ?? defaultConfigPath(),
    config: () => {
      loaded ??= (async () => {
        const path = ctx.configPath();
        const warning = await permissionWarning(path);
        if (warning && !warned) {
          warned = true;
          ctx.warn(warning);
        }
        return loadConfig(path);
      })();
      return loaded;
    },
    async open(location, openOptions = {}) {
      const parsed = parseLocation(location);
      if (parsed.kind === 'local') {
        local ??= new LocalVfs({ followSymlinks: options.followSymlinks?.() ?? false });
        // Links in the path the user typed are the user's choice: resolve them once, here. Below it,
        // LocalVfs follows none unless -L was given (issue 16 #8).
        return { vfs: local, path: normalizePath(await realLocalPath(resolve(parsed.path))) };
      }
      const path = normalizePath(parsed.path);
      let vfs = opened.get(parsed.remote);
      if (!vfs) {
        const remote = resolveRemote(parsed.remote, await ctx.config());
        for (const field of providerOf(remote.type)?.fields ?? []) {
          const value = remote[field.name];
          if (field.kind !== 'url' || typeof value !== 'string') continue;
          try {
            const set = hosts.get(remote.type) ?? new Set();
            set.add(new URL(value).host);
            hosts.set(remote.type, set);
          } catch {
            // Checked when the remote was validated.
          }
        }
        const limits = options.limits?.();
        vfs = await openRemote(remote, { logger: ctx.logger.child({ remote: parsed.remote }), ...(limits ? { limits } : {}), ...openOptions });
        opened.set(parsed.remote, vfs);
      }
      return { vfs, path, remote: parsed.remote };
    },
    hostsOf: (provider) => [...(hosts.get(provider) ?? [])],
    async closeAll() {
      await Promise.allSettled([...opened.values()].map((v) => v.close?.()));
      opened.clear();
    },
  };
  return ctx;
}

/** `path` with the links in it resolved; for a path not there yet (a copy's destination), its parent's. */
async function realLocalPath(path: string): Promise<string> {
  try {
    return await realpath(path);
  } catch {
    const parent = await realpath(dirname(path)).catch(() => undefined);
    return parent === undefined ? path : join(parent, basename(path));
  }
}
