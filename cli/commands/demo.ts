/**
 * `cloudmount demo` (what `npm start` runs): the Cloudreve emulator seeded with a demo tree, served
 * over WebDAV through CloudreveVfs + CachedVfs — the whole stack, with no account needed.
 */
import type { Command } from 'commander';
import { serveWebdav } from '../../mount/webdav.js';
import { MeteredVfs } from '../../src/metered-vfs.js';
import { openRemote } from '../remotes.js';
import type { CliContext } from '../context.js';
import { parseAddr } from '../args.js';
import { selfCommand, shellQuote, startEmulator } from '../emulators.js';
import { runUntilSignal } from '../lifecycle.js';

/** Register the `demo` command. */
export function registerDemoCommand(program: Command, ctx: CliContext): void {
  program
    .command('demo')
    .description('run the Cloudreve emulator with demo files and serve it over WebDAV (no account needed)')
    .option('--addr <host:port>', 'WebDAV address (a busy port falls back to a free one)', '127.0.0.1:8080')
    .option('--stats', 'print a stats line every 10 s')
    .action(async (opts: { addr: string; stats?: boolean }) => {
      const emu = await startEmulator('cloudreve', { seed: 'demo' });
      const vfs = await openRemote(
        { type: 'cloudreve', url: emu.env.CLOUDREVE_URL!, email: emu.env.CLOUDREVE_EMAIL!, password: emu.env.CLOUDREVE_PASSWORD! },
        { logger: ctx.logger },
      );
      const metered = new MeteredVfs(vfs);
      const { host, port } = parseAddr(opts.addr);
      const server = await serveWebdav(metered, { host, port, logger: ctx.logger, protectProcess: true }).catch((e: NodeJS.ErrnoException) => {
        if (e.code !== 'EADDRINUSE') throw e;
        return serveWebdav(metered, { host, port: 0, logger: ctx.logger, protectProcess: true });
      });
      const url = server.url;
      const env = Object.entries(emu.env).map(([k, v]) => `${k}=${shellQuote(v)}`).join(' ');
      const lines = [
        'cloudmount demo: a Cloudreve v4 emulator with demo files, served over WebDAV',
        '',
        `  Cloudreve emulator  ${emu.url}`,
        `  WebDAV share        ${url}   (CloudreveVfs + CachedVfs, no login on loopback)`,
        '',
        'Open the share:',
        `  browser / curl   curl ${url}`,
        `  rclone           rclone lsf --webdav-url ${url} --webdav-vendor other :webdav:`,
        `  davfs2 (root)    mkdir -p /mnt/demo && mount -t davfs ${url} /mnt/demo   (press Enter at the user/password prompts)`,
        `  cadaver          cadaver ${url}`,
        `  macOS Finder     Go → Connect to Server… → ${url}`,
        `  Windows Explorer Map network drive → ${url}  (Windows allows Basic auth only over https unless BasicAuthLevel=2)`,
        '',
        'Or use the emulator directly with the CLI, in another terminal:',
        `  ${env} ${selfCommand()} ls -l cloudreve:/`,
        `  ${env} ${selfCommand()} mount cloudreve:/ /mnt/cloudreve   (FUSE, Linux, as root or with fuse access)`,
        '',
        'Press Ctrl-C to stop.',
      ];
      for (const line of lines) ctx.out(line);
      await runUntilSignal(ctx, {
        served: server.vfs,
        sources: { scheduler: vfs.scheduler, metered },
        stats: opts.stats ?? false,
        stopping: 'stopping…',
        stop: async () => {
          await server.close();
          await vfs.close?.();
          await emu.close();
        },
      });
    });
}
