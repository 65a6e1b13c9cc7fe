#!/usr/bin/env node
// bench/scale: several instances sharing one provider budget through Redis (issue 21).
//   npm run build && node bench/scale/run.mjs [--quick] [--json]
// 1, 2 and 3 Schedulers (one per "instance", each with its own p-queue) told the account's rate
// (--tpslimit R), and then not told it, call the Cloudreve emulator behind its proxy rate limit R, sharing a RedisBudget
// on a local redis-server: aggregate goodput ÷ R (target ≥ 0.9) and the share answered 429
// (target ≤ 1 %). The alternative is today's: the same instances without Redis, each pacing at R
// alone. Then the overhead per request Redis adds to one WebDAV instance (shared locks, properties
// and cache coherence): p50 of small GETs and PUTs with and without (target ≤ +1 ms on loopback).
import { spawn, spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { parseArgs } from 'node:util';
import { emit, judge, num, skipped } from '../lib/figures.mjs';

const { values: args } = parseArgs({ options: { quick: { type: 'boolean', default: false }, json: { type: 'boolean', default: false } } });
const R = 50;
// Not told the rate, the instances learn it: the first seconds cost a few 429s, so the run is long
// enough for the steady state to show (as bench/scheduler's).
const SECONDS = args.quick ? 6 : 30;
/** Seconds the learning takes (excluded from the steady-state figures). */
const LEARN_S = 4;
const load = (p) => import(`../../dist/${p}`).catch((e) => {
  console.error(`cannot load the build (${e.message}): run \`npm run build\` first`);
  process.exit(1);
});
const { startCloudreveEmulator } = await load('adapters/cloudreve/emulator/index.js');
const { Scheduler } = await load('src/scheduler/index.js');
const { httpRequest } = await load('src/http/fetch.js');
const { RedisCoordinator } = await load('src/coordinator/redis.js');
const { RedisBudget } = await load('src/coordinator/budget.js');
const { CacheCoherence } = await load('src/coordinator/coherence.js');
const { serveWebdav } = await load('mount/webdav.js');
const { RedisLockStore } = await load('mount/webdav/redis-locks.js');
const { RedisPropStore } = await load('mount/webdav/redis-props.js');
const { MemoryVfs } = await load('adapters/memory/index.js');

const figures = [];
if (spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).error) {
  for (const n of [1, 2, 3]) figures.push(skipped(`${n} instance(s): goodput ÷ cap`, '≥ 0.9', 'redis-server is not installed (apt-get install redis-server)'));
  emit('scale', figures, { json: args.json });
  process.exit(0);
}

const port = await new Promise((resolve) => {
  const s = createServer();
  s.listen(0, '127.0.0.1', () => {
    const p = s.address().port;
    s.close(() => resolve(p));
  });
});
const redis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: ['ignore', 'pipe', 'ignore'] });
await new Promise((resolve, reject) => {
  let out = '';
  redis.stdout.on('data', (d) => {
    out += d;
    if (out.includes('Ready to accept connections')) resolve();
  });
  redis.once('exit', () => reject(new Error('redis-server exited')));
});
const url = `redis://127.0.0.1:${port}`;
const coordinators = [];
const connect = async (account) => {
  const c = await RedisCoordinator.connect(url, { account });
  coordinators.push(c);
  return c;
};

