#!/usr/bin/env node
/**
 * The `cloudmount` command line. For now: `--help`, `--version` and `demo`; the CLI issue adds
 * remotes, serve, mount, emulate and the file commands.
 */
import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { MemoryVfs } from '../adapters/memory/index.js';
import { VfsError } from './errors.js';
import { readAll } from './streams.js';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

const program = new Command()
  .name('cloudmount')
  .description('Cloud file services (Cloudreve v4, Couchdrop) as a local drive, a WebDAV share or a library')
  .version(pkg.version);

program
  .command('demo')
  .description('run a short tour of the Vfs API over an in-memory store (no account needed)')
  .action(async () => {
    const vfs = await MemoryVfs.fromTree({ 'README.txt': 'Welcome to cloudmount.\n', photos: { 'cat.jpg': 'not really a cat' } });
    console.log('cloudmount demo over MemoryVfs');
    for (const entry of await vfs.list('/')) console.log(`  ${entry.type === 'directory' ? 'd' : '-'} ${String(entry.size).padStart(6)}  ${entry.path}`);
    await vfs.write('/notes.txt', Buffer.from('written through the Vfs API\n'));
    console.log(`  wrote /notes.txt: ${JSON.stringify((await readAll(await vfs.read('/notes.txt'))).toString())}`);
    try {
      await vfs.stat('/missing.txt');
    } catch (e) {
      if (e instanceof VfsError) console.log(`  stat /missing.txt → ${e.code} (errno ${e.errno})`);
    }
  });

program.parseAsync(process.argv).catch((e: unknown) => {
  const message = e instanceof VfsError ? e.message : e instanceof Error ? e.message : String(e);
  console.error(`cloudmount: ${message}`);
  process.exitCode = 1;
});
