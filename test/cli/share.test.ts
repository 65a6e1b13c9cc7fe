/** `cloudmount share create|list|remove` against the Cloudreve emulator (built CLI, env remote). */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCloudreveEmulator } from '../../adapters/cloudreve/index.js';
import type { CloudreveEmulator } from '../../adapters/cloudreve/index.js';
import { runCli } from './run-cli.js';

describe('cloudmount share', () => {
  let emu: CloudreveEmulator;
  let work: string;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    emu = await startCloudreveEmulator({ seed: { docs: { 'a.txt': 'hello' } } });
    work = await mkdtemp(join(tmpdir(), 'cloudmount-share-'));
    env = { CLOUDREVE_URL: emu.url, CLOUDREVE_EMAIL: emu.email, CLOUDREVE_PASSWORD: emu.password, XDG_CONFIG_HOME: join(work, 'cfg'), XDG_STATE_HOME: join(work, 'state') };
  });
  afterAll(async () => {
    await emu?.close();
    await rm(work, { recursive: true, force: true });
  });

  it('create prints the link, list shows it, remove deletes it', async () => {
    const made = await runCli(['share', 'create', 'cloudreve:/docs/a.txt', '--password', 'pw42', '--expire', '7d'], { env });
    expect(made.stderr).toBe('');
    expect(made.code).toBe(0);
    const url = made.stdout.trim();
    expect(url).toMatch(new RegExp(`^${emu.url}/s/\\w+/pw42$`));
    const id = url.split('/').at(-2)!;
    const listed = await runCli(['share', 'list', 'cloudreve:'], { env });
    expect(listed.code).toBe(0);
    expect(listed.stdout).toContain(id);
    expect(listed.stdout).toContain('/docs/a.txt');
    const json = JSON.parse((await runCli(['share', 'list', 'cloudreve:', '--json'], { env })).stdout) as Array<{ id: string; expires: string }>;
    expect(Date.parse(json[0]!.expires)).toBeGreaterThan(Date.now() + 6 * 86_400_000);
    expect((await runCli(['share', 'remove', 'cloudreve:', id], { env })).code).toBe(0);
    expect((await runCli(['share', 'list', 'cloudreve:'], { env })).stdout.trim()).toBe('no share links');
  });

  it('a bad password or duration fails with a message and no link', async () => {
    const bad = await runCli(['share', 'create', 'cloudreve:/docs/a.txt', '--password', 'not ok'], { env });
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/letters and digits/);
    const dur = await runCli(['share', 'create', 'cloudreve:/docs/a.txt', '--expire', 'soon'], { env });
    expect(dur.code).not.toBe(0);
    expect(dur.stderr).toMatch(/not a duration/);
    expect(emu.store.shares.size).toBe(0);
  });
});
