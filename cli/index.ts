#!/usr/bin/env node
/**
 * The `cloudmount` command line: rclone-style remotes (`name:path`), file commands, WebDAV serving,
 * FUSE mounting and the provider emulators. Errors print one line (errno, path, provider message);
 * a stack trace only with --verbose.
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError, Option } from 'commander';
import { VfsError } from '../src/errors.js';
import { createLogger } from '../src/log.js';
import type { LogLevel } from '../src/log.js';
import { createContext } from './context.js';
import { registerFileCommands } from './commands/files.js';
import { registerConfigCommands } from './commands/config.js';
import { registerDemoCommand } from './commands/demo.js';
import { registerEmulateCommand } from './commands/emulate.js';
import { registerMountCommand } from './commands/mount.js';
import { registerPendingCommands } from './commands/pending.js';
import { registerServeCommand } from './commands/serve.js';
import { registerShareCommands } from './commands/share.js';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

interface GlobalOptions {
  config?: string;
  logLevel?: LogLevel;
  logFormat?: 'text' | 'json';
  verbose?: boolean;
}

const program = new Command()
  .name('cloudmount')
  .description('Cloud file services (Cloudreve v4, Couchdrop) as a local drive, a WebDAV share or a library')
  .version(pkg.version)
  .option('--config <file>', 'config file (default: $XDG_CONFIG_HOME/cloudmount/config.json; env CLOUDMOUNT_CONFIG)')
  .addOption(new Option('--log-level <level>', 'log level').choices(['debug', 'info', 'warn', 'error', 'silent']).env('CLOUDMOUNT_LOG_LEVEL'))
  .addOption(new Option('--log-format <format>', 'log format').choices(['text', 'json']).default('text'))
  .option('-v, --verbose', 'debug logs and stack traces on errors')
  .showHelpAfterError('(add --help for usage)')
  .exitOverride();

const globals = () => program.opts<GlobalOptions>();
const ctx = createContext({ logger: createLogger(), configPath: () => globals().config });
// Global options are known only once commander has parsed them: build the logger then.
// Long-running commands log warnings (retries, throttling); one-shot commands print their one-line
// error instead, so their default level is "error".
const LONG_RUNNING = new Set(['webdav', 'mount', 'emulate', 'demo']);
program.hook('preAction', (_program, action) => {
  const { verbose, logLevel, logFormat } = globals();
  const fallback = LONG_RUNNING.has(action.name()) ? 'warn' : 'error';
  ctx.logger = createLogger({ level: verbose ? 'debug' : logLevel ?? fallback, format: logFormat ?? 'text' });
});
registerFileCommands(program, ctx);
registerConfigCommands(program, ctx);
registerServeCommand(program, ctx);
registerMountCommand(program, ctx);
registerEmulateCommand(program, ctx);
registerPendingCommands(program, ctx);
registerDemoCommand(program, ctx);
registerShareCommands(program, ctx);

async function main(): Promise<void> {
  try {
    await program.parseAsync(process.argv);
  } catch (e) {
    if (e instanceof CommanderError) {
      // Help and version end here with code 0; usage errors were already printed by commander.
      process.exitCode = e.exitCode;
      return;
    }
    const message = e instanceof Error ? e.message : String(e);
    process.stderr.write(`cloudmount: ${message}\n`);
    if (globals().verbose && e instanceof Error && e.stack) process.stderr.write(e.stack + '\n');
    process.exitCode = e instanceof VfsError && e.code === 'EINVAL' ? 2 : 1;
  } finally {
    await ctx.closeAll();
  }
}

await main();
