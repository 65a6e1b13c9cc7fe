#!/usr/bin/env node
// Freshness (issue 18): how soon a change made elsewhere shows, and what an idle, browsed mount costs.
//
// 1. Staleness: a SECOND client writes a new file through the Cloudreve emulator's API (feed debounce
//    1 s); then, from the moment its write returned, the time until it shows in `stat` through a
//    CachedVfs (5-minute-plus TTLs, following the feed), `ls` on a FUSE mount (from a child process)
//    and PROPFIND on a WebDAV share. Each probe repeats every 50 ms. Target: p99 ≤ debounce + 1 s.
//    Alternative: rclone mounting Cloudreve's WebDAV shows a new file after its --dir-cache-time
//    (5 min by default; a configuration value, not measured here).
// 2. Idle cost: 100 folders browsed once, then revisited (listed) every 30 s for 10 minutes, as a file
//    manager or media scanner does, with no change anywhere: provider requests in the 10 minutes
//    (login excluded), with the feed vs TTL-only caching (today's 10 s TTLs, `watch` off).
//    --quick: 1 minute, revisits every 3 s (the same 20 rounds), the counts reported as measured.
//
//   npm run build && node bench/freshness/run.mjs [--quick] [--json] [--rounds N]
import { mkdtemp, rm } from 'node:fs/promises';
import { execFile } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { emit, judge, num, skipped } from '../lib/figures.mjs';
import { canFuse } from '../lib/tools.mjs';

const { values: args } = parseArgs({
  options: { quick: { type: 'boolean', default: false }, json: { type: 'boolean', default: false }, rounds: { type: 'string' } },
});
const quick = args.quick;
const ROUNDS = Number(args.rounds ?? (quick ? 5 : 20));
const DEBOUNCE_MS = 1000;
const FOLDERS = 100;
const IDLE_MS = quick ? 60_000 : 600_000;
const REVISIT_MS = quick ? 3_000 : 30_000;
const AUTH = /^(POST|GET|DELETE) \/session\//;

const load = (p) => import(`../../dist/${p}`).catch((e) => {
  console.error(`cannot load the build (${e.message}): run \`npm run build\` first`);
  process.exit(1);
});
const { startCloudreveEmulator, CloudreveVfs } = await load('adapters/cloudreve/index.js');
const { CachedVfs } = await load('src/cache.js');
const { serveWebdav } = await load('mount/webdav.js');
const { mountFuse } = await load('mount/fuse.js');

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const sh = (cmd) => new Promise((resolve) => execFile('sh', ['-c', cmd], { timeout: 10_000 }, (err, stdout) => resolve(err ? '' : String(stdout))));
const p99 = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(0.99 * s.length) - 1)];
};
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** ms until `probe()` is true, probing every `every` ms, from `t0`; Infinity after `limit` ms. */
async function until(t0, probe, every = 50, limit = 60_000) {
  for (;;) {
    if (await probe().catch(() => false)) return performance.now() - t0;
    if (performance.now() - t0 > limit) return Infinity;
    await sleep(every);
  }
}

const figures = [];
const work = await mkdtemp(join(tmpdir(), 'cloudmount-bench-fresh-'));

