#!/usr/bin/env node
// End to end over the Cloudreve emulator (unlimited loopback, --latency ms per request): write a
// 100 MiB local file
//   - through the WebDAV share (`curl -T`, one PUT),
//   - through the FUSE mount (`cp`, which returns once close() has uploaded it),
//   - straight to the emulator with curl, through the same upload-session protocol cloudmount uses
//     for a local storage policy: PUT /file/upload (open the session), then POST
//     /file/upload/{session}/{index} for every chunk of the session's chunk_size (one curl process,
//     one connection, chunks in order), the last of which completes the upload.
// Each frontend runs over CloudreveVfs in its own process, started once and warmed up with a small
// write. Every round writes a new name (no version history). Median of rounds, order alternated.
// CPU seconds per GiB of the frontend, the client (curl/cp) and the emulator (this process) per side.
// Target: each frontend ≥ 0.8× the direct speed. Prints figures, asserts nothing.
//   npm run build && node bench/e2e/write.mjs [--quick] [--json] [--rounds 3] [--latency 20] [--mib 100]
import { writeFile, mkdtemp, rm } from 'node:fs/promises';
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
    mib: { type: 'string' },
  },
});
const MiB = 1024 * 1024;
const SIZE_MIB = Number(args.mib ?? (args.quick ? 32 : 100));
const ROUNDS = Number(args.rounds ?? (args.quick ? 1 : 3));
const LATENCY = Number(args.latency);
const TARGET = 0.8;
const BYTES = SIZE_MIB * MiB;

const figures = [];
const label = (side) => (side === 'fuse' ? 'FUSE mount (cp)' : 'WebDAV share (PUT)');
const figureName = (side) => `write ${SIZE_MIB} MiB through the ${label(side)}, Cloudreve emulator at ${LATENCY} ms, unlimited loopback`;
const missing = missingTools(['curl']);
if (missing.length) {
  for (const side of ['webdav', 'fuse']) figures.push(skipped(figureName(side), `≥ ${TARGET}× direct`, `missing: ${missing.join(', ')}`));
  emit('e2e-write', figures, { json: args.json });
  process.exit(0);
}

const { startCloudreveEmulator } = await import('../../dist/adapters/cloudreve/emulator/index.js');

const emulator = await startCloudreveEmulator({ latencyMs: LATENCY, quota: (2 * ROUNDS + 4) * 3 * BYTES + 64 * MiB });
const backend = { kind: 'cloudreve', baseUrl: emulator.url, email: emulator.email, password: emulator.password };
const work = await mkdtemp(join(tmpdir(), 'cloudmount-bench-write-'));
const source = join(work, 'source.bin');
const block = Buffer.allocUnsafe(MiB);
for (let i = 0; i < MiB; i += 4) block.writeUInt32LE((Math.imul(i, 2654435761) ^ (i >>> 7)) >>> 0, i);
await writeFile(source, Buffer.concat(Array.from({ length: SIZE_MIB }, () => block)));
await writeFile(join(work, 'warm.bin'), block);
const sides = ['direct', 'webdav', ...(canFuse() ? ['fuse'] : [])];
if (!canFuse()) figures.push(skipped(figureName('fuse'), `≥ ${TARGET}× direct`, 'no /dev/fuse or fusermount (apt-get install fuse)'));

const api = `${emulator.url}/api/v4`;
/** An access token for curl, as a logged-in client holds one (the login is not timed). */
async function login() {
  const res = await fetch(`${api}/session/token`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ email: emulator.email, password: emulator.password }) });
  const env = await res.json();
  if (env.code !== 0) throw new Error(`login failed: ${JSON.stringify(env)}`);
  return env.data.token.access_token;
}
const token = await login();
const chunkFiles = new Set();
const q = (s) => `'${String(s).replace(/'/g, "'\\''")}'`;

