#!/usr/bin/env node
// `npm run bench`: every benchmark area, one after another, each in its own process; collects their
// figures into one table (figure, cloudmount, the alternative, ratio, target, met), prints it and
// writes bench/RESULTS.md with the machine and the date. Installs nothing: a missing tool is named
// and its figures are marked "not measured".
//   node bench/run.mjs [--quick] [--only webdav,fuse,e2e,e2e-write,far,propfind,calls,scheduler,rss,media-scan,freshness,cache,cloudreve-policies,scale] [--no-write] [--list]
// --quick: smaller sizes and one round per figure, for a sanity pass (RESULTS.md is then not written
// unless --write is given). Area scripts with `--json` print one JSON line { area, figures };
// the others' text output is parsed (bench/lib/parse.mjs).
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { renderMarkdown, renderText, skipped } from './lib/figures.mjs';
import { explain } from './lib/explain.mjs';
import { describeMachine } from './lib/machine.mjs';
import { lastJson, parseFuse, parseScheduler, parseWebdav } from './lib/parse.mjs';
import { missingTools } from './lib/tools.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    write: { type: 'boolean' },
    'no-write': { type: 'boolean', default: false },
    list: { type: 'boolean', default: false },
  },
});
const quick = args.quick;
const SCHED = { rate: 100, callers: 50, seconds: quick ? 6 : 20 };
const FUSE_SIZES = quick ? { 'sequential read': 50, 'sequential re-read': 50, 'sequential write': 25 } : { 'sequential read': 200, 'sequential re-read': 200, 'sequential write': 100 };

