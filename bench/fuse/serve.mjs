// The cloudmount side of the FUSE benchmark, in its own process (the benchmark drives the mount
// from outside, and reads this process's peak RSS from /proc). Usage:
//   node bench/fuse/serve.mjs <mountpoint> memory|local:<dir> [spoolDir]
// Prints "ready" once mounted; SIGTERM unmounts cleanly.
// CLOUDMOUNT_BENCH_DIST=<dir> serves from another build (A/B of a patched tree);
// CLOUDMOUNT_BENCH_FAST_DISPATCH=0 uses fuse-native's plain dispatch (for comparison);
// CLOUDMOUNT_BENCH_WRITE_BACK=1 mounts in write-back mode.
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const dist = process.env.CLOUDMOUNT_BENCH_DIST ? pathToFileURL(resolve(process.env.CLOUDMOUNT_BENCH_DIST)).href : new URL('../../dist', import.meta.url).href;
const { mountFuse } = await import(`${dist}/mount/fuse.js`);
const { MemoryVfs } = await import(`${dist}/adapters/memory/index.js`);
const { LocalVfs } = await import(`${dist}/adapters/local/index.js`);

const [mountpoint, backend = 'memory', spoolDir] = process.argv.slice(2);
const vfs = backend.startsWith('local:') ? new LocalVfs({ root: backend.slice('local:'.length) }) : new MemoryVfs();
const fastDispatch = process.env.CLOUDMOUNT_BENCH_FAST_DISPATCH !== '0';
// CLOUDMOUNT_BENCH_WRITE_BACK=1: write-back mode (uploads after the default delay, in the background).
const writeBack = process.env.CLOUDMOUNT_BENCH_WRITE_BACK === '1';
await mountFuse(vfs, mountpoint, { handleSignals: true, fastDispatch, ...(writeBack ? { writeBack: true } : {}), ...(spoolDir ? { spoolDir } : {}) });
console.log('ready');
