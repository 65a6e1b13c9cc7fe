#!/usr/bin/env node
/**
 * The `cloudmount` command line: rclone-style remotes (`name:path`), file commands, WebDAV serving,
 * FUSE mounting and the provider emulators. Errors print one line (errno, path, provider message);
 * a stack trace only with --verbose.
 */
import { appendFileSync, readFileSync } from 'node:fs';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
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
import { registerSyncCommands } from './commands/sync.js';
import { describeError } from './errors.js';
import { EXIT } from './transfer-flags.js';
import { registerChangesCommand } from './commands/changes.js';
import { registerShareCommands } from './commands/share.js';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

interface GlobalOptions {
  config?: string;
  logLevel?: LogLevel;
  logFormat?: 'text' | 'json';
  logFile?: string;
  verbose?: boolean;
  copyLinks?: boolean;
  tpslimit?: number;
  maxConcurrency?: number;
  readStreams?: number;
}

function positive(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`${name} expects a number above 0`);
    return n;
  };
}

// A reader that goes away (`cloudmount cat x | head -1`) ends the command quietly, as for cat(1).
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(0);
  throw e;
});

const program = new Command()
  .name('cloudmount')
  .description('Cloud file services (Cloudreve v4, Couchdrop) as a local drive, a WebDAV share or a library')
  .version(pkg.version)
  .option('--config <file>', 'config file (default: $XDG_CONFIG_HOME/cloudmount/config.json; env CLOUDMOUNT_CONFIG)')
  .addOption(new Option('--log-level <level>', 'log level').choices(['debug', 'info', 'warn', 'error', 'silent']).env('CLOUDMOUNT_LOG_LEVEL'))
  .addOption(new Option('--log-format <format>', 'log format').choices(['text', 'json']).default('text'))
  .option('--log-file <file>', 'append log lines (each file copied or failed, retries, errors) to this file')
  .addOption(new Option('--tpslimit <n>', 'requests per second at most, per remote (config: "tpslimit")').argParser(positive('--tpslimit')))
  .addOption(new Option('--max-concurrency <n>', 'requests in flight at once at most, per remote (config: "maxConcurrency")').argParser(positive('--max-concurrency')))
  .addOption(new Option('--read-streams <n>', 'concurrent ranged requests feeding one large read, 1-16 (config: "readStreams"; for far servers)').argParser(positive('--read-streams')))
  .option('-v, --verbose', 'debug logs and stack traces on errors')
  .option('-L, --copy-links', 'follow symbolic links below local paths, even out of them (default: links are neither followed nor listed)')
  .showHelpAfterError('(add --help for usage)')
  .exitOverride();

const globals = () => program.opts<GlobalOptions>();
const ctx = createContext({
  logger: createLogger(),
  configPath: () => globals().config,
  followSymlinks: () => globals().copyLinks ?? false,
  limits: () => {
    const { tpslimit, maxConcurrency, readStreams } = globals();
    if (tpslimit === undefined && maxConcurrency === undefined && readStreams === undefined) return undefined;
    return {
      ...(tpslimit !== undefined ? { requestsPerSecond: tpslimit } : {}),
      ...(maxConcurrency !== undefined ? { concurrency: Math.floor(maxConcurrency) } : {}),
      ...(readStreams !== undefined ? { readStreams: Math.floor(readStreams) } : {}),
    };
  },
});
// Global options are known only once commander has parsed them: build the logger then.
// Long-running commands log warnings (retries, throttling); one-shot commands print their one-line
// error instead, so their default level is "error".
const LONG_RUNNING = new Set(['webdav', 'mount', 'emulate', 'demo', 'changes']);
program.hook('preAction', (_program, action) => {
  const { verbose, logLevel, logFormat, logFile } = globals();
  // With --log-file the log is a record of the run: info by default (every file copied or failed).
  const fallback = logFile ? 'info' : LONG_RUNNING.has(action.name()) ? 'warn' : 'error';
  ctx.logger = createLogger({
    level: verbose ? 'debug' : logLevel ?? fallback,
    format: logFormat ?? 'text',
    ...(logFile ? { write: (line: string) => appendFileSync(logFile, line + '\n') } : {}),
  });
});
registerFileCommands(program, ctx);
registerSyncCommands(program, ctx);
registerConfigCommands(program, ctx);
registerServeCommand(program, ctx);
registerMountCommand(program, ctx);
registerEmulateCommand(program, ctx);
registerPendingCommands(program, ctx);
registerDemoCommand(program, ctx);
registerChangesCommand(program, ctx);
registerShareCommands(program, ctx);

async function main(): Promise<void> {
  try {
    await program.parseAsync(process.argv);
  } catch (e) {
    if (e instanceof CommanderError) {
      // Help and version end here with code 0; usage errors were already printed by commander.
      process.exitCode = e.exitCode === 0 ? 0 : EXIT.usage;
      return;
    }
    const message = describeError(e, { hostsOf: ctx.hostsOf });
    process.stderr.write(`cloudmount: ${message}\n`);
    if (globals().logFile) ctx.logger.error(message);
    if (globals().verbose && e instanceof Error && e.stack) process.stderr.write(e.stack + '\n');
    process.exitCode = e instanceof VfsError && e.code === 'EINVAL' ? EXIT.usage : EXIT.nothingDone;
  } finally {
    await ctx.closeAll();
  }
}

await main();
