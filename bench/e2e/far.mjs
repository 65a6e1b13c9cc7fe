#!/usr/bin/env node
// A far server: the Cloudreve emulator with 100 ms per request and a per-connection bandwidth cap
// (the group download speed signed into content URLs; it stands for a window-limited long path,
// where one TCP stream cannot fill the link). Read one file through the WebDAV share with
// readStreams 4 and with 1, and with curl on the signed URL (one stream). Median of rounds.
// Targets: 4 streams ≥ 3× one stream, and ≥ 3× curl. Prints figures, asserts nothing.
//   npm run build && node bench/e2e/far.mjs [--quick] [--json] [--mib 200] [--cap 8] [--latency 100] [--rounds 2]
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { emit, judge, num, skipped } from '../lib/figures.mjs';
import { sh, startFrontend } from '../lib/frontend.mjs';
import { median } from '../lib/stats.mjs';
import { ownCpu, shCpu } from '../lib/cpu.mjs';
import { missingTools } from '../lib/tools.mjs';

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
    mib: { type: 'string' },
    cap: { type: 'string', default: '8' },
    latency: { type: 'string', default: '100' },
    rounds: { type: 'string' },
    streams: { type: 'string', default: '4' },
  },
});
const MiB = 1024 * 1024;
const SIZE_MIB = Number(args.mib ?? (args.quick ? 48 : 200));
const CAP = Number(args.cap);
const LATENCY = Number(args.latency);
const ROUNDS = Number(args.rounds ?? (args.quick ? 1 : 2));
const STREAMS = Number(args.streams);
const TARGET = 3;
const name = (what) => `read ${SIZE_MIB} MiB through the WebDAV share, ${LATENCY} ms per request, ${CAP} MiB/s per connection: ${what}`;

const missing = missingTools(['curl']);
if (missing.length) {
  emit('far', [skipped(name(`--read-streams ${STREAMS} vs 1`), `≥ ${TARGET}×`, `missing: ${missing.join(', ')}`)], { json: args.json });
  process.exit(0);
}
const { startCloudreveEmulator } = await import('../../dist/adapters/cloudreve/emulator/index.js');
const { CloudreveClient } = await import('../../dist/adapters/cloudreve/index.js');

const BYTES = SIZE_MIB * MiB;
const block = Buffer.allocUnsafe(MiB);
for (let i = 0; i < MiB; i++) block[i] = (i * 2654435761) >>> 24;
const data = Buffer.allocUnsafe(BYTES);
for (let o = 0; o < BYTES; o += MiB) block.copy(data, o);

const emulator = await startCloudreveEmulator({ latencyMs: LATENCY, quota: 2 * BYTES + 64 * MiB });
emulator.settings.downloadSpeed = CAP * MiB;
emulator.store.seedFile(['big.bin'], data);
emulator.store.seedFile(['warm.bin'], data.subarray(0, MiB));
const base = { kind: 'cloudreve', baseUrl: emulator.url, email: emulator.email, password: emulator.password };
const client = new CloudreveClient({ baseUrl: emulator.url, email: emulator.email, password: emulator.password });
const work = await mkdtemp(join(tmpdir(), 'cloudmount-bench-far-'));
const figures = [];
const speeds = { direct: [], one: [], many: [] };
const cpu = { one: [], many: [], curl: [], emulator: [] };
try {
  const fes = {
    one: await startFrontend('webdav', { ...base, readStreams: 1 }, { mountpoint: join(work, 'one') }),
    many: await startFrontend('webdav', { ...base, readStreams: STREAMS }, { mountpoint: join(work, 'many') }),
  };
  for (const fe of Object.values(fes)) await sh(`curl -s -o /dev/null '${fe.url}warm.bin'`);
  for (let r = 0; r < ROUNDS; r++) {
    const t0 = process.hrtime.bigint();
    const { urls } = await client.downloadUrl('cloudreve://my/big.bin');
    const e0 = ownCpu();
    const direct = await shCpu(`curl -s -o /dev/null -w '%{size_download}' '${urls[0].url}'`);
    if (Number(direct.stdout) !== BYTES) throw new Error(`curl got ${direct.stdout} bytes`);
    cpu.curl.push(direct.cpu / (SIZE_MIB / 1024));
    cpu.emulator.push((ownCpu() - e0) / (SIZE_MIB / 1024));
    speeds.direct.push(SIZE_MIB / (Number(process.hrtime.bigint() - t0) / 1e9));
    for (const side of ['one', 'many']) {
      const before = await cpuOf(fes[side]);
      const { seconds, stdout } = await sh(`curl -s -o /dev/null -w '%{size_download}' '${fes[side].url}big.bin'`);
      if (Number(stdout) !== BYTES) throw new Error(`${side}: got ${stdout} bytes`);
      speeds[side].push(SIZE_MIB / seconds);
      const after = await cpuOf(fes[side]);
      if (before !== undefined && after !== undefined) cpu[side].push((after - before) / (SIZE_MIB / 1024));
    }
  }
  for (const fe of Object.values(fes)) await fe.stop();
} finally {
  await emulator.close();
  await rm(work, { recursive: true, force: true }).catch(() => undefined);
}
const many = median(speeds.many);
const one = median(speeds.one);
const direct = median(speeds.direct);
const cpuNote = cpu.many.length ? `; frontend CPU ${num(median(cpu.many))} s/GiB (${STREAMS} streams), ${num(median(cpu.one))} s/GiB (1 stream)` : '';
figures.push({
  figure: name(`--read-streams ${STREAMS} vs 1`), cloudmount: `${num(many)} MiB/s`, alternative: `${num(one)} MiB/s (1 stream)`,
  ratio: many / one, target: `≥ ${TARGET}×`, met: judge(many / one, '>=', TARGET), note: `runs ${speeds.many.map((x) => num(x)).join(', ')} vs ${speeds.one.map((x) => num(x)).join(', ')}${cpuNote}`,
});
figures.push({
  figure: name(`--read-streams ${STREAMS} vs curl`), cloudmount: `${num(many)} MiB/s`, alternative: `${num(direct)} MiB/s (curl, one stream)`,
  ratio: many / direct, target: `≥ ${TARGET}×`, met: judge(many / direct, '>=', TARGET), note: `curl runs ${speeds.direct.map((x) => num(x)).join(', ')}; curl CPU ${num(median(cpu.curl))} s/GiB (+ emulator ${num(median(cpu.emulator))} s/GiB)`,
});
emit('far', figures, { json: args.json });

/** CPU seconds (user+system) used so far by a frontend process, from /proc. */
async function cpuOf(fe) {
  const pid = fe.pid ?? fe.child?.pid;
  if (!pid) return undefined;
  const { readFile } = await import('node:fs/promises');
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  if (!stat) return undefined;
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
}
