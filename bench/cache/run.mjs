#!/usr/bin/env node
/**
 * CachedVfs benchmark (prints figures, asserts nothing). Run after `npm run build`:
 *
 *   node bench/cache/run.mjs [--backend memory|cloudreve|all] [--latency 50] [--files 2000]
 *                            [--mib 50] [--baseline-mib 8] [--no-baseline] [--json]
 *
 * Two backends, both with 50 ms per request by default:
 * - "memory":    MemoryVfs behind a latency wrapper that pages listings by 100 (always available);
 * - "cloudreve": CloudreveVfs over real HTTP against the Cloudreve emulator (page size 100),
 *                counting the requests the emulator logged.
 * Scenarios: `ls -l` of a 2000-entry folder (one list + one stat per entry), uncached, cached cold
 * and cached warm (within the TTL); and a 50 MiB file read sequentially in 128 KiB pieces, the way
 * FUSE reads, uncached (over the first --baseline-mib MiB) and cached, cold and warm.
 * Targets: the folder is 20 requests cold and 0 warm; the read is ≤ 50 MiB ÷ block size + 2 inner reads.
 */
import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { LatencyVfs } from './latency-vfs.mjs';
import { judge } from '../lib/figures.mjs';

const { values: args } = parseArgs({
  options: {
    backend: { type: 'string', default: 'all' },
    latency: { type: 'string', default: '50' },
    files: { type: 'string', default: '2000' },
    mib: { type: 'string', default: '50' },
    'baseline-mib': { type: 'string', default: '8' },
    'no-baseline': { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
  },
});
const latencyMs = Number(args.latency);
const fileCount = Number(args.files);
const MiB = 1024 * 1024;
const bigBytes = Number(args.mib) * MiB;
const baselineBytes = Math.min(bigBytes, Number(args['baseline-mib']) * MiB);
const PIECE = 128 * 1024;
const PAGE_SIZE = 100;

const api = await import('../../dist/src/index.js').catch((e) => {
  console.error(`cannot load dist/src/index.js (${e.message}); run \`npm run build\` first`);
  process.exit(1);
});
const { CachedVfs, MemoryVfs, CACHE_DEFAULTS } = api;

/** Deterministic bytes (xorshift) so runs are comparable. */
function pseudoRandomBytes(size, seed) {
  const out = Buffer.allocUnsafe(Math.ceil(size / 4) * 4);
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < out.length; i += 4) {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
    out.writeUInt32LE(x >>> 0, i);
  }
  return out.subarray(0, size);
}

function seedTree() {
  const folder = {};
  for (let i = 0; i < fileCount; i++) folder[`file-${String(i).padStart(5, '0')}.txt`] = `entry ${i}\n`;
  return { big: folder, 'movie.bin': pseudoRandomBytes(bigBytes, 42) };
}

