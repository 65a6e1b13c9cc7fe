/** Shared set-up for the Cloudreve tests: an emulator plus a CloudreveVfs on it, and raw API calls. */
import { afterEach } from 'vitest';
import { CloudreveVfs, startCloudreveEmulator } from '../../adapters/cloudreve/index.js';
import type { CloudreveEmulator, CloudreveEmulatorOptions, CloudreveVfsOptions } from '../../adapters/cloudreve/index.js';

const running: Array<() => Promise<void>> = [];

afterEach(async () => {
  while (running.length > 0) await running.pop()!().catch(() => undefined);
});

/** A fresh emulator and a Vfs logged in to it; both closed after the test. */
export async function setup(emuOptions: CloudreveEmulatorOptions = {}, vfsOptions: Partial<CloudreveVfsOptions> = {}) {
  const emu = await startCloudreveEmulator(emuOptions);
  const vfs = new CloudreveVfs({ baseUrl: emu.url, email: emu.email, password: emu.password, maxAttempts: 4, ...vfsOptions });
  running.push(async () => {
    await vfs.close();
    await emu.close();
  });
  return { emu, vfs };
}

/** Just an emulator, closed after the test. */
export async function emulator(options: CloudreveEmulatorOptions = {}): Promise<CloudreveEmulator> {
  const emu = await startCloudreveEmulator(options);
  running.push(() => emu.close());
  return emu;
}

export interface Envelope {
  code: number;
  msg: string;
  data?: any;
  correlation_id?: string;
  aggregated_error?: Record<string, { code: number; msg: string }>;
}

/** One raw /api/v4 call (no client code involved): returns HTTP status, envelope (if JSON) and text. */
export async function api(
  emu: CloudreveEmulator, method: string, route: string,
  opts: { token?: string; body?: unknown; query?: Record<string, string>; raw?: Buffer; headers?: Record<string, string> } = {},
): Promise<{ status: number; env: Envelope; text: string; headers: Headers }> {
  const url = new URL(`${emu.url}/api/v4${route}`);
  for (const [k, v] of Object.entries(opts.query ?? {})) url.searchParams.set(k, v);
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.token) headers.Authorization = `Bearer ${opts.token}`;
  let body: string | Buffer | undefined;
  if (opts.raw) body = opts.raw;
  else if (opts.body !== undefined) {
    body = JSON.stringify(opts.body);
    headers['Content-Type'] = 'application/json';
  }
  const res = await fetch(url, { method, headers, ...(body !== undefined ? { body } : {}) });
  const text = await res.text();
  let env: Envelope = { code: NaN, msg: '' };
  try {
    env = JSON.parse(text) as Envelope;
  } catch {
    /* not JSON */
  }
  return { status: res.status, env, text, headers: res.headers };
}

/** Log in through the raw API; returns the token pair. */
export async function login(emu: CloudreveEmulator): Promise<{ access_token: string; refresh_token: string; access_expires: string; refresh_expires: string }> {
  const { env } = await api(emu, 'POST', '/session/token', { body: { email: emu.email, password: emu.password } });
  if (env.code !== 0) throw new Error(`login failed: ${env.code} ${env.msg}`);
  return env.data.token;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
