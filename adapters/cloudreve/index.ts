/** Cloudreve v4: the Vfs adapter, its API client, and the emulator used by tests and `cloudmount emulate`. */
export { CloudreveVfs } from './vfs.js';
export type { CloudreveVfsOptions } from './vfs.js';
export { CloudreveClient } from './client.js';
export type { CloudreveClientOptions } from './client.js';
export type { CloudreveTokens } from './auth.js';
export { CLOUDREVE_CODES, lookupCode } from './codes.js';
export type { CodeInfo } from './codes.js';
export { encodeName, decodeName } from './names.js';
export { pathToUri, uriToPath } from './uri.js';
export { startCloudreveEmulator } from './emulator/index.js';
export type { CloudreveEmulator, CloudreveEmulatorOptions, FaultKind, RequestLogEntry } from './emulator/index.js';
