/** The Couchdrop emulator: a faithful fake of the Couchdrop REST API for tests, benchmarks and demos. */
export { startCouchdropEmulator } from './server.js';
export type { CouchdropEmulator, CouchdropEmulatorOptions } from './server.js';
export type { FaultKind, FaultRule } from './faults.js';
export type { RateLimitOptions } from './rate-limit.js';
export type { RequestLogEntry } from './request-log.js';
export type { EmulatorStaticToken, EmulatorUser, TokenPermissions } from './tokens.js';
export type { FileRouteSettings } from './file-routes.js';
export { DEMO_SEED } from './seed.js';
export type { CouchdropSeed } from './seed.js';
