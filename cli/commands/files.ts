/**
 * File commands over any remote or local path: ls, stat, cat, mkdir, rm, mv, cp, df.
 */
import type { Command } from 'commander';
import { VfsError } from '../../src/errors.js';
import type { Entry } from '../../src/vfs.js';
import type { CliContext } from '../context.js';
import { basename } from 'node:path';
import { copyPath, movePath, resolveTarget, transferFile } from '../../src/transfer.js';
import { openSpecialForReading, specialFileOf, writeThroughLinks, writeToSpecial } from '../local-io.js';
import { addTransferFlags, bandwidthOf, configuredBwlimit, progressOf, reportRun, runOptionsOf } from '../transfer-flags.js';
import type { TransferFlags } from '../transfer-flags.js';
import { formatBytes, formatDuration, formatRate } from '../units.js';

/** Register the file commands on `program`. */
export function registerFileCommands(program: Command, ctx: CliContext): void {
  program
    .command('ls')
    .description('list a directory (or show one file)')
    .argument('<location>', 'remote:path or local path')
    .option('-l, --long', 'show type, size and modification time')
    .action(async (location: string, opts: { long?: boolean }) => {
      const { vfs, path } = await ctx.open(location);
      const entry = await vfs.stat(path);
      const entries = entry.type === 'directory' ? await vfs.list(path) : [entry];
      entries.sort((a, b) => (a.type === b.type ? a.name.localeCompare(b.name) : a.type === 'directory' ? -1 : 1));
      for (const e of entries) ctx.out(opts.long ? longLine(e) : e.name + (e.type === 'directory' ? '/' : ''));
    });

  program
    .command('stat')
    .description('show the metadata of one path as JSON')
    .argument('<location>', 'remote:path or local path')
    .action(async (location: string) => {
      const { vfs, path } = await ctx.open(location);
      ctx.out(JSON.stringify(await vfs.stat(path), null, 2));
    });

  program
    .command('cat')
    .description('write a file (or a byte range of it) to stdout')
    .argument('<location>', 'remote:path or local path')
    .option('--offset <bytes>', 'first byte', parseNonNegative)
    .option('--length <bytes>', 'how many bytes', parseNonNegative)
    .action(async (location: string, opts: { offset?: number; length?: number }) => {
      const { vfs, path } = await ctx.open(location);
      const stream = await vfs.read(path, { offset: opts.offset, length: opts.length });
      for await (const chunk of stream) {
        if (!process.stdout.write(chunk)) await new Promise((r) => process.stdout.once('drain', r));
      }
    });

  program
    .command('mkdir')
    .description('create a directory')
    .argument('<location>', 'remote:path or local path')
    .option('-p, --parents', 'create missing parents, no error if it exists')
    .action(async (location: string, opts: { parents?: boolean }) => {
      const { vfs, path } = await ctx.open(location);
      if (!opts.parents) {
        await vfs.mkdir(path);
        return;
      }
      let at = '';
      for (const segment of path.split('/').filter(Boolean)) {
        at += '/' + segment;
        try {
          await vfs.mkdir(at);
        } catch (e) {
          if (!(e instanceof VfsError && e.code === 'EEXIST')) throw e;
        }
      }
    });

  program
    .command('rm')
    .description('remove a file, or a directory with -r')
    .argument('<location>', 'remote:path or local path')
    .option('-r, --recursive', 'remove a directory and everything in it')
    .action(async (location: string, opts: { recursive?: boolean }) => {
      const { vfs, path } = await ctx.open(location);
      if (!opts.recursive && (await vfs.stat(path)).type === 'directory') {
        const children = await vfs.list(path);
        if (children.length > 0) throw new VfsError('ENOTEMPTY', `${location} is a directory that is not empty (use -r)`, { path });
      }
      await vfs.remove(path, { recursive: opts.recursive ?? false });
    });

  addTransferFlags(
    program
      .command('cp')
      .description('copy a file or, with -r, a folder; "-" is standard input/output; --update skips unchanged files')
      .argument('<source>', 'remote:path, local path, or - for standard input')
      .argument('<destination>', 'remote:path, local path (an existing directory receives the source inside it), or - for standard output')
      .option('-r, --recursive', 'copy directories')
      .option('-u, --update', 'skip files that are unchanged (same size and mtime; same size where the destination keeps no mtime)'),
  ).action(async (source: string, destination: string, flags: TransferFlags & { recursive?: boolean; update?: boolean }) => {
    const specialSource = source === '-' ? '-' : await specialFileOf(source);
    const specialTarget = destination === '-' ? '-' : await specialFileOf(destination);
    if (specialSource || specialTarget) {
      await copyStream(ctx, source, specialSource, destination, specialTarget, flags);
      return;
    }
    const src = await ctx.open(source);
    const dst = await ctx.open(await writeThroughLinks(destination));
    const progress = progressOf(ctx, flags);
    const result = await copyPath(src, dst, {
      recursive: flags.recursive ?? false,
      update: flags.update ?? false,
      ...(await runOptionsOf(ctx, flags, [src.remote, dst.remote], progress)),
    }).finally(() => progress.stop());
    if ((await src.vfs.stat(src.path)).type === 'file' && !flags.dryRun && !flags.quiet && result.failed.length === 0) {
      const ms = Date.now() - progress.startedAt;
      ctx.out(result.copied
        ? `copied ${src.path} (${formatBytes(result.copiedBytes)} in ${formatDuration(ms)}, ${formatRate(result.copiedBytes / Math.max(0.001, ms / 1000))})`
        : `unchanged ${src.path} (compared by ${result.compare === 'size' ? 'size' : 'size and mtime'})`);
      return;
    }
    reportRun(ctx, result, progress, flags);
  });

  program
    .command('mv')
    .description('move or rename (server-side within one remote)')
    .argument('<source>', 'remote:path or local path')
    .argument('<destination>', 'remote:path or local path')
    .action(async (source: string, destination: string) => {
      // Like mv(1): a symlink destination is replaced by the rename, not written through.
      await movePath(await ctx.open(source), await ctx.open(destination));
    });

  program
    .command('df')
    .description('show the quota of a remote')
    .argument('<remote>', 'remote: (a path is ignored)')
    .action(async (location: string) => {
      const { vfs } = await ctx.open(location);
      const space = await vfs.space();
      ctx.out(`used  ${formatBytes(space.used)}`);
      if (space.total !== undefined) ctx.out(`total ${formatBytes(space.total)}`);
      if (space.free !== undefined) ctx.out(`free  ${formatBytes(space.free)}`);
    });
}

