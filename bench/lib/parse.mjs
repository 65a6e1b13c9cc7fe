// Parsers for the text output of area benchmarks that have no `--json` mode (yet): each returns
// figures (see figures.mjs) or [] when the output has none of the lines it knows.
import { judge, num } from './figures.mjs';

/**
 * bench/webdav/run.mjs: "label  a unit  b unit  r×  target" rows; a second table headed "server CPU
 * per operation" (same labels) goes into each figure's note, since on a busy machine CPU per
 * operation is steadier than wall-clock speed.
 */
export function parseWebdav(text) {
  const out = [];
  const byLabel = new Map();
  let section = 'speed';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (/^server CPU/i.test(line)) section = 'cpu';
    const m = /^(.+?)\s{2,}([\d.]+) (MiB\/s|ms|µs|us|req\/s)\s+([\d.]+) (\S+)\s+([\d.]+)×/.exec(line);
    if (!m) continue;
    const [, label, a, unit, b, unitB] = m;
    if (section === 'cpu') {
      const f = byLabel.get(label);
      const note = `server CPU per operation ${a} ${unit} vs ${b} ${unitB} (rclone)`;
      if (f) f.note = f.note ? `${f.note}; ${note}` : note;
      continue;
    }
    const time = unit === 'ms';
    const ratio = Number(a) / Number(b);
    const figure = {
      figure: `WebDAV over MemoryVfs: ${label}${time ? ' (time)' : ''}`,
      cloudmount: `${a} ${unit}`,
      alternative: `${b} ${unitB} (rclone serve webdav)`,
      ratio,
      target: time ? '≤ 1.0× (time)' : '≥ 1.0×',
      met: judge(ratio, time ? '<=' : '>=', 1.0),
    };
    byLabel.set(label, figure);
    out.push(figure);
  }
  const load = /load average ([\d.]+)/.exec(text);
  if (load && out[0]) out[0].note = `load average ${load[1]} during the run${out[0].note ? `; ${out[0].note}` : ''}`;
  return out;
}

const FUSE_TARGETS = [
  [/^sequential read/, 2.0, 'sequential read'],
  [/^sequential re-read/, 2.0, 'sequential re-read'],
  [/^sequential write/, 1.0, 'sequential write'],
  [/^create/, 1.0, 'create'],
  [/^ls -l/, 1.0, 'ls -l'],
  [/^find/, 1.0, 'find'],
];

/**
 * bench/fuse/run.mjs: a table "operation | cloudmount s | rclone-… s … | × vs … | target" (columns
 * two spaces apart), then "peak RSS … : N MB". The ratio is against the FASTEST rclone mode.
 */
export function parseFuse(text, sizes) {
  const lines = text.split('\n');
  const h = lines.findIndex((l) => /^operation\s{2,}/.test(l));
  const out = [];
  if (h >= 0) {
    const header = lines[h].trim().split(/\s{2,}/);
    const sideCols = header.map((c, i) => [c, i]).filter(([c]) => / s$/.test(c));
    for (const line of lines.slice(h + 1)) {
      if (!line.trim()) break;
      const cells = line.trim().split(/\s{2,}/);
      const op = cells[0];
      const seconds = Object.fromEntries(sideCols.map(([c, i]) => [c.replace(/ s$/, ''), Number.parseFloat(cells[i])]));
      const cm = seconds.cloudmount;
      const rivals = Object.entries(seconds).filter(([k, v]) => k !== 'cloudmount' && Number.isFinite(v));
      const t = FUSE_TARGETS.find(([re]) => re.test(op));
      const bound = t?.[1] ?? 1.0;
      if (!rivals.length) {
        out.push({ figure: `FUSE over MemoryVfs: ${op}`, cloudmount: `${num(cm, 3)} s`, alternative: '— (rclone missing)', ratio: null, target: `≥ ${bound.toFixed(1)}×`, met: null, note: 'rclone is missing (apt-get install rclone)' });
        continue;
      }
      const [bestName, best] = rivals.sort((a, b) => a[1] - b[1])[0];
      const mode = bestName.replace(/^rclone-/, '');
      const ratio = best / cm;
      const mbps = (s) => (sizes?.[t?.[2]] ? ` (${num(sizes[t[2]] / s, 0)} MiB/s)` : '');
      out.push({
        figure: `FUSE over MemoryVfs: ${op} (speed)`,
        cloudmount: `${num(cm, 3)} s${mbps(cm)}`,
        alternative: `${num(best, 3)} s${mbps(best)} (rclone mount, cache ${mode})`,
        ratio,
        target: `≥ ${bound.toFixed(1)}×`,
        met: judge(ratio, '>=', bound),
        note: `vs every rclone mode: ${rivals.map(([k, v]) => `${k} ${num(v / cm)}×`).join(', ')}`,
      });
    }
  }
  return out;
}

