/**
 * `cloudmount share create|list|remove`: public links of a remote's files and folders (Cloudreve
 * shares), through the remote's ShareLinkStore. A remote whose provider makes no links says so.
 */
import type { Command } from 'commander';
import { VfsError } from '../../src/errors.js';
import type { ShareLink, ShareLinkStore, Vfs } from '../../src/vfs.js';
import { hasShareLinks } from '../../src/vfs.js';
import type { CliContext } from '../context.js';

/** Register `share`. */
export function registerShareCommands(program: Command, ctx: CliContext): void {
  const share = program.command('share').description('public links of files and folders: create, list, remove');

  const links = async (location: string): Promise<{ vfs: Vfs & ShareLinkStore; path: string }> => {
    const { vfs, path, remote } = await ctx.open(location);
    if (!remote || !hasShareLinks(vfs)) throw new VfsError('ENOTSUP', `${location}: this remote's provider makes no share links`, { path });
    return { vfs, path };
  };

  share
    .command('create')
    .description('make a link to a file or folder and print it')
    .argument('<location>', 'remote:path')
    .option('--password <password>', 'a private link with this password (1-32 letters and digits)')
    .option('--private', 'a private link with a password the server picks')
    .option('--expire <duration>', 'expire after this long: seconds, or a number with s, m, h or d (7d)', parseDuration)
    .option('--downloads <n>', 'stop working after this many downloads', parsePositive)
    .option('--json', 'print JSON')
    .action(async (location: string, opts: { password?: string; private?: boolean; expire?: number; downloads?: number; json?: boolean }) => {
      const { vfs, path } = await links(location);
      const link = await vfs.createShare(path, {
        ...(opts.password !== undefined ? { password: opts.password } : {}),
        ...(opts.private ? { private: true } : {}),
        ...(opts.expire !== undefined ? { expiresInSeconds: opts.expire } : {}),
        ...(opts.downloads !== undefined ? { downloads: opts.downloads } : {}),
      });
      ctx.out(opts.json ? JSON.stringify(link, null, 2) : link.url);
    });

  share
    .command('list')
    .description("list the remote's share links")
    .argument('<remote>', 'remote: (a path after it is ignored)')
    .option('--json', 'print JSON')
    .action(async (location: string, opts: { json?: boolean }) => {
      const { vfs } = await links(location);
      const all = await vfs.listShares();
      if (opts.json) {
        ctx.out(JSON.stringify(all, null, 2));
        return;
      }
      if (all.length === 0) ctx.out('no share links');
      for (const s of all) ctx.out(line(s));
    });

  share
    .command('remove')
    .description('delete share links by id (from "share list")')
    .argument('<remote>', 'remote:')
    .argument('<ids...>', 'share ids')
    .action(async (location: string, ids: string[]) => {
      const { vfs } = await links(location);
      for (const id of ids) await vfs.removeShare(id);
    });
}

function line(s: ShareLink): string {
  const state = s.expired ? 'expired' : s.expires ? `until ${s.expires.toISOString()}` : 'no expiry';
  return [s.id, s.url, s.path ?? s.name ?? '?', state, s.remainingDownloads !== undefined ? `${s.remainingDownloads} downloads left` : ''].filter(Boolean).join('\t');
}

/** "3600", "90s", "15m", "12h", "7d" → seconds. */
export function parseDuration(text: string): number {
  const m = /^(\d{1,9})([smhd]?)$/.exec(text.trim());
  if (!m) throw new VfsError('EINVAL', `not a duration: ${JSON.stringify(text)} (seconds, or a number with s, m, h or d)`);
  const unit = { '': 1, s: 1, m: 60, h: 3600, d: 86400 }[m[2] as '' | 's' | 'm' | 'h' | 'd'];
  const seconds = Number(m[1]) * unit;
  if (seconds < 1 || seconds > 2 ** 31 - 1) throw new VfsError('EINVAL', `duration out of range: ${text}`);
  return seconds;
}

function parsePositive(text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > 2 ** 31 - 1) throw new VfsError('EINVAL', `not a positive whole number: ${JSON.stringify(text)}`);
  return n;
}
