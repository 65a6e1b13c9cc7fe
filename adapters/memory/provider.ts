/** `memory:`: an empty in-memory store on every start, for trying things. */
import type { ProviderDescriptor } from '../../src/provider.js';

export const memoryProvider: ProviderDescriptor = {
  type: 'memory',
  description: 'an empty in-memory store (lost when the process ends)',
  fields: [],
  async open() {
    const { MemoryVfs } = await import('./memory-vfs.js');
    return new MemoryVfs();
  },
};
