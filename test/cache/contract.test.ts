import { describeContract } from '../contract/suite.js';
import { MemoryVfs } from '../../adapters/memory/index.js';
import { CachedVfs } from '../../src/cache.js';

// CachedVfs with its defaults runs the contract over every adapter in test/contract/matrix.test.ts.
// Small blocks and a tiny block cache: every read crosses block boundaries and evicts, so the
// contract also holds when the block machinery (spans, read-ahead, eviction) is busy.
describeContract('CachedVfs(MemoryVfs) with 64 KiB blocks and a 512 KiB block cache', async () => ({
  vfs: new CachedVfs(new MemoryVfs(), { blockSize: 64 * 1024, blockCacheBytes: 512 * 1024, readAheadBytes: 256 * 1024 }),
}));
