// FUSE benchmark: mountFuse(MemoryVfs) (upload on close, and write-back) against `rclone mount :memory:` (--vfs-cache-mode off and
// writes), the same operations on the same data, alternating runs; prints cloudmount ÷ rclone as a
// speed ratio (> 1 = cloudmount faster) beside the issue's targets. Then the peak RSS of the mount
// process while a 1 GiB file is copied in and out (LocalVfs backend, so the data is not held in the
// Vfs's own memory). Asserts nothing; says what is missing.
//   npm run build && node bench/fuse/run.mjs [--rounds 3] [--quick] [--ops read,create,ls,find,write] [--kinds cloudmount-wb,rclone-writes] [--no-rss]
// (env CLOUDMOUNT_BENCH_DIST / CLOUDMOUNT_BENCH_FAST_DISPATCH=0: see serve.mjs)
// The machine is shared: run it when the load average is low, figures swing a lot under load.
import { execFile, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '../..');
const args = process.argv.slice(2);
const ROUNDS = Number(args[args.indexOf('--rounds') + 1]) || 3;
const QUICK = args.includes('--quick');
const MiB = 1024 * 1024;
// --ops read,ls,…: only the operations whose name contains one of these words (and --no-rss skips the RSS run).
const ONLY = args.includes('--ops') ? args[args.indexOf('--ops') + 1].split(',') : undefined;
const RSS = !args.includes('--no-rss');
// --kinds cloudmount-wb,rclone-writes: only these contenders (e.g. to measure write-back alone).
const KINDS = args.includes('--kinds') ? args[args.indexOf('--kinds') + 1].split(',') : undefined;
const SIZES = QUICK ? { read: 50, write: 25, files: 200, ls: 500, find: 1000, big: 256 } : { read: 200, write: 100, files: 1000, ls: 2000, find: 5000, big: 1024 };

class SkipRss extends Error {}
const missing = [];
if (!existsSync(join(root, 'dist/mount/fuse.js'))) {
  console.log('dist/ is missing: run `npm run build` first.');
  process.exit(0);
}
if (!existsSync('/dev/fuse')) {
  console.log('/dev/fuse is missing: FUSE cannot be benchmarked on this machine.');
  process.exit(0);
}
const hasRclone = await run('rclone', ['version']).then(() => true, () => false);
if (!hasRclone) missing.push('rclone (apt-get install rclone): no comparison, cloudmount figures only');

const work = await mkdtemp(join(tmpdir(), 'cloudmount-bench-fuse-'));
const children = [];

async function sh(cmd) {
  const t = process.hrtime.bigint();
  await run('sh', ['-c', cmd], { maxBuffer: 256 * MiB, timeout: 600_000 });
  return Number(process.hrtime.bigint() - t) / 1e9;
}

