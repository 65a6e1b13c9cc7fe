// The shape every area benchmark reports (`--json`) and the table `npm run bench` renders.
//
// A figure: { figure, cloudmount, alternative, ratio, target, met, note? }
//   cloudmount / alternative: measured values as text with units ("812 MiB/s (rclone serve webdav)");
//   ratio: a number (how the target reads it, e.g. speed ratio cloudmount ÷ alternative) or null;
//   target: text such as "≥ 1.0×"; met: true, false, or null when it could not be measured (note says why).

/** Did `value` meet `op bound` ('>=', '<=', '==')? null when value is not a finite number. */
export function judge(value, op, bound) {
  if (typeof value !== 'number' || !Number.isFinite(value)) return null;
  if (op === '>=') return value >= bound;
  if (op === '<=') return value <= bound;
  return value === bound;
}

/** A figure that could not be measured (a tool is missing, the area failed…). */
export function skipped(figure, target, why) {
  return { figure, cloudmount: '—', alternative: '—', ratio: null, target, met: null, note: why };
}

/** Format a number with a sensible number of digits. */
export function num(x, digits) {
  if (typeof x !== 'number' || !Number.isFinite(x)) return '—';
  const d = digits ?? (Math.abs(x) >= 100 ? 0 : Math.abs(x) >= 10 ? 1 : 2);
  return x.toFixed(d);
}

/** Print the figures of one area as one JSON line (the `--json` contract) or as a table. */
export function emit(area, figures, { json, extra } = {}) {
  if (json) process.stdout.write(`${JSON.stringify({ area, figures, ...(extra ? { extra } : {}) })}\n`);
  else console.log(renderText(figures.map((f) => ({ area, ...f }))));
}

const COLUMNS = [
  ['area', 'area'],
  ['figure', 'figure'],
  ['cloudmount', 'cloudmount'],
  ['alternative', 'alternative'],
  ['ratio', 'ratio'],
  ['target', 'target'],
  ['met', 'met'],
];

function cell(row, key) {
  if (key === 'ratio') return row.ratio === null || row.ratio === undefined ? '—' : `${num(row.ratio)}×`;
  if (key === 'met') return row.met === true ? 'yes' : row.met === false ? 'NO' : 'not measured';
  return String(row[key] ?? '');
}

/** Plain-text table (terminal). */
export function renderText(rows) {
  const cols = COLUMNS.filter(([key]) => key !== 'area' || rows.some((r) => r.area));
  const table = [cols.map(([, h]) => h), ...rows.map((r) => cols.map(([k]) => cell(r, k)))];
  const widths = cols.map((_, i) => Math.max(...table.map((r) => [...r[i]].length)));
  const line = (r) => r.map((c, i) => c + ' '.repeat(widths[i] - [...c].length)).join('  ');
  return [line(table[0]), widths.map((w) => '-'.repeat(w)).join('  '), ...table.slice(1).map(line)].join('\n');
}

/** Markdown table (RESULTS.md); notes go in a list below it. */
export function renderMarkdown(rows) {
  const esc = (s) => s.replace(/\|/g, '\\|');
  const out = [`| ${COLUMNS.map(([, h]) => h).join(' | ')} |`, `|${COLUMNS.map(() => '---').join('|')}|`];
  for (const r of rows) out.push(`| ${COLUMNS.map(([k]) => esc(cell(r, k))).join(' | ')} |`);
  return out.join('\n');
}
