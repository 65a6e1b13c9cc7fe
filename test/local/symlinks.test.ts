/**
 * Symlink escape (issue 16 #8): a share over a local folder must never read or change anything
 * outside it through a symbolic link: file links, directory links, chains, absolute and relative
 * targets, `..` in the target, and a link swapped in during an operation. Checked on LocalVfs
 * directly and through the real WebDAV server over the composition `serve webdav <folder>` uses
 * (LocalVfs at "/" under a SubtreeVfs). After every test the outside sibling is byte-identical.
 */
import { createHash } from 'node:crypto';
import { lstat, mkdir, mkdtemp, readdir, readFile, readlink, realpath, rename, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { LocalVfs } from '../../adapters/local/index.js';
import { serveWebdav } from '../../mount/webdav.js';
import type { WebdavServer } from '../../mount/webdav.js';
import { SubtreeVfs } from '../../src/subtree-vfs.js';
import { collect, expectCode } from '../helpers.js';

let base: string;
let share: string;
let outside: string;
let before: string;

/** Every path under `dir` (links not followed) with its type and content hash or link target. */
async function snapshot(dir: string, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  for (const name of (await readdir(dir)).sort()) {
    const full = join(dir, name);
    const info = await lstat(full);
    const rel = `${prefix}/${name}`;
    if (info.isSymbolicLink()) out.push(`${rel} -> ${await readlink(full)}`);
    else if (info.isDirectory()) out.push(`${rel}/`, ...(await snapshot(full, rel)));
    else out.push(`${rel} ${info.size} ${createHash('sha256').update(await readFile(full)).digest('hex')} ${info.mode.toString(8)}`);
  }
  return out;
}

beforeAll(async () => {
  base = await realpath(await mkdtemp(join(tmpdir(), 'cloudmount-links-')));
});
afterAll(async () => {
  await rm(base, { recursive: true, force: true });
});

beforeEach(async () => {
  await rm(join(base, 'share'), { recursive: true, force: true });
  await rm(join(base, 'outside'), { recursive: true, force: true });
  outside = join(base, 'outside');
  share = join(base, 'share');
  await mkdir(join(outside, 'deep'), { recursive: true });
  await writeFile(join(outside, 'secret.txt'), 'SECRET outside the share\n');
  await writeFile(join(outside, 'deep', 'more.txt'), 'more secrets\n');
  await mkdir(join(share, 'sub'), { recursive: true });
  await writeFile(join(share, 'normal.txt'), 'inside\n');
  await writeFile(join(share, 'sub', 'inner.txt'), 'inner\n');
  await symlink(join(outside, 'secret.txt'), join(share, 'file-abs')); // absolute file link
  await symlink('../outside/secret.txt', join(share, 'file-rel')); // relative, `..` in the target
  await symlink(outside, join(share, 'dir-abs')); // absolute directory link
  await symlink('../outside', join(share, 'dir-rel'));
  await symlink('chain2', join(share, 'chain1')); // a chain: chain1 -> chain2 -> outside
  await symlink('../outside/secret.txt', join(share, 'chain2'));
  await symlink('../../outside', join(share, 'sub', 'up')); // `..` twice from a subdirectory
  await symlink('normal.txt', join(share, 'inner-link')); // a link that stays inside
  await symlink('sub/../../outside/deep', join(share, 'twisty')); // through a real dir, then out
  before = JSON.stringify(await snapshot(outside));
});

afterEach(async () => {
  // The one promise of this file: nothing outside the share changed, whatever the test did.
  expect(JSON.stringify(await snapshot(outside))).toBe(before);
});

const LINKS = ['file-abs', 'file-rel', 'dir-abs', 'dir-rel', 'chain1', 'chain2', 'inner-link', 'twisty'];
const THROUGH = ['dir-abs/secret.txt', 'dir-rel/secret.txt', 'sub/up/secret.txt', 'twisty/more.txt', 'dir-rel/deep/more.txt'];

describe('LocalVfs does not follow symbolic links (default)', () => {
  it('lists no link, and stat/read of a link or through one is ENOENT', async () => {
    const vfs = new LocalVfs({ root: share });
    expect((await vfs.list('/')).map((e) => e.name).sort()).toEqual(['normal.txt', 'sub']);
    expect((await vfs.list('/sub')).map((e) => e.name)).toEqual(['inner.txt']);
    for (const name of LINKS) {
      await expectCode(vfs.stat(`/${name}`), 'ENOENT');
      await expectCode(vfs.read(`/${name}`), 'ENOENT');
    }
    for (const p of THROUGH) {
      await expectCode(vfs.stat(`/${p}`), 'ENOENT');
      await expectCode(vfs.read(`/${p}`), 'ENOENT');
    }
    await expectCode(vfs.list('/dir-abs'), 'ENOENT');
    await expectCode(vfs.list('/sub/up'), 'ENOENT');
    expect((await collect(await vfs.read('/normal.txt'))).toString()).toBe('inside\n');
  });

  it('writes, mkdirs, removes, renames and copies never reach through a link', async () => {
    const vfs = new LocalVfs({ root: share });
    for (const p of THROUGH) {
      await expectCode(vfs.write(`/${p}`, Buffer.from('PWNED')), 'ENOENT');
      await expectCode(vfs.remove(`/${p}`), 'ENOENT');
      await expectCode(vfs.rename(`/${p}`, '/stolen.txt'), 'ENOENT');
      await expectCode(vfs.copy(`/${p}`, '/stolen.txt'), 'ENOENT');
      await expectCode(vfs.rename('/normal.txt', `/${p}`, { overwrite: true }), 'ENOENT');
      await expectCode(vfs.copy('/normal.txt', `/${p}`, { overwrite: true }), 'ENOENT');
    }
    await expectCode(vfs.write('/dir-rel/new.txt', Buffer.from('x')), 'ENOENT');
    await expectCode(vfs.mkdir('/dir-abs/newdir'), 'ENOENT');
    await expectCode(vfs.remove('/dir-abs', { recursive: true }), 'ENOENT');
    await expectCode(vfs.copy('/dir-rel', '/copied'), 'ENOENT');
    // Writing onto a file link replaces the link inside the share, never the file it points to.
    await vfs.write('/file-abs', Buffer.from('replaced'));
    await vfs.write('/chain1', Readable.from([Buffer.from('replaced too')]));
    expect((await lstat(join(share, 'file-abs'))).isFile()).toBe(true);
    expect((await collect(await vfs.read('/chain1'))).toString()).toBe('replaced too');
    // A tree holding a link is copied and removed with the link as a link: its target is untouched.
    await vfs.copy('/sub', '/sub2');
    expect((await readlink(join(share, 'sub2', 'up')))).toBe('../../outside');
    expect((await vfs.list('/sub2')).map((e) => e.name)).toEqual(['inner.txt']);
    await vfs.remove('/sub2', { recursive: true });
    await vfs.rename('/sub', '/moved');
    await vfs.remove('/moved', { recursive: true });
  });

  it('setMtime (touch on a mount) never reaches through or onto a link', async () => {
    const vfs = new LocalVfs({ root: share });
    const outsideTimes = async () => [(await stat(join(outside, 'secret.txt'))).mtimeMs, (await stat(join(outside, 'deep', 'more.txt'))).mtimeMs];
    const was = await outsideTimes();
    const when = new Date('2001-02-03T04:05:06Z');
    for (const p of [...LINKS, ...THROUGH]) await expectCode(vfs.setMtime(`/${p}`, when), 'ENOENT');
    expect(await outsideTimes()).toEqual(was);
    expect((await vfs.setMtime('/normal.txt', when)).mtime.getTime()).toBe(when.getTime());
  });

  it('a directory swapped for a link while a write is under way: the write lands inside, never outside', async () => {
    const vfs = new LocalVfs({ root: share });
    await mkdir(join(share, 'race'));
    let swapped = false;
    async function* body() {
      yield Buffer.alloc(64 * 1024, 1);
      // Mid-upload: the directory is moved away and a link to the outside takes its name.
      await rename(join(share, 'race'), join(share, 'race-was'));
      await symlink(outside, join(share, 'race'));
      swapped = true;
      yield Buffer.alloc(64 * 1024, 2);
    }
    await vfs.write('/race/payload.bin', Readable.from(body())).catch(() => undefined);
    expect(swapped).toBe(true);
    // The bytes went where the directory really was when the write began (or nowhere).
    const landed = await readdir(join(share, 'race-was'));
    expect(landed.filter((n) => !n.endsWith('.part'))).toEqual(['payload.bin']);
  });

  it('a file swapped for a link after it was looked up is not read through the link', async () => {
    const vfs = new LocalVfs({ root: share });
    await writeFile(join(share, 'swap.txt'), 'harmless');
    expect((await vfs.stat('/swap.txt')).size).toBe(8);
    await rm(join(share, 'swap.txt'));
    await symlink(join(outside, 'secret.txt'), join(share, 'swap.txt'));
    await expectCode(vfs.read('/swap.txt'), 'ENOENT');
  });

  it('followSymlinks: true follows links (the explicit -L opt-in)', async () => {
    const vfs = new LocalVfs({ root: share, followSymlinks: true });
    expect((await collect(await vfs.read('/file-rel'))).toString()).toBe('SECRET outside the share\n');
    expect((await vfs.list('/')).map((e) => e.name)).toContain('dir-abs');
  });
});

describe('serve webdav <folder>: no way out through a link', () => {
  let server: WebdavServer;
  beforeEach(async () => {
    // What `serve webdav <folder>` builds: the local filesystem at "/", seen from the folder.
    server = await serveWebdav(new SubtreeVfs(new LocalVfs(), share));
  });
  afterEach(async () => {
    await server.close();
  });
  const req = (method: string, path: string, init: { body?: string; headers?: Record<string, string> } = {}) =>
    fetch(new URL(path.replace(/^\//, ''), server.url), { method, ...init });

  it('GET, PUT, PROPFIND, DELETE, MOVE, COPY, MKCOL through links never touch the outside', async () => {
    for (const name of LINKS) {
      const r = await req('GET', `/${name}`);
      expect(r.status, `GET /${name}`).toBe(404);
      expect(await r.text()).not.toContain('SECRET');
    }
    for (const p of THROUGH) {
      expect((await req('GET', `/${p}`)).status, `GET /${p}`).toBe(404);
      expect((await req('PUT', `/${p}`, { body: 'PWNED' })).status, `PUT /${p}`).toBeGreaterThanOrEqual(400);
      expect((await req('DELETE', `/${p}`)).status, `DELETE /${p}`).toBe(404);
      expect((await req('MOVE', `/${p}`, { headers: { destination: `${server.url}stolen.txt` } })).status).toBe(404);
      expect((await req('COPY', `/${p}`, { headers: { destination: `${server.url}stolen.txt` } })).status).toBe(404);
      const into = await req('MOVE', '/normal.txt', { headers: { destination: `${server.url}${p}`, overwrite: 'T' } });
      expect(into.status, `MOVE onto /${p}`).toBeGreaterThanOrEqual(400);
    }
    expect((await req('MKCOL', '/dir-abs/x')).status).toBeGreaterThanOrEqual(400);
    expect((await req('DELETE', '/dir-rel')).status).toBe(404);
    const listing = await (await req('PROPFIND', '/', { headers: { depth: '1' } })).text();
    for (const name of LINKS) expect(listing).not.toContain(`/${name}<`);
    expect(listing).toContain('normal.txt');
    const inside = await req('PROPFIND', '/dir-abs/', { headers: { depth: '1' } });
    expect(inside.status).toBe(404);
    expect(await inside.text()).not.toContain('secret');
    // PUT onto a file link replaces the link in the share; the outside file stays as it was.
    expect((await req('PUT', '/file-rel', { body: 'replaced' })).status).toBeLessThan(300);
    expect(await readFile(join(share, 'file-rel'), 'utf8')).toBe('replaced');
  });
});

describe('CLI: links below a local path are followed only with -L/--copy-links', () => {
  it('cp -r of a folder skips the links in it by default and copies their targets with -L; links typed on the command line are followed', async () => {
    const { runCli } = await import('../cli/run-cli.js');
    const env = { CLOUDMOUNT_CONFIG: join(base, 'no-config.json') };
    const plain = join(base, 'copy-plain');
    const followed = join(base, 'copy-L');
    try {
      const r1 = await runCli(['cp', '-r', share, plain], { env });
      expect(r1.code, r1.stderr).toBe(0);
      // Only what is really inside was copied as data; links (local to local: copied as links, like
      // cp -r) brought no outside bytes along.
      const copied = (await snapshot(plain)).filter((l) => !l.includes(' -> '));
      expect(copied.map((l) => l.split(' ')[0])).toEqual(['/normal.txt', '/sub/', '/sub/inner.txt']);
      const r2 = await runCli(['-L', 'cp', '-r', share, followed], { env });
      expect(r2.code, r2.stderr).toBe(0);
      expect(await readFile(join(followed, 'file-rel'), 'utf8')).toBe('SECRET outside the share\n');
      expect(await readFile(join(followed, 'dir-abs', 'deep', 'more.txt'), 'utf8')).toBe('more secrets\n');
      // The user's own path may go through a link (resolved once, at start), like cp -H.
      await symlink(share, join(base, 'share-link'));
      const r3 = await runCli(['cp', join(base, 'share-link', 'normal.txt'), join(base, 'got.txt')], { env });
      expect(r3.code, r3.stderr).toBe(0);
      expect(await readFile(join(base, 'got.txt'), 'utf8')).toBe('inside\n');
    } finally {
      for (const p of [plain, followed, join(base, 'share-link'), join(base, 'got.txt')]) await rm(p, { recursive: true, force: true });
    }
  });
});
