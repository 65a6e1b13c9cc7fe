/**
 * `cloudmount emulate cloudreve|couchdrop`: run a provider emulator (the same one the tests use) and
 * print how to reach it. For trying cloudmount without an account, demos and client testing.
 */
import { Argument, InvalidArgumentError, Option } from 'commander';
import type { Command } from 'commander';
import { basename, isAbsolute, relative } from 'node:path';
import type { CliContext } from './context.js';

interface EmulateOptions {
  port: number;
  host: string;
  seed?: string;
  latency?: number;
  rateLimit?: number;
  faults?: number;
}

/** A running emulator, whichever provider. */
export interface RunningEmulator {
  url: string;
  /** Environment variables that make `cloudreve:`/`couchdrop:` point at it. */
  env: Record<string, string>;
  close(): Promise<void>;
}

/** Start the emulator of `provider` (used by `emulate` and by `demo`). */
export async function startEmulator(provider: 'cloudreve' | 'couchdrop', opts: Partial<EmulateOptions>): Promise<RunningEmulator> {
  const seed = opts.seed ?? 'demo';
  if (provider === 'cloudreve') {
    const { startCloudreveEmulator } = await import('../../adapters/cloudreve/index.js');
    const emu = await startCloudreveEmulator({
      seed,
      ...(opts.port !== undefined ? { port: opts.port } : {}),
      ...(opts.host !== undefined ? { host: opts.host } : {}),
      ...(opts.latency !== undefined ? { latencyMs: opts.latency } : {}),
      ...(opts.rateLimit !== undefined ? { proxyRateLimit: { requestsPerSecond: opts.rateLimit } } : {}),
      ...(opts.faults ? { faults: { rate: opts.faults, seed: 1 } } : {}),
    });
    return {
      url: emu.url,
      env: { CLOUDREVE_URL: emu.url, CLOUDREVE_EMAIL: emu.email, CLOUDREVE_PASSWORD: emu.password },
      close: () => emu.close(),
    };
  }
  const { startCouchdropEmulator } = await import('../../adapters/couchdrop/index.js');
  const emu = await startCouchdropEmulator({
    seed: seed === 'demo' ? 'demo' : { directory: seed },
    ...(opts.port !== undefined ? { port: opts.port } : {}),
    ...(opts.host !== undefined ? { host: opts.host } : {}),
    ...(opts.latency !== undefined ? { latencyMs: opts.latency } : {}),
    ...(opts.rateLimit !== undefined ? { rateLimit: { ratePerSec: opts.rateLimit } } : {}),
    // Spread the injected share over the documented retryable statuses.
    ...(opts.faults ? { faults: ([429, 503, 500] as const).map((kind) => ({ kind, probability: opts.faults! / 3 })) } : {}),
  });
  return {
    url: emu.url,
    env: { COUCHDROP_TOKEN: emu.token, COUCHDROP_FILEIO_URL: emu.fileioUrl, COUCHDROP_API_URL: emu.apiUrl },
    close: () => emu.close(),
  };
}

/** Register `emulate`. */
export function registerEmulateCommand(program: Command, ctx: CliContext): void {
  program
    .command('emulate')
    .description('run a provider emulator locally and print how to use it (no account needed)')
    .addArgument(new Argument('<provider>', 'cloudreve or couchdrop').choices(['cloudreve', 'couchdrop']))
    .addOption(new Option('--port <port>', 'TCP port (0 = any free port)').default(0).argParser(parsePort))
    .option('--host <host>', 'address to bind', '127.0.0.1')
    .option('--seed <dir|demo>', 'fill the drive from a local directory, or with the demo tree', 'demo')
    .option('--latency <ms>', 'add this delay to every reply', parseNumber)
    .option('--rate-limit <rps>', 'answer 429 beyond this many requests per second', parseNumber)
    .option('--faults <rate>', 'inject faults into this share of requests (0..1)', parseNumber)
    .action(async (provider: 'cloudreve' | 'couchdrop', opts: EmulateOptions) => {
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

/** Resolve on SIGINT or SIGTERM. */
export function waitForSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const done = (signal: NodeJS.Signals) => {
      process.off('SIGINT', done);
      process.off('SIGTERM', done);
      resolve(signal);
    };
    process.on('SIGINT', done);
    process.on('SIGTERM', done);
  });
}

export function parseNumber(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw new InvalidArgumentError('expected a non-negative number');
  return n;
}

export function parsePort(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('expected a port number 0..65535');
  return n;
}

/** How to run this CLI again from the user's shell: "cloudmount" when installed, else "node <path>". */
export function selfCommand(): string {
  const script = process.argv[1] ?? '';
  if (basename(script) === 'cloudmount') return 'cloudmount';
  const rel = relative(process.cwd(), script);
  return `node ${shellQuote(rel.startsWith('..') || isAbsolute(rel) ? script : rel)}`;
}

export function shellQuote(s: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}
