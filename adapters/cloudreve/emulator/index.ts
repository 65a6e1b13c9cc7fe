/** The Cloudreve v4 emulator (tests, benchmarks and `cloudmount emulate cloudreve`). */
export { startCloudreveEmulator } from './server.js';
export type { CloudreveEmulator, CloudreveEmulatorOptions, FaultKind } from './server.js';
export type { RequestLogEntry } from './http.js';
export { DEMO_SEED } from './seed.js';