/** `ls -l`: one listing, then one stat per entry (8 at a time, like a kernel's parallel lookups). */
async function lsLong(vfs, dir) {
  const entries = await vfs.list(dir);
  let next = 0;
  const worker = async () => {
    while (next < entries.length) await vfs.stat(entries[next++].path);
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  return entries.length;
}

/** Read `bytes` of a file in 128 KiB `read` calls, as FUSE does; returns the sha256. */
async function readPieces(vfs, path, bytes) {
  const hash = createHash('sha256');
  for (let offset = 0; offset < bytes; offset += PIECE) {
    const stream = await vfs.read(path, { offset, length: Math.min(PIECE, bytes - offset) });
    for await (const chunk of stream) hash.update(chunk);
  }
  return hash.digest('hex');
}

async function measure(counter, fn) {
  const before = counter();
  const t0 = performance.now();
  const result = await fn();
  return { seconds: (performance.now() - t0) / 1000, requests: counter() - before, result };
}

const rows = [];
/** The figures `--json` prints (see bench/lib/figures.mjs): requests per user operation. */
const figures = [];
function report(backend, scenario, variant, m, ops, extra = '') {
  rows.push({ backend, scenario, variant, requests: m.requests, seconds: m.seconds.toFixed(2), 'req/op': (m.requests / ops).toFixed(3), extra });
}

async function runBackend(backend, makeRaw, counter, close) {
  const raw = await makeRaw();
  try {
    await raw.stat('/big'); // log in / warm the connection, outside the figures

    // ---- ls -l of the big folder ------------------------------------------------------------
    const ops = fileCount + 1;
    if (!args['no-baseline']) {
      const m = await measure(counter, () => lsLong(raw, '/big'));
      report(backend, `ls -l ${fileCount} entries`, 'uncached', m, ops);
    }
    const cached = new CachedVfs(raw);
    const cold = await measure(counter, () => lsLong(cached, '/big'));
    report(backend, `ls -l ${fileCount} entries`, 'cached, cold', cold, ops, `target ${Math.ceil(fileCount / PAGE_SIZE)} requests`);
    const warm = await measure(counter, () => lsLong(cached, '/big'));
    report(backend, `ls -l ${fileCount} entries`, 'cached, warm', warm, ops, 'target 0 requests');
    const pages = Math.ceil(fileCount / PAGE_SIZE);
    figures.push({
      figure: `CachedVfs (${backend}, ${latencyMs} ms): ls -l of ${fileCount} entries at page size ${PAGE_SIZE}, cold (requests)`,
      cloudmount: `${cold.requests}`, alternative: `${pages} (listing pages)`, ratio: cold.requests / pages,
      target: `= ${pages}`, met: judge(cold.requests, '<=', pages), note: `${cold.seconds.toFixed(2)} s`,
    });
    figures.push({
      figure: `CachedVfs (${backend}, ${latencyMs} ms): ls -l of ${fileCount} entries, warm (requests)`,
      cloudmount: `${warm.requests}`, alternative: '0', ratio: null, target: '= 0', met: judge(warm.requests, '<=', 0),
    });

    // ---- 50 MiB in 128 KiB pieces -----------------------------------------------------------
    const reads = Math.ceil(bigBytes / PIECE);
    const expected = createHash('sha256').update(pseudoRandomBytes(bigBytes, 42)).digest('hex');
    if (!args['no-baseline']) {
      const m = await measure(counter, () => readPieces(raw, '/movie.bin', baselineBytes));
      const mbps = baselineBytes / MiB / m.seconds;
      report(backend, `seq read (first ${baselineBytes / MiB} MiB)`, 'uncached', m, Math.ceil(baselineBytes / PIECE), `${mbps.toFixed(1)} MiB/s`);
    }
    const reader = new CachedVfs(raw);
    const r1 = await measure(counter, () => readPieces(reader, '/movie.bin', bigBytes));
    const s = reader.stats();
    const bound = bigBytes / reader.options.blockSize + 2;
    report(backend, `seq read ${bigBytes / MiB} MiB`, 'cached, cold', r1, reads,
      `${(bigBytes / MiB / r1.seconds).toFixed(1)} MiB/s; inner reads ${s.innerReads} (bound ${bound}); sha256 ${r1.result === expected ? 'ok' : 'MISMATCH'}`);
    figures.push({
      figure: `CachedVfs (${backend}, ${latencyMs} ms): ${bigBytes / MiB} MiB read in ${PIECE / 1024} KiB pieces (inner reads)`,
      cloudmount: `${s.innerReads} (${(bigBytes / MiB / r1.seconds).toFixed(1)} MiB/s)`, alternative: `${bound} (file ÷ block size + 2)`,
      ratio: s.innerReads / bound, target: `≤ ${bound}`,
      met: r1.result === expected ? judge(s.innerReads, '<=', bound) : false,
      ...(r1.result === expected ? {} : { note: 'sha256 MISMATCH' }),
    });
    const r2 = await measure(counter, () => readPieces(reader, '/movie.bin', bigBytes));
    report(backend, `seq read ${bigBytes / MiB} MiB`, 'cached, warm', r2, reads,
      `${(bigBytes / MiB / r2.seconds).toFixed(1)} MiB/s; block cache ${(reader.stats().blockCacheBytes / MiB).toFixed(0)} MiB held`);
    const st = reader.stats();
    if (!args.json) console.error(`[${backend}] reader stats: hits ${st.hits}, misses ${st.misses}, coalesced ${st.coalesced}, saved ${st.requestsSaved}, `
      + `from cache ${(st.bytesFromCache / MiB).toFixed(1)} MiB, fetched ${(st.bytesFetched / MiB).toFixed(1)} MiB`);
  } finally {
    await close(raw);
  }
}

const say = args.json ? () => undefined : (...a) => console.log(...a);
say(`CachedVfs benchmark: ${latencyMs} ms per request, ${fileCount}-entry folder (page size ${PAGE_SIZE}), `
  + `${bigBytes / MiB} MiB file in ${PIECE / 1024} KiB reads; cache defaults: TTL ${CACHE_DEFAULTS.statTtlMs} ms, `
  + `block ${CACHE_DEFAULTS.blockSize / MiB} MiB, read-ahead ${CACHE_DEFAULTS.readAheadBytes / MiB} MiB, block cache ${CACHE_DEFAULTS.blockCacheBytes / MiB} MiB`);

if (args.backend === 'all' || args.backend === 'memory') {
  let wrapper;
  await runBackend('memory+latency', async () => {
    wrapper = new LatencyVfs(await MemoryVfs.fromTree(seedTree()), { latencyMs, pageSize: PAGE_SIZE });
    return wrapper;
  }, () => wrapper.requests, async () => undefined);
}

if (args.backend === 'all' || args.backend === 'cloudreve') {
  const cloudreve = await import('../../dist/adapters/cloudreve/index.js').catch((e) => e);
  if (cloudreve instanceof Error || !cloudreve.startCloudreveEmulator || !cloudreve.CloudreveVfs) {
    say(`cloudreve: skipped (adapter not built: ${cloudreve instanceof Error ? cloudreve.message : 'exports missing'})`);
  } else {
    const emulator = await cloudreve.startCloudreveEmulator({ latencyMs, seed: seedTree(), defaultPageSize: PAGE_SIZE });
    try {
      await runBackend('cloudreve-emulator', async () => new cloudreve.CloudreveVfs({
        baseUrl: emulator.url, email: emulator.email, password: emulator.password, pageSize: PAGE_SIZE,
      }), () => emulator.log.length, async (vfs) => vfs.close?.());
    } finally {
      await emulator.close();
    }
  }
}

if (args.json) process.stdout.write(`${JSON.stringify({ area: 'cache', figures })}\n`);
else console.table(rows);
