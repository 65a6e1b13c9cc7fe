#!/usr/bin/env node
/**
 * Scheduler benchmark: a local server enforcing a token bucket of R requests/s (429 beyond it, no
 * Retry-After unless --retry-after), 50 concurrent callers for a bounded time, once with no hint of R
 * (the Scheduler must find it from the 429s) and once given R (intervalCap = R per 1000 ms).
 * Prints goodput ÷ R, the share of requests that got 429, p50/p99 call latency. Asserts nothing.
 * Then a flaky provider (issue 16 #17): no rate limit, but a proxy answering a random --faults share
 * (default 10 %) with 429/503/500/502 without Retry-After, against the same server fault-free, side by side.
 *
 *   npm run build && node bench/scheduler/run.mjs [--seconds 20] [--rate 100] [--burst 100]
 *       [--callers 50] [--concurrency 8] [--latency 5] [--mode all|both|nohint|hint|flaky]
 *       [--faults 0.1] [--retry-after]
 * Targets: goodput ≥ 0.9 R with ≤ 1 % of requests throttled, in both modes (issue 4); with random
 * faults, goodput ≥ 0.8× the fault-free goodput and 0 errors surfaced (issue 16).
 */
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { dirname, resolve } from 'node:path';

const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '20' },
    rate: { type: 'string', default: '100' },
    burst: { type: 'string' },
    callers: { type: 'string', default: '50' },
    concurrency: { type: 'string', default: '8' },
    latency: { type: 'string', default: '5' },
    mode: { type: 'string', default: 'all' },
    faults: { type: 'string', default: '0.1' },
    'retry-after': { type: 'boolean', default: false },
    dist: { type: 'string' },
  },
});
let seconds = Number(args.seconds);
const R = Number(args.rate);
const burst = args.burst !== undefined ? Number(args.burst) : R;
const callers = Number(args.callers);
const latencyMs = Number(args.latency);
const here = dirname(fileURLToPath(import.meta.url));
const dist = args.dist ?? process.env.CLOUDMOUNT_DIST ?? resolve(here, '../../dist');
const { Scheduler } = await import(pathToFileURL(resolve(dist, 'src/scheduler/index.js')).href);
const { httpRequest } = await import(pathToFileURL(resolve(dist, 'src/http/fetch.js')).href);

/** xorshift32 in [0,1): the same fault pattern on every run. */
function seeded(seed) {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 0x1_0000_0000;
  };
}
const FAULT_STATUSES = [429, 503, 500, 502];

/**
 * A token-bucket server: `rate` tokens/s, `burst` capacity, 429 when empty (rate Infinity: no limit).
 * `faults`: share of requests a flaky proxy in front answers with a random 429/503/500/502, whatever the pace.
 */
