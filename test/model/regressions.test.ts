/**
 * Shrunk counterexamples of the model-based tests (webdav.model.test.ts, fuse.model.test.ts), each
 * kept as a small deterministic test named after the issue-16 item it reproduces. They were found
 * by pointing the model tests at the code before the fixes.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CloudreveVfs, startCloudreveEmulator } from '../../adapters/cloudreve/index.js';
import { MemoryVfs } from '../../adapters/memory/index.js';
import { serveWebdav } from '../../mount/webdav.js';
import { readAll } from '../../src/streams.js';
import type { Vfs } from '../../src/vfs.js';
import { fuseSkipReason, mountTemp, q, sh } from '../fuse/harness.js';
import { startCli } from '../cli/run-cli.js';
import { DavClient, parseMultistatus } from './dav-client.js';
import { leftoverSessionsSettled } from './dav-runner.js';

const built = existsSync(new URL('../../dist/cli/index.js', import.meta.url));
if (!built) console.warn('[skip] regression #5 (killed share): dist/ is not built (npm run build)');

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!().catch(() => undefined);
});

/** A share over `vfs` and a raw client for it, both closed after the test. */
async function share(vfs: Vfs): Promise<DavClient> {
  const server = await serveWebdav(vfs, { protectProcess: false });
  const dav = new DavClient(server.url);
  cleanups.push(async () => {
    dav.close();
    await server.close();
  });
  return dav;
}

async function cloudreve(): Promise<CloudreveVfs> {
  const emu = await startCloudreveEmulator({});
  const vfs = new CloudreveVfs({ baseUrl: emu.url, email: emu.email, password: emu.password });
  cleanups.push(async () => {
    await vfs.close();
    await emu.close();
  });
  return vfs;
}

const LOCKINFO = `<?xml version="1.0" encoding="utf-8"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype></D:lockinfo>`;

async function names(dav: DavClient, dir: string): Promise<string[]> {
  const r = await dav.send('PROPFIND', dir, { Depth: '1' });
  expect(r.status).toBe(207);
  return parseMultistatus(r.body.toString('utf8')).map((e) => e.path).filter((p) => p !== dir).sort();
}

describe('WebDAV share: shrunk counterexamples', () => {
  // Found: MKCOL /a, PUT /a/a, MOVE /a/a → /a (Overwrite: T) answered 404 and the whole /a was gone.
  it('#2 MOVE onto an ancestor is refused and deletes nothing', async () => {
    const vfs = new MemoryVfs();
    const dav = await share(vfs);
    expect((await dav.send('MKCOL', '/a')).status).toBe(201);
    expect((await dav.send('PUT', '/a/a', {}, 'keep me')).status).toBe(201);
    const r = await dav.send('MOVE', '/a/a', { Destination: dav.url('/a'), Overwrite: 'T' });
    expect([403, 409]).toContain(r.status);
    expect((await readAll(await vfs.read('/a/a'))).toString()).toBe('keep me');
  });

  it('#2 COPY onto an ancestor is refused and deletes nothing', async () => {
    const vfs = new MemoryVfs();
    const dav = await share(vfs);
    await dav.send('MKCOL', '/a');
    await dav.send('MKCOL', '/a/b');
    await dav.send('PUT', '/a/b/c', {}, 'keep me');
    const r = await dav.send('COPY', '/a/b/c', { Destination: dav.url('/a'), Overwrite: 'T' });
    expect([403, 409]).toContain(r.status);
    expect((await readAll(await vfs.read('/a/b/c'))).toString()).toBe('keep me');
  });

  // Found: MKCOL /a, LOCK /a Depth 0, LOCK /a/a (unmapped, no token) answered 201 and created /a/a.
  it('#9 LOCK of an unmapped URL inside a depth-0-locked collection needs the collection\'s token', async () => {
    const vfs = new MemoryVfs();
    const dav = await share(vfs);
    await dav.send('MKCOL', '/a');
    const held = await dav.send('LOCK', '/a', { Depth: '0', 'Content-Type': 'application/xml' }, LOCKINFO);
    expect(held.status).toBe(200);
    const token = /<([^>]+)>/.exec(String(held.headers['lock-token']))![1]!;
    const sneak = await dav.send('LOCK', '/a/a', { Depth: '0', 'Content-Type': 'application/xml' }, LOCKINFO);
    expect(sneak.status).toBe(423);
    expect(await names(dav, '/a')).toEqual([]);
    // With the collection's token the same LOCK creates the resource.
    const owner = await dav.send('LOCK', '/a/a', { Depth: '0', 'Content-Type': 'application/xml', If: `<${dav.url('/a')}> (<${token}>)` }, LOCKINFO);
    expect(owner.status).toBe(201);
  });

  // Found on Cloudreve: PUT "/？a" listed as "/?a" (the twin decoded into the ASCII character).
  it('#3 a name holding a full-width look-alike lists under its own name on Cloudreve', async () => {
    const dav = await share(await cloudreve());
    expect((await dav.send('PUT', '/？a', {}, Buffer.from([0]))).status).toBe(201);
    expect(await names(dav, '/')).toEqual(['/？a']);
  });

  it('#3 look-alike names never overwrite each other on Cloudreve', async () => {
    const dav = await share(await cloudreve());
    expect((await dav.send('PUT', '/what?.txt', {}, 'ascii')).status).toBe(201);
    const second = await dav.send('PUT', '/what？.txt', {}, 'full-width');
    const first = await dav.send('GET', '/what?.txt');
    expect(first.body.toString()).toBe('ascii');
    if (second.status < 300) {
      expect(second.status).toBe(201); // a new file, not a replacement (204)
      expect((await dav.send('GET', '/what？.txt')).body.toString()).toBe('full-width');
      expect(await names(dav, '/')).toEqual(['/what?.txt', '/what？.txt'].sort());
    } else {
      expect(await names(dav, '/')).toEqual(['/what?.txt']);
    }
  });
});

