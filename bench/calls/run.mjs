#!/usr/bin/env node
// API calls per user operation, counted in the Cloudreve emulator's request log, through each frontend
// (FUSE mount and WebDAV share, each over CloudreveVfs in its own process):
//   - `ls -l` of a 2000-entry folder (PROPFIND Depth 1 over WebDAV): cold = the listing pages the
//     provider's largest page size allows, warm (again within the cache TTL) = 0;
//   - reading 1 KiB from the middle of a 1 GiB file: 1 ranged content request.
// Login calls are not counted (one per session, not per operation); every other call is.
// The 1 GiB file is a zero-filled Buffer seeded straight into the emulator's store: untouched
// pages are never resident, so the emulator holds about 1 MiB of it, not 1 GiB (its RSS is printed).
//   npm run build && node bench/calls/run.mjs [--quick] [--json]
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { emit, judge, num, skipped } from '../lib/figures.mjs';
import { sh, startFrontend } from '../lib/frontend.mjs';
import { rssOf } from '../lib/rss.mjs';
import { canFuse, hasTool } from '../lib/tools.mjs';

const { values: args } = parseArgs({ options: { quick: { type: 'boolean', default: false }, json: { type: 'boolean', default: false } } });
const MiB = 1024 * 1024;
const ENTRIES = 2000;
const BIG = 1024 * MiB;
const MAX_PAGE = 2000; // Cloudreve's default max_page_size (the emulator's too)
const OFFSET = 512 * MiB + 12345; // an unaligned 1 KiB in the middle
const AUTH = /^(POST|GET|DELETE) \/session\//;

const { startCloudreveEmulator } = await import('../../dist/adapters/cloudreve/emulator/index.js').catch((e) => {
  console.error(`cannot load the build (${e.message}): run \`npm run build\` first`);
  process.exit(1);
});

const folder = {};
for (let i = 0; i < ENTRIES; i++) folder[`file-${String(i).padStart(5, '0')}.txt`] = `entry ${i}\n`;
const emulator = await startCloudreveEmulator({ seed: { ls: folder }, quota: 4 * BIG, maxPageSize: MAX_PAGE });
const big = Buffer.alloc(BIG); // zero pages: not resident until written or read
const marker = Buffer.from(Array.from({ length: 1024 }, (_, i) => (i * 7 + 3) & 255));
marker.copy(big, OFFSET);
emulator.store.seedFile(['big.bin'], big);
const minPages = Math.ceil(ENTRIES / MAX_PAGE);

/** Calls the emulator saw while `fn` ran, by route (login excluded), plus bytes of content served. */
async function counted(fn) {
  emulator.clearLog();
  const result = await fn();
  await new Promise((r) => setTimeout(r, 200)); // late read-ahead requests count too
  const calls = emulator.log.filter((e) => !AUTH.test(e.route));
  const byRoute = {};
  for (const e of calls) byRoute[e.route] = (byRoute[e.route] ?? 0) + 1;
  const content = calls.filter((e) => e.route === 'GET /file/content');
  return {
    result, total: calls.length, byRoute,
    listings: byRoute['GET /file'] ?? 0,
    ranged: content.length,
    contentBytes: content.reduce((s, e) => s + e.bytesOut, 0),
  };
}

const describe = (c) => Object.entries(c.byRoute).map(([r, n]) => `${n}× ${r}`).join(', ') || 'none';

const work = await mkdtemp(join(tmpdir(), 'cloudmount-bench-calls-'));
const backend = { kind: 'cloudreve', baseUrl: emulator.url, email: emulator.email, password: emulator.password };
const figures = [];
const frontends = [];
if (canFuse()) frontends.push('fuse');
else figures.push(skipped('FUSE: API calls', '—', 'no /dev/fuse or fusermount (apt-get install fuse)'));
frontends.push('webdav');

try {
  for (const kind of frontends) {
    const label = kind === 'fuse' ? 'FUSE' : 'WebDAV';
    const fe = await startFrontend(kind, backend, { mountpoint: join(work, 'mnt') });
    try {
      // Log in outside the counts (the first call of a session, not of an operation).
      if (kind === 'fuse') await sh(`stat ${fe.dir}/ > /dev/null`);
      else await (await fetch(fe.url, { method: 'PROPFIND', headers: { Depth: '0' } })).arrayBuffer();
      await new Promise((r) => setTimeout(r, 200));

      const lsOp = kind === 'fuse'
        ? async () => (await sh(`ls -l ${fe.dir}/ls | wc -l`)).stdout.trim()
        : async () => {
          const res = await fetch(`${fe.url}ls/`, { method: 'PROPFIND', headers: { Depth: '1' } });
          const text = await res.text();
          return String((text.match(/<(\w+:)?response[ >]/g) ?? []).length);
        };
      const opName = kind === 'fuse' ? `ls -l of ${ENTRIES} entries` : `PROPFIND Depth 1 of ${ENTRIES} entries`;
      const cold = await counted(lsOp);
      figures.push({
        figure: `${label}: ${opName}, cold (API calls)`,
        cloudmount: `${cold.total} (${describe(cold)})`,
        alternative: `${minPages} (page of ≤ ${MAX_PAGE})`,
        ratio: cold.total / minPages,
        target: `= ${minPages} listing page${minPages > 1 ? 's' : ''}`,
        met: judge(cold.total, '<=', minPages),
        note: `listed ${cold.result} lines`,
      });
      const warm = await counted(lsOp);
      figures.push({
        figure: `${label}: ${opName}, warm (API calls)`,
        cloudmount: `${warm.total}${warm.total ? ` (${describe(warm)})` : ''}`,
        alternative: '0',
        ratio: null,
        target: '= 0',
        met: judge(warm.total, '<=', 0),
      });

      const readOp = kind === 'fuse'
        ? async () => (await sh(`dd if=${fe.dir}/big.bin bs=1024 count=1 skip=${OFFSET} iflag=skip_bytes status=none | od -An -tx1 | tr -d ' \\n'`)).stdout
        : async () => {
          const res = await fetch(`${fe.url}big.bin`, { headers: { Range: `bytes=${OFFSET}-${OFFSET + 1023}` } });
          return Buffer.from(await res.arrayBuffer()).toString('hex');
        };
      const read = await counted(readOp);
      const ok = read.result === marker.toString('hex');
      figures.push({
        figure: `${label}: read 1 KiB at 512 MiB of a 1 GiB file (ranged requests)`,
        cloudmount: `${read.ranged} (${num(read.contentBytes / 1024, 0)} KiB fetched; all calls: ${describe(read)})`,
        alternative: '1',
        ratio: read.ranged,
        target: '= 1 ranged request',
        met: ok ? judge(read.ranged, '<=', 1) : false,
        ...(ok ? {} : { note: 'the bytes read were WRONG' }),
      });
    } finally {
      await fe.stop();
    }
  }
} finally {
  const rss = rssOf(process.pid);
  await emulator.close();
  await rm(work, { recursive: true, force: true }).catch(() => undefined);
  emit('calls', figures, { json: args.json, extra: { emulatorRssMiB: Math.round(rss?.rssMiB ?? NaN) } });
  if (!args.json) console.log(`\nemulator process RSS with the 1 GiB file seeded: ${num(rss?.rssMiB, 0)} MiB (zero pages are not resident)`);
}