async function startBucketServer({ rate = R, faults = 0 } = {}) {
  let tokens = burst;
  let last = performance.now();
  const random = seeded(16);
  const log = []; // [time, status]
  const server = createServer((req, res) => {
    const now = performance.now();
    tokens = Math.min(burst, tokens + ((now - last) / 1000) * rate);
    last = now;
    const fault = faults > 0 && random() < faults ? FAULT_STATUSES[Math.floor(random() * FAULT_STATUSES.length)] : 0;
    const ok = !fault && (!Number.isFinite(rate) || tokens >= 1);
    if (ok && Number.isFinite(rate)) tokens -= 1;
    const status = ok ? 200 : fault || 429;
    log.push([now, status]);
    const send = () => {
      if (ok) {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{"ok":true}');
      } else if (fault) {
        res.writeHead(fault, { 'content-type': 'application/json' });
        res.end('{"message":"flaky proxy"}');
      } else {
        const headers = { 'content-type': 'application/json' };
        if (args['retry-after']) headers['retry-after'] = String(Math.max(1, Math.ceil((1 - tokens) / R)));
        res.writeHead(429, headers);
        res.end('{"message":"exceeded our rate limiting"}');
      }
    };
    req.resume();
    req.on('end', () => (latencyMs > 0 ? setTimeout(send, latencyMs) : send()));
  });
  server.keepAliveTimeout = 10_000;
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${server.address().port}`, log, close: () => { server.closeAllConnections(); return new Promise((r) => server.close(r)); } };
}

function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

async function scenario(name, options, server = {}) {
  const srv = await startBucketServer(server);
  const scheduler = new Scheduler({ name: 'bench', concurrency: Number(args.concurrency), ...options });
  const latencies = [];
  if (process.env.BENCH_TRACE) {
    const t0 = performance.now();
    scheduler.on('rate', (e) => { if (e.reason === 'throttle') console.log(`  ${((performance.now() - t0) / 1000).toFixed(2)} s  cut to ${e.rate.toFixed(1)}/s`); });
    const timer = setInterval(() => console.log(`  ${((performance.now() - t0) / 1000).toFixed(2)} s  rate ${scheduler.stats().rate?.toFixed(1)}`), 1000);
    timer.unref();
  }
  let failed = 0;
  let pauses = 0;
  scheduler.on('pause', () => pauses++);
  const start = performance.now();
  const deadline = start + seconds * 1000;
  await Promise.all(Array.from({ length: callers }, async (_, c) => {
    while (performance.now() < deadline) {
      const t0 = performance.now();
      try {
        await httpRequest(scheduler, `${srv.url}/item/${c}`, {}, (res) => res.text());
        latencies.push(performance.now() - t0);
      } catch {
        failed++;
      }
    }
  }));
  const end = performance.now();
  await srv.close();
  const inWindow = srv.log.filter(([t]) => t >= start && t <= deadline);
  const ok = inWindow.filter(([, s]) => s === 200).length;
  const throttledAll = srv.log.filter(([, s]) => s === 429).length;
  const secondHalf429 = inWindow.filter(([t, s]) => s === 429 && t >= start + (seconds * 1000) / 2).length;
  const goodput = ok / seconds;
  latencies.sort((a, b) => a - b);
  const st = scheduler.stats();
  if (server.rate === Infinity) {
    const faulty = inWindow.filter(([, s]) => s !== 200).length;
    return {
      scenario: name,
      'goodput/s': +(ok / seconds).toFixed(1),
      'fault %': +((100 * faulty) / Math.max(1, inWindow.length)).toFixed(2),
      'p50 ms': +percentile(latencies, 50).toFixed(1),
      'p99 ms': +percentile(latencies, 99).toFixed(1),
      requests: srv.log.length,
      'failed calls': failed,
      'queue pauses': pauses,
      'final rate/s': st.rate === null ? 'unpaced' : +st.rate.toFixed(1),
    };
  }
  return {
    scenario: name,
    'goodput/R': +(goodput / R).toFixed(3),
    // The second half shows the settled state: no initial burst, no learning.
    '2nd half goodput/R': +(inWindow.filter(([t, st]) => st === 200 && t >= start + (seconds * 1000) / 2).length / (seconds / 2) / R).toFixed(3),
    '2nd half 429 %': +((100 * secondHalf429) / Math.max(1, inWindow.filter(([t]) => t >= start + (seconds * 1000) / 2).length)).toFixed(2),
    'throttled %': +((100 * throttledAll) / srv.log.length).toFixed(2),
    'p50 ms': +percentile(latencies, 50).toFixed(1),
    'p99 ms': +percentile(latencies, 99).toFixed(1),
    requests: srv.log.length,
    '429s': throttledAll,
    'failed calls': failed,
    'final rate/s': st.rate === null ? 'unpaced' : +st.rate.toFixed(1),
    'drain s': +((end - deadline) / 1000).toFixed(2),
  };
}

console.log(`scheduler bench: R=${R}/s burst=${burst} callers=${callers} concurrency=${args.concurrency} server latency=${latencyMs} ms, ${seconds} s per scenario${args['retry-after'] ? ', Retry-After sent' : ''}`);
console.log('target: goodput/R ≥ 0.9 and throttled ≤ 1 % in both scenarios (goodput counts 200s the server sent in the window)');
const rows = [];
const mode = args.mode;
if (['all', 'both', 'nohint'].includes(mode)) rows.push(await scenario('no hint', {}));
if (['all', 'both', 'hint'].includes(mode)) rows.push(await scenario('given R', { intervalCap: R, interval: 1000 }));
if (rows.length) console.table(rows);
if (['all', 'flaky'].includes(mode)) {
  const faults = Number(args.faults);
  console.log(`\nflaky provider: no rate limit, a random ${(faults * 100).toFixed(0)} % of requests answered 429/503/500/502 (no Retry-After); same server fault-free alongside`);
  console.log('target: goodput with faults ≥ 0.8× fault-free goodput, 0 failed calls');
  // Alternate short rounds of each, so a load change on a shared machine hits both alike; sum them.
  const rounds = 6;
  const sum = (list) => list.reduce((a, r) => ({ ...r, 'goodput/s': a['goodput/s'] + r['goodput/s'] / rounds, requests: a.requests + r.requests,
    'failed calls': a['failed calls'] + r['failed calls'], 'queue pauses': a['queue pauses'] + r['queue pauses'] }), { 'goodput/s': 0, requests: 0, 'failed calls': 0, 'queue pauses': 0 });
  const cleanRuns = [];
  const flakyRuns = [];
  const whole = seconds;
  seconds = Math.max(1, whole / rounds);
  for (let i = 0; i < rounds; i++) {
    cleanRuns.push(await scenario('fault-free', {}, { rate: Infinity }));
    flakyRuns.push(await scenario(`${(faults * 100).toFixed(0)} % random faults`, {}, { rate: Infinity, faults }));
  }
  seconds = whole;
  const clean = sum(cleanRuns);
  const flaky = sum(flakyRuns);
  flaky['fault %'] = +(flakyRuns.reduce((a, r) => a + r['fault %'], 0) / rounds).toFixed(2);
  const ratio = flaky['goodput/s'] / Math.max(1e-9, clean['goodput/s']);
  const round1 = ({ 'p50 ms': _p50, 'p99 ms': _p99, ...r }) => ({ ...r, 'goodput/s': +r['goodput/s'].toFixed(1) });
  console.table([round1(clean), { ...round1(flaky), 'vs fault-free': +ratio.toFixed(3) }]);
}