// ---- 1. staleness -------------------------------------------------------------------------------
{
  const emu = await startCloudreveEmulator({ feed: { debounceMs: DEBOUNCE_MS } });
  const creds = { baseUrl: emu.url, email: emu.email, password: emu.password, stateDir: false };
  const other = new CloudreveVfs(creds);
  const libVfs = new CloudreveVfs(creds);
  const cache = new CachedVfs(libVfs, { watch: true });
  const davVfs = new CloudreveVfs(creds);
  const dav = await serveWebdav(davVfs, { cache: { watch: true } });
  const fuseVfs = new CloudreveVfs(creds);
  const fuse = canFuse() ? await mountFuse(fuseVfs, join(work, 'mnt'), { cache: { watch: true }, spoolDir: join(work, 'spool') }) : undefined;
  const times = { stat: [], propfind: [], ls: [] };
  try {
    await other.mkdir('/fresh');
    await Promise.all([cache.whenWatching(), dav.vfs.whenWatching(), fuse?.vfs.whenWatching()]);
    // Warm every cache with the folder's (empty) listing first: the change must beat a cached answer.
    await sleep(DEBOUNCE_MS * 2);
    for (let i = 0; i < ROUNDS; i++) {
      await cache.list('/fresh');
      await (await fetch(`${dav.url}fresh/`, { method: 'PROPFIND', headers: { Depth: '1' } })).text();
      if (fuse) await sh(`ls ${fuse.mountpoint}/fresh`);
      const name = `file-${i}.txt`;
      await other.write(`/fresh/${name}`, Buffer.from(`round ${i}`));
      const t0 = performance.now();
      const [a, b, c] = await Promise.all([
        until(t0, async () => (await cache.stat(`/fresh/${name}`)).size > 0),
        until(t0, async () => (await (await fetch(`${dav.url}fresh/`, { method: 'PROPFIND', headers: { Depth: '1' } })).text()).includes(name)),
        fuse ? until(t0, async () => (await sh(`ls ${fuse.mountpoint}/fresh`)).includes(name), 100) : Promise.resolve(NaN),
      ]);
      times.stat.push(a);
      times.propfind.push(b);
      if (fuse) times.ls.push(c);
    }
  } finally {
    await fuse?.unmount();
    await dav.close();
    await cache.close();
    for (const v of [other, davVfs, fuseVfs]) await v.close();
    await emu.close();
  }
  const target = DEBOUNCE_MS + 1000;
  const row = (label, xs) => ({
    figure: `staleness: a second client's new file seen by ${label} (p99 of ${xs.length}, feed debounce ${DEBOUNCE_MS / 1000} s)`,
    cloudmount: `${num(p99(xs) / 1000, 2)} s (median ${num(median(xs) / 1000, 2)} s)`,
    alternative: '300 s (rclone mount of Cloudreve WebDAV, --dir-cache-time default)',
    ratio: p99(xs) / 300_000,
    target: `≤ ${target / 1000} s`,
    met: judge(p99(xs), '<=', target),
  });
  figures.push(row('stat through CachedVfs', times.stat));
  figures.push(row('PROPFIND on the WebDAV share', times.propfind));
  if (fuse) figures.push(row('ls on the FUSE mount', times.ls));
  else figures.push(skipped('staleness: ls on the FUSE mount', `≤ ${target / 1000} s`, 'no /dev/fuse or fusermount'));
}

// ---- 2. idle cost -------------------------------------------------------------------------------
{
  /** Requests the emulator got while 100 folders were revisited for IDLE_MS (first browse excluded). */
  const idle = async (watch) => {
    const seed = {};
    for (let i = 0; i < FOLDERS; i++) seed[`folder-${i}`] = { 'a.txt': 'a' };
    const emu = await startCloudreveEmulator({ seed, feed: { debounceMs: DEBOUNCE_MS } });
    const vfs = new CloudreveVfs({ baseUrl: emu.url, email: emu.email, password: emu.password, stateDir: false });
    const cache = new CachedVfs(vfs, { watch });
    try {
      await cache.whenWatching();
      const browse = () => Promise.all(Array.from({ length: FOLDERS }, (_, i) => cache.list(`/folder-${i}`)));
      await browse();
      await sleep(200);
      emu.clearLog();
      const t0 = Date.now();
      while (Date.now() - t0 < IDLE_MS) {
        await sleep(REVISIT_MS);
        await browse();
      }
      const calls = emu.log.filter((e) => !AUTH.test(e.route));
      const byRoute = {};
      for (const e of calls) byRoute[e.route] = (byRoute[e.route] ?? 0) + 1;
      // The feed's stream, opened before the window and still open, is a request of this window too.
      const streams = watch ? emu.feed.online() : 0;
      if (streams) byRoute['GET /file/events (open since the start)'] = streams;
      return { total: calls.length + streams, byRoute };
    } finally {
      await cache.close();
      await emu.close();
    }
  };
  const [fed, ttl] = await Promise.all([idle(true), idle(false)]);
  const describe = (c) => Object.entries(c.byRoute).map(([r, n]) => `${n}× ${r}`).join(', ') || 'none';
  const span = `${IDLE_MS / 60_000} min`;
  figures.push({
    figure: `idle cost: provider requests in ${span}, ${FOLDERS} folders revisited every ${REVISIT_MS / 1000} s, no changes`,
    cloudmount: `${fed.total} (${describe(fed)})`,
    alternative: `${ttl.total} (TTL-only cache, 10 s TTLs: ${describe(ttl)})`,
    ratio: ttl.total ? fed.total / ttl.total : null,
    target: '≤ 5',
    met: judge(fed.total, '<=', 5),
  });
}

await rm(work, { recursive: true, force: true }).catch(() => undefined);
emit('freshness', figures, { json: args.json });
