/**
 * File commands over any remote or local path: ls, stat, cat, mkdir, rm, mv, cp, df.
 */
import type { Command } from 'commander';
import { VfsError } from '../../src/errors.js';
import type { Entry } from '../../src/vfs.js';
import type { CliContext } from '../context.js';
import { createProgress, formatBytes } from '../progress.js';
import { copyPath, movePath } from '../../src/transfer.js';

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

  program
    .command('cp')
    .description('copy between local paths and remotes (and between remotes)')
    .argument('<source>', 'remote:path or local path')
    .argument('<destination>', 'remote:path or local path (an existing directory receives the source inside it)')
    .option('-r, --recursive', 'copy directories')
    .option('-q, --quiet', 'no progress output')
    .action(async (source: string, destination: string, opts: { recursive?: boolean; quiet?: boolean }) => {
      const progress = createProgress({ quiet: opts.quiet });
      await copyPath(await ctx.open(source), await ctx.open(destination), { recursive: opts.recursive ?? false, progress });
      progress.finish();
    });

  program
    .command('mv')
    .description('move or rename (server-side within one remote)')
    .argument('<source>', 'remote:path or local path')
    .argument('<destination>', 'remote:path or local path')
    .action(async (source: string, destination: string) => {
      await movePath(await ctx.open(source), await ctx.open(destination), { progress: createProgress({ quiet: true }) });
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