describe.skipIf(!built)('WebDAV share process killed -9: shrunk counterexamples', () => {
  // Found: PUT /a, then a PUT of 1.5 MB to /a with the share killed halfway and started again: every
  // later PUT, MOVE or GET of /a answered 423 "Lock conflict" (the dead upload session held the name).
  it('#5 a share killed mid-upload leaves the name usable after a restart (Cloudreve)', async () => {
    const emu = await startCloudreveEmulator({});
    const spool = mkdtempSync(join(tmpdir(), 'cloudmount-regress-dav-'));
    const env = { CLOUDREVE_URL: emu.url, CLOUDREVE_EMAIL: emu.email, CLOUDREVE_PASSWORD: emu.password };
    const start = () => startCli(['serve', 'webdav', 'cloudreve:/', '--addr', '127.0.0.1:0', '--spool-dir', spool], /over WebDAV at (http\S+)/, env);
    let served = await start();
    cleanups.push(async () => {
      await served.stop();
      await emu.close();
      rmSync(spool, { recursive: true, force: true });
    });
    let dav = new DavClient(served.match[1]!);
    expect((await dav.send('PUT', '/a', {}, 'old')).status).toBe(201);
    const sessions = emu.requests('PUT /file/upload').length;
    await dav.abortedPut('/a', Buffer.alloc(1_500_000, 0x6b), 750_000, { keepOpen: true });
    for (let i = 0; i < 250 && emu.requests('PUT /file/upload').length === sessions; i++) await new Promise((r) => setTimeout(r, 20));
    const exited = new Promise((r) => served.child.once('exit', r));
    served.child.kill('SIGKILL');
    await exited;
    dav.close();
    served = await start();
    await leftoverSessionsSettled(emu);
    dav = new DavClient(served.match[1]!);
    cleanups.push(async () => dav.close());
    const got = await dav.send('GET', '/a');
    expect(got.status).toBe(200);
    expect(got.body.toString()).toBe('old');
    expect((await dav.send('PUT', '/a', {}, 'new')).status).toBe(204);
    expect((await dav.send('GET', '/a')).body.toString()).toBe('new');
  });
});

describe.skipIf(!!fuseSkipReason)('FUSE mount: shrunk counterexamples', () => {
  // Found: write /a, utimes /a (mtime 1 000 000 000) → ok, yet stat shows the time of the write.
  // The both-times form is fixed (next test). The mtime-only form (atime UTIME_OMIT) is dropped by
  // libfuse 2 before it reaches us (fuse-native 2.2.6 does not set flag_utime_omit_ok): a known
  // defect, marked it.fails so it turns red the day a binding passes it through (then drop `.fails`).
  it.fails('#7 utimens on a closed file sets its mtime (touch -m: atime UTIME_OMIT) — known libfuse 2 limit', async () => {
    const vfs = new MemoryVfs();
    const m = await mountTemp(vfs);
    cleanups.push(() => m.close());
    const file = join(m.dir, 'a');
    expect((await sh(`printf x > ${q(file)} && touch -m -d @1000000000 ${q(file)}`)).code).toBe(0);
    expect((await sh(`stat -c %Y ${q(file)}`)).stdout.trim()).toBe('1000000000');
    expect(Math.round((await vfs.stat('/a')).mtime.getTime() / 1000)).toBe(1_000_000_000);
  });

  it('#7 utimens stores the mtime, not the atime (fuse-native passes them swapped)', async () => {
    const vfs = new MemoryVfs();
    const m = await mountTemp(vfs);
    cleanups.push(() => m.close());
    const file = join(m.dir, 'a');
    const script = `const fs=require('fs');fs.writeFileSync(process.argv[1],'x');fs.utimesSync(process.argv[1],1500000000,1000000000)`;
    expect((await sh(`${q(process.execPath)} -e ${q(script)} ${q(file)}`)).code).toBe(0);
    expect((await sh(`stat -c %Y ${q(file)}`)).stdout.trim()).toBe('1000000000');
    expect(Math.round((await vfs.stat('/a')).mtime.getTime() / 1000)).toBe(1_000_000_000);
  });

  describe.skipIf(process.getuid?.() !== 0)('with a 1 MiB tmpfs spool (root only)', () => {
    let spool = '';
    beforeAll(() => {
      spool = mkdtempSync(join(tmpdir(), 'cloudmount-regress-spool-'));
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1048576', 'tmpfs', spool]);
    });
    afterAll(() => {
      if (!spool) return;
      execFileSync('umount', ['-l', spool]);
      rmSync(spool, { recursive: true, force: true });
    });

    // Found: a 1 MiB + 1 write failed with ENOSPC at write(), yet /a was uploaded with 983 040 bytes.
    it('#1 a write the spool cannot hold never uploads a partial file', async () => {
      const vfs = await MemoryVfs.fromTree({ 'old.bin': 'the good old version' });
      const m = await mountTemp(vfs, { spoolDir: spool, spoolMemoryBytes: 0 });
      cleanups.push(() => m.close());
      const over = await sh(`head -c 1572864 /dev/zero > ${q(join(m.dir, 'old.bin'))}`);
      expect(over.code).not.toBe(0);
      expect((await readAll(await vfs.read('/old.bin'))).toString()).toBe('the good old version');
      const fresh = await sh(`head -c 1048577 /dev/zero > ${q(join(m.dir, 'a'))}`);
      expect(fresh.code).not.toBe(0);
      const created = await vfs.stat('/a').catch(() => undefined);
      expect(created === undefined || created.size === 0, `a partial /a of ${created?.size} bytes was uploaded`).toBe(true);
    });
  });
});
