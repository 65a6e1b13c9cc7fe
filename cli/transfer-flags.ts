/**
 * The flags `cp`, `copy`, `sync` and `check` share (filters, --transfers, --dry-run, --checksum,
 * --bwlimit, --stats, -q), how a run's outcome is printed, and the exit codes:
 *   0 all done · 1 nothing done (an error stopped it, or every file failed) · 2 usage error ·
 *   3 some files failed (the rest done; sync deleted nothing) · 4 check found differences.
 */
import { InvalidArgumentError, Option } from 'commander';
import type { Command } from 'commander';
import { BandwidthLimit, MAX_TRANSFERS, createFilter } from '../src/transfer.js';
import type { Filter, SyncResult } from '../src/transfer.js';
import type { CliContext } from './context.js';
import { describeError } from './errors.js';
import { createProgress } from './progress.js';
import type { TransferProgress } from './progress.js';
import { formatBytes, formatDuration, formatRate, parseAgeMs, parseDurationMs, parseSize } from './units.js';

export const EXIT = { done: 0, nothingDone: 1, usage: 2, someFailed: 3, differences: 4 } as const;

export interface TransferFlags {
  include: string[];
  exclude: string[];
  minSize?: number;
  maxSize?: number;
  minAge?: number;
  maxAge?: number;
  transfers: number;
  dryRun?: boolean;
  checksum?: boolean;
  bwlimit?: number;
  stats: number;
  quiet?: boolean;
}

const collect = (value: string, previous: string[]) => [...previous, value];

function parseTransfers(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > MAX_TRANSFERS) throw new InvalidArgumentError(`expected a whole number 1..${MAX_TRANSFERS}`);
  return n;
}

/** Add the filter flags (every transfer command and `check`). */
export function addFilterFlags(cmd: Command): Command {
  return cmd
    .option('--include <glob>', 'only files matching (repeatable; "*.jpg" matches in any folder, "/docs/**" from the root)', collect, [])
    .option('--exclude <glob>', 'skip files matching (repeatable; checked before --include)', collect, [])
    .addOption(new Option('--min-size <size>', 'skip files smaller than this (e.g. 100k, 10M)').argParser(parseSize))
    .addOption(new Option('--max-size <size>', 'skip files larger than this').argParser(parseSize))
    .addOption(new Option('--min-age <age>', 'skip files modified more recently than this (e.g. 30m, 2d, or a date)').argParser((v) => parseAgeMs(v)))
    .addOption(new Option('--max-age <age>', 'skip files modified longer ago than this (e.g. 24h, 7d, or a date)').argParser((v) => parseAgeMs(v)))
    .option('-c, --checksum', 'compare by content (both files are read and hashed) instead of size and mtime')
    .addOption(new Option('--transfers <n>', 'files copied (or compared) at once').argParser(parseTransfers).default(4));
}

/** Add the flags of commands that copy. */
export function addTransferFlags(cmd: Command): Command {
  return addFilterFlags(cmd)
    .option('-n, --dry-run', 'show what would be copied and deleted, change nothing')
    .addOption(new Option('--bwlimit <size>', 'bandwidth limit for the whole run, bytes per second (e.g. 1M)').argParser(parseSize))
    .addOption(new Option('--stats <duration>', 'off a terminal: a progress line this often (0: only the summary)').argParser(parseDurationMs).default(60_000, '1m'))
    .option('-q, --quiet', 'no progress and no summary, only errors');
}

export function filterOf(flags: Partial<TransferFlags>): Filter {
  return createFilter({
    include: flags.include ?? [],
    exclude: flags.exclude ?? [],
    ...(flags.minSize !== undefined ? { minSize: flags.minSize } : {}),
    ...(flags.maxSize !== undefined ? { maxSize: flags.maxSize } : {}),
    ...(flags.minAge !== undefined ? { minAgeMs: flags.minAge } : {}),
    ...(flags.maxAge !== undefined ? { maxAgeMs: flags.maxAge } : {}),
  });
}

export function bandwidthOf(flags: Partial<TransferFlags>, configured: Array<number | undefined>): BandwidthLimit | undefined {
  // The flag wins; else the tighter of the two remotes' configured limits.
  const limits = flags.bwlimit !== undefined ? [flags.bwlimit] : configured.filter((v): v is number => v !== undefined && v > 0);
  return limits.length && limits[0]! > 0 ? new BandwidthLimit(Math.min(...limits)) : undefined;
}

