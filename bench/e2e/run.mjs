#!/usr/bin/env node
// End to end over the Cloudreve emulator with 20 ms per request: read a 100 MiB file
//   - through the FUSE mount (`cat` with the page cache dropped first),
//   - through the WebDAV share (`curl` GET),
//   - straight from the emulator (`curl` of the signed content URL; the POST /file/url that signs it
//     is timed too, since a direct download needs it),
// each frontend over CloudreveVfs in its own process, started once and warmed up on another file
// (logged in, JIT-compiled, as a running mount is); big.bin is read cold every round (page cache
// dropped; whole-file reads bypass CachedVfs's block cache). Median of rounds, order alternated.
// Two scenarios: unlimited loopback bandwidth (then the figure measures CPU per byte: a proxy moves
// every byte twice more than curl does, on a 2-core machine shared with the emulator and the client),
// and a link of --link MiB/s (the user group's download speed limit, as Cloudreve signs it into
// content URLs: then latency hiding and request count are what is measured).
// Target: each frontend ≥ 0.8× the direct speed. Prints figures, asserts nothing.
//   npm run build && node bench/e2e/run.mjs [--quick] [--json] [--rounds 3] [--latency 20] [--mib 100] [--link 40|0]
import { writeFile } from 'node:fs/promises';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { emit, judge, num, skipped } from '../lib/figures.mjs';
import { sh, startFrontend } from '../lib/frontend.mjs';
import { alternate, median } from '../lib/stats.mjs';
import { cpuOf, ownCpu, shCpu } from '../lib/cpu.mjs';
import { canFuse, missingTools } from '../lib/tools.mjs';

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
    rounds: { type: 'string' },
    latency: { type: 'string', default: '20' },
    link: { type: 'string', default: '40' },
    mib: { type: 'string' },
    'cpu-prof-dir': { type: 'string' },
  },
});
const MiB = 1024 * 1024;
const SIZE_MIB = Number(args.mib ?? (args.quick ? 32 : 100));
const ROUNDS = Number(args.rounds ?? (args.quick ? 1 : 3));
const LATENCY = Number(args.latency);
const TARGET = 0.8;

const figures = [];
const label = (side) => (side === 'fuse' ? 'FUSE mount' : 'WebDAV share');
const LINK_MIB = Number(args.link);
const SCENARIOS = [0, ...(LINK_MIB > 0 ? [LINK_MIB] : [])];
const scenarioName = (link) => (link ? `${link} MiB/s link` : 'unlimited loopback');
const figureName = (side, link = 0) => `read ${SIZE_MIB} MiB through the ${label(side)}, Cloudreve emulator at ${LATENCY} ms, ${scenarioName(link)}`;
const missing = missingTools(['curl']);
if (missing.length) {
  for (const link of SCENARIOS) for (const side of ['fuse', 'webdav']) figures.push(skipped(figureName(side, link), `≥ ${TARGET}× direct`, `missing: ${missing.join(', ')}`));
  emit('e2e', figures, { json: args.json });
  process.exit(0);
}

const { startCloudreveEmulator } = await import('../../dist/adapters/cloudreve/emulator/index.js');
const { CloudreveClient } = await import('../../dist/adapters/cloudreve/index.js');

/** Deterministic content: a 1 MiB xorshift block repeated (incompressible within a block). */
function content(bytes) {
  const block = Buffer.allocUnsafe(MiB);
  let x = 88172645;
  for (let i = 0; i < MiB; i += 4) {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
    block.writeUInt32LE(x >>> 0, i);
  }
  const out = Buffer.allocUnsafe(bytes);
  for (let o = 0; o < bytes; o += MiB) block.copy(out, o);
  return out;
}

const BYTES = SIZE_MIB * MiB;
const emulator = await startCloudreveEmulator({ latencyMs: LATENCY, quota: 4 * BYTES + 64 * MiB });
emulator.store.seedFile(['big.bin'], content(BYTES));
emulator.store.seedFile(['warm.bin'], content(16 * MiB));
const backend = { kind: 'cloudreve', baseUrl: emulator.url, email: emulator.email, password: emulator.password };
const client = new CloudreveClient({ baseUrl: emulator.url, email: emulator.email, password: emulator.password });
const work = await mkdtemp(join(tmpdir(), 'cloudmount-bench-e2e-'));
const canDrop = await writeFile('/proc/sys/vm/drop_caches', '1').then(() => true, () => false);
// 'nodepipe': the least any Node frontend does (a node:http GET of the signed URL piped into a
// node:http response, bench/lib/pipe-proxy.mjs): the ceiling of a process that moves the bytes itself.
const sides = ['direct', 'nodepipe', 'webdav', ...(canFuse() ? ['fuse'] : [])];
if (!canFuse()) for (const link of SCENARIOS) figures.push(skipped(figureName('fuse', link), `≥ ${TARGET}× direct`, 'no /dev/fuse or fusermount (apt-get install fuse)'));
const bytesSeen = {};

