#!/usr/bin/env node
// Upload 100 MiB through CloudreveVfs.write into the Cloudreve emulator (local policy, 25 MiB chunks,
// unlimited loopback): MiB/s and the client process's CPU seconds per GiB. The emulator runs in its
// own process, so the CPU figure is the client's alone. Two sources: a Buffer (what the FUSE write-back
// hands over) and a Node stream of declared size (what a WebDAV PUT with Content-Length hands over).
// Median of the rounds.
//   npm run build && node bench/http-upload/run.mjs [--quick] [--rounds N] [--mib N]
import { startEmulatorChild } from '../lib/emulator-child.mjs';
import { Readable } from 'node:stream';
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({ options: {
  quick: { type: 'boolean', default: false }, rounds: { type: 'string' }, mib: { type: 'string', default: '100' },
} });
const MiB = 1024 * 1024;
const SIZE = Number(args.mib) * MiB;
const ROUNDS = Number(args.rounds ?? (args.quick ? 1 : 3));

const { CloudreveVfs } = await import('../../dist/adapters/cloudreve/index.js').catch((e) => {
  console.error(`cannot load the build (${e.message}): run \`npm run build\` first`);
  process.exit(1);
});

const { child, emulator } = await startEmulatorChild(`
  const { startCloudreveEmulator } = await import(${JSON.stringify(new URL('../../dist/adapters/cloudreve/index.js', import.meta.url).href)});
  const emu = await startCloudreveEmulator({ quota: ${16 * SIZE} });
  setInterval(() => emu.store.trash.splice(0), 1000);
  console.log(JSON.stringify({ url: emu.url, email: emu.email, password: emu.password }));
`);

const data = Buffer.alloc(SIZE, 7);
/** A stream of SIZE bytes in 64 KiB pieces, as a socket would deliver them. */
function stream() {
  const piece = 64 * 1024;
  let sent = 0;
  return new Readable({
    read() {
      if (sent >= SIZE) return this.push(null);
      const n = Math.min(piece, SIZE - sent);
      sent += n;
      this.push(data.subarray(sent - n, sent));
    },
  });
}

async function once(kind, round) {
  const vfs = new CloudreveVfs({ baseUrl: emulator.url, email: emulator.email, password: emulator.password, stateDir: false });
  try {
    await vfs.stat('/'); // log in outside the timing
    const path = `/up-${kind}-${round}.bin`;
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    await vfs.write(path, kind === 'buffer' ? data : stream(), { size: SIZE });
    const ms = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    const st = await vfs.stat(path);
    if (st.size !== SIZE) throw new Error(`uploaded ${st.size} bytes, not ${SIZE}`);
    await vfs.remove(path);
    return { mibs: SIZE / MiB / (ms / 1000), cpuPerGiB: ((cpu.user + cpu.system) / 1e6) / (SIZE / (1024 * MiB)) };
  } finally {
    await vfs.close();
  }
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
try {
  for (const kind of ['buffer', 'stream']) {
    const runs = [];
    for (let r = 0; r < ROUNDS; r++) runs.push(await once(kind, r));
    console.log(`${kind}: ${median(runs.map((r) => r.mibs)).toFixed(0)} MiB/s, ${median(runs.map((r) => r.cpuPerGiB)).toFixed(2)} CPU s/GiB (client; ${SIZE / MiB} MiB, median of ${ROUNDS}; runs ${runs.map((r) => r.mibs.toFixed(0)).join(' ')})`);
  }
} finally {
  child.kill();
}
