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
import type { ProviderConfig } from '../src/provider.js';
import { PROVIDERS, providerOf } from '../adapters/index.js';

/** A remote as stored: its provider type and that provider's fields (see adapters/<type>/provider.ts). */
export type RemoteConfig = ProviderConfig;

export interface ConfigFile {
  remotes: Record<string, RemoteConfig>;
}

/** Fields that hold secrets in any provider: never printed. */
export const SECRET_FIELDS: readonly string[] = [...new Set(PROVIDERS.flatMap((p) => p.fields.filter((f) => f.secret).map((f) => f.name)))];

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

/** Check one remote against its provider's descriptor; `bad` builds the error. */
export function validateRemote(remote: unknown, bad: (why: string) => Error): RemoteConfig {
  if (!remote || typeof remote !== 'object' || Array.isArray(remote)) throw bad('must be an object');
  const r = remote as Record<string, unknown>;
  const provider = providerOf(r.type);
  if (!provider) throw bad(`unknown type ${JSON.stringify(r.type)} (expected ${PROVIDERS.map((p) => p.type).join(', ')})`);
  for (const [k, v] of Object.entries(r)) {
    if (k === 'type') continue;
    if (k === 'tpslimit' || k === 'maxConcurrency' || k === 'readStreams') {
      if (!(typeof v === 'number' && v > 0) && !(typeof v === 'string' && Number(v) > 0)) throw bad(`"${k}" must be a positive number`);
      continue;
    }
    if (k === 'bwlimit') {
      if (typeof v !== 'string' && typeof v !== 'number') throw bad('"bwlimit" must be a size per second such as "1M"');
      continue;
    }
    const field = provider.fields.find((f) => f.name === k);
    if (!field) throw bad(`unknown field ${JSON.stringify(k)} for type ${provider.type} (known: ${provider.fields.map((f) => f.name).join(', ') || 'none'})`);
    if (field.kind === 'object') {
      const why = provider.checkField?.(k, v);
      if (why) throw bad(why);
      continue;
    }
    if (typeof v !== 'string') throw bad(`field "${k}" must be a string`);
    if (field.kind === 'url') {
      try {
        new URL(v);
      } catch {
        throw bad(`"${k}" is not a URL: ${JSON.stringify(v)}`);
      }
    }
  }
  const why = provider.check?.(r as RemoteConfig);
  if (why) throw bad(why);
  return r as RemoteConfig;
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
 * The ad-hoc remote named after a provider type (`cloudreve:`, `couchdrop:`), from the environment
 * variables its descriptor names; used when no remote of that name is in the file. It exists as soon as
 * one of them is set, so a missing one is reported by name instead of "no remote named …".
 */
export function remoteFromEnv(name: string, env: NodeJS.ProcessEnv = process.env): RemoteConfig | undefined {
  const provider = providerOf(name);
  if (!provider) return undefined;
  if (provider.fields.length === 0) return { type: provider.type };
  const remote: RemoteConfig = { type: provider.type };
  for (const field of provider.fields) if (field.env && env[field.env]) remote[field.name] = env[field.env];
  return Object.keys(remote).length > 1 ? remote : undefined;
}

/** The environment variables that define the ad-hoc remote of `type`, for messages. */
export function envVarsOf(type: string): string[] {
  return (providerOf(type)?.fields ?? []).flatMap((f) => (f.env ? [f.env] : []));
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

/** Find a remote by name: the config file first, then the environment (checked like a file entry). */
export function resolveRemote(name: string, config: ConfigFile, env: NodeJS.ProcessEnv = process.env): RemoteConfig {
  const stored = config.remotes[name];
  if (stored) return stored;
  const provider = providerOf(name);
  const fromEnv = remoteFromEnv(name, env);
  if (provider && provider.fields.some((f) => f.env)) {
    // The ad-hoc remote named after a type: say which variable is missing, in the variables' names.
    const partial = fromEnv ?? { type: provider.type };
    const why = provider.check?.(partial);
    if (why) throw new VfsError('EINVAL', missingEnvMessage(name, partial, why));
  }
  if (fromEnv) return validateRemote(fromEnv, (why) => new VfsError('EINVAL', envMessage(name, why)));
  throw new VfsError('ENOENT', unknownRemoteMessage(name, config));
}

/** `"url" is required` → `CLOUDREVE_URL is not set: …`, naming the first missing variable the rule mentions. */
function missingEnvMessage(name: string, partial: RemoteConfig, why: string): string {
  const provider = providerOf(name)!;
  const envOf = new Map(provider.fields.flatMap((f) => (f.env ? [[f.name, f.env] as const] : [])));
  const mentioned = [...why.matchAll(/"([A-Za-z]+)"/g)].map((m) => m[1]!).filter((f) => envOf.has(f));
  const missing = mentioned.find((f) => partial[f] === undefined) ?? mentioned[0];
  const rule = why.replace(/"([A-Za-z]+)"/g, (all, f: string) => envOf.get(f) ?? all);
  const first = missing ? `${envOf.get(missing)} is not set` : `the environment does not define "${name}:"`;
  return `${first} (the ad-hoc remote "${name}:" is read from ${[...envOf.values()].join(', ')}: ${rule};`
    + ` or add a remote with "cloudmount config add")`;
}

/** A bad value in an env remote, named by its variable: `CLOUDREVE_URL is not a URL: "x"`. */
function envMessage(name: string, why: string): string {
  const provider = providerOf(name);
  let text = why;
  for (const f of provider?.fields ?? []) if (f.env) text = text.replaceAll(`"${f.name}"`, f.env);
  return `${text} (remote "${name}:" from the environment)`;
}

/** "no remote named …", with the closest known name and where remotes come from. */
function unknownRemoteMessage(name: string, config: ConfigFile): string {
  const configured = Object.keys(config.remotes);
  const types = PROVIDERS.map((p) => p.type);
  const guess = closest(name, [...configured, ...types]);
  const envRemotes = PROVIDERS.filter((p) => envVarsOf(p.type).length > 0).map((p) => `${p.type}: (${envVarsOf(p.type).join(', ')})`);
  return `no remote named "${name}"${guess ? ` — did you mean "${guess}:"?` : ''}`
    + ` Configured: ${configured.length ? configured.join(', ') : 'none'} (add one with "cloudmount config add")`
    + `; from the environment: ${envRemotes.join('; ')}; built in: memory:`;
}

/** The candidate within edit distance 2 (or a case-insensitive prefix match), if any. */
function closest(name: string, candidates: string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = 3;
  for (const c of candidates) {
    const d = c.toLowerCase() === name.toLowerCase() ? 0 : editDistance(name.toLowerCase(), c.toLowerCase(), bestDistance);
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  return best;
}

/** Levenshtein distance, giving up above `limit` (names are short, from our own argv). */
function editDistance(a: string, b: string, limit: number): number {
  if (Math.abs(a.length - b.length) > limit || a.length > 64 || b.length > 64) return limit + 1;
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = row;
  }
  return prev[b.length]!;
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

/** The README's table of remote settings, made from the descriptors (test/providers.test.ts keeps README in step). */
export function remoteSettingsTable(): string {
  const rows = ['| type | setting | environment (ad-hoc `type:` remote) | secret | meaning |', '| --- | --- | --- | --- | --- |'];
  for (const p of PROVIDERS) {
    if (p.fields.length === 0) rows.push(`| \`${p.type}\` | — | — | — | ${p.description} |`);
    for (const f of p.fields) {
      rows.push(`| \`${p.type}\` | \`${f.name}\` | ${f.env ? `\`${f.env}\`` : '—'} | ${f.secret ? 'yes' : ''} | ${f.help.replace(/\|/g, '\\|')} |`);
    }
  }
  return rows.join('\n');
}