/** The curl side: open a session, then send its chunks (byte ranges of the source file, no copies made). */
async function curlUpload(name) {
  const body = JSON.stringify({ uri: `cloudreve://my/${name}`, size: BYTES });
  const auth = `-H ${q(`Authorization: Bearer ${token}`)}`;
  const open = await shCpu(`curl -s -X PUT ${auth} -H 'Content-Type: application/json' --data ${q(body)} ${q(`${api}/file/upload`)}`);
  const env = JSON.parse(open.stdout);
  if (env.code !== 0) throw new Error(`upload session: ${open.stdout}`);
  const { session_id: id, chunk_size: chunkSize } = env.data;
  const chunk = chunkSize > 0 ? chunkSize : BYTES;
  // One curl process for every chunk (--next keeps the connection), each streamed from a file that
  // holds that chunk's bytes (cut from the source once, untimed, like the source itself).
  const parts = [];
  for (let i = 0, at = 0; at < BYTES; i++, at += chunk) {
    const file = join(work, `chunk-${chunk}-${i}`);
    if (!chunkFiles.has(file)) {
      await sh(`tail -c +${at + 1} ${q(source)} | head -c ${Math.min(chunk, BYTES - at)} > ${q(file)}`);
      chunkFiles.add(file);
    }
    parts.push(`-X POST ${auth} -H 'Content-Type: application/octet-stream' -T ${q(file)} -o /dev/null ${q(`${api}/file/upload/${id}/${i}`)}`);
  }
  const send = await shCpu(`curl -s ${parts.join(' --next -s ')}`);
  return { seconds: open.seconds + send.seconds, cpu: open.cpu + send.cpu, stdout: send.stdout };
}

const frontends = {};
async function frontend(side) {
  if (frontends[side]) return frontends[side];
  const fe = await startFrontend(side, backend, { mountpoint: join(work, `mnt-${side}`) });
  frontends[side] = fe;
  if (side === 'fuse') await sh(`cp ${q(join(work, 'warm.bin'))} ${q(`${fe.dir}/warm-fuse.bin`)}`);
  else await sh(`curl -s -f -T ${q(join(work, 'warm.bin'))} ${q(`${fe.url}warm-webdav.bin`)}`);
  return fe;
}

const cpuSeen = {};
const sizeSeen = {};
async function measure(side, round) {
  const name = `${side}-${round}.bin`;
  const fe = side === 'direct' ? undefined : await frontend(side);
  const cpu0 = { frontend: fe ? cpuOf(fe.pid) : 0, emulator: ownCpu() };
  const t0 = process.hrtime.bigint();
  let run;
  if (side === 'direct') run = await curlUpload(name);
  else if (side === 'fuse') run = await shCpu(`cp ${q(source)} ${q(`${fe.dir}/${name}`)}`);
  else run = await shCpu(`curl -s -f -T ${q(source)} ${q(`${fe.url}${name}`)}`);
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  (cpuSeen[side] ??= []).push({ frontend: fe ? cpuOf(fe.pid) - cpu0.frontend : 0, client: run.cpu, emulator: ownCpu() - cpu0.emulator });
  sizeSeen[side] = emulator.store.find([name])?.entity?.data.length;
  return BYTES / MiB / seconds;
}

function cpuPerGiB(side) {
  const per = (k) => median((cpuSeen[side] ?? []).map((c) => c[k])) / (BYTES / 1024 ** 3);
  return { frontend: per('frontend'), client: per('client'), emulator: per('emulator') };
}
const cpuNote = (c, withFrontend) => `${withFrontend ? `frontend ${num(c.frontend)} + ` : ''}client ${num(c.client)} + emulator ${num(c.emulator)} = ${num((withFrontend ? c.frontend : 0) + c.client + c.emulator)} CPU s/GiB`;

try {
  const speeds = await alternate(sides, ROUNDS, measure);
  const direct = median(speeds.direct);
  for (const side of sides.filter((s) => s !== 'direct')) {
    const mine = median(speeds[side]);
    const wrong = sizeSeen[side] !== BYTES || sizeSeen.direct !== BYTES;
    figures.push({
      figure: figureName(side),
      cloudmount: `${num(mine)} MiB/s`,
      alternative: `${num(direct)} MiB/s (curl, upload session)`,
      ratio: mine / direct,
      target: `≥ ${TARGET}×`,
      met: wrong ? false : judge(mine / direct, '>=', TARGET),
      note: wrong
        ? `stored size wrong: ${sizeSeen[side]} / ${sizeSeen.direct} vs ${BYTES}`
        : `runs: ${speeds[side].map((x) => num(x)).join(', ')} vs ${speeds.direct.map((x) => num(x)).join(', ')} MiB/s; CPU: ${cpuNote(cpuPerGiB(side), true)} vs curl ${cpuNote(cpuPerGiB('direct'), false)}`,
    });
  }
} finally {
  for (const fe of Object.values(frontends)) await fe.stop();
  await emulator.close();
  await rm(work, { recursive: true, force: true }).catch(() => undefined);
}
emit('e2e-write', figures, { json: args.json });
