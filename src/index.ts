/**
 * cloudmount's public API: the Vfs contract, its errors and path rules, the adapters and the frontends.
 * Later layers add their exports here.
 */
export type {
  Entry, EntryType, MoveOptions, OpOptions, ReadOptions, RemoveOptions, SpaceInfo, Vfs, VfsCapabilities, WriteData,
  WriteOptions, VfsChange, WatchOptions, DeadProperty, DeadPropertyPatch, DeadPropertyStore, ShareLink, ShareLinkOptions, ShareLinkStore,
} from './vfs.js';
export { ChangeHub, ChangeQueue, ListingPoller } from './watch.js';
export { DEFAULT_CAPABILITIES, hasDeadPropertyStore, hasShareLinks } from './vfs.js';
export { mtimeSupportOf } from './vfs.js';
export type { MtimeSupport } from './vfs.js';
export { VfsError, errnoNumber, isVfsError, opError, toVfsError } from './errors.js';
export type { ErrnoCode, ErrorRule, VfsErrorDetails, VfsErrorOptions } from './errors.js';
export { AdapterVfs } from './adapter-vfs.js';
export type { CheckedReadOptions } from './adapter-vfs.js';
export { normalizePath, parentPath, baseName, joinPath, splitPath, isSameOrInside, MAX_NAME_BYTES, MAX_PATH_BYTES } from './path.js';
export { redact, registerSecret } from './redact.js';
export { createLogger, silentLogger } from './log.js';
export type { Logger, LogLevel, LoggerOptions } from './log.js';
export { MemoryVfs } from '../adapters/memory/index.js';
export type { MemoryVfsOptions, SeedTree } from '../adapters/memory/index.js';
export { Scheduler } from './scheduler/index.js';
export type { SchedulerOptions, RunOptions, SchedulerStats, SchedulerEvents } from './scheduler/index.js';
export { httpFetch, httpRequest } from './http/fetch.js';
export type { HttpInit, HttpBody } from './http/fetch.js';
export { parseRetryAfter } from './http/status.js';
export { mountFuse, listPendingUploads, retryPendingUpload, discardPendingUpload, defaultSpoolDir } from '../mount/fuse.js';
export type { FuseMount, FuseMountOptions, PendingUpload, RetryOptions } from '../mount/fuse.js';
export { CachedVfs, CACHE_DEFAULTS, versionKey } from './cache.js';
export { ForwardingVfs } from './forward.js';
export { ReadonlyVfs, readOnlyView } from './readonly-vfs.js';
export type { CacheOptions, CacheStats, ResolvedCacheOptions } from './cache.js';
export { CloudreveVfs, CloudreveClient, startCloudreveEmulator, CLOUDREVE_CODES } from '../adapters/cloudreve/index.js';
export type {
  CloudreveVfsOptions, CloudreveClientOptions, CloudreveTokens, CloudreveEmulator, CloudreveEmulatorOptions, FaultKind as CloudreveFaultKind,
  RequestLogEntry as CloudreveRequestLogEntry,
} from '../adapters/cloudreve/index.js';
export { CouchdropVfs, CouchdropClient, startCouchdropEmulator, COUCHDROP_STATUS, DEFAULT_PROVISIONAL_ROUTES as COUCHDROP_PROVISIONAL_ROUTES } from '../adapters/couchdrop/index.js';
export type {
  CouchdropVfsConfig, CouchdropVfsOptions, CouchdropVfsSettings, CouchdropClientOptions, CouchdropCredentials, CouchdropRouteOverrides, CouchdropEmulator,
  CouchdropEmulatorOptions, CouchdropSeed, FaultKind as CouchdropFaultKind, FaultRule as CouchdropFaultRule, RequestLogEntry as CouchdropRequestLogEntry, TokenPermissions as CouchdropTokenPermissions,
} from '../adapters/couchdrop/index.js';
export { serveWebdav, DEFAULT_JUNK_PATTERNS } from '../mount/webdav.js';
export { HTTP_STATUS_BY_CODE, httpStatusFor } from '../mount/webdav/status.js';
export type { WebdavOptions, WebdavServer, WebdavUsers } from '../mount/webdav.js';
