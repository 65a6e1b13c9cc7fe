/** `cloudmount changes remote:/path --json` against the Cloudreve emulator, a second client making the changes. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CloudreveVfs, startCloudreveEmulator } from '../../adapters/cloudreve/index.js';
import type { CloudreveEmulator } from '../../adapters/cloudreve/index.js';
import { runCli, startCli } from './run-cli.js';

describe('cloudmount changes', () => {
  let emu: CloudreveEmulator;
  let work: string;
  let env: NodeJS.ProcessEnv;
  beforeAll(async () => {
    emu = await startCloudreveEmulator({ feed: { debounceMs: 50 } });
    work = await mkdtemp(join(tmpdir(), 'cloudmount-cli-changes-'));
    env = { CLOUDREVE_URL: emu.url, CLOUDREVE_EMAIL: emu.email, CLOUDREVE_PASSWORD: emu.password, XDG_CONFIG_HOME: join(work, 'cfg'), XDG_STATE_HOME: join(work, 'state') };
  });
  afterAll(async () => {
    await emu?.close();
    await rm(work, { recursive: true, force: true });
  });

  it('prints one JSON line per change made elsewhere, under the folder asked for', async () => {
    const other = new CloudreveVfs({ baseUrl: emu.url, email: emu.email, password: emu.password, stateDir: false });
    await other.mkdir('/watched');
    const cli = await startCli(['changes', 'cloudreve:/watched', '--json'], /"type":"resync"/, env);
    try {
      await other.write('/elsewhere.txt', Buffer.from('no'));
      await other.write('/watched/new.txt', Buffer.from('yes'));
      // The server merges a create and a rename that fall in one debounce window into one create:
      // let the create come out first, so the rename is its own event.
      for (let i = 0; i < 200 && !cli.output().includes('new.txt'); i++) await new Promise((r) => setTimeout(r, 50));
      await other.rename('/watched/new.txt', '/watched/renamed.txt');
      // Wait on the output itself (no clock): the rename is the last change.
      for (let i = 0; i < 200 && !cli.output().includes('renamed.txt'); i++) await new Promise((r) => setTimeout(r, 50));
      // startCli's output() holds stdout after the ready line twice (its first listener stays): dedupe lines.
      const lines = [...new Set(cli.output().split('\n').filter((l) => l.startsWith('{')))].map((l) => JSON.parse(l) as Record<string, string>);
      const changes = lines.filter((l) => l.type !== 'resync').map(({ type, path, oldPath }) => ({ type, path, ...(oldPath ? { oldPath } : {}) }));
      expect(changes).toEqual([
        { type: 'create', path: '/watched/new.txt' },
        { type: 'rename', path: '/watched/renamed.txt', oldPath: '/watched/new.txt' },
      ]);
      expect(typeof lines[0]!.time).toBe('string');
    } finally {
      await cli.stop();
      await other.close();
    }
  });

  it('serve webdav follows the feed by default (minute-long TTLs, yet a new file shows); --no-watch does not', async () => {
    const other = new CloudreveVfs({ baseUrl: emu.url, email: emu.email, password: emu.password, stateDir: false });
    await other.mkdir('/served');
    const start = (extra: string[]) => startCli(['serve', 'webdav', 'cloudreve:/served', '--addr', '127.0.0.1:0', ...extra], /at (http:\/\/\S+)/, env);
    const watching = await start([]);
    const fixed = await start(['--no-watch', '--cache-ttl', '600']);
    try {
      const propfind = async (base: string) => (await fetch(`${base.replace(/\/?$/, '/')}`, { method: 'PROPFIND', headers: { Depth: '1' } })).text();
      // Both have listed the folder (cached); then another client adds a file.
      expect(await propfind(watching.match[1]!)).not.toContain('late.txt');
      expect(await propfind(fixed.match[1]!)).not.toContain('late.txt');
      const subscribed = emu.feed.counts.subscribed;
      expect(subscribed).toBeGreaterThanOrEqual(1);
      await other.write('/served/late.txt', Buffer.from('late'));
      let seen = '';
      for (let i = 0; i < 200 && !seen.includes('late.txt'); i++) {
        await new Promise((r) => setTimeout(r, 50));
        seen = await propfind(watching.match[1]!);
      }
      expect(seen).toContain('late.txt');
      // The share without the feed keeps its 10-minute listing: still the old view.
      expect(await propfind(fixed.match[1]!)).not.toContain('late.txt');
    } finally {
      await watching.stop();
      await fixed.stop();
      await other.close();
    }
  });

  it('refuses a provider without changes', async () => {
    const out = await runCli(['changes', join(work)], { env });
    expect(out.code).not.toBe(0);
    expect(out.stderr).toMatch(/cannot report changes/);
  });
});