const frontends = {};
/** Start a frontend once and warm it up (log in, JIT) with a read of another file, as a running mount is. */
async function frontend(side) {
  if (frontends[side]) return frontends[side];
  const nodeArgs = args['cpu-prof-dir'] ? ['--cpu-prof', '--cpu-prof-dir', args['cpu-prof-dir'], `--cpu-prof-name=e2e-${side}.cpuprofile`] : [];
  const fe = await startFrontend(side, backend, { mountpoint: join(work, `mnt-${side}`), nodeArgs });
  frontends[side] = fe;
  if (side === 'fuse') await sh(`cat ${fe.dir}/warm.bin > /dev/null`);
  else if (side === 'nodepipe') await sh(`curl -s -o /dev/null '${fe.url}?u=${encodeURIComponent((await client.downloadUrl('cloudreve://my/warm.bin')).urls[0].url)}'`);
  else await sh(`curl -s -o /dev/null '${fe.url}warm.bin'`);
  return fe;
}

/** CPU seconds of the last round per side: { frontend, client, emulator } (the emulator runs in this process). */
const cpuSeen = {};

async function measure(side) {
  const fe = side === 'direct' ? undefined : await frontend(side);
  if (side === 'direct' || side === 'nodepipe') await client.downloadUrl('cloudreve://my/warm.bin'); // logged in and connected, like a running mount
  // Cold: nothing of big.bin in the page cache (reads from offset 0 bypass CachedVfs's block cache).
  if (side === 'fuse' && canDrop) await writeFile('/proc/sys/vm/drop_caches', '1');
  const cpu0 = { frontend: fe ? cpuOf(fe.pid) : 0, emulator: ownCpu() };
  const t0 = process.hrtime.bigint();
  let run;
  if (side === 'direct') {
    const { urls } = await client.downloadUrl('cloudreve://my/big.bin');
    run = await shCpu(`curl -s -o /dev/null -w '%{size_download}' '${urls[0].url}'`);
  } else if (side === 'nodepipe') {
    const { urls } = await client.downloadUrl('cloudreve://my/big.bin');
    run = await shCpu(`curl -s -o /dev/null -w '%{size_download}' '${fe.url}?u=${encodeURIComponent(urls[0].url)}'`);
  } else if (side === 'fuse') run = await shCpu(`cat ${fe.dir}/big.bin | wc -c`);
  else run = await shCpu(`curl -s -o /dev/null -w '%{size_download}' '${fe.url}big.bin'`);
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const sample = { frontend: fe ? cpuOf(fe.pid) - cpu0.frontend : 0, client: run.cpu, emulator: ownCpu() - cpu0.emulator };
  (cpuSeen[side] ??= []).push(sample);
  bytesSeen[side] = Number(run.stdout);
  return BYTES / MiB / seconds;
}

/** Median CPU seconds per GiB moved, by part, over the rounds of `side`. */
function cpuPerGiB(side) {
  const per = (k) => median((cpuSeen[side] ?? []).map((c) => c[k])) / (BYTES / 1024 ** 3);
  return { frontend: per('frontend'), client: per('client'), emulator: per('emulator') };
}
const cpuNote = (c, withFrontend) => {
  const total = (withFrontend ? c.frontend : 0) + c.client + c.emulator;
  return `${withFrontend ? `frontend ${num(c.frontend)} + ` : ''}client ${num(c.client)} + emulator ${num(c.emulator)} = ${num(total)} CPU s/GiB`;
};

try {
  for (const link of SCENARIOS) {
    // The group speed limit is baked into content URLs when they are signed: fresh frontends per scenario.
    for (const [side, fe] of Object.entries(frontends)) {
      await fe.stop();
      delete frontends[side];
    }
    emulator.settings.downloadSpeed = link * MiB;
    for (const k of Object.keys(cpuSeen)) delete cpuSeen[k];
    const speeds = await alternate(sides, ROUNDS, measure);
    const direct = median(speeds.direct);
    const pipe = median(speeds.nodepipe);
    const pipeNote = `; a bare node:http pipe proxy of the signed URL (the ceiling of any Node process moving the bytes): ${num(pipe)} MiB/s = ${num(pipe / direct)}× curl (runs ${speeds.nodepipe.map((x) => num(x)).join(', ')}; CPU: ${cpuNote(cpuPerGiB('nodepipe'), true)})`;
    for (const side of sides.filter((s) => s !== 'direct' && s !== 'nodepipe')) {
      const mine = median(speeds[side]);
      const wrong = bytesSeen[side] !== BYTES || bytesSeen.direct !== BYTES;
      figures.push({
        figure: figureName(side, link),
        cloudmount: `${num(mine)} MiB/s`,
        alternative: `${num(direct)} MiB/s (curl, signed URL)`,
        ratio: mine / direct,
        target: `≥ ${TARGET}×`,
        met: wrong ? false : judge(mine / direct, '>=', TARGET),
        note: wrong ? `byte count wrong: ${bytesSeen[side]} vs ${BYTES}` : `runs: ${speeds[side].map((x) => num(x)).join(', ')} vs ${speeds.direct.map((x) => num(x)).join(', ')} MiB/s; CPU: ${cpuNote(cpuPerGiB(side), true)} vs curl ${cpuNote(cpuPerGiB('direct'), false)}${canDrop ? '' : '; page cache could not be dropped'}${side === 'webdav' ? pipeNote : ''}`,
      });
    }
  }
} finally {
  for (const fe of Object.values(frontends)) await fe.stop();
  await client.scheduler?.close?.();
  await emulator.close();
  await rm(work, { recursive: true, force: true }).catch(() => undefined);
}
emit('e2e', figures, { json: args.json });
