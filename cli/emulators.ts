/**
 * The bundled provider emulators as the CLI starts them (`emulate`, `demo`), and how to tell the user
 * to reach them from their shell.
 */
import { basename, isAbsolute, relative } from 'node:path';

export interface EmulateOptions {
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
    const { startCloudreveEmulator } = await import('../adapters/cloudreve/index.js');
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
  const { startCouchdropEmulator } = await import('../adapters/couchdrop/index.js');
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
