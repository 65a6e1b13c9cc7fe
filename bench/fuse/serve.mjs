// The cloudmount side of the FUSE benchmark, in its own process (the benchmark drives the mount
// from outside, and reads this process's peak RSS from /proc). Usage:
//   node bench/fuse/serve.mjs <mountpoint> memory|local:<dir> [spoolDir]
// Prints "ready" once mounted; SIGTERM unmounts cleanly.
import { mountFuse } from '../../dist/mount/fuse.js';
import { MemoryVfs } from '../../dist/adapters/memory/index.js';
import { LocalVfs } from '../../dist/adapters/local/index.js';

const [mountpoint, backend = 'memory', spoolDir] = process.argv.slice(2);
const vfs = backend.startsWith('local:') ? new LocalVfs({ root: backend.slice('local:'.length) }) : new MemoryVfs();
await mountFuse(vfs, mountpoint, { handleSignals: true, ...(spoolDir ? { spoolDir } : {}) });
console.log('ready');
