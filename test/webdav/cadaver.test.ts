/**
 * cadaver (the command-line WebDAV client) driven by a script on stdin, authenticating from a
 * ~/.netrc in a temporary HOME: mkcol, put, ls, get, copy, move, propset/propget, lock/discover/
 * unlock, delete, cat. The Vfs and the downloaded file are checked afterwards.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MemoryVfs } from '../../adapters/memory/index.js';
import type { WebdavServer } from '../../mount/webdav.js';
import { collect } from '../helpers.js';
import { hasCommand, run, startMemoryServer, warnSkip } from './helpers.js';

const hasCadaver = hasCommand('cadaver', '--version');
if (!hasCadaver) warnSkip('cadaver test', 'cadaver is not installed (apt-get install cadaver)');

describe.skipIf(!hasCadaver)('cadaver', () => {
  let server: WebdavServer;
  let vfs: MemoryVfs;
  let home: string;

  beforeAll(async () => {
    ({ server, vfs } = await startMemoryServer({}, { users: { dave: 'cadaver-pass-1' } }));
    home = await mkdtemp(join(tmpdir(), 'webdav-cadaver-'));
    await writeFile(join(home, '.netrc'), 'machine 127.0.0.1\nlogin dave\npassword cadaver-pass-1\n', { mode: 0o600 });
    await writeFile(join(home, 'local file.txt'), 'hello from cadaver\n');
  });
  afterAll(async () => {
    await server?.close();
    if (home) await rm(home, { recursive: true, force: true });
  });

  it('runs a scripted session', async () => {
    const script = [
      'mkcol "my docs"',
      `put "${join(home, 'local file.txt')}" "my docs/a.txt"`,
      'ls "my docs"',
      `get "my docs/a.txt" "${join(home, 'back.txt')}"`,
      'copy "my docs/a.txt" "my docs/b.txt"',
      'move "my docs/b.txt" "my docs/c.txt"',
      'propset "my docs/a.txt" color blue',
      'propget "my docs/a.txt" color',
      'lock "my docs/a.txt"',
      'discover "my docs/a.txt"',
      'unlock "my docs/a.txt"',
      'delete "my docs/c.txt"',
      'cat "my docs/a.txt"',
      'quit',
    ].join('\n') + '\n';
    const r = await run('cadaver', [server.url], { input: script, env: { PATH: process.env.PATH, HOME: home }, timeoutMs: 60_000 });
    const out = r.stdout + r.stderr;
    expect(out).not.toMatch(/failed/i);
    expect(out.match(/succeeded/g)?.length ?? 0).toBeGreaterThanOrEqual(9);
    expect(out).toContain('Value of color is: blue');
    expect(out).toMatch(/Lock token <opaquelocktoken:/);
    expect(out).toContain('hello from cadaver');
    expect(await readFile(join(home, 'back.txt'), 'utf8')).toBe('hello from cadaver\n');
    expect((await collect(await vfs.read('/my docs/a.txt'))).toString()).toBe('hello from cadaver\n');
    expect((await vfs.list('/my docs')).map((e) => e.name)).toEqual(['a.txt']);
  }, 90_000);
});
