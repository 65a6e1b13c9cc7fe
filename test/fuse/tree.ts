/** A small deterministic tree of files for copy-in/copy-out tests (written outside the mount). */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pseudoRandomBytes } from '../helpers.js';

/** Files of the test tree: relative path → size. Names hold spaces, unicode, '#', '%' and quotes. */
export const TREE_FILES: Record<string, number> = {
  'readme.txt': 1_234,
  'empty.txt': 0,
  'photos/cat picture.jpg': 300_000,
  'photos/été #1 50%.png': 70_001,
  "docs/it's/report.pdf": 2 * 1024 * 1024 + 5,
  'docs/it\'s/notes/a.md': 4096,
  'deep/a/b/c/d/leaf.bin': 131_073,
};

/** Write the tree under `root` and return its file count. */
export async function writeTree(root: string, seed = 11): Promise<number> {
  let i = 0;
  for (const [rel, size] of Object.entries(TREE_FILES)) {
    const file = join(root, rel);
    await mkdir(join(file, '..'), { recursive: true });
    await writeFile(file, pseudoRandomBytes(size, seed + i++));
  }
  await mkdir(join(root, 'empty folder'), { recursive: true });
  return i;
}
