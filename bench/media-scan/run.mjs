#!/usr/bin/env node
// Media-library scan over a FUSE mount with the disk cache (issue 19): N files of 4 MiB in the
// Cloudreve emulator at 20 ms per request and a 40 MiB/s link (the download speed signed into
// content URLs: one prober reads one stream at a time, so it is the link). Pass 1 probes every file
// (first 256 KiB and last 64 KiB, bench/media-scan/probe.mjs) through a fresh mount with
// --cache-dir; the mount is stopped and started again (nothing in memory, the kernel's page cache
// of the old mount gone); pass 2 repeats the probe. Content requests are counted in the
// emulator's log. Targets: pass 2 makes 0 content requests and is ≥ 10× faster than pass 1; pass 1
// makes at most 1.2× the minimum (2 per file: the head and the tail are disjoint ranges).
//   npm run build && node bench/media-scan/run.mjs [--quick] [--json] [--files 500] [--mib 4] [--latency 20] [--link 40]
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parseArgs } from 'node:util';
import { emit, judge, num, skipped } from '../lib/figures.mjs';
import { startFrontend } from '../lib/frontend.mjs';
import { canFuse } from '../lib/tools.mjs';

const run = promisify(execFile);
const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
    files: { type: 'string' },
    mib: { type: 'string', default: '4' },
    latency: { type: 'string', default: '20' },
    link: { type: 'string', default: '40' },
  },
});
const MiB = 1024 * 1024;
const FILES = Number(args.files ?? (args.quick ? 100 : 500));
const SIZE = Number(args.mib) * MiB;
const LATENCY = Number(args.latency);
const LINK = Number(args.link);
const what = `media scan of ${FILES} × ${args.mib} MiB (head 256 KiB + tail 64 KiB) through the FUSE mount, ${LATENCY} ms, ${LINK} MiB/s`;
const figure = {
  speed: `${what}: pass 2 after a restart vs pass 1`,
  requests2: `${what}: content requests in pass 2`,
  requests1: `${what}: pass 1 content requests ÷ minimum (2 per file)`,
};

const fuse = canFuse();
if (fuse !== true) {
  emit('media-scan', Object.values(figure).map((f) => skipped(f, '—', 'no FUSE (/dev/fuse or fusermount missing)')), { json: args.json });
  process.exit(0);
}
const { startCloudreveEmulator } = await import('../../dist/adapters/cloudreve/emulator/index.js');

const emulator = await startCloudreveEmulator({ latencyMs: LATENCY, quota: FILES * SIZE + 64 * MiB, maxLogEntries: 1_000_000 });
emulator.settings.downloadSpeed = LINK * MiB;
// One buffer shared by every file: the emulator keeps a reference, not N copies.
const data = Buffer.allocUnsafe(SIZE);
for (let i = 0; i < SIZE; i++) data[i] = (i * 2654435761) >>> 24;
for (let i = 0; i < FILES; i++) emulator.store.seedFile(['media', `clip${String(i).padStart(4, '0')}.mkv`], data);

const work = await mkdtemp(join(tmpdir(), 'cloudmount-bench-media-'));
const cacheDir = join(work, 'cache');
const backend = {
  kind: 'cloudreve', baseUrl: emulator.url, email: emulator.email, password: emulator.password,
  frontend: { cache: { cacheDir, cacheMinFreeSpace: 0 } },
};
const content = () => emulator.requests('GET /file/content').length;

async function pass() {
  const fe = await startFrontend('fuse', backend, { mountpoint: join(work, 'mnt') });
  try {
    emulator.clearLog();
    const { stdout } = await run(process.execPath, [new URL('./probe.mjs', import.meta.url).pathname, join(fe.dir, 'media')], { maxBuffer: 1 << 20 });
    const result = JSON.parse(stdout);
    return { ...result, content: content(), requests: emulator.log.length };
  } finally {
    await fe.stop();
  }
}

const figures = [];
try {
  const first = await pass();
  const second = await pass();
  const minimum = 2 * FILES;
  const speedup = first.seconds / second.seconds;
  figures.push({
    figure: figure.speed,
    cloudmount: `${num(second.seconds, 2)} s (pass 2)`,
    alternative: `${num(first.seconds, 2)} s (pass 1)`,
    ratio: speedup, target: '≥ 10×', met: judge(speedup, '>=', 10),
  });
  figures.push({
    figure: figure.requests2,
    cloudmount: `${second.content} (${second.requests} requests in all)`,
    alternative: '—', ratio: null, target: '0', met: second.content === 0,
  });
  const share = first.content / minimum;
  figures.push({
    figure: figure.requests1,
    cloudmount: `${first.content} (${first.requests} requests in all)`,
    alternative: `${minimum} (minimum)`,
    ratio: share, target: '≤ 1.2×', met: judge(share, '<=', 1.2),
  });
} catch (e) {
  for (const f of Object.values(figure)) figures.push(skipped(f, '—', `failed: ${e instanceof Error ? e.message : e}`));
} finally {
  await emulator.close();
  await rm(work, { recursive: true, force: true });
}
emit('media-scan', figures, { json: args.json });
