/**
 * `cloudmount pending list|retry|discard`: uploads a mount could not complete (the provider kept
 * failing, or the mount died) are kept in the spool; this is how a user gets them home.
 */
import type { Command } from 'commander';
import { defaultSpoolDir, discardPendingUpload, listPendingUploads, retryPendingUpload } from '../../mount/fuse.js';
import type { PendingUpload } from '../../mount/fuse.js';
import { VfsError } from '../../src/errors.js';
import { describeError } from '../errors.js';
import { joinPath, normalizePath } from '../../src/path.js';
import type { CliContext } from '../context.js';
import { formatBytes } from '../progress.js';

/** Register `pending`. */
export function registerPendingCommands(program: Command, ctx: CliContext): void {
  const pending = program.command('pending').description('uploads kept after a failure: list, retry, discard');
  const spoolOption = ['--spool-dir <dir>', `spool folder (default ${defaultSpoolDir()})`] as const;

  pending
    .command('list')
    .description('list kept uploads')
    .option(...spoolOption)
    .option('--json', 'print JSON')
    .action(async (opts: { spoolDir?: string; json?: boolean }) => {
      const items = (await listPendingUploads(opts.spoolDir ?? defaultSpoolDir())).map((p) => ({ ...p, ...target(p.remote, p.path) }));
      if (opts.json) {
        ctx.out(JSON.stringify(items, null, 2));
        return;
      }
      if (items.length === 0) ctx.out('no pending uploads');
      for (const p of items) {
        const why = p.reason === 'interrupted'
          ? `interrupted (${describeInterrupted(p)}; uploaded only with --force-interrupted)${p.error ? `; ${p.error.code}: ${p.error.message}` : ''}`
          : p.reason === 'queued' ? describeQueued(p)
          : p.error ? `${p.error.code}: ${p.error.message}` : p.reason;
        ctx.out(`${p.id}\t${p.remote ? p.remote + ':' : ''}${p.path}\t${formatBytes(p.size)}\t${p.updatedAt.toISOString()}\t${why}`);
      }
    });

  pending
    .command('retry')
    .description('upload kept files again (all, or the ids given) to the remote they were written to')
    .argument('[ids...]', 'ids from "pending list" (default: all)')
    .option(...spoolOption)
    .option('--to <remote>', 'upload to this remote instead of the one recorded')
    .option('--force-interrupted', 'also upload entries whose mount died while they were being written (they may be incomplete)')
    .action(async (ids: string[], opts: { spoolDir?: string; to?: string; forceInterrupted?: boolean }) => {
      const spoolDir = opts.spoolDir ?? defaultSpoolDir();
      const items = (await listPendingUploads(spoolDir)).filter((p) => ids.length === 0 || ids.includes(p.id));
      if (ids.length && items.length < ids.length) throw new VfsError('ENOENT', `no pending upload with id ${ids.filter((i) => !items.some((p) => p.id === i)).join(', ')}`);
      let failed = 0;
      for (const item of items) {
        if (item.reason === 'interrupted' && !opts.forceInterrupted) {
          // Maybe a cut-short file: uploading it could replace a good version with part of a new one.
          ctx.warn(`${item.id}: ${item.remote ? item.remote + ':' : ''}${item.path} was interrupted while being written `
            + `(${describeInterrupted(item)}); not uploaded. Check ${item.spoolFile}, then "pending retry --force-interrupted ${item.id}" or "pending discard ${item.id}"`);
          failed++;
          continue;
        }
        const recorded = target(item.remote, item.path);
        const remote = opts.to ?? recorded.remote;
        if (!remote) {
          ctx.warn(`${item.id}: no remote recorded for ${item.path}; use --to <remote>`);
          failed++;
          continue;
        }
        // --to names a remote: the file goes to the same full path there.
        const path = recorded.path;
        const { vfs } = await ctx.open(`${remote}:/`);
        try {
          await retryPendingUpload(spoolDir, item.id, vfs, { path, forceInterrupted: opts.forceInterrupted ?? false });
          ctx.out(`uploaded ${remote}:${path} (${formatBytes(item.size)})`);
        } catch (e) {
          failed++;
          ctx.warn(`${item.id}: ${remote}:${item.path} still failing: ${describeError(e)}`);
        }
      }
      if (failed) throw new VfsError('EIO', `${failed} upload(s) still pending`);
    });

  pending
    .command('discard')
    .description('delete kept uploads (their content is lost)')
    .argument('<ids...>', 'ids from "pending list"')
    .option(...spoolOption)
    .action(async (ids: string[], opts: { spoolDir?: string }) => {
      for (const id of ids) {
        await discardPendingUpload(opts.spoolDir ?? defaultSpoolDir(), id);
        ctx.out(`discarded ${id}`);
      }
    });
}

/** How much an interrupted entry holds against what its writer set and what it would replace, as far as known. */
function describeInterrupted(p: PendingUpload): string {
  const parts = [p.intendedSize !== undefined
    ? `${formatBytes(p.storedBytes)} written of ${formatBytes(p.intendedSize)} the writer set`
    : `${formatBytes(p.storedBytes)} written, final size unknown`];
  if (p.replacesSize === null) parts.push('a new file');
  else if (p.replacesSize !== undefined) parts.push(`replaces a ${formatBytes(p.replacesSize)} version`);
  return parts.join(', ');
}

/**
 * Where a kept upload belongs: a mount of a folder records "remote:/folder" as its label and
 * mount-relative paths; a mount of a remote's root records just "remote".
 */
export function target(label: string | undefined, path: string): { remote?: string; path: string } {
  if (!label) return { path };
  const colon = label.indexOf(':');
  if (colon < 0) return { remote: label, path };
  return { remote: label.slice(0, colon), path: joinPath(normalizePath(label.slice(colon + 1) || '/'), path.replace(/^\/+/, '')) };
}

/** A write-back entry: waiting / uploading with bytes sent / orphaned (resumed by the next mount), with its last error. */
function describeQueued(p: { size: number; queue?: { state: string; attempts: number; bytesSent?: number }; error?: { code: string; message: string } }): string {
  const q = p.queue;
  let text = q?.state === 'uploading' ? `uploading ${formatBytes(q.bytesSent ?? 0)} of ${formatBytes(p.size)}`
    : q?.state === 'orphaned' ? 'queued by a mount that is gone (the next mount of this remote uploads it)' : 'waiting';
  if (q && q.attempts > 0) text += ` (attempt ${q.attempts})`;
  if (p.error) text += `; last error ${p.error.code}: ${p.error.message}`;
  return text;
}