/** bench/scheduler/run.mjs: console.table rows → { scenario: { column: value } }. */
export function parseConsoleTable(text) {
  // Several tables in one output: each starts with a '┌' line and its first '│' row is its header.
  const cells = (l) => l.split('│').slice(1, -1).map((c) => c.trim().replace(/^'(.*)'$/, '$1'));
  const out = [];
  let header;
  for (const l of text.split('\n')) {
    if (l.startsWith('┌')) header = undefined;
    if (!l.startsWith('│')) continue;
    if (!header) header = cells(l);
    else out.push(Object.fromEntries(cells(l).map((c, i) => [header[i], c])));
  }
  return out;
}

/** Scheduler figures: goodput ÷ R, share of 429s, errors surfaced, per scenario. */
export function parseScheduler(text, { rate, callers }) {
  const out = [];
  for (const row of parseConsoleTable(text)) {
    const scenario = row.scenario;
    if (scenario && row['vs fault-free'] !== undefined && row['vs fault-free'] !== '') {
      // Issue 16: a flaky provider (random faults, no limit) against the same server fault-free, same run.
      const where = `flaky provider (${scenario}, no limit, ${callers} users)`;
      const ratio = Number(row['vs fault-free']);
      const failed = Number(row['failed calls']);
      out.push({ figure: `${where}: goodput vs fault-free`, cloudmount: `${row['goodput/s']} req/s`, alternative: `${num(Number(row['goodput/s']) / ratio, 1)} req/s (fault-free)`, ratio, target: '≥ 0.8×', met: judge(ratio, '>=', 0.8),
        note: `${row['fault %']} % of requests faulted, ${row['queue pauses']} queue pauses, final rate ${row['final rate/s']}` });
      out.push({ figure: `${where}: errors surfaced to users`, cloudmount: `${failed}`, alternative: '—', ratio: null, target: '= 0', met: judge(failed, '<=', 0) });
      continue;
    }
    if (!scenario || row['goodput/R'] === undefined || row['goodput/R'] === '') continue;
    const where = `throttled provider (token bucket ${rate} req/s, ${callers} users, ${scenario})`;
    const goodput = Number(row['goodput/R']);
    const share = Number(row['throttled %']);
    const failed = Number(row['failed calls']);
    out.push({ figure: `${where}: goodput`, cloudmount: `${num(goodput * rate, 1)} req/s`, alternative: `${rate} req/s (R)`, ratio: goodput, target: '≥ 0.9 R', met: judge(goodput, '>=', 0.9),
      note: `p50 ${row['p50 ms']} ms, p99 ${row['p99 ms']} ms, ${row.requests} requests, second half ${row['2nd half goodput/R'] ?? '?'} R` });
    out.push({ figure: `${where}: requests answered 429`, cloudmount: `${num(share)} % (${row['429s']})`, alternative: '—', ratio: null, target: '≤ 1 %', met: judge(share, '<=', 1) });
    out.push({ figure: `${where}: errors surfaced to users`, cloudmount: `${failed}`, alternative: '—', ratio: null, target: '= 0', met: judge(failed, '<=', 0) });
  }
  return out;
}

/** The last line of `text` that is a JSON object with a `figures` array, or undefined. */
export function lastJson(text) {
  for (const line of text.split('\n').reverse()) {
    const t = line.trim();
    if (!t.startsWith('{')) continue;
    try {
      const v = JSON.parse(t);
      if (Array.isArray(v.figures)) return v;
    } catch {
      // not JSON
    }
  }
  return undefined;
}
