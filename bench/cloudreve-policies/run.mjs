#!/usr/bin/env node
// Uploading 200 MiB into an S3-policy folder of the Cloudreve emulator with 20 ms of latency on every
// request (API and storage alike): parts in parallel up to the policy's chunk_concurrency (4) against
// one part at a time (what OpenList's driver does). Through CloudreveVfs.write, bytes from memory;
// the time includes the session, every part, the Complete and the callback. Median of the rounds.
// One connection to the storage carries at most 12.5 MiB/s (PER_CONNECTION: a 256 KiB TCP window
// over a 20 ms round trip), which is what makes parallel parts pay off on a real WAN; on loopback
// without it the machine's CPU (copying) is the limit and the figure says nothing.
//   npm run build && node bench/cloudreve-policies/run.mjs [--quick] [--json]
import { startEmulatorChild } from '../lib/emulator-child.mjs';
import { parseArgs } from 'node:util';
import { emit, judge, num } from '../lib/figures.mjs';

const { values: args } = parseArgs({ options: { quick: { type: 'boolean', default: false }, json: { type: 'boolean', default: false } } });
const MiB = 1024 * 1024;
const SIZE = (args.quick ? 50 : 200) * MiB;
const ROUNDS = args.quick ? 1 : 3;
const LATENCY = 20;
const CONCURRENCY = 4;
const PER_CONNECTION = 12.5 * MiB;

const { CloudreveVfs } = await import('../../dist/adapters/cloudreve/index.js').catch((e) => {
  console.error(`cannot load the build (${e.message}): run \`npm run build\` first`);
  process.exit(1);
});

// The emulator runs in its own process (as a server would be on its own machine), so the client's
// work and the server's are not one thread's.
const { child, emulator } = await startEmulatorChild(`
  const { startCloudreveEmulator } = await import(${JSON.stringify(new URL('../../dist/adapters/cloudreve/index.js', import.meta.url).href)});
  const MiB = 1024 * 1024;
  const emu = await startCloudreveEmulator({
    seed: { bucket: {} }, quota: ${8 * SIZE}, latencyMs: ${LATENCY},
    policies: [{ id: 'dflt', type: 'local' }, { id: 's3', type: 's3', chunk_size: 5 * MiB, chunk_concurrency: ${CONCURRENCY} }],
    folderPolicies: { '/bucket': 's3' },
  });
  emu.storage.bytesPerSecond = ${PER_CONNECTION};
  setInterval(() => emu.store.trash.splice(0), 1000);
  console.log(JSON.stringify({ url: emu.url, email: emu.email, password: emu.password }));
`);
const data = Buffer.alloc(SIZE, 7);

async function timeUpload(partConcurrency, round) {
  const vfs = new CloudreveVfs({ baseUrl: emulator.url, email: emulator.email, password: emulator.password, stateDir: false, ...(partConcurrency ? { partConcurrency } : {}) });
  try {
    await vfs.stat('/bucket'); // log in outside the timing
    const t0 = performance.now();
    await vfs.write(`/bucket/f-${partConcurrency ?? 'policy'}-${round}.bin`, data);
    const ms = performance.now() - t0;
    await vfs.remove(`/bucket/f-${partConcurrency ?? 'policy'}-${round}.bin`);
    return ms;
  } finally {
    await vfs.close();
  }
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const parallel = [];
const serial = [];
for (let r = 0; r < ROUNDS; r++) {
  parallel.push(await timeUpload(undefined, r));
  serial.push(await timeUpload(1, r));
}
child.kill();
const mbps = (ms) => SIZE / MiB / (ms / 1000);
const ratio = mbps(median(parallel)) / mbps(median(serial));
emit('cloudreve-policies', [{
  figure: `upload ${SIZE / MiB} MiB to an S3 policy at ${LATENCY} ms (MiB/s)`,
  cloudmount: `${num(mbps(median(parallel)))} (${CONCURRENCY} parts at once)`,
  alternative: `${num(mbps(median(serial)))} (one part at a time)`,
  ratio: Number(ratio.toFixed(2)),
  target: '≥ 3×',
  met: judge(ratio, '>=', 3),
  note: `5 MiB parts, ${PER_CONNECTION / MiB} MiB/s per storage connection, median of ${ROUNDS}; parallel ${parallel.map((x) => num(x / 1000)).join('/')} s, serial ${serial.map((x) => num(x / 1000)).join('/')} s`,
}], { json: args.json });
