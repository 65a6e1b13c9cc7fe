/**
 * SECURITY.md's limits table stays true: each row's source file holds the named setting (and, where the
 * file exports it as a number, the value the table states), and each row names a test file that exists.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '../..');
const UNITS: Record<string, number> = { B: 1, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3, ms: 1, s: 1000, min: 60_000, h: 3_600_000 };

interface Row { limit: string; value: string; source: string; name: string; tests: string[] }

function rows(): Row[] {
  const text = readFileSync(join(ROOT, 'SECURITY.md'), 'utf8');
  const table = text.slice(text.indexOf('## Limits'));
  const out: Row[] = [];
  for (const line of table.split('\n')) {
    if (!line.startsWith('| ') || line.startsWith('| limit') || line.startsWith('| ---')) continue;
    const cells = line.slice(2, -2).split(' | ');
    const [source, name] = [...cells[3]!.matchAll(/`([^`]+)`/g)].map((m) => m[1]!);
    out.push({ limit: cells[0]!, value: cells[1]!, source: source!, name: name!, tests: [...cells[4]!.matchAll(/`([^`]+)`/g)].map((m) => m[1]!) });
  }
  return out;
}

/** The first number in the value cell with its unit, in bytes or ms ("64 KiB" → 65536, "20 s" → 20000). */
function firstQuantity(value: string): { n: number; unit: string } | undefined {
  const m = value.match(/(\d[\d ]*)\s*(KiB|MiB|GiB|ms|min|s|h|B)?\b/);
  if (!m) return undefined;
  return { n: Number(m[1]!.replace(/ /g, '')), unit: m[2] ?? '' };
}

describe('SECURITY.md limits table', () => {
  const table = rows();

  it('has a row per limit', () => {
    expect(table.length).toBeGreaterThan(40);
  });

  it.each(table.map((r) => [r.limit, r] as const))('%s: the source holds it and its test exists', async (_limit, row) => {
    const file = join(ROOT, row.source);
    expect(existsSync(file), `${row.source} is missing`).toBe(true);
    expect(readFileSync(file, 'utf8'), `${row.source} does not mention ${row.name}`).toContain(row.name);
    expect(row.tests.length).toBeGreaterThan(0);
    for (const t of row.tests) expect(existsSync(join(ROOT, t)), `${t} is missing`).toBe(true);
    if (/^[A-Z][A-Z0-9_]+$/.test(row.name)) {
      const mod = (await import(join(ROOT, row.source))) as Record<string, unknown>;
      const exported = mod[row.name];
      if (typeof exported === 'number') {
        const q = firstQuantity(row.value);
        expect(q, `no number in "${row.value}"`).toBeDefined();
        const documented = q!.n * (UNITS[q!.unit] ?? 1);
        // Constants in seconds are written in seconds; the others in bytes or ms as the unit says.
        expect([documented, q!.n], `${row.name} = ${exported}, SECURITY.md says ${row.value}`).toContain(exported);
      }
    }
  });
});
