import { describeContract } from './suite.js';
import { MemoryVfs } from '../../adapters/memory/index.js';

describeContract('MemoryVfs', async () => ({ vfs: new MemoryVfs() }));
