import { describeContract } from './suite.js';
import { MemoryVfs } from '../../adapters/memory/index.js';
import { SubtreeVfs } from '../../src/subtree-vfs.js';
import { MeteredVfs } from '../../src/metered-vfs.js';

// The CLI serves `remote:/sub/dir` through these two wrappers: they must keep every contract rule.
describeContract('SubtreeVfs(MeteredVfs(MemoryVfs)) rooted at /share/inner', async () => {
  const base = new MemoryVfs();
  await base.mkdir('/share');
  await base.mkdir('/share/inner');
  await base.write('/outside.txt', Buffer.from('not visible'));
  return { vfs: new SubtreeVfs(new MeteredVfs(base), '/share/inner') };
});
