/**
 * `cloudmount config add|list|remove|path`: manage named remotes in the config file (mode 600).
 * Secrets are read from options or the environment and never printed back.
 */
import { Option } from 'commander';
import type { Command } from 'commander';
import { VfsError } from '../../src/errors.js';
import { loadConfig, maskSecrets, permissionWarning, saveConfig, validateRemote } from '../config.js';
import type { CliContext } from '../context.js';

interface AddOptions {
  url?: string;
  email?: string;
  password?: string;
  token?: string;
  username?: string;
  fileioUrl?: string;
  apiUrl?: string;
  force?: boolean;
}

/** Register `config` and its subcommands. */
export function registerConfigCommands(program: Command, ctx: CliContext): void {
  const config = program.command('config').description('manage named remotes in the config file');

  config
    .command('add')
    .description('add (or with --force replace) a named remote')
    .argument('<name>', 'remote name, used as name:path')
    .addOption(new Option('--type <type>', 'provider').choices(['cloudreve', 'couchdrop', 'memory']).makeOptionMandatory())
    .option('--url <url>', 'cloudreve: site root, e.g. https://drive.example.com')
    .option('--email <email>', 'cloudreve: login email')
    .option('--password <password>', 'cloudreve/couchdrop: password (or set CLOUDMOUNT_PASSWORD)')
    .option('--token <token>', 'couchdrop: long-lived API token (or set CLOUDMOUNT_TOKEN)')
    .option('--username <name>', 'couchdrop: username for a login token')
    .option('--fileio-url <url>', 'couchdrop: file I/O host')
    .option('--api-url <url>', 'couchdrop: API host')
    .option('--force', 'replace an existing remote of that name')
    .action(async (name: string, opts: AddOptions & { type: string }) => {
      const path = ctx.configPath();
      const file = await loadConfig(path);
      if (file.remotes[name] && !opts.force) throw new VfsError('EEXIST', `remote "${name}" already exists (use --force to replace it)`);
      const raw: Record<string, string> = { type: opts.type };
      const password = opts.password ?? process.env.CLOUDMOUNT_PASSWORD;
      const token = opts.token ?? process.env.CLOUDMOUNT_TOKEN;
      const fields: Record<string, string | undefined> = {
        url: opts.url, email: opts.email, password, token, username: opts.username, fileioUrl: opts.fileioUrl, apiUrl: opts.apiUrl,
      };
      for (const [k, v] of Object.entries(fields)) if (v !== undefined) raw[k] = v;
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
