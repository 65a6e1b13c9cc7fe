/**
 * Configuration: named remotes in one JSON file (like rclone's config), ad-hoc remotes from
 * environment variables, and `remote:path` argument parsing.
 *
 * File: $XDG_CONFIG_HOME/cloudmount/config.json (default ~/.config/cloudmount/config.json), or --config.
 * It holds passwords and tokens, so it is written with mode 600 and a warning is printed when others
 * can read it.
 */
import { chmod, mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { VfsError } from '../src/errors.js';
import { redact } from '../src/redact.js';

/** A Cloudreve v4 account. */
export interface CloudreveRemote {
  type: 'cloudreve';
  /** Site root, e.g. https://drive.example.com (no /api/v4). */
  url: string;
  email?: string;
  password?: string;
  /** Existing tokens instead of a password (a refresh token is renewed as needed). */
  accessToken?: string;
  refreshToken?: string;
}

/** A Couchdrop account: a long-lived API token, or a username and password. */
export interface CouchdropRemote {
  type: 'couchdrop';
  token?: string;
  username?: string;
  password?: string;
  /** Defaults: https://fileio.couchdrop.io and https://api.couchdrop.io. */
  fileioUrl?: string;
  apiUrl?: string;
  /**
   * Overrides of the PROVISIONAL rename/delete routes, e.g.
   * `{"rename": {"path": "/file/move", "toParam": "destination"}, "delete": {"path": "/file/rm"}}`.
   */
  routes?: {
    rename?: { method?: string; path?: string; fromParam?: string; toParam?: string };
    delete?: { method?: string; path?: string; pathParam?: string };
  };
}

/** The in-memory store (empty on every start). */
export interface MemoryRemote {
  type: 'memory';
}

export type RemoteConfig = CloudreveRemote | CouchdropRemote | MemoryRemote;

export interface ConfigFile {
  remotes: Record<string, RemoteConfig>;
}

/** Fields that hold secrets: never printed. */
export const SECRET_FIELDS = ['password', 'token', 'accessToken', 'refreshToken'] as const;

const REMOTE_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;

/** Where the config file lives unless --config says otherwise. */
export function defaultConfigPath(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_CONFIG_HOME || join(env.HOME || homedir(), '.config');
  return join(base, 'cloudmount', 'config.json');
}

/** Read the config file; a missing file is an empty config, a malformed one a clear EINVAL. */
export async function loadConfig(path: string): Promise<ConfigFile> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { remotes: {} };
    throw new VfsError('EACCES', `cannot read config file ${path}: ${(e as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new VfsError('EINVAL', `config file ${path} is not valid JSON: ${(e as Error).message}`);
  }
  return validateConfig(parsed, path);
}

function validateConfig(value: unknown, path: string): ConfigFile {
  const bad = (why: string) => new VfsError('EINVAL', `config file ${path}: ${why}`);
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw bad('expected an object with "remotes"');
  const remotes = (value as { remotes?: unknown }).remotes ?? {};
  if (!remotes || typeof remotes !== 'object' || Array.isArray(remotes)) throw bad('"remotes" must be an object');
  const out: Record<string, RemoteConfig> = {};
  for (const [name, remote] of Object.entries(remotes as Record<string, unknown>)) {
    if (!REMOTE_NAME.test(name)) throw bad(`remote name ${JSON.stringify(name)} may only hold letters, digits, "_", "." and "-"`);
    out[name] = validateRemote(remote, (why) => bad(`remote "${name}": ${why}`));
  }
  return { remotes: out };
}

/** Check one remote's fields; `bad` builds the error. */
export function validateRemote(remote: unknown, bad: (why: string) => Error): RemoteConfig {
  if (!remote || typeof remote !== 'object') throw bad('must be an object');
  const r = remote as Record<string, unknown>;
  for (const [k, v] of Object.entries(r)) {
    if (k === 'routes' && r.type === 'couchdrop') validateRoutes(v, bad);
    else if (typeof v !== 'string') throw bad(`field "${k}" must be a string`);
  }
  switch (r.type) {
    case 'memory':
      return { type: 'memory' };
    case 'cloudreve':
      if (!r.url) throw bad('"url" is required (the site root, e.g. https://drive.example.com)');
      try {
        new URL(r.url as string);
      } catch {
        throw bad(`"url" is not a URL: ${JSON.stringify(r.url)}`);
      }
      if (!(r.email && r.password) && !r.refreshToken && !r.accessToken) throw bad('needs "email" and "password" (or tokens)');
      return r as unknown as CloudreveRemote;
    case 'couchdrop':
      if (!r.token && !(r.username && r.password)) throw bad('needs "token", or "username" and "password"');
      return r as unknown as CouchdropRemote;
    default:
      throw bad(`unknown type ${JSON.stringify(r.type)} (expected cloudreve, couchdrop or memory)`);
  }
}

function validateRoutes(routes: unknown, bad: (why: string) => Error): void {
  if (!routes || typeof routes !== 'object') throw bad('"routes" must be an object');
  for (const [name, route] of Object.entries(routes)) {
    if (name !== 'rename' && name !== 'delete') throw bad(`"routes" may only hold "rename" and "delete", not ${JSON.stringify(name)}`);
    if (!route || typeof route !== 'object') throw bad(`"routes.${name}" must be an object`);
    for (const [k, v] of Object.entries(route)) if (typeof v !== 'string') throw bad(`"routes.${name}.${k}" must be a string`);
  }
}

/** Write the config atomically with mode 600. */
export async function saveConfig(path: string, config: ConfigFile): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, JSON.stringify(config, null, 2) + '\n', { mode: 0o600 });
  await chmod(tmp, 0o600);
  await rename(tmp, path);
}

/** A warning when the config file is readable by group or others, else undefined. */
export async function permissionWarning(path: string): Promise<string | undefined> {
  try {
    const { mode } = await stat(path);
    if (mode & 0o077) {
      return `warning: ${path} holds secrets but is readable by others (mode ${(mode & 0o777).toString(8)}); run: chmod 600 ${path}`;
    }
  } catch {
    // No file, nothing to warn about.
  }
  return undefined;
}

/**
 * Remotes defined by environment variables, used when no remote of that name is in the file:
 * `cloudreve:` from CLOUDREVE_URL/CLOUDREVE_EMAIL/CLOUDREVE_PASSWORD, `couchdrop:` from COUCHDROP_TOKEN
 * or COUCHDROP_USERNAME/COUCHDROP_PASSWORD (+ COUCHDROP_FILEIO_URL, COUCHDROP_API_URL).
 */
export function remoteFromEnv(name: string, env: NodeJS.ProcessEnv = process.env): RemoteConfig | undefined {
  if (name === 'memory') return { type: 'memory' };
  if (name === 'cloudreve' && env.CLOUDREVE_URL) {
    const r: CloudreveRemote = { type: 'cloudreve', url: env.CLOUDREVE_URL };
    if (env.CLOUDREVE_EMAIL) r.email = env.CLOUDREVE_EMAIL;
    if (env.CLOUDREVE_PASSWORD) r.password = env.CLOUDREVE_PASSWORD;
    return r;
  }
  if (name === 'couchdrop' && (env.COUCHDROP_TOKEN || env.COUCHDROP_USERNAME)) {
    const r: CouchdropRemote = { type: 'couchdrop' };
    if (env.COUCHDROP_TOKEN) r.token = env.COUCHDROP_TOKEN;
    if (env.COUCHDROP_USERNAME) r.username = env.COUCHDROP_USERNAME;
    if (env.COUCHDROP_PASSWORD) r.password = env.COUCHDROP_PASSWORD;
    if (env.COUCHDROP_FILEIO_URL) r.fileioUrl = env.COUCHDROP_FILEIO_URL;
    if (env.COUCHDROP_API_URL) r.apiUrl = env.COUCHDROP_API_URL;
    return r;
  }
  return undefined;
}

/** A command-line location: a remote path (`name:path`) or a local path. */
export type Location = { kind: 'remote'; remote: string; path: string } | { kind: 'local'; path: string };

/**
 * Parse `remote:path` (rclone's convention). A word before the first ":" that is a valid remote name
 * and holds no "/" makes it remote; anything else ("./a:b", "/tmp/x") is local. "remote:" is the root.
 */
export function parseLocation(arg: string): Location {
  const colon = arg.indexOf(':');
  if (colon > 0) {
    const name = arg.slice(0, colon);
    if (REMOTE_NAME.test(name) && !name.includes('/')) {
      const rest = arg.slice(colon + 1);
      return { kind: 'remote', remote: name, path: rest.startsWith('/') ? rest : '/' + rest };
    }
  }
  return { kind: 'local', path: arg };
}

/** Find a remote by name: the config file first, then the environment. */
export function resolveRemote(name: string, config: ConfigFile, env: NodeJS.ProcessEnv = process.env): RemoteConfig {
  const remote = config.remotes[name] ?? remoteFromEnv(name, env);
  if (!remote) {
    const known = [...Object.keys(config.remotes), 'memory'].join(', ');
    throw new VfsError('ENOENT', `no remote named "${name}" (known: ${known}; add one with "cloudmount config add")`);
  }
  return remote;
}

/** A copy of a remote's config with its secrets masked, safe to print. */
export function maskSecrets(remote: RemoteConfig): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(remote)) {
    // redact() also hides a password written into a URL (http://user:password@host).
    out[k] = (SECRET_FIELDS as readonly string[]).includes(k) ? '********' : redact(typeof v === 'string' ? v : JSON.stringify(v));
  }
  return out;
}
