/**
 * The layers run one way (DESIGN.md "How data flows"): the core (`src/`) knows no provider, frontend or
 * CLI; adapters know no frontend; frontends know no provider; only the application (`cli/`) and the
 * public index (`src/index.ts`) tie them together. Commands share helpers through `cli/*.ts`, never
 * through each other. This test reads every import of the tree and names each one that runs the wrong way.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join, posix } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..');
const LAYERS = ['src', 'adapters', 'mount', 'cli'] as const;

/** Every relative import/export-from/dynamic import of a TypeScript source, as repo-relative paths. */
export function importsOf(file: string, text: string): string[] {
  const found: string[] = [];
  // Trusted, repo-own source: a simple scan of quoted relative specifiers after from/import(.
  const re = /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)(['"])(\.{1,2}\/[^'"\n]+)\1/g;
  for (const m of text.matchAll(re)) found.push(posix.normalize(posix.join(posix.dirname(file), m[2]!)));
  return found;
}

/** The rule each import must keep; returns a message per violation. */
export function layerViolations(sources: Map<string, string>): string[] {
  const out: string[] = [];
  for (const [file, text] of sources) {
    for (const target of importsOf(file, text)) {
      const from = file.split('/')[0];
      const to = target.split('/')[0];
      const bad = (why: string) => out.push(`${file} imports ${target}: ${why}`);
      if (from === 'src' && file !== 'src/index.ts' && (to === 'adapters' || to === 'mount' || to === 'cli')) {
        bad('the core (src/) must not import adapters, frontends or the CLI');
      }
      if (file === 'src/index.ts' && to === 'cli') bad('the library index must not pull in the CLI');
      if (from === 'adapters' && (to === 'mount' || to === 'cli')) bad('an adapter must not import a frontend or the CLI');
      if (from === 'mount' && (to === 'adapters' || to === 'cli')) bad('a frontend must not import a provider or the CLI');
      if (file.startsWith('cli/commands/') && target.startsWith('cli/commands/')) {
        bad('commands share helpers through cli/*.ts, never through each other');
      }
    }
  }
  return out;
}

function collect(dir: string, into: Map<string, string>): void {
  for (const entry of readdirSync(join(ROOT, dir), { withFileTypes: true })) {
    const rel = posix.join(dir, entry.name);
    if (entry.isDirectory()) collect(rel, into);
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) into.set(rel, readFileSync(join(ROOT, rel), 'utf8'));
  }
}

describe('layers', () => {
  it('every import in src/, adapters/, mount/ and cli/ runs the allowed way', () => {
    const sources = new Map<string, string>();
    for (const layer of LAYERS) collect(layer, sources);
    expect(sources.size).toBeGreaterThan(100);
    expect(layerViolations(sources)).toEqual([]);
  });

  it('the checker names each wrong-way import (so the test above can fail)', () => {
    const wrong = new Map<string, string>([
      ['src/cache.ts', "import { MemoryVfs } from '../adapters/memory/index.js';"],
      ['src/scheduler/pacer.ts', "const m = await import('../../mount/webdav.js');"],
      ['adapters/cloudreve/vfs.ts', "export { serveWebdav } from '../../mount/webdav.js';"],
      ['mount/webdav/router.ts', "import type { CloudreveVfs } from '../../adapters/cloudreve/index.js';"],
      ['mount/fuse.ts', "import { openRemote } from '../cli/remotes.js';"],
      ['cli/commands/demo.ts', "import { parseAddr } from './serve.js';"],
      ['src/index.ts', "export * from '../cli/config.js';"],
      // allowed: the index ties layers together; the CLI imports anything; commands use cli/*.ts
      ['src/vfs.ts', "import type { Entry } from './entry.js';"],
      ['cli/commands/serve.ts', "import { parseAddr } from '../args.js';\nimport { serveWebdav } from '../../mount/webdav.js';"],
    ]);
    const found = layerViolations(wrong);
    expect(found).toHaveLength(7);
    expect(found[0]).toBe('src/cache.ts imports adapters/memory/index.js: the core (src/) must not import adapters, frontends or the CLI');
    expect(found.some((v) => v.startsWith('cli/commands/demo.ts imports cli/commands/serve.js'))).toBe(true);
  });

  it('resolves specifiers against the importing file', () => {
    expect(importsOf('cli/commands/mount.ts', "import { x } from '../../mount/fuse.js';")).toEqual(['mount/fuse.js']);
    expect(importsOf('src/cache/block-cache.ts', "const v = await import('../vfs.js');")).toEqual(['src/vfs.js']);
  });
});