function longLine(e: Entry): string {
  const kind = e.type === 'directory' ? 'd' : '-';
  const when = e.mtime.toISOString().replace('T', ' ').slice(0, 19);
  return `${kind} ${String(e.size).padStart(12)} ${when} ${e.name}${e.type === 'directory' ? '/' : ''}`;
}

function parseNonNegative(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new VfsError('EINVAL', `not a byte count: ${JSON.stringify(value)}`);
  return n;
}

/**
 * `cp` where one end is a stream: standard input/output ("-"), a FIFO, a character device or a socket.
 * The bytes are streamed (never "0 bytes because stat said so"); a special destination is written into,
 * never replaced by a regular file.
 */
async function copyStream(ctx: CliContext, source: string, specialSource: string | undefined, destination: string, specialTarget: string | undefined, flags: TransferFlags): Promise<void> {
  let input;
  let name: string;
  let size: number | undefined;
  let mtime: Date | undefined;
  if (specialSource) {
    input = await openSpecialForReading(specialSource);
    name = specialSource === '-' ? 'stdin' : basename(specialSource);
  } else {
    const { vfs, path } = await ctx.open(source);
    const entry = await vfs.stat(path);
    if (entry.type === 'directory') throw new VfsError('EISDIR', `${source} is a directory (a stream receives one file)`, { path });
    input = await vfs.read(path);
    name = entry.name;
    size = entry.size;
    mtime = entry.mtime;
  }
  if (specialTarget) {
    await writeToSpecial(input, specialTarget);
    return;
  }
  const dst = await ctx.open(await writeThroughLinks(destination));
  const target = await resolveTarget({ path: '/' + name, name, type: 'file', size: 0, mtime: new Date() }, dst);
  if (specialSource === '-' && target !== dst.path) {
    throw new VfsError('EISDIR', `${destination} is a directory: give standard input a file name, e.g. ${destination.replace(/\/$/, '')}/name`, { path: dst.path });
  }
  const progress = progressOf(ctx, flags);
  const bandwidth = bandwidthOf(flags, [await configuredBwlimit(ctx, dst.remote)]);
  try {
    await transferFile({ stream: input, name, ...(size !== undefined ? { size } : {}), ...(mtime ? { mtime } : {}) }, { vfs: dst.vfs, path: target }, { label: name, observer: progress, bandwidth });
  } finally {
    progress.stop();
  }
  if (!flags.quiet) {
    const ms = Date.now() - progress.startedAt;
    ctx.out(`copied ${name} (${formatBytes(progress.bytesDone)} in ${formatDuration(ms)}, ${formatRate(progress.bytesDone / Math.max(0.001, ms / 1000))})`);
  }
}
