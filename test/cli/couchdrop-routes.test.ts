/** A Couchdrop remote whose provisional rename/delete routes differ from the defaults can be configured. */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCouchdropEmulator } from '../../adapters/couchdrop/index.js';
import type { CouchdropEmulator } from '../../adapters/couchdrop/index.js';
import { runCli } from './run-cli.js';

describe('couchdrop routes in the config file', () => {
  let emu: CouchdropEmulator;
  let dir: string;
  beforeAll(async () => {
    // A service whose routes are not our provisional defaults.
    emu = await startCouchdropEmulator({
      seed: { inbox: { 'a.txt': 'alpha' } },
      routes: { rename: { path: '/file/move', toParam: 'destination' }, delete: { path: '/file/rm' } },
    });
    dir = await mkdtemp(join(tmpdir(), 'cloudmount-routes-'));
  });
  afterAll(async () => {
    await emu.close();
    await rm(dir, { recursive: true, force: true });
  });

  async function configWith(routes?: object): Promise<string> {
    const file = join(dir, `config-${routes ? 'routes' : 'plain'}.json`);
    const remote = { type: 'couchdrop', token: emu.token, fileioUrl: emu.fileioUrl, apiUrl: emu.apiUrl, ...(routes ? { routes } : {}) };
    await writeFile(file, JSON.stringify({ remotes: { cd: remote } }), { mode: 0o600 });
    return file;
  }

  it('without overrides, mv fails with a clear error and loses nothing', async () => {
    const config = await configWith();
    const out = await runCli(['--config', config, 'mv', 'cd:/inbox/a.txt', 'cd:/inbox/b.txt']);
    expect(out.code).not.toBe(0);
    expect(out.stderr.trim().split('\n')).toHaveLength(1);
    expect((await runCli(['--config', config, 'cat', 'cd:/inbox/a.txt'])).stdout).toBe('alpha');
  });

  it('with the service\'s real routes in "routes", mv and rm work', async () => {
    const config = await configWith({ rename: { path: '/file/move', toParam: 'destination' }, delete: { path: '/file/rm' } });
    const mv = await runCli(['--config', config, 'mv', 'cd:/inbox/a.txt', 'cd:/inbox/b.txt']);
    expect(mv.code, mv.stderr).toBe(0);
    expect((await runCli(['--config', config, 'cat', 'cd:/inbox/b.txt'])).stdout).toBe('alpha');
    expect((await runCli(['--config', config, 'rm', 'cd:/inbox/b.txt'])).code).toBe(0);
    expect((await runCli(['--config', config, 'ls', 'cd:/inbox'])).stdout).toBe('');
  });

  it('a malformed "routes" entry is a clear config error', async () => {
    const config = await configWith({ rename: { path: 42 } });
    const out = await runCli(['--config', config, 'ls', 'cd:/']);
    expect(out.code).not.toBe(0);
    expect(out.stderr).toMatch(/"routes\.rename\.path" must be a string/);
  });
});
