export { MemoryVfs } from './memory-vfs.js';
export type { MemoryVfsOptions, SeedTree } from './memory-vfs.js';
