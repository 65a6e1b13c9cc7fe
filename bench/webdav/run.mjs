// WebDAV benchmark: cloudmount's serveWebdav(MemoryVfs) against `rclone serve webdav` on the same
// data, alternating A B A B, median of a few runs. Prints figures and cloudmount ÷ rclone ratios;
// asserts nothing. Run with plain node after `npm run build`:  node bench/webdav/run.mjs
// Tells what is missing (rclone, wrk, the build) instead of installing anything.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { createWriteStream, existsSync, readFileSync } from 'node:fs';
import http from 'node:http';
import { createServer } from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BIG_BYTES, LIST_ENTRIES, bigChunks, seedData } from './data.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const dist = process.env.BENCH_DIST ?? join(here, '../../dist');
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const WRK_SECONDS = Number(process.env.BENCH_WRK_SECONDS ?? 3);

const missing = [];
if (!existsSync(join(dist, 'mount/webdav.js'))) missing.push('the build (run `npm run build` first)');
if (spawnSync('rclone', ['version']).status !== 0) missing.push('rclone (apt-get install rclone)');
const hasWrk = spawnSync('wrk', ['--version']).error === undefined;
if (missing.length) {
  console.log(`bench/webdav: cannot run, missing: ${missing.join(', ')}`);
  process.exit(0);
}
const hasCurl = spawnSync('curl', ['--version']).error === undefined;
if (!hasCurl) console.log('bench/webdav: curl not found; the 200 MiB GET uses the Node client (noisier: it competes for CPU)');
if (!hasWrk) console.log('bench/webdav: wrk not found (apt-get install wrk); small GETs use a Node keep-alive loop instead');

const children = [];
process.on('exit', () => children.forEach((c) => c.kill()));

function freePort() {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function waitFor(url) {
  for (let i = 0; i < 200; i++) {
    try {
      const r = await fetch(url, { method: 'OPTIONS' });
      await r.arrayBuffer();
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error(`server at ${url} did not come up`);
}

async function startCloudmount() {
  const child = spawn(process.execPath, [join(here, 'serve-memory.mjs'), dist], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  const url = await new Promise((resolve, reject) => {
    child.stdout.once('data', (d) => resolve(String(d).trim()));
    child.once('exit', (code) => reject(new Error(`cloudmount server exited with ${code}`)));
  });
  return { name: 'cloudmount', url, pid: child.pid };
}

async function startRclone() {
  const dir = await mkdtemp(join(tmpdir(), 'bench-rclone-'));
  await seedData({
    mkdir: (p) => mkdir(join(dir, p)),
    write: async (p, data) => {
      if (Buffer.isBuffer(data)) return writeFile(join(dir, p), data);
      const out = createWriteStream(join(dir, p));
      for (const chunk of data) if (!out.write(chunk)) await new Promise((r) => out.once('drain', r));
      await new Promise((r) => out.end(r));
    },
  });
  const port = await freePort();
  const child = spawn('rclone', ['serve', 'webdav', dir, '--addr', `127.0.0.1:${port}`, '--config', '/dev/null', '-q'], { stdio: 'ignore' });
  children.push(child);
  const url = `http://127.0.0.1:${port}/`;
  await waitFor(url);
  return { name: 'rclone', url, pid: child.pid, dir };
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

// Big transfers use a fresh connection: a pooled one may have been closed by the server while idle.
function request(url, method, { headers = {}, body, fresh = false } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers, agent: fresh ? false : agent }, (res) => {
      let bytes = 0;
      res.on('data', (c) => (bytes += c.length));
      res.on('end', () => resolve({ status: res.statusCode, bytes }));
      res.on('error', reject);
    });
    req.on('error', reject);
    if (body) {
      (async () => {
        for (const chunk of body()) if (!req.write(chunk)) await new Promise((r) => req.once('drain', r));
        req.end();
      })().catch(reject);
    } else req.end();
  });
}

async function timed(fn) {
  const t0 = process.hrtime.bigint();
  const r = await fn();
  return { seconds: Number(process.hrtime.bigint() - t0) / 1e9, r };
}

const tests = {
  async getBig(s) {
    if (hasCurl) {
      // curl is a lean client: the figure is the server's, not the client's CPU.
      const out = spawnSync('curl', ['-s', '-o', '/dev/null', '-w', '%{size_download} %{time_total}', s.url + 'big.bin'], { encoding: 'utf8' });
      const [bytes, seconds] = out.stdout.trim().split(' ').map(Number);
      if (bytes !== BIG_BYTES) throw new Error(`${s.name}: GET returned ${bytes} bytes`);
      return BIG_BYTES / 1048576 / seconds;
    }
    const { seconds, r } = await timed(() => request(s.url + 'big.bin', 'GET', { fresh: true }));
    if (r.bytes !== BIG_BYTES) throw new Error(`${s.name}: GET returned ${r.bytes} bytes`);
    return BIG_BYTES / 1048576 / seconds; // MiB/s
  },
  async propfind(s) {
    const times = [];
    for (let i = 0; i < 5; i++) {
      const { seconds, r } = await timed(() => request(s.url + 'list/', 'PROPFIND', { headers: { Depth: '1', 'Content-Length': '0' } }));
      if (r.status !== 207) throw new Error(`${s.name}: PROPFIND ${r.status}`);
      times.push(seconds);
    }
    return median(times) * 1000; // ms
  },
  async smallGets(s) {
    if (hasWrk) {
      const out = spawnSync('wrk', ['-t', '1', '-c', '16', '-d', `${WRK_SECONDS}s`, s.url + 'small.bin'], { encoding: 'utf8' });
      const m = /Requests\/sec:\s+([\d.]+)/.exec(out.stdout);
      if (!m) throw new Error(`${s.name}: wrk output not understood: ${out.stdout} ${out.stderr}`);
      if (/Non-2xx/.test(out.stdout)) throw new Error(`${s.name}: wrk saw non-2xx answers`);
      return Number(m[1]);
    }
    const end = Date.now() + WRK_SECONDS * 1000;
    let n = 0;
    await Promise.all(Array.from({ length: 16 }, async () => {
      while (Date.now() < end) {
        await request(s.url + 'small.bin', 'GET');
        n++;
      }
    }));
    return n / WRK_SECONDS;
  },
  async putBig(s) {
    const { seconds, r } = await timed(() =>
      request(s.url + 'upload.bin', 'PUT', { headers: { 'Content-Length': String(BIG_BYTES) }, body: bigChunks, fresh: true }),
    );
    if (r.status >= 300) throw new Error(`${s.name}: PUT ${r.status}`);
    return BIG_BYTES / 1048576 / seconds; // MiB/s
  },
};

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

const started = Date.now();
const servers = [await startCloudmount(), await startRclone()];
// Warm up both (first requests pay for JIT and rclone's directory cache).
for (const s of servers) {
  await tests.propfind(s);
  await request(s.url + 'small.bin', 'GET');
}
// Server CPU time per run (Linux /proc): unlike throughput it does not depend on how busy the
// machine is, so it tells efficiency even when other work disturbs the timings.
const tickMs = 1000 / (Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout) || 100);
function cpuMs(pid) {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) * tickMs; // utime + stime
  } catch {
    return NaN;
  }
}
const results = {};
const cpu = {};
for (const name of Object.keys(tests)) {
  results[name] = { cloudmount: [], rclone: [] };
  cpu[name] = { cloudmount: [], rclone: [] };
  for (let round = 0; round < ROUNDS; round++) {
    for (const s of servers) {
      if (process.env.BENCH_VERBOSE) console.log(`${name} ${s.name} round ${round + 1}`);
      const c0 = cpuMs(s.pid);
      results[name][s.name].push(await tests[name](s));
      cpu[name][s.name].push(cpuMs(s.pid) - c0);
    }
  }
}

