/**
 * OS junk files (.DS_Store, AppleDouble "._*", Thumbs.db, desktop.ini): clients create them on every
 * folder they touch. With the filter on, they are invisible: listings hide them, reads say 404, and
 * writes are accepted and dropped (refusing them makes Finder abort whole copies).
 */

/** The default patterns; `*` matches any run of characters. */
export const DEFAULT_JUNK_PATTERNS = ['.DS_Store', '._*', 'Thumbs.db', 'desktop.ini'];

/** A predicate telling whether a file name is junk; `false`/empty means nothing is. */
export function junkMatcher(option: boolean | string[] | undefined): (name: string) => boolean {
  const patterns = option === false ? [] : option === true || option === undefined ? DEFAULT_JUNK_PATTERNS : option;
  if (patterns.length === 0) return () => false;
  const exact = new Set<string>();
  const globs: string[] = [];
  for (const p of patterns) {
    if (p.includes('*')) globs.push(p.toLowerCase());
    else exact.add(p.toLowerCase());
  }
  return (name) => {
    const lower = name.toLowerCase();
    return exact.has(lower) || globs.some((g) => globMatch(g, lower));
  };
}

/**
 * Does `name` match `glob` (`*` = any run)? The classic two-pointer walk: on a mismatch only the
 * last `*` is retried one character further, so the work is O(|glob| × |name|) whatever the number
 * of stars (a `.*` regex per star backtracks polynomially: `*a*a*a*` against a 255-byte name).
 */
function globMatch(glob: string, name: string): boolean {
  let g = 0;
  let n = 0;
  let star = -1;
  let resume = 0;
  while (n < name.length) {
    if (g < glob.length && glob[g] !== '*' && glob[g] === name[n]) {
      g++;
      n++;
    } else if (g < glob.length && glob[g] === '*') {
      star = g++;
      resume = n;
    } else if (star >= 0) {
      g = star + 1;
      n = ++resume;
    } else return false;
  }
  while (g < glob.length && glob[g] === '*') g++;
  return g === glob.length;
}
