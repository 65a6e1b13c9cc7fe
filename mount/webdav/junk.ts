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
  const regexes: RegExp[] = [];
  for (const p of patterns) {
    if (p.includes('*')) {
      regexes.push(new RegExp('^' + p.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*') + '$', 'i'));
    } else exact.add(p.toLowerCase());
  }
  return (name) => exact.has(name.toLowerCase()) || regexes.some((r) => r.test(name));
}
