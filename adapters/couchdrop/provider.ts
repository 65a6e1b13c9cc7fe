/** Couchdrop as the application sees it: config fields, env remote, opening, emulator. */
import type { ProviderDescriptor } from '../../src/provider.js';

export const couchdropProvider: ProviderDescriptor = {
  type: 'couchdrop',
  description: 'a Couchdrop account (hosted SFTP/transfer platform)',
  fields: [
    { name: 'token', secret: true, env: 'COUCHDROP_TOKEN', help: 'a long-lived API token (Admin → API tokens)' },
    { name: 'username', env: 'COUCHDROP_USERNAME', help: 'username, for short-lived login tokens' },
    { name: 'password', secret: true, env: 'COUCHDROP_PASSWORD', help: 'password, with username' },
    { name: 'fileioUrl', kind: 'url', env: 'COUCHDROP_FILEIO_URL', help: 'file I/O host (default https://fileio.couchdrop.io)' },
    { name: 'apiUrl', kind: 'url', env: 'COUCHDROP_API_URL', help: 'API host (default https://api.couchdrop.io)' },
    {
      name: 'routes', kind: 'object',
      help: 'overrides of the provisional rename/delete routes, e.g. {"rename": {"path": "/file/move", "toParam": "destination"}}',
    },
  ],
  check(c) {
    if (!c.token && !(c.username && c.password)) return 'needs "token", or "username" and "password"';
    return undefined;
  },
  checkField(name, routes) {
    if (name !== 'routes') return undefined;
    if (!routes || typeof routes !== 'object' || Array.isArray(routes)) return '"routes" must be an object';
    for (const [route, spec] of Object.entries(routes)) {
      if (route !== 'rename' && route !== 'delete') return `"routes" may only hold "rename" and "delete", not ${JSON.stringify(route)}`;
      if (!spec || typeof spec !== 'object') return `"routes.${route}" must be an object`;
      for (const [k, v] of Object.entries(spec)) if (typeof v !== 'string') return `"routes.${route}.${k}" must be a string`;
    }
    return undefined;
  },
  async open(c, options) {
    const { CouchdropVfs } = await import('./vfs.js');
    const str = (k: string) => (typeof c[k] === 'string' && c[k] !== '' ? (c[k] as string) : undefined);
    const credentials = str('token') ? { token: str('token')! } : { username: str('username') ?? '', password: str('password') ?? '' };
    return new CouchdropVfs({
      ...credentials,
      ...(str('fileioUrl') ? { fileioUrl: str('fileioUrl')! } : {}),
      ...(str('apiUrl') ? { apiUrl: str('apiUrl')! } : {}),
      ...(c.routes ? { routes: c.routes as never } : {}),
      ...(options.spoolDir ? { spoolDir: options.spoolDir } : {}),
      ...(options.limits?.requestsPerSecond !== undefined ? { requestsPerSecond: options.limits.requestsPerSecond } : {}),
      ...(options.limits?.concurrency !== undefined ? { concurrency: options.limits.concurrency } : {}),
      logger: options.logger,
    });
  },
  async startEmulator(opts) {
    const { startCouchdropEmulator } = await import('./emulator/index.js');
    const seed = opts.seed ?? 'demo';
    const emu = await startCouchdropEmulator({
      seed: seed === 'demo' ? 'demo' : { directory: seed },
      ...(opts.port !== undefined ? { port: opts.port } : {}),
      ...(opts.host !== undefined ? { host: opts.host } : {}),
      ...(opts.latency !== undefined ? { latencyMs: opts.latency } : {}),
      ...(opts.rateLimit !== undefined ? { rateLimit: { ratePerSec: opts.rateLimit } } : {}),
      // Spread the injected share over the documented retryable statuses.
      ...(opts.faults ? { faults: ([429, 503, 500] as const).map((kind) => ({ kind, probability: opts.faults! / 3 })) } : {}),
    });
    return {
      url: emu.url,
      env: { COUCHDROP_TOKEN: emu.token, COUCHDROP_FILEIO_URL: emu.fileioUrl, COUCHDROP_API_URL: emu.apiUrl },
      close: () => emu.close(),
    };
  },
};
