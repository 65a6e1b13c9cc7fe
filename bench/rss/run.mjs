#!/usr/bin/env node
// Peak RSS of the process serving each frontend (FUSE mount, WebDAV share) while a 1 GiB file is
// copied in and then out through it. The backend is LocalVfs on a temp folder, so the file's bytes
// are not held by the Vfs itself: what is measured is the frontend's (and cache's) own memory.
// Peak = the kernel's VmHWM after resetting it once the frontend is up (start-up does not count).
// A third figure: the FUSE mount with the disk cache (--cache-dir, 10 GiB limit), the file read out
// twice (fetched and written to the cache, then served from it).
// Target ≤ 150 MB. The alternative is rclone on the same copy (`rclone serve webdav` / `rclone mount`
// with --vfs-cache-mode writes over a local folder), shown for comparison; it has no target.
//   npm run build && node bench/rss/run.mjs [--quick] [--json] [--mib 1024]
import { spawn } from 'node:child_process';
import { writeFile, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { emit, judge, num, skipped } from '../lib/figures.mjs';
import { isMounted, sh, startFrontend } from '../lib/frontend.mjs';
import { watchPeakRss } from '../lib/rss.mjs';
import { canFuse, hasTool } from '../lib/tools.mjs';

const { values: args } = parseArgs({
  options: { quick: { type: 'boolean', default: false }, json: { type: 'boolean', default: false }, mib: { type: 'string' } },
});
const SIZE_MIB = Number(args.mib ?? (args.quick ? 256 : 1024));
const LIMIT_MB = 150;
const work = await mkdtemp(join(tmpdir(), 'cloudmount-bench-rss-'));
const figures = [];
const fig = (label) => `peak RSS copying ${SIZE_MIB >= 1024 ? `${SIZE_MIB / 1024} GiB` : `${SIZE_MIB} MiB`} in and out through the ${label}`;
const dropCaches = () => writeFile('/proc/sys/vm/drop_caches', '1').catch(() => undefined);
const hasCurl = hasTool('curl');
const hasRclone = hasTool('rclone');

// The source: a sparse file reads as zeros at memory speed and takes no disk.
const source = join(work, 'source.bin');
await sh(`truncate -s ${SIZE_MIB}M ${source}`);

async function copyFuse(dir) {
  await sh(`dd if=${source} of=${dir}/big.bin bs=1M status=none`);
  await dropCaches();
  const { stdout } = await sh(`cat ${dir}/big.bin | wc -c`);
  return Number(stdout);
}

/** In, out (fetched and written to the disk cache), and out again (served from the disk cache). */
async function copyFuseCached(dir) {
  const bytes = await copyFuse(dir);
  await dropCaches();
  const { stdout } = await sh(`cat ${dir}/big.bin | wc -c`);
  if (Number(stdout) !== bytes) throw new Error(`second read gave ${stdout.trim()} bytes, expected ${bytes}`);
  return bytes;
}

async function copyWebdav(url) {
  const put = await sh(`curl -s -o /dev/null -w '%{http_code}' -T ${source} '${url}big.bin'`);
  if (!/^20[01]|204/.test(put.stdout)) throw new Error(`PUT answered ${put.stdout}`);
  const { stdout } = await sh(`curl -s -o /dev/null -w '%{size_download}' '${url}big.bin'`);
  return Number(stdout);
}

/** rclone serving a local folder the same way; returns { pid, url|dir, stop }. */
async function startRclone(kind, root) {
  const cacheDir = join(work, 'rclone-cache');
  if (kind === 'webdav') {
    const { createServer } = await import('node:net');
    const port = await new Promise((r) => { const s = createServer().listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => r(p)); }); });
    const child = spawn('rclone', ['serve', 'webdav', root, '--addr', `127.0.0.1:${port}`, '--config', '/dev/null', '-q'], { stdio: 'ignore' });
    const url = `http://127.0.0.1:${port}/`;
    for (let i = 0; i < 100; i++) {
      if (await fetch(url, { method: 'OPTIONS' }).then((r) => r.arrayBuffer().then(() => true), () => false)) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    return { pid: child.pid, url, stop: async () => { child.kill('SIGTERM'); await new Promise((r) => (child.exitCode !== null ? r() : child.once('exit', r))); } };
  }
  const dir = join(work, 'rclone-mnt');
  await mkdir(dir, { recursive: true });
  const child = spawn('rclone', ['mount', root, dir, '--config', '/dev/null', '--vfs-cache-mode', 'writes', '--cache-dir', cacheDir, '--log-level', 'ERROR'], { stdio: 'ignore' });
  for (let i = 0; i < 100 && !isMounted(dir); i++) await new Promise((r) => setTimeout(r, 100));
  return {
    pid: child.pid, dir,
    stop: async () => {
      child.kill('SIGTERM');
      await new Promise((r) => (child.exitCode !== null ? r() : child.once('exit', r)));
      if (isMounted(dir)) await sh(`fusermount -u -z ${dir}`).catch(() => undefined);
    },
  };
}

