/**
 * The Scheduler runs attempts and classifies the failures they throw; HTTP (fetch, statuses,
 * headers, bodies) lives in src/http/ and reaches it only as VfsErrors. This test reads the
 * scheduler's sources and names any HTTP it finds, so the split cannot creep back.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const DIR = join(import.meta.dirname, '../../src/scheduler');

/** HTTP in a source file, comments stripped: what was found, or nothing. */
export function httpIn(text: string): string[] {
  const code = text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '');
  const found: string[] = [];
  for (const [what, re] of [
    ['an import of src/http or node:http(s)', /from\s+['"](\.\.\/http\/|node:https?['"])/],
    ['fetch()', /\bfetch\s*\(/],
    ['a Response, Request or Headers', /\b(Response|Request|Headers|RequestInit)\b/],
    ['a status table', /\b(RETRYABLE|THROTTLE)_STATUSES\b/],
    ['Retry-After parsing', /retry-after/i],
  ] as const) if (re.test(code)) found.push(what);
  return found;
}

describe('src/scheduler knows no HTTP', () => {
  it('no source under src/scheduler/ sends or reads HTTP', () => {
    const files = readdirSync(DIR).filter((f) => f.endsWith('.ts'));
    expect(files).toContain('index.ts');
    const found = files.flatMap((f) => httpIn(readFileSync(join(DIR, f), 'utf8')).map((w) => `${f}: ${w}`));
    expect(found).toEqual([]);
  });

  it('the checker finds HTTP where there is some (so the test above can fail)', () => {
    expect(httpIn("import { statusError } from '../http/status.js';")).toEqual(['an import of src/http or node:http(s)']);
    expect(httpIn('const res: Response = await globalThis.fetch(url);')).toEqual(['fetch()', 'a Response, Request or Headers']);
    expect(httpIn("if (THROTTLE_STATUSES.has(s)) h.get('Retry-After');")).toEqual(['a status table', 'Retry-After parsing']);
    expect(httpIn('// fetch() in a comment is fine\n/** Response */ const x = 1;')).toEqual([]);
  });
});
