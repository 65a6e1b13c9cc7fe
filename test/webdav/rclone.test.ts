/**
 * rclone as a WebDAV client: `rclone copy` of a tree of ~50 files with awkward names (spaces,
 * unicode, #, %, ?, quotes, brackets, emoji, leading dashes, a long name) into the share, then
 * `rclone check --download` (byte-for-byte) and a listing compared with what the Vfs holds.
 * rclone runs isolated: config from env vars only, --config /dev/null.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MemoryVfs } from '../../adapters/memory/index.js';
import type { WebdavServer } from '../../mount/webdav.js';
import { pseudoRandomBytes } from '../helpers.js';
import { hasCommand, run, startMemoryServer, warnSkip } from './helpers.js';

const hasRclone = hasCommand('rclone', 'version');
if (!hasRclone) warnSkip('rclone client test', 'rclone is not installed (apt-get install rclone)');

const NAMES = [
  'plain.txt', 'with space.txt', '  leading spaces.txt', 'trailing space .txt', 'ünïcødé.txt', '日本語のファイル.txt', 'emoji 🎉.txt',
  'hash#tag.txt', 'percent 100%.txt', '%41%42.txt', 'question?.txt', 'quote\'s.txt', 'double "quoted".txt', 'amp & more.txt',
  'plus+sign.txt', '[brackets].txt', '{braces}.txt', '(parens).txt', '-leading-dash.txt', 'semi;colon.txt', 'colon:name.txt',
  'back\\slash.txt', 'tilde~.txt', 'comma,name.txt', 'equals=sign.txt', 'at@sign.txt', 'dollar$.txt', 'caret^.txt', 'backtick`.txt',
  'pipe|.txt', 'star*.txt', 'lt<gt>.txt', '.hidden', 'no-extension', 'UPPER.TXT', 'MiXeD.TxT', 'x'.repeat(200) + '.txt',
  'dots...txt', 'café.txt', 'cafe\u0301 decomposed.txt',
];

async function makeTree(root: string): Promise<number> {
  let n = 0;
  await mkdir(join(root, 'sub dir #1', 'deeper ünï'), { recursive: true });
  for (const [i, name] of NAMES.entries()) {
    await writeFile(join(root, name), pseudoRandomBytes(100 + i * 97, i + 1));
    n++;
  }
  for (let i = 0; i < 6; i++) {
    await writeFile(join(root, 'sub dir #1', `nested %${i}.bin`), pseudoRandomBytes(5000 * i + 1, 100 + i));
    await writeFile(join(root, 'sub dir #1', 'deeper ünï', `deep ?${i}.txt`), pseudoRandomBytes(300, 200 + i));
    n += 2;
  }
  await writeFile(join(root, 'big file.bin'), pseudoRandomBytes(3 * 1024 * 1024 + 5, 77));
  return n + 1;
}

async function countFiles(vfs: MemoryVfs, dir = '/'): Promise<number> {
  let n = 0;
  for (const e of await vfs.list(dir)) n += e.type === 'file' ? 1 : await countFiles(vfs, e.path);
  return n;
}

describe.skipIf(!hasRclone)('rclone as a WebDAV client', () => {
  let server: WebdavServer;
  let vfs: MemoryVfs;
  let src: string;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    ({ server, vfs } = await startMemoryServer({}, { users: { rc: 'rclone-secret-pw' } }));
    src = await mkdtemp(join(tmpdir(), 'webdav-rclone-'));
    const obscured = await run('rclone', ['obscure', 'rclone-secret-pw', '--config', '/dev/null']);
    env = {
      PATH: process.env.PATH,
      HOME: src,
      RCLONE_CONFIG: '/dev/null',
      RCLONE_CONFIG_X_TYPE: 'webdav',
      RCLONE_CONFIG_X_URL: server.url,
      RCLONE_CONFIG_X_VENDOR: 'other',
      RCLONE_CONFIG_X_USER: 'rc',
      RCLONE_CONFIG_X_PASS: obscured.stdout.trim(),
    };
  });
  afterAll(async () => {
    await server?.close();
    if (src) await rm(src, { recursive: true, force: true });
  });

  it('copies a tree of awkward names and checks it byte for byte', async () => {
    const tree = join(src, 'tree');
    const files = await makeTree(tree);
    expect(files).toBeGreaterThanOrEqual(50);
    const copy = await run('rclone', ['copy', tree, 'X:dest', '--config', '/dev/null', '--transfers', '4', '--retries', '1'], { env, timeoutMs: 120_000 });
    expect(copy.code, copy.stderr).toBe(0);
    expect(await countFiles(vfs, '/dest')).toBe(files);
    expect((await vfs.stat('/dest/sub dir #1/deeper ünï/deep ?3.txt')).size).toBe(300);
    expect((await vfs.stat('/dest/percent 100%.txt')).type).toBe('file');
    const check = await run('rclone', ['check', '--download', tree, 'X:dest', '--config', '/dev/null'], { env, timeoutMs: 120_000 });
    expect(check.code, check.stderr).toBe(0);
    expect(check.stderr).toMatch(/0 differences found/);
    const lsf = await run('rclone', ['lsf', '-R', 'X:dest', '--config', '/dev/null'], { env, timeoutMs: 60_000 });
    expect(lsf.code, lsf.stderr).toBe(0);
    const listed = lsf.stdout.split('\n').filter((l) => l && !l.endsWith('/'));
    expect(listed.length).toBe(files);
    expect(listed).toContain('hash#tag.txt');
    expect(listed).toContain('sub dir #1/deeper ünï/deep ?0.txt');
  }, 180_000);

  it('moves and deletes through rclone', async () => {
    const move = await run('rclone', ['moveto', 'X:dest/plain.txt', 'X:dest/sub dir #1/moved plain.txt', '--config', '/dev/null'], { env });
    expect(move.code, move.stderr).toBe(0);
    await expect(vfs.stat('/dest/plain.txt')).rejects.toMatchObject({ code: 'ENOENT' });
    expect((await vfs.stat('/dest/sub dir #1/moved plain.txt')).type).toBe('file');
    const purge = await run('rclone', ['purge', 'X:dest/sub dir #1', '--config', '/dev/null'], { env });
    expect(purge.code, purge.stderr).toBe(0);
    await expect(vfs.stat('/dest/sub dir #1')).rejects.toMatchObject({ code: 'ENOENT' });
  }, 60_000);

  it('is refused with a wrong password', async () => {
    const bad = await run('rclone', ['obscure', 'wrong-password', '--config', '/dev/null']);
    const r = await run('rclone', ['lsf', 'X:', '--config', '/dev/null', '--retries', '1', '--low-level-retries', '1'], {
      env: { ...env, RCLONE_CONFIG_X_PASS: bad.stdout.trim() },
    });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/401|Unauthorized|auth/i);
  }, 60_000);
});