async function one(kind, start) {
  const root = join(work, `store-${kind}-${Math.random().toString(36).slice(2)}`);
  await mkdir(root, { recursive: true });
  const fe = await start(root);
  try {
    await new Promise((r) => setTimeout(r, 300));
    const watch = watchPeakRss(fe.pid);
    const bytes = kind === 'fuse-cached' ? await copyFuseCached(fe.dir) : kind === 'fuse' ? await copyFuse(fe.dir) : await copyWebdav(fe.url);
    const { peakMiB, method } = watch.stop();
    if (bytes !== SIZE_MIB * 1024 * 1024) throw new Error(`copied out ${bytes} bytes, expected ${SIZE_MIB} MiB`);
    return { peakMB: (peakMiB * 1024 * 1024) / 1e6, method };
  } finally {
    await fe.stop();
    await rm(root, { recursive: true, force: true });
  }
}

try {
  for (const kind of ['fuse', 'webdav']) {
    const label = kind === 'fuse' ? 'FUSE mount' : 'WebDAV share';
    if (kind === 'fuse' && !canFuse()) { figures.push(skipped(fig(label), `≤ ${LIMIT_MB} MB`, 'no /dev/fuse or fusermount (apt-get install fuse)')); continue; }
    if (kind === 'webdav' && !hasCurl) { figures.push(skipped(fig(label), `≤ ${LIMIT_MB} MB`, 'curl is missing (apt-get install curl)')); continue; }
    try {
      const mine = await one(kind, (root) => startFrontend(kind, { kind: 'local', root }, { mountpoint: join(work, 'mnt') }));
      const theirs = hasRclone ? await one(kind, (root) => startRclone(kind, root)).catch((e) => ({ error: e.message })) : { error: 'rclone missing' };
      figures.push({
        figure: fig(label),
        cloudmount: `${num(mine.peakMB, 0)} MB`,
        alternative: theirs.error ? `— (${theirs.error})` : `${num(theirs.peakMB, 0)} MB (rclone ${kind === 'fuse' ? 'mount, cache writes' : 'serve webdav'})`,
        ratio: null,
        target: `≤ ${LIMIT_MB} MB`,
        met: judge(mine.peakMB, '<=', LIMIT_MB),
        note: `measured as ${mine.method}`,
      });
    } catch (e) {
      figures.push({ ...skipped(fig(label), `≤ ${LIMIT_MB} MB`, `failed: ${e.message}`), met: false });
    }
  }
  // The disk cache (issue 19): a 10 GiB limit, the file read out twice (the second time from disk).
  const cachedLabel = 'FUSE mount with --cache-dir (10 GiB limit; read out twice, the second time from the disk cache)';
  if (!canFuse()) figures.push(skipped(fig(cachedLabel), `≤ ${LIMIT_MB} MB`, 'no /dev/fuse or fusermount (apt-get install fuse)'));
  else {
    try {
      const cacheDir = join(work, 'disk-cache');
      const frontend = { cache: { cacheDir, cacheMaxSize: 10 * 1024 ** 3, cacheMinFreeSpace: 0 } };
      const mine = await one('fuse-cached', (root) => startFrontend('fuse', { kind: 'local', root, frontend }, { mountpoint: join(work, 'mnt') }));
      const { stdout } = await sh(`du -sk ${cacheDir}`);
      const cachedMiB = Number(stdout.split(/\s/)[0]) / 1024;
      figures.push({
        figure: fig(cachedLabel),
        cloudmount: `${num(mine.peakMB, 0)} MB`,
        alternative: '—',
        ratio: null,
        target: `≤ ${LIMIT_MB} MB`,
        met: judge(mine.peakMB, '<=', LIMIT_MB),
        note: `measured as ${mine.method}; ${num(cachedMiB, 0)} MiB in the cache dir afterwards`,
      });
    } catch (e) {
      figures.push({ ...skipped(fig(cachedLabel), `≤ ${LIMIT_MB} MB`, `failed: ${e.message}`), met: false });
    }
  }
} finally {
  await rm(work, { recursive: true, force: true }).catch(() => undefined);
}
emit('rss', figures, { json: args.json });
