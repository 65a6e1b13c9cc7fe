/**
 * Route names and parameter names of the Couchdrop file API, shared by the client and the emulator.
 *
 * ls, lstat, download, upload and mkdir are known (docs or working client code). The rename and delete
 * routes are PROVISIONAL: their doc pages exist but could not be read, and no public client calls them
 * (see docs/api reference §3.6–3.7). Their defaults are the most plausible reading — SFTP-style verbs
 * like the known `ls`/`lstat`/`mkdir`, POST, `path` as everywhere else, and a snake_case `new_path`
 * like the admin API's `permissions_path`/`source_path` — and every part of them is configuration.
 * Verify against the real service before depending on rename or remove.
 */

/** Where the rename call lives and how it names its two paths. PROVISIONAL. */
export interface CouchdropRenameRoute {
  /** HTTP method (default POST, like every known file route). */
  method: string;
  /** Route on the fileio host (default `/file/rename`). */
  path: string;
  /** Query parameter carrying the current path (default `path`). */
  fromParam: string;
  /** Query parameter carrying the new full path (default `new_path`); the route is assumed to move across folders. */
  toParam: string;
}

/** Where the delete call lives and how it names its path. PROVISIONAL. */
export interface CouchdropDeleteRoute {
  /** HTTP method (default POST). */
  method: string;
  /** Route on the fileio host (default `/file/delete`; `/file/rm` is the other plausible spelling). */
  path: string;
  /** Query parameter carrying the path to delete (default `path`). */
  pathParam: string;
}

/** The two provisional routes, as one piece of configuration. */
export interface CouchdropProvisionalRoutes {
  rename: CouchdropRenameRoute;
  delete: CouchdropDeleteRoute;
}

/** Partial override of the provisional routes (each field falls back to its default). */
export interface CouchdropRouteOverrides {
  rename?: Partial<CouchdropRenameRoute>;
  delete?: Partial<CouchdropDeleteRoute>;
}

/** PROVISIONAL defaults: `POST /file/rename?path=&new_path=` and `POST /file/delete?path=`. */
export const DEFAULT_PROVISIONAL_ROUTES: Readonly<CouchdropProvisionalRoutes> = Object.freeze({
  rename: Object.freeze({ method: 'POST', path: '/file/rename', fromParam: 'path', toParam: 'new_path' }),
  delete: Object.freeze({ method: 'POST', path: '/file/delete', pathParam: 'path' }),
});

/** Fill in the defaults of a partial route configuration. */
export function resolveRoutes(overrides: CouchdropRouteOverrides = {}): CouchdropProvisionalRoutes {
  return {
    rename: { ...DEFAULT_PROVISIONAL_ROUTES.rename, ...overrides.rename },
    delete: { ...DEFAULT_PROVISIONAL_ROUTES.delete, ...overrides.delete },
  };
}

/** The known routes (fileio host unless noted). */
export const ROUTES = {
  /** api host: form-encoded username/password → `{"token"}`. */
  authenticate: '/authenticate',
  ls: '/file/ls',
  lstat: '/file/lstat',
  download: '/file/download',
  upload: '/file/upload',
  mkdir: '/file/mkdir',
} as const;

/** The real hosts; both are injectable. */
export const DEFAULT_API_URL = 'https://api.couchdrop.io';
export const DEFAULT_FILEIO_URL = 'https://fileio.couchdrop.io';
