/**
 * Issue 19 item 3: the CLI's `cp` and `copy` keep source mtimes where the destination can (the built
 * bin as a child process, real HTTP against the emulators): local → Couchdrop and Cloudreve (their
 * upload times), and back, remote → local. Checked by a fresh stat through a new Vfs.
 */
import { mkdir, mkdtemp, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CloudreveVfs, startCloudreveEmulator } from '../../adapters/cloudreve/index.js';
import type { CloudreveEmulator } from '../../adapters/cloudreve/index.js';
import { CouchdropVfs, startCouchdropEmulator } from '../../adapters/couchdrop/index.js';
import type { CouchdropEmulator } from '../../adapters/couchdrop/index.js';
import type { Vfs } from '../../src/vfs.js';
import { runCli } from '../cli/run-cli.js';

const T2003 = Date.parse('2003-03-03T03:03:03Z') / 1000;
const T2005 = Date.parse('2005-05-05T05:05:05Z') / 1000;

let work: string;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'cloudmount-mtime-cli-'));
});
afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

describe.each(['couchdrop', 'cloudreve'] as const)('cloudmount cp/copy keep mtimes on %s (emulator)', (provider) => {
  let cloudreve: CloudreveEmulator | undefined;
  let couchdrop: CouchdropEmulator | undefined;
  let env: NodeJS.ProcessEnv;
  const fresh = (): Vfs => provider === 'cloudreve'
    ? new CloudreveVfs({ baseUrl: cloudreve!.url, email: cloudreve!.email, password: cloudreve!.password })
    : new CouchdropVfs({ token: couchdrop!.token, apiUrl: couchdrop!.url, fileioUrl: couchdrop!.url });
  const stored = async (path: string) => {
    const vfs = fresh();
    try {
      return (await vfs.stat(path)).mtime.getTime() / 1000;
    } finally {
      await vfs.close?.();
    }
  };

  beforeAll(async () => {
    if (provider === 'cloudreve') {
      cloudreve = await startCloudreveEmulator({});
      env = { CLOUDREVE_URL: cloudreve.url, CLOUDREVE_EMAIL: cloudreve.email, CLOUDREVE_PASSWORD: cloudreve.password };
    } else {
      couchdrop = await startCouchdropEmulator({});
      env = { COUCHDROP_TOKEN: couchdrop.token, COUCHDROP_API_URL: couchdrop.url, COUCHDROP_FILEIO_URL: couchdrop.url };
    }
    env.XDG_CONFIG_HOME = join(work, `cfg-${provider}`);
  });
  afterAll(async () => {
    await cloudreve?.close();
    await couchdrop?.close();
  });

  it('cp of one file up and back down keeps its mtime', async () => {
    const file = join(work, `${provider}-one.txt`);
    await writeFile(file, 'one file');
    await utimes(file, T2005, T2003);
    const up = await runCli(['cp', '-q', file, `${provider}:/one.txt`], { env });
    expect(up.code, up.stderr).toBe(0);
    expect(await stored('/one.txt')).toBe(T2003);
    const back = join(work, `${provider}-back.txt`);
    const down = await runCli(['cp', '-q', `${provider}:/one.txt`, back], { env });
    expect(down.code, down.stderr).toBe(0);
    expect((await stat(back)).mtimeMs / 1000).toBe(T2003);
  });

  it('copy of a tree keeps every mtime', async () => {
    const tree = join(work, `${provider}-tree`);
    await mkdir(join(tree, 'sub'), { recursive: true });
    await writeFile(join(tree, 'a.txt'), 'a');
    await writeFile(join(tree, 'sub', 'b.bin'), Buffer.alloc(300 * 1024, 1)); // past Cloudreve's one-request size
    await utimes(join(tree, 'a.txt'), T2003, T2003);
    await utimes(join(tree, 'sub', 'b.bin'), T2005, T2005);
    const r = await runCli(['copy', tree, `${provider}:/tree`], { env });
    expect(r.code, r.stderr).toBe(0);
    expect(await stored('/tree/a.txt')).toBe(T2003);
    expect(await stored('/tree/sub/b.bin')).toBe(T2005);
  });
});
