/**
 * `cloudmount config add|list|remove|path`: manage named remotes in the config file (mode 600).
 * Secrets are read from options or the environment and never printed back.
 */
import { Option } from 'commander';
import type { Command } from 'commander';
import { VfsError } from '../../src/errors.js';
import { PROVIDERS } from '../../adapters/index.js';
import { loadConfig, maskSecrets, permissionWarning, saveConfig, validateRemote } from '../config.js';
import type { CliContext } from '../context.js';

/** `--fileio-url` for `fileioUrl`. */
function flagOf(field: string): string {
  return '--' + field.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase());
}

/** `CLOUDMOUNT_ACCESS_TOKEN` for `accessToken`: where a secret may come from instead of the command line. */
function secretEnvOf(field: string): string {
  return 'CLOUDMOUNT_' + field.replace(/[A-Z]/g, (c) => '_' + c).toUpperCase();
}

/** Every string field of every provider, once, with the help of each provider that has it. */
function addFlags(): { name: string; flag: string; help: string; secret: boolean }[] {
  const byName = new Map<string, { name: string; flag: string; help: string; secret: boolean }>();
  for (const provider of PROVIDERS) {
    for (const field of provider.fields) {
      if (field.kind === 'object') continue;
      const seen = byName.get(field.name);
      const help = `${provider.type}: ${field.help}`;
      if (seen) seen.help += `; ${help}`;
      else byName.set(field.name, { name: field.name, flag: flagOf(field.name), help, secret: !!field.secret });
    }
  }
  return [...byName.values()].map((f) => (f.secret ? { ...f, help: `${f.help} (or set ${secretEnvOf(f.name)})` } : f));
}

/** Register `config` and its subcommands. */
export function registerConfigCommands(program: Command, ctx: CliContext): void {
  const config = program.command('config').description('manage named remotes in the config file');

  const add = config
    .command('add')
    .description('add (or with --force replace) a named remote')
    .argument('<name>', 'remote name, used as name:path')
    .addOption(new Option('--type <type>', 'provider').choices(PROVIDERS.map((p) => p.type)).makeOptionMandatory());
  for (const f of addFlags()) add.option(`${f.flag} <value>`, f.help);
  add
    .option('--force', 'replace an existing remote of that name')
    .action(async (name: string, opts: Record<string, string | boolean | undefined> & { type: string }) => {
      const path = ctx.configPath();
      const file = await loadConfig(path);
      if (file.remotes[name] && !opts.force) throw new VfsError('EEXIST', `remote "${name}" already exists (use --force to replace it)`);
      const raw: Record<string, string> = { type: opts.type };
      for (const f of addFlags()) {
        const value = opts[f.name] ?? (f.secret ? process.env[secretEnvOf(f.name)] : undefined);
        if (typeof value === 'string') raw[f.name] = value;
      }
      const remote = validateRemote(raw, (why) => new VfsError('EINVAL', `remote "${name}": ${why}`));
      file.remotes[name] = remote;
      await saveConfig(path, file);
      ctx.out(`added remote "${name}" (${remote.type}) to ${path}`);
    });

  config
    .command('list')
    .description('list remotes (secrets masked)')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }) => {
      const path = ctx.configPath();
      const warning = await permissionWarning(path);
      if (warning) ctx.warn(warning);
      const file = await loadConfig(path);
      const masked = Object.fromEntries(Object.entries(file.remotes).map(([n, r]) => [n, maskSecrets(r)]));
      if (opts.json) {
        ctx.out(JSON.stringify(masked, null, 2));
        return;
      }
      if (Object.keys(masked).length === 0) ctx.out(`no remotes in ${path} (add one with "cloudmount config add")`);
      for (const [n, r] of Object.entries(masked)) {
        const where = r.url ?? r.fileioUrl ?? (r.type === 'couchdrop' ? 'https://fileio.couchdrop.io' : '');
        const who = r.email ?? r.username ?? (r.token ? 'token' : '');
        ctx.out(`${n}:\t${r.type}\t${where}\t${who}`.trimEnd());
      }
    });

  config
    .command('remove')
    .description('remove a named remote')
    .argument('<name>', 'remote name')
    .action(async (name: string) => {
      const path = ctx.configPath();
      const file = await loadConfig(path);
      if (!file.remotes[name]) throw new VfsError('ENOENT', `no remote named "${name}" in ${path}`);
      delete file.remotes[name];
      await saveConfig(path, file);
      ctx.out(`removed remote "${name}"`);
    });

  config
    .command('path')
    .description('print where the config file is')
    .action(() => ctx.out(ctx.configPath()));
}
