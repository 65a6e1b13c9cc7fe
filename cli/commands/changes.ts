/**
 * `cloudmount changes <remote:path>`: print changes made elsewhere under a folder as they arrive, one
 * line each (`create /a.txt`, `rename /a.txt -> /b.txt`), or one JSON object per line with --json.
 * Runs until Ctrl-C. Cloudreve ≥ 4.11 pushes them (seconds); other providers are polled.
 */
import type { Command } from 'commander';
import { VfsError } from '../../src/errors.js';
import type { VfsChange } from '../../src/vfs.js';
import type { CliContext } from '../context.js';
import { waitForSignal } from '../lifecycle.js';

interface ChangesOptions {
  json?: boolean;
}

/** Register `changes`. */
export function registerChangesCommand(program: Command, ctx: CliContext): void {
  program
    .command('changes')
    .description('print changes made elsewhere under a folder as they arrive (Ctrl-C to stop)')
    .argument('<location>', 'remote:path of a folder')
    .option('--json', 'one JSON object per line: {"time","type","path","oldPath"?}')
    .action(async (location: string, opts: ChangesOptions) => {
      const { vfs, path } = await ctx.open(location);
      const mode = vfs.capabilities.changes;
      if (!vfs.watch || mode === undefined || mode === 'none') {
        throw new VfsError('ENOTSUP', `${location}: this provider cannot report changes`, { path });
      }
      if ((await vfs.stat(path)).type !== 'directory') throw new VfsError('ENOTDIR', `${location} is not a directory`, { path });
      const abort = new AbortController();
      const changes = vfs.watch(path, { signal: abort.signal });
      // A polled provider re-lists the folders it has listed: start with this one.
      if (mode === 'poll') await vfs.list(path);
      if (!opts.json) ctx.warn(`watching ${location} (${mode === 'push' ? 'pushed by the server' : 'polled'}); Ctrl-C to stop`);
      void waitForSignal().then(() => abort.abort());
      for await (const change of changes) ctx.out(opts.json ? jsonLine(change) : textLine(change));
    });
}

function textLine(c: VfsChange): string {
  if (c.type === 'rename') return `rename ${c.oldPath ?? '?'} -> ${c.path}`;
  if (c.type === 'resync') return `resync ${c.path} (changes may have been missed)`;
  return `${c.type} ${c.path}`;
}

function jsonLine(c: VfsChange): string {
  return JSON.stringify({ time: new Date().toISOString(), type: c.type, path: c.path, ...(c.oldPath !== undefined ? { oldPath: c.oldPath } : {}) });
}
