/**
 * A change made by a SECOND client through the Cloudreve emulator shows on a FUSE mount (`ls` from a
 * child process) and over WebDAV (PROPFIND) served with the default 5-minute push TTLs: the feed, not
 * the TTL, makes it visible.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CloudreveVfs, startCloudreveEmulator } from '../../adapters/cloudreve/index.js';
import type { CloudreveEmulator } from '../../adapters/cloudreve/index.js';
import { serveWebdav } from '../../mount/webdav.js';
import type { WebdavServer } from '../../mount/webdav.js';
import { CachedVfs } from '../../src/cache.js';
import { fuseSkipReason, mountTemp, q, shOk } from '../fuse/harness.js';
import type { TestMount } from '../fuse/harness.js';

let emu: CloudreveEmulator;
let other: CloudreveVfs;

beforeAll(async () => {
  emu = await startCloudreveEmulator({ feed: { debounceMs: 50 } });
  other = new CloudreveVfs({ baseUrl: emu.url, email: emu.email, password: emu.password, stateDir: false });
});

afterAll(async () => {
  await other?.close();
  await emu?.close();
});

const open = () => new CloudreveVfs({ baseUrl: emu.url, email: emu.email, password: emu.password, stateDir: false });

describe('WebDAV share following the feed', () => {
  let vfs: CloudreveVfs;
  let server: WebdavServer;
  beforeAll(async () => {
    vfs = open();
    server = await serveWebdav(vfs, { cache: { watch: true } });
  });
  afterAll(async () => {
    await server?.close();
    await vfs?.close();
  });

  it('PROPFIND shows a file another client added, although listings are cached for minutes', async () => {
    const cache = server.vfs as CachedVfs;
    expect(cache.options.dirTtlMs).toBeGreaterThanOrEqual(300_000);
    await cache.whenWatching();
    await other.mkdir('/dav');
    await cache.nextChange((c) => c.path === '/dav');
    const propfind = async () => (await fetch(`${server.url}dav/`, { method: 'PROPFIND', headers: { Depth: '1' } })).text();
    expect(await propfind()).not.toContain('fresh.txt');
    await other.write('/dav/fresh.txt', Buffer.from('hello'));
    await cache.nextChange((c) => c.path === '/dav/fresh.txt');
    expect(await propfind()).toContain('fresh.txt');
  });
});

describe.skipIf(!!fuseSkipReason)('FUSE mount following the feed', () => {
  let vfs: CloudreveVfs;
  let m: TestMount;
  beforeAll(async () => {
    vfs = open();
    m = await mountTemp(vfs, { cache: { watch: true } });
  });
  afterAll(async () => {
    await m?.close();
    await vfs?.close();
  });

  it('ls shows a file another client added, within the kernel timeouts after the cache learns it', async () => {
    const cache = m.mount.vfs as CachedVfs;
    await cache.whenWatching();
    await other.mkdir('/fuse');
    await cache.nextChange((c) => c.path === '/fuse');
    expect(await shOk(`ls ${q(m.dir + '/fuse')}`)).not.toContain('seen.txt');
    await other.write('/fuse/seen.txt', Buffer.from('x'));
    await cache.nextChange((c) => c.path === '/fuse/seen.txt');
    // The kernel may answer from its own 0.5 s attr/entry cache: look until it shows (bounded, not timed).
    let out = '';
    for (let i = 0; i < 50 && !out.includes('seen.txt'); i++) {
      out = await shOk(`sleep 0.1; ls ${q(m.dir + '/fuse')}`);
    }
    expect(out).toContain('seen.txt');
  });
});
