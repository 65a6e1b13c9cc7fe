/** Filling the emulator's drive: from a directory on disk, a JSON tree, or the small "demo" set. */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { SeedTree } from '../../memory/index.js';
import type { DriveStore } from './store.js';

/** A few folders and files to look at in `cloudmount emulate cloudreve`. */
export const DEMO_SEED: SeedTree = {
  Documents: {
    'readme.txt': 'This drive is served by the cloudmount Cloudreve emulator.\n',
    'notes.md': '# Notes\n\n- files live in memory\n- restart the emulator to reset them\n',
    Reports: { '2024 summary.txt': 'Quarterly figures: 1, 2, 3, 5, 8.\n' },
  },
  Photos: { 'sunset.txt': 'imagine a sunset here\n' },
  Shared: {},
  'hello.txt': 'Hello from Cloudreve!\n',
};

/** Add `seed` to the store: 'demo', a directory path, or a SeedTree. */
export function seedStore(store: DriveStore, seed: 'demo' | string | SeedTree): void {
  if (seed === 'demo') return seedTree(store, [], DEMO_SEED);
  if (typeof seed === 'string') return seedDirectory(store, [], seed);
  seedTree(store, [], seed);
}

function seedTree(store: DriveStore, at: string[], tree: SeedTree): void {
  for (const [name, value] of Object.entries(tree)) {
    const segments = [...at, name];
    if (typeof value === 'string' || value instanceof Uint8Array) {
      store.seedFile(segments, typeof value === 'string' ? Buffer.from(value) : Buffer.from(value));
    } else {
      store.create(segments, 1, false);
      seedTree(store, segments, value);
    }
  }
}

function seedDirectory(store: DriveStore, at: string[], dir: string): void {
  for (const name of readdirSync(dir)) {
    const full = join(dir, name);
    const st = statSync(full);
    const segments = [...at, name];
    if (st.isDirectory()) {
      store.create(segments, 1, false);
      seedDirectory(store, segments, full);
    } else if (st.isFile()) {
      store.seedFile(segments, readFileSync(full));
    }
  }
}
