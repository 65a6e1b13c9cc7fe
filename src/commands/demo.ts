/**
 * `cloudmount demo`: the first-run experience (what `npm start` runs).
 */
import type { Command } from 'commander';
import { MemoryVfs } from '../../adapters/memory/index.js';
import { readAll } from '../streams.js';
import type { CliContext } from './context.js';

/** Register the `demo` command. */
export function registerDemoCommand(program: Command, ctx: CliContext): void {
  program
    .command('demo')
    .description('a short tour over an in-memory store (no account needed)')
    .action(async () => {
      const vfs = await MemoryVfs.fromTree({ 'README.txt': 'Welcome to cloudmount.\n', photos: { 'cat.jpg': 'not really a cat' } });
      ctx.out('cloudmount demo over MemoryVfs');
      for (const entry of await vfs.list('/')) ctx.out(`  ${entry.type === 'directory' ? 'd' : '-'} ${String(entry.size).padStart(6)}  ${entry.path}`);
      await vfs.write('/notes.txt', Buffer.from('written through the Vfs API\n'));
      ctx.out(`  wrote /notes.txt: ${JSON.stringify((await readAll(await vfs.read('/notes.txt'))).toString())}`);
    });
}