const rows = [
  ['GET 200 MiB', 'getBig', 'MiB/s', false, 'ratio ≥ 1.0'],
  [`PROPFIND Depth 1, ${LIST_ENTRIES} entries`, 'propfind', 'ms', true, 'time ratio ≤ 1.0'],
  ['GET 4 KiB', 'smallGets', 'req/s', false, 'ratio ≥ 1.0'],
  ['PUT 200 MiB', 'putBig', 'MiB/s', false, 'ratio ≥ 1.0'],
];
console.log(`\nWebDAV benchmark (median of ${ROUNDS}, alternating; ${((Date.now() - started) / 1000).toFixed(0)} s; ${cpus().length} CPUs, load average ${loadavg()[0].toFixed(1)} — figures on a busy machine are noisy)`);
console.log('test                               cloudmount        rclone   cloudmount÷rclone  target');
for (const [label, key, unit, lowerIsBetter, target] of rows) {
  const a = median(results[key].cloudmount);
  const b = median(results[key].rclone);
  const fmt = (x) => `${x.toFixed(x < 10 ? 2 : 0)} ${unit}`.padStart(13);
  console.log(`${label.padEnd(34)} ${fmt(a)} ${fmt(b)}   ${(a / b).toFixed(2).padStart(8)}×          ${target}${lowerIsBetter ? ' (time)' : ''}`);
}
// Per operation: the small-GET run lasts a fixed time, so its CPU is divided by the requests served.
const perOp = {
  getBig: (ms) => ms,
  propfind: (ms) => ms / 5,
  smallGets: (ms, rate) => (ms * 1000) / (rate * WRK_SECONDS),
  putBig: (ms) => ms,
};
const perOpUnit = { getBig: 'ms', propfind: 'ms', smallGets: 'µs', putBig: 'ms' };
console.log('\nserver CPU per operation              cloudmount        rclone   cloudmount÷rclone  (lower is better)');
for (const [label, key] of rows) {
  const cost = (name) => median(cpu[key][name].map((ms, i) => perOp[key](ms, results[key][name][i])));
  const a = cost('cloudmount');
  const b = cost('rclone');
  if (Number.isNaN(a) || Number.isNaN(b)) continue;
  const fmt = (x) => `${x.toFixed(x < 10 ? 1 : 0)} ${perOpUnit[key]}`.padStart(13);
  console.log(`${label.padEnd(34)} ${fmt(a)} ${fmt(b)}   ${(a / b).toFixed(2).padStart(8)}×`);
}
agent.destroy();
for (const c of children) c.kill();
await rm(servers[1].dir, { recursive: true, force: true });
