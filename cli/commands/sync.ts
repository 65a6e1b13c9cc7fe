/**
 * Daily file work between any two locations (local paths and remotes): `copy` (add new and changed
 * files), `sync` (make DST like SRC, deleting extras only after every copy succeeded) and `check`
 * (report missing, extra and different files). Like rclone's commands of the same names: SRC's
 * contents go into DST.
 */
import type { Command } from 'commander';
import { checkTrees, syncTrees } from '../../src/transfer.js';
import type { CliContext } from '../context.js';
import { describeError } from '../errors.js';
import { EXIT, addFilterFlags, addTransferFlags, filterOf, progressOf, reportRun, runOptionsOf } from '../transfer-flags.js';
import type { TransferFlags } from '../transfer-flags.js';

/** Register `copy`, `sync` and `check`. */
export function registerSyncCommands(program: Command, ctx: CliContext): void {
  for (const mode of ['copy', 'sync'] as const) {
    addTransferFlags(
      program
        .command(mode)
        .description(mode === 'sync'
          ? 'make DST like SRC: copy new and changed files, then delete files DST has and SRC has not'
          : 'copy new and changed files from SRC into DST (unchanged files are skipped, nothing is deleted)')
        .argument('<source>', 'remote:path or local path (its contents are copied)')
        .argument('<destination>', 'remote:path or local path (created if missing)'),
    ).action(async (source: string, destination: string, flags: TransferFlags) => {
      const src = await ctx.open(source);
      const dst = await ctx.open(destination);
      const progress = progressOf(ctx, flags);
      const result = await syncTrees(src, dst, { mode, ...(await runOptionsOf(ctx, flags, [src.remote, dst.remote], progress)) })
        .finally(() => progress.stop());
      reportRun(ctx, result, progress, flags);
    });
  }

  addFilterFlags(
    program
      .command('check')
      .description('compare SRC with DST: files missing on either side and files that differ (exit 4 when any)')
      .argument('<source>', 'remote:path or local path')
      .argument('<destination>', 'remote:path or local path'),
  ).option('-q, --quiet', 'only the differences, no summary')
    .action(async (source: string, destination: string, flags: TransferFlags) => {
      const result = await checkTrees(await ctx.open(source), await ctx.open(destination), {
        filter: filterOf(flags),
        checksum: flags.checksum ?? false,
        transfers: flags.transfers,
      });
      for (const rel of result.missing) ctx.out(`missing on destination: ${rel}`);
      for (const rel of result.extra) ctx.out(`only on destination: ${rel}`);
      for (const rel of result.differ) ctx.out(`differs: ${rel}`);
      for (const f of result.failed) ctx.warn(`cloudmount: ${f.rel}: ${describeError(f.error, { hostsOf: ctx.hostsOf })}`);
      const how = result.compare === 'checksum' ? 'content' : result.compare === 'size' ? 'size (the destination does not keep mtimes; add --checksum to compare content)' : 'size and mtime';
      const differences = result.missing.length + result.extra.length + result.differ.length;
      if (!flags.quiet) {
        ctx.out(`${differences === 0 && result.failed.length === 0 ? 'identical' : 'different'}: ${result.same} same, ${result.differ.length} differ, `
          + `${result.missing.length} missing on destination, ${result.extra.length} only on destination, ${result.failed.length} unreadable; compared by ${how}`);
      }
      process.exitCode = result.failed.length > 0 ? EXIT.nothingDone : differences > 0 ? EXIT.differences : EXIT.done;
    });
}
