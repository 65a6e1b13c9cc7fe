/**
 * COPY/MOVE whose destination is the source, one of its ancestors, or (for a collection) inside it
 * (issue 16 #2). Every variant is refused with 403 (409 for a file "containing" the destination)
 * and the share is byte-for-byte what it was: no recursive delete of the destination first.
 * Run directly over MemoryVfs, through CachedVfs + SubtreeVfs under a base path, and over a
 * case-insensitive Vfs.
 */
import type { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryVfs } from '../../adapters/memory/index.js';
import { serveWebdav } from '../../mount/webdav.js';
import type { WebdavServer } from '../../mount/webdav.js';
import { SubtreeVfs } from '../../src/subtree-vfs.js';
import type { Entry, MoveOptions, OpOptions, ReadOptions, RemoveOptions, SpaceInfo, Vfs, WriteData, WriteOptions } from '../../src/vfs.js';
import { CachedVfs } from '../../src/cache.js';
import { collect, expectCode } from '../helpers.js';

const TREE = { a: { b: { c: { 'f.txt': 'deep file', d: {} } }, 'sib.txt': 'sibling' }, 'x.txt': 'top' };

/** Every path with its content ("<dir>" for directories), sorted: the state that must not change. */
async function snapshot(vfs: Vfs, dir = '/'): Promise<string[]> {
  const out: string[] = [];
  for (const e of await vfs.list(dir)) {
    if (e.type === 'directory') out.push(`${e.path} <dir>`, ...(await snapshot(vfs, e.path)));
    else out.push(`${e.path} ${(await collect(await vfs.read(e.path))).toString()}`);
  }
  return out.sort();
}

/** [method, source, Destination as sent, expected status]. Destinations name the source, an ancestor, or a descendant. */
function cases(prefix: string): Array<[string, string, string, number]> {
  const out: Array<[string, string, string, number]> = [];
  for (const method of ['MOVE', 'COPY']) {
    const add = (src: string, dests: string[], status = 403) => {
      for (const d of dests) out.push([method, src, d, status]);
    };
    // A collection onto each of its ancestors, any depth, any spelling of the same path.
    add('/a/b/c', ['/a', '/a/', '/a/b', '/a/b/', '/%61', '/%61/%62/', '//a//b', `http://HOST${prefix}/a`]);
    // A file onto its ancestors.
    add('/a/b/c/f.txt', ['/a', '/a/b/c', '/a/b/c/', '/a/b/%63']);
    // The same resource.
    add('/a/b', ['/a/b', '/a/b/', '/%61/b']);
    add('/a/sib.txt', ['/a/sib.txt', '/a/sib%2Etxt']);
    // A collection into itself.
    add('/a/b', ['/a/b/c', '/a/b/new', '/a/b/c/d/e']);
    // Dot segments are refused outright (never resolved into an ancestor).
    add('/a/b/c', ['/a/./b', '/a/b/c/..'], 400);
    // A file "containing" its destination: the destination's parent is not a collection.
    add('/x.txt', ['/x.txt/y'], 409);
  }
  return out;
}

async function send(server: WebdavServer, prefix: string, method: string, src: string, dest: string, overwrite: 'T' | 'F'): Promise<number> {
  const host = `127.0.0.1:${server.port}`;
  const destination = dest.startsWith('http') ? dest.replace('HOST', host) : prefix + dest;
  const res = await fetch(`http://${host}${prefix}${src}`, { method, headers: { Destination: destination, Overwrite: overwrite } });
  await res.arrayBuffer();
  return res.status;
}

describe.each([
  { label: 'MemoryVfs, no cache', prefix: '', make: async () => ({ backing: await MemoryVfs.fromTree(TREE), wrap: (v: Vfs) => v, cache: false }) },
  {
    label: 'SubtreeVfs share through CachedVfs under /dav',
    prefix: '/dav',
    make: async () => ({ backing: await MemoryVfs.fromTree({ outer: TREE, 'keep.txt': 'outside' }), wrap: (v: Vfs) => new SubtreeVfs(v, '/outer'), cache: true }),
  },
])('COPY/MOVE onto its own namespace: $label', ({ prefix, make }) => {
  let server: WebdavServer;
  let backing: MemoryVfs;
  let before: string[];

  beforeAll(async () => {
    const made = await make();
    backing = made.backing;
    before = await snapshot(backing);
    server = await serveWebdav(made.wrap(backing), { cache: made.cache, basePath: prefix || undefined });
  });
  afterAll(async () => {
    await server?.close();
  });

  for (const overwrite of ['T', 'F'] as const) {
    it.each(cases(prefix))(`%s %s → %s (Overwrite: ${overwrite}) is %i and touches nothing`, async (method, src, dest, status) => {
      expect(await send(server, prefix, method, src, dest, overwrite)).toBe(status);
      expect(await snapshot(backing)).toEqual(before);
    });
  }

  it('an ordinary MOVE and COPY still work afterwards', async () => {
    expect(await send(server, prefix, 'COPY', '/a/b', '/a/b2', 'F')).toBe(201);
    expect(await send(server, prefix, 'MOVE', '/a/b2/c', '/a/c2', 'F')).toBe(201);
    const root = prefix ? '/outer' : '';
    expect((await backing.stat(`${root}/a/c2/f.txt`)).size).toBe(9);
    expect((await backing.stat(`${root}/a/b/c/f.txt`)).size).toBe(9);
  });
});

