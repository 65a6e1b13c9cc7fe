/**
 * The gateway flags of `serve webdav` (TLS, users, auth proxy) and `--metrics-addr` of `serve` and
 * `mount`: parsing, loading (files read once at start, with one-line errors), and the SIGHUP reload
 * of the certificate.
 */
import { readFile } from 'node:fs/promises';
import { createSecureContext } from 'node:tls';
import { InvalidArgumentError, Option } from 'commander';
import type { Command } from 'commander';
import { VfsError } from '../src/errors.js';
import { Users } from '../mount/webdav.js';
import type { AuthProxyOptions, TlsMaterial, UserSpec, WebdavServer } from '../mount/webdav.js';
import type { CliContext } from './context.js';

export interface GatewayServeOptions {
  user: string[];
  cert?: string;
  key?: string;
  clientCa?: string;
  htpasswd?: string;
  authProxy?: string;
  trustedProxy: string[];
  metricsAddr?: string;
}

/** Add the gateway flags to `serve webdav` (its --user stays where it is; its values are parsed here). */
export function addGatewayServeOptions(cmd: Command): Command {
  return cmd
    .option('--cert <pem>', 'serve HTTPS with this certificate chain (PEM); reloaded on SIGHUP')
    .option('--key <pem>', 'private key of --cert (PEM)')
    .option('--client-ca <pem>', 'require client certificates signed by this CA (mutual TLS)')
    .option('--htpasswd <file>', 'users from an htpasswd file (bcrypt, apr1 or SHA entries); re-read when it changes')
    .option('--auth-proxy <header>', 'take the user name from this header (e.g. X-Forwarded-User), only from --trusted-proxy addresses')
    .option('--trusted-proxy <addr>', 'address or CIDR range of the authenticating proxy (repeatable)', (v: string, prev: string[]) => [...prev, v], [] as string[])
    .addOption(metricsOption());
}

/** `--metrics-addr host:port`. */
export function metricsOption(): Option {
  return new Option('--metrics-addr <host:port>', 'serve Prometheus metrics at http://<host:port>/metrics');
}

/**
 * `--user name:password[:root[:ro]]`: the root is the last part starting with "/", optionally
 * followed by "ro" or "rw". A password holding ":/" therefore needs the config file or --htpasswd.
 */
export function parseUserFlag(value: string): UserSpec {
  const colon = value.indexOf(':');
  if (colon <= 0) throw new InvalidArgumentError('expected name:password[:root[:ro]]');
  const name = value.slice(0, colon);
  let rest = value.slice(colon + 1);
  let readOnly: boolean | undefined;
  let root: string | undefined;
  const flag = /:(ro|rw)$/.exec(rest);
  const withoutFlag = flag ? rest.slice(0, flag.index) : rest;
  const rootAt = withoutFlag.lastIndexOf(':/');
  if (rootAt >= 0) {
    root = withoutFlag.slice(rootAt + 1);
    rest = withoutFlag.slice(0, rootAt);
    if (flag) readOnly = flag[1] === 'ro';
  }
  if (rest === '') throw new InvalidArgumentError('the password may not be empty');
  return { name, password: rest, ...(root !== undefined ? { root } : {}), ...(readOnly !== undefined ? { readOnly } : {}) };
}

/** `users: [...]` from the config file (ignored by the remotes loader), checked field by field. */
export async function configUsers(path: string): Promise<UserSpec[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    return [];
  }
  let parsed: { users?: unknown };
  try {
    parsed = JSON.parse(text) as { users?: unknown };
  } catch {
    return [];
  }
  if (parsed.users === undefined) return [];
  if (!Array.isArray(parsed.users)) throw new VfsError('EINVAL', `config file ${path}: "users" must be a list`);
  return parsed.users.map((u, i) => {
    const bad = (why: string) => new VfsError('EINVAL', `config file ${path}: users[${i}]: ${why}`);
    if (!u || typeof u !== 'object') throw bad('must be an object');
    const r = u as Record<string, unknown>;
    for (const k of Object.keys(r)) if (!['name', 'password', 'passwordHash', 'root', 'readOnly', 'hideSystemFiles'].includes(k)) throw bad(`unknown field ${JSON.stringify(k)}`);
    if (typeof r.name !== 'string') throw bad('"name" must be a string');
    const spec: UserSpec = { name: r.name };
    if (typeof r.password === 'string') spec.password = r.password;
    if (typeof r.passwordHash === 'string') spec.passwordHash = r.passwordHash;
    if (r.root !== undefined) spec.root = String(r.root);
    if (r.readOnly !== undefined) spec.readOnly = r.readOnly === true;
    if (r.hideSystemFiles !== undefined) spec.hideSystemFiles = r.hideSystemFiles === true;
    return spec;
  });
}

