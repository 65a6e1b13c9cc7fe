/**
 * `cloudmount emulate cloudreve|couchdrop`: run a provider emulator (the same one the tests use) and
 * print how to reach it. For trying cloudmount without an account, demos and client testing.
 */
import { Argument, Option } from 'commander';
import type { Command } from 'commander';
import { parseNumber, parsePort } from '../args.js';
import type { CliContext } from '../context.js';
import type { EmulatorOptions } from '../emulators.js';
import { emulatedTypes, selfCommand, shellQuote, startEmulator } from '../emulators.js';
import { waitForSignal } from '../lifecycle.js';

export function registerEmulateCommand(program: Command, ctx: CliContext): void {
  program
    .command('emulate')
    .description('run a provider emulator locally and print how to use it (no account needed)')
    .addArgument(new Argument('<provider>', emulatedTypes().join(' or ')).choices(emulatedTypes()))
    .addOption(new Option('--port <port>', 'TCP port (0 = any free port)').default(0).argParser(parsePort))
    .option('--host <host>', 'address to bind', '127.0.0.1')
    .option('--seed <dir|demo>', 'fill the drive from a local directory, or with the demo tree', 'demo')
    .option('--latency <ms>', 'add this delay to every reply', parseNumber)
    .option('--rate-limit <rps>', 'answer 429 beyond this many requests per second', parseNumber)
    .option('--faults <rate>', 'inject faults into this share of requests (0..1)', parseNumber)
    .action(async (provider: string, opts: EmulatorOptions) => {
      const emu = await startEmulator(provider, opts);
      const env = Object.entries(emu.env).map(([k, v]) => `${k}=${shellQuote(v)}`).join(' ');
      ctx.out(`${provider} emulator listening on ${emu.url}`);
      ctx.out(`use it:  ${env} ${selfCommand()} ls ${provider}:/`);
      ctx.out(`         (or save it as a remote: ${selfCommand()} config add my${provider} --type ${provider} …)`);
      ctx.out('press Ctrl-C to stop');
      await waitForSignal();
      await emu.close();
    });
}
