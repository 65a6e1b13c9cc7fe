/**
 * The bundled provider emulators as the CLI starts them (`emulate`, `demo`), from the providers'
 * descriptors, and how to tell the user to reach them from their shell.
 */
import { basename, isAbsolute, relative } from 'node:path';
import { PROVIDERS, providerOf } from '../adapters/index.js';
import { VfsError } from '../src/errors.js';
import type { EmulatorOptions, RunningEmulator } from '../src/provider.js';

export type { EmulatorOptions, RunningEmulator };

/** The provider types that ship an emulator. */
export function emulatedTypes(): string[] {
  return PROVIDERS.filter((p) => p.startEmulator).map((p) => p.type);
}

/** Start the emulator of `type` (used by `emulate` and by `demo`). */
export async function startEmulator(type: string, opts: EmulatorOptions): Promise<RunningEmulator> {
  const start = providerOf(type)?.startEmulator;
  if (!start) throw new VfsError('EINVAL', `no emulator for ${JSON.stringify(type)} (emulators: ${emulatedTypes().join(', ')})`);
  return start({ seed: 'demo', ...opts });
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
