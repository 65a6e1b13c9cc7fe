/** Cloudreve v4 as the application sees it: config fields, env remote, opening, emulator. */
import type { ProviderDescriptor } from '../../src/provider.js';

export const cloudreveProvider: ProviderDescriptor = {
  type: 'cloudreve',
  description: 'a Cloudreve v4 server (self-hosted cloud drive)',
  fields: [
    { name: 'url', kind: 'url', env: 'CLOUDREVE_URL', help: 'site root, e.g. https://drive.example.com (without /api/v4)' },
    { name: 'email', env: 'CLOUDREVE_EMAIL', help: 'login email' },
    { name: 'password', secret: true, env: 'CLOUDREVE_PASSWORD', help: 'login password' },
    { name: 'accessToken', secret: true, help: 'an existing access token instead of a password' },
    { name: 'refreshToken', secret: true, help: 'an existing refresh token (renewed as needed) instead of a password' },
  ],
  check(c) {
    if (!c.url) return '"url" is required (the site root, e.g. https://drive.example.com)';
    if (!(c.email && c.password) && !c.refreshToken && !c.accessToken) return 'needs "email" and "password" (or tokens)';
    return undefined;
  },
  async open(c, options) {
    const { CloudreveVfs } = await import('./vfs.js');
    const str = (k: string) => (typeof c[k] === 'string' && c[k] !== '' ? (c[k] as string) : undefined);
    const tokens = str('refreshToken') || str('accessToken')
      ? { accessToken: str('accessToken') ?? '', refreshToken: str('refreshToken') ?? '' }
      : undefined;
    const vfs = new CloudreveVfs({
      baseUrl: str('url')!,
      ...(str('email') ? { email: str('email')! } : {}),
      ...(str('password') ? { password: str('password')! } : {}),
      ...(tokens ? { tokens } : {}),
      ...(options.spoolDir ? { spoolDir: options.spoolDir } : {}),
      ...(options.limits?.requestsPerSecond !== undefined ? { requestsPerSecond: options.limits.requestsPerSecond } : {}),
      ...(options.limits?.concurrency !== undefined ? { concurrency: options.limits.concurrency } : {}),
      ...(options.limits?.readStreams !== undefined ? { readStreams: options.limits.readStreams } : {}),
      logger: options.logger,
    });
    // Upload sessions a killed run left would lock their paths for a day: cancel them now.
    await vfs.recoverUploads().catch((e) => options.logger.warn('cloudreve: upload session recovery failed', { error: String(e) }));
    return vfs;
  },
  async startEmulator(opts) {
    const { startCloudreveEmulator } = await import('./emulator/index.js');
    const emu = await startCloudreveEmulator({
      seed: opts.seed ?? 'demo',
      ...(opts.port !== undefined ? { port: opts.port } : {}),
      ...(opts.host !== undefined ? { host: opts.host } : {}),
      ...(opts.latency !== undefined ? { latencyMs: opts.latency } : {}),
      ...(opts.rateLimit !== undefined ? { proxyRateLimit: { requestsPerSecond: opts.rateLimit } } : {}),
      ...(opts.faults ? { faults: { rate: opts.faults, seed: 1 } } : {}),
    });
    return {
      url: emu.url,
      env: { CLOUDREVE_URL: emu.url, CLOUDREVE_EMAIL: emu.email, CLOUDREVE_PASSWORD: emu.password },
      close: () => emu.close(),
    };
  },
};