/** The areas, in run order. `needs`: tools without which the whole area is skipped. */
const AREAS = [
  {
    name: 'webdav', script: 'webdav/run.mjs', needs: ['rclone'],
    what: 'WebDAV over MemoryVfs vs rclone serve webdav',
    args: [], env: { BENCH_ROUNDS: quick ? '1' : '5', BENCH_WRK_SECONDS: quick ? '1' : '3' },
    parse: (t) => parseWebdav(t),
    expected: ['GET 200 MiB', 'PROPFIND Depth 1 of 2000 entries', '4 KiB GETs per second', 'PUT 200 MiB'],
  },
  {
    name: 'fuse', script: 'fuse/run.mjs', needs: ['rclone', 'fusermount'],
    what: 'FUSE over MemoryVfs vs rclone mount',
    args: quick ? ['--quick', '--rounds', '1'] : ['--rounds', '3'],
    parse: (t) => parseFuse(t, FUSE_SIZES),
    expected: ['sequential read 200 MiB', 'write 100 MiB', 'create 1000 small files', 'ls -l of 2000 entries'],
  },
  { name: 'e2e', script: 'e2e/run.mjs', needs: ['curl'], what: 'end to end over the Cloudreve emulator at 20 ms vs curl', args: quick ? ['--quick'] : [], expected: ['read 100 MiB through the mount', 'read 100 MiB through the WebDAV share'] },
  { name: 'e2e-write', script: 'e2e/write.mjs', needs: ['curl'], what: 'end to end writes into the Cloudreve emulator at 20 ms (WebDAV PUT, FUSE cp) vs curl through the upload-session protocol', args: quick ? ['--quick'] : [], expected: ['write 100 MiB through the WebDAV share', 'write 100 MiB through the FUSE mount'] },
  { name: 'cloudreve-policies', script: 'cloudreve-policies/run.mjs', needs: [], what: '200 MiB into an S3-policy folder at 20 ms: parallel parts vs one at a time', args: quick ? ['--quick'] : [], expected: ['upload']  },
  {
    name: 'far', script: 'e2e/far.mjs', needs: ['curl'], what: 'far server (Cloudreve emulator, 100 ms per request, 8 MiB/s per connection): --read-streams 4 vs 1 vs curl',
    args: quick ? ['--quick'] : [], expected: ['--read-streams 4 vs 1', '--read-streams 4 vs curl'],
  },
  {
    name: 'propfind', script: 'webdav/propfind-wide.mjs', needs: ['rclone'], what: 'PROPFIND Depth 1 of 20 000 entries (MemoryVfs) vs rclone serve webdav, with peak RSS',
    args: quick ? ['--quick'] : [], expected: ['PROPFIND Depth 1 of 20000 entries'],
  },
  { name: 'calls', script: 'calls/run.mjs', needs: [], what: 'API calls per user operation (Cloudreve emulator)', args: quick ? ['--quick'] : [], expected: ['ls -l cold', 'ls -l warm', '1 KiB of a 1 GiB file'] },
  {
    name: 'scheduler', script: 'scheduler/run.mjs', needs: [], what: `throttled provider (token bucket ${SCHED.rate} req/s, ${SCHED.callers} users)`,
    args: ['--seconds', String(SCHED.seconds), '--rate', String(SCHED.rate), '--callers', String(SCHED.callers)],
    parse: (t) => parseScheduler(t, SCHED),
    expected: ['goodput', '429 share', 'errors surfaced', 'flaky provider goodput vs fault-free'],
  },
  { name: 'rss', script: 'rss/run.mjs', needs: ['curl'], what: 'peak RSS copying 1 GiB in and out through each frontend', args: quick ? ['--quick'] : [], expected: ['FUSE peak RSS', 'WebDAV peak RSS', 'FUSE with --cache-dir peak RSS'] },
  {
    name: 'media-scan', script: 'media-scan/run.mjs', needs: ['fusermount'], what: 'media-library scan through a FUSE mount with --cache-dir, before and after a restart (Cloudreve emulator, 20 ms, 40 MiB/s)',
    args: quick ? ['--quick'] : [], expected: ['pass 2 after a restart vs pass 1', 'content requests in pass 2', 'pass 1 content requests ÷ minimum'],
  },
  {
    name: 'freshness', script: 'freshness/run.mjs', needs: [], what: 'change feed: staleness and idle cost (Cloudreve emulator, debounce 1 s)',
    args: quick ? ['--quick'] : [], expected: ['staleness: stat through CachedVfs', 'staleness: PROPFIND on the WebDAV share', 'staleness: ls on the FUSE mount', 'idle cost'],
  },
  {
    name: 'cache', script: 'cache/run.mjs', needs: [], what: 'CachedVfs requests per operation (library level)',
    args: ['--latency', '20', '--mib', quick ? '8' : '32', '--no-baseline'], expected: ['ls -l cold/warm', 'sequential read'],
  },
  {
    name: 'scale', script: 'scale/run.mjs', needs: ['redis-server'], what: '1–3 instances sharing one provider budget through Redis (Cloudreve emulator, rate cap)',
    args: quick ? ['--quick'] : [], expected: ['goodput ÷ cap', 'Redis overhead'],
  },
];

if (args.list) {
  for (const a of AREAS) console.log(`${a.name.padEnd(10)} ${a.what}`);
  process.exit(0);
}
const only = args.only ? new Set(args.only.split(',').map((s) => s.trim())) : undefined;
if (only) {
  const unknown = [...only].filter((n) => !AREAS.some((a) => a.name === n));
  if (unknown.length) {
    console.error(`unknown area(s): ${unknown.join(', ')}; areas: ${AREAS.map((a) => a.name).join(', ')}`);
    process.exit(2);
  }
}

/** Run one area script; resolves { code, stdout, stderr, seconds }. Its stderr is shown as it comes. */
function runArea(area, json) {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const child = spawn(process.execPath, [join(here, area.script), ...area.args, ...(json ? ['--json'] : [])], {
      env: { ...process.env, ...(area.env ?? {}) }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; process.stderr.write(String(d).replace(/^(?=.)/gm, `  [${area.name}] `)); });
    // A hung area must not hang the whole run.
    const timer = setTimeout(() => child.kill('SIGTERM'), 20 * 60_000);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? signal, stdout, stderr, seconds: (Date.now() - t0) / 1000 });
    });
  });
}