async function waitMounted(dir, child) {
  for (let i = 0; i < 300; i++) {
    if (child.exitCode !== null) throw new Error(`mount process exited (${child.exitCode})`);
    const mounts = readFileSync('/proc/mounts', 'utf8');
    if (mounts.split('\n').some((l) => l.split(' ')[1] === dir)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${dir} did not mount`);
}

/** Start one mount; returns { name, dir, pid, stop() }. */
async function startMount(kind, backend = 'memory') {
  const dir = join(work, `mnt-${kind}-${children.length}`);
  await mkdir(dir, { recursive: true });
  let child;
  if (kind === 'cloudmount' || kind === 'cloudmount-wb') {
    // cloudmount-wb: write-back mode (close() returns once the file is durable in the spool; issue 19).
    const env = { ...process.env, ...(kind === 'cloudmount-wb' ? { CLOUDMOUNT_BENCH_WRITE_BACK: '1' } : {}) };
    child = spawn(process.execPath, [join(here, 'serve.mjs'), dir, backend, join(work, `spool-${kind}`)], { stdio: ['ignore', 'ignore', 'inherit'], env });
  } else {
    const mode = kind === 'rclone-off' ? 'off' : 'writes';
    child = spawn('rclone', ['mount', ':memory:', dir, '--config', join(work, 'rclone.conf'), '--vfs-cache-mode', mode,
      '--cache-dir', join(work, `rclone-cache-${children.length}`), '--log-level', 'ERROR'], { stdio: ['ignore', 'ignore', 'ignore'] });
  }
  children.push(child);
  await waitMounted(dir, child);
  return {
    name: kind, dir, pid: child.pid,
    async stop() {
      child.kill('SIGTERM');
      await new Promise((r) => (child.exitCode !== null ? r() : child.once('exit', r)));
      await run('sh', ['-c', `grep -q " ${dir} " /proc/mounts && fusermount -u -z ${dir}; true`]);
    },
  };
}

async function prepareSources() {
  const src = join(work, 'src');
  await mkdir(join(src, 'small'), { recursive: true });
  await mkdir(join(src, 'ls'), { recursive: true });
  await sh(`head -c ${SIZES.read * MiB} /dev/urandom > ${src}/read.bin`);
  const four = Buffer.alloc(4096, 7);
  for (let i = 0; i < SIZES.files; i++) await writeFile(join(src, 'small', `f${i}`), four);
  for (let i = 0; i < SIZES.ls; i++) await writeFile(join(src, 'ls', `entry-${i}.txt`), `entry ${i}\n`);
  const dirs = Math.ceil(SIZES.find / 100);
  for (let d = 0; d < dirs; d++) {
    await mkdir(join(src, 'tree', `d${d}`), { recursive: true });
    for (let i = 0; i < 99; i++) await writeFile(join(src, 'tree', `d${d}`, `f${i}`), '');
  }
  return src;
}

/** Seed a mount through itself (the same procedure for every contender). */
async function seed(m, src) {
  await sh(`cp ${src}/read.bin ${m.dir}/read.bin && cp -r ${src}/ls ${m.dir}/ls && cp -r ${src}/tree ${m.dir}/tree`);
  await new Promise((r) => setTimeout(r, 1500)); // let caches expire so listings are fetched afresh
}

const canDropCaches = await writeFile('/proc/sys/vm/drop_caches', '1').then(() => true, () => false);
if (!canDropCaches) missing.push('cannot drop the page cache (not root?): "cold" reads may be warm');
const dropCaches = () => (canDropCaches ? writeFile('/proc/sys/vm/drop_caches', '1') : Promise.resolve());

const ops = {
  // Cold: the page cache is dropped first, so every byte comes through the mount process.
  'sequential read (cold)': async (m) => {
    await dropCaches();
    return sh(`dd if=${m.dir}/read.bin of=/dev/null bs=1M status=none`);
  },
  // Warm: the same file again at once (what a second `cat`, an IDE or a build does).
  // (read once untimed first: another contender's cold read just dropped the page cache)
  'sequential re-read (warm)': async (m) => {
    await sh(`dd if=${m.dir}/read.bin of=/dev/null bs=1M status=none`);
    return sh(`dd if=${m.dir}/read.bin of=/dev/null bs=1M status=none`);
  },
  'sequential write': (m, round) => sh(`dd if=/dev/zero of=${m.dir}/write-${round}.bin bs=1M count=${SIZES.write} status=none`),
  [`create ${SIZES.files} 4 KiB files`]: (m, round, src) => sh(`cp -r ${src}/small ${m.dir}/small-${round}`),
  [`ls -l of ${SIZES.ls}`]: (m) => sh(`ls -l ${m.dir}/ls > /dev/null`),
  [`find over ${SIZES.find}`]: (m) => sh(`find ${m.dir}/tree > /dev/null`),
};
if (ONLY) for (const op of Object.keys(ops)) if (!ONLY.some((w) => op.includes(w))) delete ops[op];
const targets = { 'sequential read (cold)': 2.0, 'sequential re-read (warm)': 2.0, 'sequential write': 1.0 };

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

try {
  const src = await prepareSources();
  const kinds = ['cloudmount', 'cloudmount-wb', ...(hasRclone ? ['rclone-off', 'rclone-writes'] : [])].filter((k) => !KINDS || KINDS.includes(k));
  const rclones = kinds.filter((k) => k.startsWith('rclone'));
  await writeFile(join(work, 'rclone.conf'), '');
  const mounts = [];
  for (const kind of kinds) {
    const m = await startMount(kind);
    // Writes and creates need no seeded files (and seeding a write-back mount would leave its queue busy).
    if (Object.keys(ops).some((op) => !op.startsWith('sequential write') && !op.startsWith('create'))) await seed(m, src);
    mounts.push(m);
  }
  const times = Object.fromEntries(Object.keys(ops).map((op) => [op, Object.fromEntries(kinds.map((k) => [k, []]))]));
  for (let round = 0; round < ROUNDS; round++) {
    for (const op of Object.keys(ops)) {
      // Alternate who goes first, so neither side always meets a warmer machine.
      const order = round % 2 === 0 ? mounts : [...mounts].reverse();
      for (const m of order) times[op][m.name].push(await ops[op](m, round, src));
      if (op.startsWith('ls') || op.startsWith('find')) await new Promise((r) => setTimeout(r, 1100));
    }
  }
  console.log(`\nFUSE benchmark (${ROUNDS} rounds, median seconds; ratio = rclone time ÷ cloudmount time, > 1 means cloudmount is faster; load average ${loadavg()[0].toFixed(1)})\n`);
  const header = ['operation', ...kinds.map((k) => `${k} s`), ...rclones.map((k) => `× vs ${k}`), ...(hasRclone ? ['wb × vs rclone-writes'] : []), 'target'];
  const rows = [header];
  for (const op of Object.keys(ops)) {
    const med = Object.fromEntries(kinds.map((k) => [k, median(times[op][k])]));
    const mbps = op.startsWith('sequential re') ? SIZES.read : op === 'sequential write' ? SIZES.write : 0;
    rows.push([
      op,
      ...kinds.map((k) => `${med[k].toFixed(3)}${mbps ? ` (${(mbps / med[k]).toFixed(0)} MiB/s)` : ''}`),
      ...rclones.map((k) => (med.cloudmount ? (med[k] / med.cloudmount).toFixed(2) : '-')),
      ...(hasRclone ? [med['rclone-writes'] && med['cloudmount-wb'] ? (med['rclone-writes'] / med['cloudmount-wb']).toFixed(2) : '-'] : []),
      `≥ ${(targets[op] ?? 1.0).toFixed(1)}×`,
    ]);
  }
  const widths = header.map((_, i) => Math.max(...rows.map((r) => String(r[i]).length)));
  for (const r of rows) console.log(r.map((c, i) => String(c).padEnd(widths[i])).join('  '));
  for (const m of mounts) await m.stop();

  // Peak RSS of the cloudmount process while a big file goes in and out (disk-backed LocalVfs).
  if (!RSS) throw new SkipRss();
  const store = join(work, 'local-store');
  await mkdir(store, { recursive: true });
  const m = await startMount('cloudmount', `local:${store}`);
  await writeFile(`/proc/${m.pid}/clear_refs`, '5').catch(() => missing.push('cannot reset VmHWM: peak RSS includes start-up'));
  const tIn = await sh(`dd if=/dev/zero of=${m.dir}/big.bin bs=1M count=${SIZES.big} status=none`);
  await dropCaches();
  const tOut = await sh(`dd if=${m.dir}/big.bin of=/dev/null bs=1M status=none`);
  const status = readFileSync(`/proc/${m.pid}/status`, 'utf8');
  const hwm = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
  console.log(`\npeak RSS of the mount process copying a ${SIZES.big} MiB file in (${(SIZES.big / tIn).toFixed(0)} MiB/s) and out (${(SIZES.big / tOut).toFixed(0)} MiB/s): ${hwm.toFixed(0)} MB (target ≤ 150 MB)`);
  await m.stop();
} catch (e) {
  if (!(e instanceof SkipRss)) throw e;
} finally {
  for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 500));
  await run('sh', ['-c', `for d in ${work}/mnt-*; do grep -q " $d " /proc/mounts && fusermount -u -z $d; done; true`]);
  await rm(work, { recursive: true, force: true }).catch(() => undefined);
  if (missing.length) console.log(`\nmissing: ${missing.join('; ')}`);
}