/** A Vfs that ignores case the way some providers do (every path folded to lower case). */
class CaseFoldingVfs implements Vfs {
  readonly name = 'casefold';
  readonly capabilities;
  constructor(private readonly inner: Vfs) {
    this.capabilities = { ...inner.capabilities, caseSensitive: false };
  }
  private f = (p: string) => p.toLowerCase();
  stat(p: string, o?: OpOptions): Promise<Entry> { return this.inner.stat(this.f(p), o); }
  list(p: string, o?: OpOptions): Promise<Entry[]> { return this.inner.list(this.f(p), o); }
  read(p: string, o?: ReadOptions): Promise<Readable> { return this.inner.read(this.f(p), o); }
  write(p: string, d: WriteData, o?: WriteOptions): Promise<Entry> { return this.inner.write(this.f(p), d, o); }
  mkdir(p: string, o?: OpOptions): Promise<Entry> { return this.inner.mkdir(this.f(p), o); }
  remove(p: string, o?: RemoveOptions): Promise<void> { return this.inner.remove(this.f(p), o); }
  /** Moves and copies that reached this layer. */
  moves = 0;
  rename(a: string, b: string, o?: MoveOptions): Promise<Entry> { this.moves++; return this.inner.rename(this.f(a), this.f(b), o); }
  copy(a: string, b: string, o?: MoveOptions): Promise<Entry> { this.moves++; return this.inner.copy(this.f(a), this.f(b), o); }
  space(o?: OpOptions): Promise<SpaceInfo> { return this.inner.space(o); }
}

describe('COPY/MOVE onto an ancestor spelled in another case, on a case-insensitive Vfs', () => {
  let server: WebdavServer;
  let backing: MemoryVfs;
  let before: string[];
  beforeAll(async () => {
    backing = await MemoryVfs.fromTree(TREE);
    before = await snapshot(backing);
    server = await serveWebdav(new CaseFoldingVfs(backing), { cache: true });
  });
  afterAll(async () => {
    await server?.close();
  });

  it.each([
    ['MOVE', '/a/b/c', '/A'],
    ['MOVE', '/a/b/c', '/A/B/'],
    ['COPY', '/a/b/c', '/A'],
    ['MOVE', '/A/B/C/f.txt', '/a/b/c'],
    ['COPY', '/a/b', '/A/B/C'],
    ['MOVE', '/a/b', '/A/b/new'],
  ])('%s %s → %s is 403 and touches nothing', async (method, src, dest) => {
    for (const overwrite of ['T', 'F'] as const) {
      expect(await send(server, '', method, src, dest, overwrite)).toBe(403);
      expect(await snapshot(backing)).toEqual(before);
    }
  });

  it('a change of case only is still a rename of the same resource', async () => {
    expect(await send(server, '', 'MOVE', '/x.txt', '/X.txt', 'F')).toBe(201);
    expect(await snapshot(backing)).toEqual(before);
  });
});

describe('the Vfs layers under the handler refuse an ancestor spelled in another case', () => {
  it.each([
    ['CachedVfs', (v: Vfs) => new CachedVfs(v)],
    ['SubtreeVfs', (v: Vfs) => new SubtreeVfs(v, '/')],
  ])('%s over a case-insensitive Vfs: EINVAL before the provider sees it, nothing lost', async (_name, wrap) => {
    const backing = await MemoryVfs.fromTree(TREE);
    const before = await snapshot(backing);
    const folding = new CaseFoldingVfs(backing);
    const vfs = wrap(folding);
    await expectCode(vfs.rename('/a/b/c', '/A', { overwrite: true }), 'EINVAL');
    await expectCode(vfs.copy('/a/b/c/f.txt', '/A/B', { overwrite: true }), 'EINVAL');
    await expectCode(vfs.rename('/a/b', '/A/B/c/x', { overwrite: true }), 'EINVAL');
    expect(folding.moves).toBe(0);
    expect(await snapshot(backing)).toEqual(before);
    await vfs.close?.();
  });
});
