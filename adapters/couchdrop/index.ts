/** The Couchdrop provider: its Vfs, API client, error table and emulator. */
export { CouchdropVfs } from './vfs.js';
export type { CouchdropVfsConfig, CouchdropVfsOptions, CouchdropVfsSettings } from './vfs.js';
export { CouchdropClient } from './client.js';
export type { ByteRange, CouchdropClientOptions, UploadBody } from './client.js';
export type { CouchdropCredentials } from './auth.js';
export { COUCHDROP_STATUS, couchdropError, ruleFor } from './codes.js';
export type { StatusRule } from './codes.js';
export { DEFAULT_API_URL, DEFAULT_FILEIO_URL, DEFAULT_PROVISIONAL_ROUTES } from './routes.js';
export type { CouchdropDeleteRoute, CouchdropProvisionalRoutes, CouchdropRenameRoute, CouchdropRouteOverrides } from './routes.js';
export { startCouchdropEmulator, DEMO_SEED } from './emulator/index.js';
export type {
  CouchdropEmulator, CouchdropEmulatorOptions, CouchdropSeed, FaultKind, FaultRule, RateLimitOptions, RequestLogEntry, TokenPermissions,
} from './emulator/index.js';
