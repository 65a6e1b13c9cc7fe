/** Filling the emulator's store: from a JSON tree (MemoryVfs's `SeedTree`), a local directory, or the demo set. */
import { createReadStream } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { MemoryVfs } from '../../memory/index.js';
import type { SeedTree } from '../../memory/index.js';
import { joinPath } from '../../../src/path.js';

/** What to put in a new emulator: a tree, `{ directory }` to copy a local folder, or `'demo'`. */
export type CouchdropSeed = SeedTree | { directory: string } | 'demo';

/**
 * The demo account: first segments are storage mounts, as on a real Couchdrop account
 * (`/mount0`, `/google/...`).
 */
export const DEMO_SEED: SeedTree = {
  mount0: {
    'README.txt': 'Welcome to the Couchdrop emulator.\nThis account is served by cloudmount.\n',
    reports: {
      '2024': { 'q1 summary.csv': 'region,revenue\nnorth,100\nsouth,120\n', 'q2 summary.csv': 'region,revenue\nnorth,110\nsouth,90\n' },
      'notes #1 (draft).md': '# Notes\n\n- ünïcødé and spaces survive\n',
    },
    inbox: {},
  },
  google: {
    'shared folder': { 'photo.jpg': Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 16, 0x4a, 0x46, 0x49, 0x46]) },
  },
};

/** A store holding `seed` (an empty one without). */
export async function createStore(seed: CouchdropSeed | undefined): Promise<MemoryVfs> {
  if (seed === undefined) return new MemoryVfs();
  if (seed === 'demo') return MemoryVfs.fromTree(DEMO_SEED);
  if (isDirectorySeed(seed)) {
    const store = new MemoryVfs();
    await copyDirectory(store, seed.directory, '/');
    return store;
  }
  return MemoryVfs.fromTree(seed);
}

function isDirectorySeed(seed: SeedTree | { directory: string }): seed is { directory: string } {
  return typeof (seed as { directory?: unknown }).directory === 'string' && Object.keys(seed).length === 1;
}

/** Copy a local folder into the store, streaming each file and keeping its mtime. */
async function copyDirectory(store: MemoryVfs, local: string, remote: string): Promise<void> {
  for (const dirent of await readdir(local, { withFileTypes: true })) {
    const from = join(local, dirent.name);
    const to = joinPath(remote, dirent.name);
    if (dirent.isDirectory()) {
      await store.mkdir(to);
      await copyDirectory(store, from, to);
    } else if (dirent.isFile()) {
      const info = await stat(from);
      await store.write(to, createReadStream(from), { mtime: info.mtime, size: info.size });
    }
  }
}
