import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeContract } from './suite.js';
import { LocalVfs } from '../../adapters/local/index.js';

describeContract('LocalVfs', async () => {
  const root = await mkdtemp(join(tmpdir(), 'cloudmount-local-'));
  return { vfs: new LocalVfs({ root }), cleanup: () => rm(root, { recursive: true, force: true }) };
});
