/**
 * Providers declare themselves once (adapters/<type>/provider.ts); config validation, secret masking,
 * env remotes, `emulate` and README's settings table all come from those descriptors.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { PROVIDERS, providerOf } from '../adapters/index.js';
import { SECRET_FIELDS, maskSecrets, remoteFromEnv, remoteSettingsTable, resolveRemote, validateRemote } from '../cli/config.js';
import { emulatedTypes } from '../cli/emulators.js';
import { openRemote } from '../cli/remotes.js';
import { VfsError } from '../src/errors.js';

const bad = (why: string) => new VfsError('EINVAL', why);

describe('provider descriptors', () => {
  it('each type is listed once and each field once per type', () => {
    const types = PROVIDERS.map((p) => p.type);
    expect(new Set(types).size).toBe(types.length);
    for (const p of PROVIDERS) expect(new Set(p.fields.map((f) => f.name)).size).toBe(p.fields.length);
  });

  it('README shows the settings table the descriptors make', () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    const m = readme.match(/<!-- remote-settings[^>]*-->\n([\s\S]*?)\n<!-- \/remote-settings -->/);
    expect(m?.[1]).toBe(remoteSettingsTable());
  });

  it('secret fields of every provider are masked', () => {
    expect([...SECRET_FIELDS].sort()).toEqual(['accessToken', 'password', 'refreshToken', 'token']);
    const masked = maskSecrets({ type: 'couchdrop', token: 'tok-123', apiUrl: 'https://api.example' });
    expect(masked).toEqual({ type: 'couchdrop', token: '********', apiUrl: 'https://api.example' });
  });

  it('validation follows the descriptor: unknown fields, URLs, field rules, object fields', () => {
    expect(() => validateRemote({ type: 'dropbox' }, bad)).toThrow(/unknown type "dropbox" \(expected cloudreve, couchdrop, memory\)/);
    expect(() => validateRemote({ type: 'cloudreve', url: 'https://x', email: 'a', password: 'b', token: 't' }, bad))
      .toThrow(/unknown field "token" for type cloudreve/);
    expect(() => validateRemote({ type: 'cloudreve', url: 'not a url', email: 'a', password: 'b' }, bad)).toThrow(/"url" is not a URL/);
    expect(() => validateRemote({ type: 'cloudreve', url: 'https://x' }, bad)).toThrow(/needs "email" and "password"/);
    expect(() => validateRemote({ type: 'couchdrop', token: 't', routes: { upload: {} } }, bad)).toThrow(/may only hold "rename" and "delete"/);
    expect(validateRemote({ type: 'couchdrop', token: 't', routes: { delete: { path: '/rm' } } }, bad)).toEqual({
      type: 'couchdrop', token: 't', routes: { delete: { path: '/rm' } },
    });
  });

  it('an ad-hoc remote comes from its descriptor\'s variables and names a missing one', () => {
    expect(remoteFromEnv('cloudreve', {})).toBeUndefined();
    expect(remoteFromEnv('couchdrop', { COUCHDROP_TOKEN: 't', COUCHDROP_API_URL: 'http://127.0.0.1:1' })).toEqual({
      type: 'couchdrop', token: 't', apiUrl: 'http://127.0.0.1:1',
    });
    expect(() => resolveRemote('cloudreve', { remotes: {} }, { CLOUDREVE_EMAIL: 'me@example.com' }))
      .toThrow(expect.objectContaining({ code: 'EINVAL', message: expect.stringMatching(/^CLOUDREVE_URL is not set \(the ad-hoc remote "cloudreve:" is read from CLOUDREVE_URL, CLOUDREVE_EMAIL, CLOUDREVE_PASSWORD: CLOUDREVE_URL is required/) }));
    expect(() => resolveRemote('nowhere', { remotes: {} }, {})).toThrow(/no remote named "nowhere".*from the environment: cloudreve: \(CLOUDREVE_URL/);
  });

  it('every emulated provider opens against its own emulator and exposes one scheduler', async () => {
    expect(emulatedTypes()).toEqual(['cloudreve', 'couchdrop']);
    for (const type of emulatedTypes()) {
      const emu = await providerOf(type)!.startEmulator!({ port: 0 });
      try {
        const remote = resolveRemote(type, { remotes: {} }, emu.env);
        const vfs = await openRemote(remote);
        expect((await vfs.list('/')).length).toBeGreaterThan(0);
        expect(vfs.scheduler?.stats().requests).toBeGreaterThan(0);
      } finally {
        await emu.close();
      }
    }
  });
});