/** The users of a share: --user flags, the config file's list and --htpasswd; undefined = none. */
export async function loadUsers(ctx: CliContext, opts: GatewayServeOptions): Promise<Users | undefined> {
  const specs = [...(await configUsers(ctx.configPath())), ...opts.user.map(parseUserFlag)];
  if (specs.length === 0 && !opts.htpasswd) return undefined;
  return new Users(specs, opts.htpasswd, ctx.logger.child({ layer: 'users' }));
}

/** The auth-proxy option from --auth-proxy and --trusted-proxy. */
export function authProxyOf(opts: GatewayServeOptions): AuthProxyOptions | undefined {
  if (!opts.authProxy) {
    if (opts.trustedProxy.length) throw new VfsError('EINVAL', '--trusted-proxy needs --auth-proxy <header>');
    return undefined;
  }
  if (opts.trustedProxy.length === 0) throw new VfsError('EINVAL', '--auth-proxy needs at least one --trusted-proxy address: the header is trusted from nowhere else');
  return { header: opts.authProxy, from: opts.trustedProxy };
}

/**
 * Read and check the TLS files: a missing/unreadable file or a key that does not match the
 * certificate is one line naming the flag, never a stack or a PEM dump.
 */
export async function loadTls(opts: Pick<GatewayServeOptions, 'cert' | 'key' | 'clientCa'>): Promise<TlsMaterial | undefined> {
  if (!opts.cert && !opts.key) {
    if (opts.clientCa) throw new VfsError('EINVAL', '--client-ca needs --cert and --key');
    return undefined;
  }
  if (!opts.cert || !opts.key) throw new VfsError('EINVAL', '--cert and --key go together');
  const read = async (flag: string, file: string) => {
    try {
      return await readFile(file);
    } catch (e) {
      throw new VfsError('EACCES', `cannot read ${flag} ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  };
  const material: TlsMaterial = { cert: await read('--cert', opts.cert), key: await read('--key', opts.key) };
  if (opts.clientCa) material.ca = await read('--client-ca', opts.clientCa);
  try {
    createSecureContext({ cert: material.cert, key: material.key, ...(material.ca ? { ca: material.ca } : {}) });
  } catch (e) {
    const msg = (e as Error).message;
    if (/key values mismatch/i.test(msg)) throw new VfsError('EINVAL', `--key ${opts.key} does not match --cert ${opts.cert}`);
    if (/PEM|DECODER|no start line|bad base64|asn1/i.test(msg)) throw new VfsError('EINVAL', `--cert ${opts.cert} / --key ${opts.key}: not a PEM certificate and private key (${msg.split('\n')[0]!.slice(0, 120)})`);
    throw new VfsError('EINVAL', `TLS setup failed: ${msg.split('\n')[0]!.slice(0, 160)}`);
  }
  return material;
}

/** On SIGHUP, read the certificate files again and use them for new connections; a bad pair keeps the old one. Returns the remover. */
export function reloadTlsOnHup(ctx: CliContext, opts: GatewayServeOptions, server: WebdavServer): () => void {
  if (!opts.cert) return () => {};
  const onHup = () => {
    loadTls(opts).then(
      (material) => {
        if (!material) return;
        server.setTls(material);
        ctx.out('TLS certificate reloaded');
      },
      (e: unknown) => ctx.warn(`TLS certificate not reloaded, keeping the old one: ${(e as Error).message}`),
    );
  };
  process.on('SIGHUP', onHup);
  return () => process.off('SIGHUP', onHup);
}