/** Progress for a run (on stderr: stdout keeps the results and may be the data itself, as in `cp src -`). */
export function progressOf(ctx: CliContext, flags: Partial<TransferFlags>): TransferProgress {
  return createProgress({
    quiet: flags.quiet ?? false,
    statsIntervalMs: flags.stats ?? 60_000,
    onFile: (label, bytes, error) => {
      if (error === undefined) ctx.logger.info(`copied ${label} (${formatBytes(bytes)})`);
      else ctx.logger.error(`failed ${label}: ${describeError(error, { hostsOf: ctx.hostsOf })}`);
    },
  });
}

const COMPARED = { 'size-mtime': 'size and mtime', size: 'size (the destination does not keep mtimes)', checksum: 'content' } as const;

/** Print the outcome of a copy/sync and set the exit code. */
export function reportRun(ctx: CliContext, result: SyncResult, progress: TransferProgress, flags: Partial<TransferFlags>, verb = 'copied'): void {
  progress.stop();
  for (const f of result.failed) ctx.warn(`cloudmount: ${f.rel}: ${describeError(f.error, { hostsOf: ctx.hostsOf })}`);
  if (result.deletesSkipped) {
    ctx.warn(`cloudmount: not deleting ${result.deletesSkipped} extra file(s) or folder(s) on the destination because ${result.failed.length} transfer(s) failed`);
  }
  if (flags.dryRun) {
    const order = { mkdir: 0, copy: 1, delete: 2 } as const;
    const actions = [...result.actions].sort((a, b) => order[a.kind] - order[b.kind] || (a.kind === 'delete' ? 0 : a.rel.localeCompare(b.rel)));
    for (const a of actions) {
      if (a.kind === 'copy') ctx.out(`would copy ${a.rel} (${a.reason}, ${formatBytes(a.size)})`);
      else if (a.kind === 'delete') ctx.out(`would delete ${a.rel}${a.type === 'directory' ? '/' : ''}`);
      else ctx.out(`would create ${a.rel}/`);
    }
    const deletes = result.actions.filter((a) => a.kind === 'delete').length;
    ctx.out(`dry run: would copy ${result.toCopy} file(s) (${formatBytes(result.toCopyBytes)}), delete ${deletes}; ${result.unchanged} unchanged; compared by ${COMPARED[result.compare]}`);
  } else {
    const ms = Date.now() - progress.startedAt;
    const summary = `${verb} ${result.copied} files, ${formatBytes(result.copiedBytes)} in ${formatDuration(ms)} (${formatRate(result.copiedBytes / Math.max(0.001, ms / 1000))}); `
      + `${result.unchanged} unchanged, ${result.deleted} deleted, ${result.failed.length} failed; compared by ${COMPARED[result.compare]}`;
    ctx.logger.info(summary);
    if (!flags.quiet) ctx.out(summary);
  }
  process.exitCode = exitCodeOf(result);
}

export function exitCodeOf(result: SyncResult): number {
  if (result.failed.length === 0) return EXIT.done;
  return result.copied + result.deleted > 0 ? EXIT.someFailed : EXIT.nothingDone;
}

/** The run options every transfer command takes from its flags (filters, --transfers, --bwlimit…). */
export async function runOptionsOf(ctx: CliContext, flags: Partial<TransferFlags>, remotes: Array<string | undefined>, observer: TransferProgress) {
  return {
    filter: filterOf(flags),
    transfers: flags.transfers,
    dryRun: flags.dryRun ?? false,
    checksum: flags.checksum ?? false,
    bandwidth: bandwidthOf(flags, await Promise.all(remotes.map((r) => configuredBwlimit(ctx, r)))),
    observer,
  };
}

/** A remote's `bwlimit` from the config file, in bytes per second. */
export async function configuredBwlimit(ctx: CliContext, remote: string | undefined): Promise<number | undefined> {
  if (!remote) return undefined;
  const value = (await ctx.config()).remotes[remote]?.bwlimit;
  if (value === undefined) return undefined;
  return typeof value === 'number' ? value : parseSize(String(value));
}