/** n instances calling for SECONDS, 8 callers each: goodput/s and 429 share as the emulator saw them. */
async function run(n, shared, account, told = true) {
  const emu = await startCloudreveEmulator({ proxyRateLimit: { requestsPerSecond: R } });
  try {
    const schedulers = [];
    for (let i = 0; i < n; i++) {
      schedulers.push(new Scheduler({ name: `i${i}`, concurrency: 8, ...(told ? { intervalCap: R, interval: 1000 } : {}), maxAttempts: 10, ...(shared ? { coordinator: new RedisBudget(await connect(account)) } : {}) }));
    }
    const until = performance.now() + SECONDS * 1000;
    const began = performance.now();
    const caller = async (s) => {
      while (performance.now() < until) {
        await httpRequest(s, `${emu.url}/api/v4/site/ping`, {}, async (res) => { await res.arrayBuffer(); }).catch(() => undefined);
      }
    };
    await Promise.all(schedulers.flatMap((s) => Array.from({ length: 8 }, () => caller(s))));
    const seconds = (performance.now() - began) / 1000;
    const answered429 = emu.log.filter((e) => e.status === 429).length;
    // The steady state: past the first LEARN_S seconds (where an instance not told R finds it).
    const t0 = Date.now() - (performance.now() - began);
    const late = emu.log.filter((e) => e.time >= t0 + LEARN_S * 1000);
    const late429 = late.filter((e) => e.status === 429).length;
    return {
      goodput: (emu.log.length - answered429) / seconds,
      share429: answered429 / Math.max(1, emu.log.length),
      answered429,
      steady: (late.length - late429) / (seconds - LEARN_S),
      steady429: late429 / Math.max(1, late.length),
    };
  } finally {
    await emu.close();
  }
}

const row = (n, told, shared, alone) => ({
  figure: `${n} instance${n > 1 ? 's' : ''} ${told ? 'told' : 'not told'} R=${R}/s, ${SECONDS} s: goodput ÷ cap`,
  cloudmount: `${num(shared.goodput / R)} (${num(shared.share429 * 100, 1)} % 429; after ${LEARN_S} s ${num(shared.steady / R)}, ${num(shared.steady429 * 100, 1)} %)`,
  alternative: `${num(alone.goodput / R)} (${num(alone.share429 * 100, 1)} % 429; after ${LEARN_S} s ${num(alone.steady / R)}, ${num(alone.steady429 * 100, 1)} %) no Redis`,
  ratio: shared.goodput / R,
  target: '≥ 0.9 with ≤ 1 % 429',
  met: judge(shared.goodput / R, '>=', 0.9) === null ? null : shared.goodput / R >= 0.9 && shared.share429 <= 0.01,
});
for (const told of [true, false]) {
  for (const n of [1, 2, 3]) {
    const shared = await run(n, true, `bench:scale:${told ? 'told' : 'learn'}:${n}`, told);
    const alone = await run(n, false, undefined, told);
    figures.push(row(n, told, shared, alone));
  }
}

/** p50 of `count` small GETs and PUTs against one WebDAV instance. */
async function latency(options) {
  const vfs = await MemoryVfs.fromTree({ 'f.txt': 'x'.repeat(1024) });
  const server = await serveWebdav(vfs, options);
  try {
    const count = args.quick ? 200 : 1000;
    const gets = [];
    const puts = [];
    for (let i = 0; i < count; i++) {
      let t = performance.now();
      await (await fetch(`${server.url}f.txt`)).arrayBuffer();
      gets.push(performance.now() - t);
      t = performance.now();
      await (await fetch(`${server.url}f.txt`, { method: 'PUT', body: `v${i}` })).arrayBuffer();
      puts.push(performance.now() - t);
    }
    const p50 = (a) => a.sort((x, y) => x - y)[Math.floor(a.length / 2)];
    return { get: p50(gets), put: p50(puts) };
  } finally {
    await server.close();
  }
}
const plain = await latency({});
const c = await connect('bench:latency');
const coherence = await CacheCoherence.start(c);
const withRedis = await latency({ lockStore: new RedisLockStore(c), propStore: new RedisPropStore(c), coherence });
await coherence.close();
for (const op of ['get', 'put']) {
  const extra = withRedis[op] - plain[op];
  figures.push({
    figure: `one instance: p50 ${op.toUpperCase()} 1 KiB, Redis overhead`,
    cloudmount: `${extra >= 0 ? '+' : '−'}${num(Math.abs(extra), 2)} ms (${num(withRedis[op], 2)} ms with Redis)`,
    alternative: `${num(plain[op], 2)} ms without`,
    ratio: withRedis[op] / plain[op],
    target: '≤ +1 ms',
    met: judge(extra, '<=', 1),
  });
}

for (const co of coordinators) await co.close();
redis.kill('SIGTERM');
emit('scale', figures, { json: args.json });
