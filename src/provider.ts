/**
 * How a provider declares itself once (rclone's `fs.RegInfo`, ZenFS's `Backend`): its config fields
 * (which are secrets, which environment variables define the ad-hoc `type:` remote), the rules that
 * tie fields together, how to open a Vfs for an account, and its emulator. The CLI derives config
 * validation, secret masking, env remotes, `emulate`, `config add` flags and the README's remote table
 * from these descriptors; adding a provider is one folder with a `provider.ts` plus one line in
 * `adapters/index.ts`. Descriptors import their adapter lazily, so listing them loads no provider code.
 */
import type { Logger } from './log.js';
import type { Vfs } from './vfs.js';

/** One setting of a remote. */
export interface ProviderField {
  /** Key in the config file (camelCase); `config add` takes it as `--kebab-case`. */
  name: string;
  /** One line for `--help` and the README. */
  help: string;
  /** Never printed, logged or shown unmasked. */
  secret?: boolean;
  /** Environment variable that sets it for the ad-hoc remote named after the type. */
  env?: string;
  /** `url` values must parse as URLs; `object` values are JSON objects checked by `checkField`. Default `string`. */
  kind?: 'string' | 'url' | 'object';
}

/** A remote's settings as stored: the provider type plus string (or, for `object` fields, JSON) values. */
export type ProviderConfig = { type: string } & Record<string, unknown>;

/** What opening a remote is given by the application. */
export interface ProviderOpenOptions {
  logger: Logger;
  /** Spool folder for uploads whose size is unknown up front. */
  spoolDir?: string;
  /** Request limits of the account's Scheduler (`--tpslimit`, `--max-concurrency`). */
  limits?: RequestLimits;
}

/** Limits a user sets per remote; a provider maps them onto its Scheduler's `intervalCap`/`concurrency`. */
export interface RequestLimits {
  /** Requests started per second at most. */
  requestsPerSecond?: number;
  /** Requests in flight at once at most. */
  concurrency?: number;
  /** Concurrent ranged requests that feed one large sequential read (providers that support it). */
  readStreams?: number;
}

/** Knobs every bundled emulator understands (`cloudmount emulate`). */
export interface EmulatorOptions {
  port?: number;
  host?: string;
  /** Seed data: "demo" or a provider-specific seed (a directory to import, for Couchdrop). */
  seed?: string;
  latency?: number;
  rateLimit?: number;
  faults?: number;
}

/** A running emulator, whichever provider. */
export interface RunningEmulator {
  url: string;
  /** Environment variables that make the ad-hoc `type:` remote point at it (include its credentials). */
  env: Record<string, string>;
  close(): Promise<void>;
}

/** Everything the application needs to know about one provider. */
export interface ProviderDescriptor {
  type: string;
  /** One line: what it is. */
  description: string;
  fields: readonly ProviderField[];
  /** Rules between fields ("needs a token, or a username and password"): a message, or undefined when fine. */
  check?(config: ProviderConfig): string | undefined;
  /** Validates an `object` field's value: a message, or undefined when fine. */
  checkField?(name: string, value: unknown): string | undefined;
  /** Open a Vfs for this account (the Vfs brings its own Scheduler, exposed as `vfs.scheduler`). */
  open(config: ProviderConfig, options: ProviderOpenOptions): Promise<Vfs>;
  /** Start the bundled emulator, when there is one. */
  startEmulator?(options: EmulatorOptions): Promise<RunningEmulator>;
}
