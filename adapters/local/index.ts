export { LocalVfs } from './local-vfs.js';
export type { LocalVfsOptions } from './local-vfs.js';
