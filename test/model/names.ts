/**
 * Awkward names and state-relative path references for the model-based tests. A path is drawn as a
 * reference ("the 3rd existing entry", "a new child of the 2nd directory", "an ancestor of the
 * source") and resolved against the model's state when the command runs, so most commands hit
 * something that exists, and shrinking keeps the sequence meaningful.
 */
import fc from 'fast-check';
import type { Model } from './model.js';
import { join, parentOf } from './model.js';

/**
 * A small pool collides often (moves onto existing names): look-alike pairs (`?`/`？`, `:`/`：`),
 * spaces, unicode, URL and XML specials, quotes.
 */
export const NAME_POOL = ['a', 'b', 'what?.txt', 'what？.txt', 'x:y', 'x：y', 'sp ace é', `q'"#%&`, '100%', 'ü#?'] as const;

const ALPHABET = ['a', 'B', ' ', 'é', '#', '%', '?', '？', ':', '：', "'", '"', '&', '+', '中'];

/** A name from the pool (mostly) or built from the awkward alphabet. */
export const nameArb: fc.Arbitrary<string> = fc.oneof(
  { weight: 5, arbitrary: fc.constantFrom(...NAME_POOL) },
  {
    weight: 1,
    arbitrary: fc
      .array(fc.constantFrom(...ALPHABET), { minLength: 1, maxLength: 4 })
      .map((cs) => cs.join(''))
      // Leading/trailing blanks are trimmed by some providers: a different rule, not what we test here.
      .filter((s) => s.trim() === s && s !== '.' && s !== '..'),
  },
);

export type PathRef =
  | { kind: 'existing'; idx: number }
  | { kind: 'child'; idx: number; name: string }
  | { kind: 'dir'; idx: number }
  | { kind: 'inLocked'; idx: number; name: string }
  | { kind: 'random'; segs: string[] };

/** Index into a deepest-first list: small indexes (deep paths) are drawn more often. */
const idxArb = fc.oneof(fc.constant(0), fc.nat(3), fc.nat(50));

export const pathRefArb: fc.Arbitrary<PathRef> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('existing' as const), idx: idxArb }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('child' as const), idx: idxArb, name: nameArb }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('dir' as const), idx: idxArb }) },
  // A name inside a locked collection: where lock checks on membership changes matter.
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('inLocked' as const), idx: fc.nat(3), name: nameArb }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('random' as const), segs: fc.array(nameArb, { minLength: 1, maxLength: 3 }) }) },
);

/** Sources of moves and copies: mostly something that exists (deep ones first). */
export const sourceRefArb: fc.Arbitrary<PathRef> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('existing' as const), idx: idxArb }) },
  { weight: 1, arbitrary: pathRefArb },
);

/** Destination references may also name an ancestor of the source, or the source itself. */
export type DestRef = PathRef | { kind: 'ancestor'; idx: number } | { kind: 'self' };

export const destRefArb: fc.Arbitrary<DestRef> = fc.oneof(
  { weight: 5, arbitrary: pathRefArb },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('ancestor' as const), idx: fc.nat(5) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('self' as const) }) },
);

/** Deepest first, then by name: nesting grows quickly, so ancestors and descendants meet. */
const deepestFirst = (a: string, b: string): number => b.split('/').length - a.split('/').length || (a < b ? -1 : a > b ? 1 : 0);

/** Resolve a reference against the model (deterministic: sorted paths). */
export function resolvePath(model: Model, ref: PathRef): string {
  const all = [...model.nodes.keys()].filter((p) => p !== '/').sort(deepestFirst);
  switch (ref.kind) {
    case 'existing':
      return all.length === 0 ? '/a' : all[ref.idx % all.length]!;
    case 'dir': {
      const dirs = [...model.nodes].filter(([p, n]) => n.type === 'dir' && p !== '/').map(([p]) => p).sort(deepestFirst);
      return dirs.length === 0 ? '/a' : dirs[ref.idx % dirs.length]!;
    }
    case 'inLocked': {
      const roots = model.locks.map((l) => l.root).filter((r) => model.isDir(r));
      if (roots.length > 0) return join(roots[ref.idx % roots.length]!, ref.name);
      return resolvePath(model, { kind: 'child', idx: ref.idx, name: ref.name });
    }
    case 'child': {
      const dirs = [...model.nodes].filter(([, n]) => n.type === 'dir').map(([p]) => p).sort(deepestFirst);
      return join(dirs[ref.idx % dirs.length]!, ref.name);
    }
    case 'random':
      return '/' + ref.segs.join('/');
  }
}

export function resolveDest(model: Model, ref: DestRef, source: string): string {
  if (ref.kind === 'self') return source;
  if (ref.kind === 'ancestor') {
    const ancestors: string[] = [];
    for (let p = parentOf(source); p !== '/'; p = parentOf(p)) ancestors.push(p);
    return ancestors.length === 0 ? '/' : ancestors[ref.idx % ancestors.length]!;
  }
  return resolvePath(model, ref);
}

/** Contents: a short text, or `n` bytes of one value (printed compactly in counterexamples). */
export type Content = string | { n: number; fill: number };

export const contentArb: fc.Arbitrary<Content> = fc.oneof(
  { weight: 4, arbitrary: fc.string({ unit: fc.constantFrom('a', 'b', 'é', '\n', '\0', '?'), maxLength: 12 }) },
  { weight: 1, arbitrary: fc.record({ n: fc.integer({ min: 1, max: 20_000 }), fill: fc.nat(255) }) },
);

export function bytesOf(c: Content): Buffer {
  return typeof c === 'string' ? Buffer.from(c) : Buffer.alloc(c.n, c.fill);
}

/** Does `path` hold a full-width twin of a character Cloudreve forbids (issue 16 item 3)? */
export const hasLookalike = (path: string): boolean => /[\uFF1F\uFF1A\uFF02]/.test(path);

const TWINS: Record<string, string> = { '\uFF1F': '?', '\uFF1A': ':', '\uFF02': '"' };

/** `path` with full-width twins folded to their ASCII characters. */
export const foldLookalikes = (path: string): string => path.replace(/[\uFF1F\uFF1A\uFF02]/g, (c) => TWINS[c]!);

/** Does another existing entry differ from `path` only by look-alike characters? */
export function lookalikeClash(model: Model, path: string): boolean {
  const folded = foldLookalikes(path);
  for (const p of model.nodes.keys()) if (p !== path && foldLookalikes(p) === folded) return true;
  return false;
}