const started = new Date();
const rows = [];
const log = [];
for (const area of AREAS) {
  if (only && !only.has(area.name)) continue;
  const missing = missingTools(area.needs);
  if (missing.length) {
    const why = `missing: ${missing.join(', ')}`;
    console.log(`== ${area.name}: skipped (${why})`);
    for (const e of area.expected) rows.push({ area: area.name, ...skipped(e, '', why) });
    log.push(`${area.name}: skipped, ${why}`);
    continue;
  }
  console.log(`== ${area.name}: ${area.what} …`);
  const json = !area.parse;
  const r = await runArea(area, json);
  let figures = json ? lastJson(r.stdout)?.figures : area.parse(r.stdout);
  if (!figures?.length) {
    const text = `${r.stdout}\n${r.stderr}`.split('\n').map((l) => l.trim()).filter(Boolean);
    const why = text.find((l) => /missing|cannot/i.test(l)) ?? `exit ${r.code}: ${text.slice(-1)[0] ?? 'no output'}`;
    figures = area.expected.map((e) => ({ ...skipped(e, '', why), met: r.code === 0 ? null : false }));
  }
  for (const f of figures) rows.push({ area: area.name, ...f });
  log.push(`${area.name}: ${r.seconds.toFixed(0)} s, exit ${r.code}`);
  console.log(`   ${area.name} done in ${r.seconds.toFixed(0)} s`);
}

const machine = describeMachine();
const seconds = (Date.now() - started.getTime()) / 1000;
console.log(`\n${renderText(rows)}\n`);
const notes = rows.filter((r) => r.note).map((r) => `- **${r.area}: ${r.figure}**: ${r.note}`);
const why = rows.filter((r) => r.met === false).map((r) => [r, explain(r.area, r.figure)]);
const whyLines = why.map(([r, text]) => `- **${r.area}: ${r.figure}** (${r.ratio === null ? r.cloudmount : `${r.ratio.toFixed(2)}×`} vs ${r.target}): ${text ?? 'not explained yet: profile it (node --cpu-prof on the serving process).'}`);
const metCount = rows.filter((r) => r.met === true).length;
const missCount = rows.filter((r) => r.met === false).length;
const unmeasured = rows.filter((r) => r.met === null).length;
console.log(`${metCount} met, ${missCount} missed, ${unmeasured} not measured; ${seconds.toFixed(0)} s in all`);

const shouldWrite = args.write ?? (!quick && !only && !args['no-write']);
if (shouldWrite) {
  const md = [
    '# Benchmark results',
    '',
    `Written by \`npm run bench\`${quick ? ' --quick' : ''} on ${started.toISOString().replace('T', ' ').replace(/\..*/, '')} UTC, ${seconds.toFixed(0)} s in all.`,
    'Each figure is the median of several runs, alternating cloudmount and the alternative',
    '(ratio: cloudmount ÷ alternative for speeds and counts, "(time)" rows compare times; see each area\'s script for details).',
    '',
    `**Machine**: ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGiB} GiB RAM; ${machine.os}; Node ${machine.node};`
      + ` ${Object.entries(machine.tools).map(([k, v]) => `${k} ${v ?? 'missing'}`).join(', ')}; load average at the end ${machine.load}.`,
    '',
    `**${metCount} met, ${missCount} missed, ${unmeasured} not measured.**`,
    '',
    renderMarkdown(rows),
    '',
    ...(whyLines.length ? ['## Why targets are missed', '', ...whyLines, ''] : []),
    ...(notes.length ? ['## Notes', '', ...notes, ''] : []),
    '## Areas',
    '',
    ...log.map((l) => `- ${l}`),
    '',
  ].join('\n');
  writeFileSync(join(here, 'RESULTS.md'), md);
  console.log('wrote bench/RESULTS.md');
}
