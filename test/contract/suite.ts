/**
 * The Vfs contract suite: ONE set of behaviour checks that every Vfs must pass.
 * Each adapter runs it over a fresh instance per test: `describeContract('memory', async () => ({ vfs }))`.
 */
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Entry, Vfs } from '../../src/vfs.js';
import { VfsError } from '../../src/errors.js';
import { collect, expectCode, pseudoRandomBytes, pseudoRandomStream, sha256Stream } from '../helpers.js';

export interface ContractTarget {
  vfs: Vfs;
  /** Stop servers, remove temp files. */
  cleanup?: () => Promise<void>;
}

export interface ContractOptions {
  /** Size of the "multi-megabyte streamed write" case (default 6 MiB). */
  bigFileBytes?: number;
  /** Per-test timeout in ms (default 30 s: emulators add latency). */
  timeoutMs?: number;
}

/** Names with every awkward character the design promises to carry. */
export const AWKWARD_NAMES = [
  'with space.txt',
  'ünïcødé — 漢字.txt',
  'hash#tag.txt',
  'per%cent%20.txt',
  'question?.txt',
  'plus+sign.txt',
  `quotes "double" 'single'.txt`,
  'emoji 🚀📁.txt',
  'semi;colon&amp=eq.txt',
  '[brackets] {braces} (parens).txt',
  ' leading and trailing space .txt',
  'back\\slash.txt',
];

const text = (s: string) => Buffer.from(s, 'utf8');

async function readText(vfs: Vfs, path: string, range: { offset?: number; length?: number } = {}): Promise<string> {
  return (await collect(await vfs.read(path, range))).toString('utf8');
}

function names(entries: Entry[]): string[] {
  return entries.map((e) => e.name).sort();
}

export function describeContract(name: string, factory: () => Promise<ContractTarget>, options: ContractOptions = {}): void {
  const bigFileBytes = options.bigFileBytes ?? 6 * 1024 * 1024;

  describe(`Vfs contract: ${name}`, { timeout: options.timeoutMs ?? 30_000 }, () => {
    let target: ContractTarget;
    let vfs: Vfs;

    beforeEach(async () => {
      target = await factory();
      vfs = target.vfs;
    });
    afterEach(async () => {
      await vfs.close?.();
      await target.cleanup?.();
    });

    describe('stat and list', () => {
      it('stat("/") is a directory', async () => {
        const root = await vfs.stat('/');
        expect(root.type).toBe('directory');
        expect(root.path).toBe('/');
      });

      it('an empty store lists nothing at the root', async () => {
        expect(await vfs.list('/')).toEqual([]);
      });

      it('stat of a missing path is ENOENT', async () => {
        await expectCode(vfs.stat('/missing.txt'), 'ENOENT');
      });

      it('stat below a missing parent is ENOENT', async () => {
        await expectCode(vfs.stat('/no/such/dir/file.txt'), 'ENOENT');
      });

      it('stat below a file is ENOENT or ENOTDIR', async () => {
        await vfs.write('/plain.txt', text('x'));
        await expectCode(vfs.stat('/plain.txt/child'), 'ENOENT', 'ENOTDIR');
      });

      it('stat of a file gives its name, path, type and size', async () => {
        await vfs.write('/dir-a/../hello.txt', text('hello world'));
        const entry = await vfs.stat('/hello.txt');
        expect(entry).toMatchObject({ path: '/hello.txt', name: 'hello.txt', type: 'file', size: 11 });
        expect(entry.mtime).toBeInstanceOf(Date);
        expect(Number.isNaN(entry.mtime.getTime())).toBe(false);
      });

      it('list returns every child with its metadata', async () => {
        await vfs.mkdir('/d');
        await vfs.write('/d/one.txt', text('1'));
        await vfs.write('/d/three.txt', text('333'));
        await vfs.mkdir('/d/sub');
        const entries = await vfs.list('/d');
        expect(names(entries)).toEqual(['one.txt', 'sub', 'three.txt']);
        const byName = new Map(entries.map((e) => [e.name, e]));
        expect(byName.get('one.txt')).toMatchObject({ path: '/d/one.txt', type: 'file', size: 1 });
        expect(byName.get('three.txt')).toMatchObject({ path: '/d/three.txt', type: 'file', size: 3 });
        expect(byName.get('sub')).toMatchObject({ path: '/d/sub', type: 'directory' });
      });

      it('list of a file is ENOTDIR', async () => {
        await vfs.write('/f.txt', text('x'));
        await expectCode(vfs.list('/f.txt'), 'ENOTDIR');
      });

      it('list of a missing directory is ENOENT', async () => {
        await expectCode(vfs.list('/nowhere'), 'ENOENT');
      });

      it('paths are normalised: trailing slash, double slash and dot segments', async () => {
        await vfs.mkdir('/norm');
        await vfs.write('//norm/./x.txt', text('x'));
        expect((await vfs.stat('/norm/')).type).toBe('directory');
        expect(names(await vfs.list('/norm//'))).toEqual(['x.txt']);
        expect((await vfs.stat('/norm/sub/../x.txt')).path).toBe('/norm/x.txt');
      });
    });

    describe('invalid paths are rejected before any request', () => {
      const cases: Array<[string, string, string]> = [
        ['empty', '', 'EINVAL'],
        ['relative', 'relative/path.txt', 'EINVAL'],
        ['NUL byte', '/bad\0name', 'EINVAL'],
        ['.. above the root', '/../etc/passwd', 'EINVAL'],
        ['a 300-byte name', '/' + 'n'.repeat(300), 'ENAMETOOLONG'],
      ];
      for (const [label, path, code] of cases) {
        it(`${label} → ${code}`, async () => {
          const e = await expectCode(vfs.stat(path), code as 'EINVAL');
          expect(e.errno).toBeGreaterThan(0);
          await expectCode(vfs.write(path, text('x')), code as 'EINVAL');
        });
      }
    });

    describe('mkdir', () => {
      it('creates a directory that stat and list show', async () => {
        const made = await vfs.mkdir('/new dir');
        expect(made).toMatchObject({ path: '/new dir', name: 'new dir', type: 'directory' });
        expect((await vfs.stat('/new dir')).type).toBe('directory');
        expect(names(await vfs.list('/'))).toEqual(['new dir']);
        expect(await vfs.list('/new dir')).toEqual([]);
      });

      it('on an existing directory is EEXIST', async () => {
        await vfs.mkdir('/twice');
        await expectCode(vfs.mkdir('/twice'), 'EEXIST');
      });

      it('on an existing file is EEXIST and the file stays', async () => {
        await vfs.write('/file', text('keep me'));
        await expectCode(vfs.mkdir('/file'), 'EEXIST');
        expect(await readText(vfs, '/file')).toBe('keep me');
      });

      it('with a missing parent is ENOENT (no silent mkdir -p)', async () => {
        await expectCode(vfs.mkdir('/a/b/c'), 'ENOENT');
        await expectCode(vfs.stat('/a'), 'ENOENT');
      });

      it('of "/" is EEXIST', async () => {
        await expectCode(vfs.mkdir('/'), 'EEXIST');
      });
    });

    describe('write and read', () => {
      it('round-trips bytes from a Uint8Array', async () => {
        const data = new Uint8Array([0, 1, 2, 250, 255, 10, 13]);
        const entry = await vfs.write('/bytes.bin', data);
        expect(entry).toMatchObject({ path: '/bytes.bin', name: 'bytes.bin', type: 'file', size: data.length });
        expect([...(await collect(await vfs.read('/bytes.bin')))]).toEqual([...data]);
      });

      it('accepts a Node Readable', async () => {
        await vfs.write('/stream.txt', Readable.from([text('ab'), text('cd'), text('ef')]));
        expect(await readText(vfs, '/stream.txt')).toBe('abcdef');
        expect((await vfs.stat('/stream.txt')).size).toBe(6);
      });

      it('accepts an async iterable of Uint8Array', async () => {
        async function* gen() {
          for (let i = 0; i < 5; i++) yield new Uint8Array(Buffer.from(`part${i};`));
        }
        await vfs.write('/iter.txt', gen());
        expect(await readText(vfs, '/iter.txt')).toBe('part0;part1;part2;part3;part4;');
      });

      it('passes the size hint through when it is given', async () => {
        const entry = await vfs.write('/sized.txt', Readable.from([text('12345')]), { size: 5 });
        expect(entry.size).toBe(5);
        expect(await readText(vfs, '/sized.txt')).toBe('12345');
      });

      it('writes and reads a zero-byte file', async () => {
        const entry = await vfs.write('/empty', new Uint8Array(0));
        expect(entry.size).toBe(0);
        expect((await vfs.stat('/empty')).size).toBe(0);
        expect((await collect(await vfs.read('/empty'))).length).toBe(0);
      });

      it('overwrites an existing file by default, shrinking it', async () => {
        await vfs.write('/over.txt', text('a long first version'));
        await vfs.write('/over.txt', text('short'));
        expect(await readText(vfs, '/over.txt')).toBe('short');
        expect((await vfs.stat('/over.txt')).size).toBe(5);
      });

      it('with overwrite:false onto an existing file is EEXIST and keeps the old content', async () => {
        await vfs.write('/keep.txt', text('original'));
        await expectCode(vfs.write('/keep.txt', text('new'), { overwrite: false }), 'EEXIST');
        expect(await readText(vfs, '/keep.txt')).toBe('original');
      });

      it('into a missing parent is ENOENT and creates nothing', async () => {
        await expectCode(vfs.write('/missing-dir/f.txt', text('x')), 'ENOENT');
        await expectCode(vfs.stat('/missing-dir'), 'ENOENT');
      });

      it('onto a directory is EISDIR', async () => {
        await vfs.mkdir('/adir');
        await expectCode(vfs.write('/adir', text('x')), 'EISDIR');
        expect((await vfs.stat('/adir')).type).toBe('directory');
      });

      it('a read of a directory is EISDIR', async () => {
        await vfs.mkdir('/rdir');
        await expectCode(vfs.read('/rdir'), 'EISDIR');
      });

      it('a read of a missing file rejects with ENOENT before any byte', async () => {
        await expectCode(vfs.read('/ghost.txt'), 'ENOENT');
      });

      it('a failing source stream leaves the previous version intact', async () => {
        await vfs.write('/safe.txt', text('good version'));
        async function* broken() {
          yield new Uint8Array(Buffer.from('partial '));
          throw new Error('source went away');
        }
        await expect(vfs.write('/safe.txt', broken())).rejects.toBeInstanceOf(VfsError);
        expect(await readText(vfs, '/safe.txt')).toBe('good version');
      });

      it('keeps mtime when the backend says it preserves it', async () => {
        const when = new Date('2021-03-04T05:06:07.000Z');
        await vfs.write('/dated.txt', text('old'), { mtime: when });
        const entry = await vfs.stat('/dated.txt');
        if (vfs.capabilities.preservesMtime) {
          expect(Math.abs(entry.mtime.getTime() - when.getTime())).toBeLessThanOrEqual(vfs.capabilities.mtimeResolutionMs);
        } else {
          // Without mtime support the file still gets a recent, valid timestamp.
          expect(Math.abs(entry.mtime.getTime() - Date.now())).toBeLessThan(24 * 3600 * 1000);
        }
      });

      it('a multi-megabyte streamed write round-trips (sha256)', async () => {
        const source = pseudoRandomStream(bigFileBytes, 192 * 1024 + 7);
        const entry = await vfs.write('/big.bin', source.stream, { size: bigFileBytes });
        expect(entry.size).toBe(bigFileBytes);
        const back = await sha256Stream(await vfs.read('/big.bin'));
        expect(back.bytes).toBe(bigFileBytes);
        expect(back.hex).toBe(source.sha256());
      });

      it('concurrent writes to different files all land intact', async () => {
        await vfs.mkdir('/par');
        const files = Array.from({ length: 8 }, (_, i) => ({ path: `/par/f${i}.bin`, data: pseudoRandomBytes(50_000 + i * 1000, i + 1) }));
        await Promise.all(files.map((f) => vfs.write(f.path, f.data)));
        expect(names(await vfs.list('/par'))).toHaveLength(8);
        for (const f of files) expect((await collect(await vfs.read(f.path))).equals(f.data)).toBe(true);
      });

      it('a write through an aborted signal is ECANCELED and changes nothing', async () => {
        await vfs.write('/abort.txt', text('before'));
        const controller = new AbortController();
        controller.abort();
        await expectCode(vfs.write('/abort.txt', text('after'), { signal: controller.signal }), 'ECANCELED');
        expect(await readText(vfs, '/abort.txt')).toBe('before');
      });
    });

    describe('ranged reads', () => {
      const content = 'abcdefghijklmnopqrstuvwxyz0123456789';
      beforeEach(async () => {
        await vfs.write('/range.txt', text(content));
      });

      it('at the start', async () => {
        expect(await readText(vfs, '/range.txt', { offset: 0, length: 5 })).toBe('abcde');
      });
      it('in the middle', async () => {
        expect(await readText(vfs, '/range.txt', { offset: 10, length: 6 })).toBe('klmnop');
      });
      it('exactly at the end', async () => {
        expect(await readText(vfs, '/range.txt', { offset: 30, length: 6 })).toBe('456789');
      });
      it('past the end yields the bytes that exist', async () => {
        expect(await readText(vfs, '/range.txt', { offset: 33, length: 100 })).toBe('789');
      });
      it('starting beyond the end yields nothing', async () => {
        expect(await readText(vfs, '/range.txt', { offset: 1000, length: 10 })).toBe('');
      });
      it('an offset alone reads to the end', async () => {
        expect(await readText(vfs, '/range.txt', { offset: 26 })).toBe('0123456789');
      });
      it('a range in a multi-block file', async () => {
        const data = pseudoRandomBytes(3 * 1024 * 1024 + 123, 99);
        await vfs.write('/blocks.bin', data);
        const offset = 1024 * 1024 - 10;
        const got = await collect(await vfs.read('/blocks.bin', { offset, length: 1024 * 1024 + 20 }));
        expect(got.equals(data.subarray(offset, offset + 1024 * 1024 + 20))).toBe(true);
      });
    });

    describe('awkward names', () => {
      it('every awkward name round-trips through write, list, stat and read', async () => {
        await vfs.mkdir('/odd # dir ?%');
        for (const n of AWKWARD_NAMES) await vfs.write(`/odd # dir ?%/${n}`, text(`content of ${n}`));
        expect(names(await vfs.list('/odd # dir ?%'))).toEqual([...AWKWARD_NAMES].sort());
        for (const n of AWKWARD_NAMES) {
          const entry = await vfs.stat(`/odd # dir ?%/${n}`);
          expect(entry.name).toBe(n);
          expect(entry.path).toBe(`/odd # dir ?%/${n}`);
          expect(await readText(vfs, `/odd # dir ?%/${n}`)).toBe(`content of ${n}`);
        }
      });

      it('awkward names survive rename and copy', async () => {
        await vfs.write('/a+b #1 100%.txt', text('x'));
        await vfs.rename('/a+b #1 100%.txt', '/renamed ? "q".txt');
        await vfs.copy('/renamed ? "q".txt', '/copy 🚀 %20.txt');
        expect(names(await vfs.list('/'))).toEqual(['copy 🚀 %20.txt', 'renamed ? "q".txt']);
      });
    });

    describe('remove', () => {
      it('removes a file', async () => {
        await vfs.write('/gone.txt', text('x'));
        await vfs.remove('/gone.txt');
        await expectCode(vfs.stat('/gone.txt'), 'ENOENT');
      });

      it('removes an empty directory', async () => {
        await vfs.mkdir('/emptydir');
        await vfs.remove('/emptydir');
        await expectCode(vfs.stat('/emptydir'), 'ENOENT');
      });

      it('a non-empty directory without recursive is ENOTEMPTY and nothing is lost', async () => {
        await vfs.mkdir('/full');
        await vfs.write('/full/keep.txt', text('keep'));
        await expectCode(vfs.remove('/full'), 'ENOTEMPTY');
        expect(await readText(vfs, '/full/keep.txt')).toBe('keep');
      });

      it('recursive removes the whole subtree', async () => {
        await vfs.mkdir('/tree');
        await vfs.mkdir('/tree/sub');
        await vfs.write('/tree/sub/deep.txt', text('x'));
        await vfs.write('/tree/top.txt', text('y'));
        await vfs.remove('/tree', { recursive: true });
        await expectCode(vfs.stat('/tree'), 'ENOENT');
        await expectCode(vfs.stat('/tree/sub/deep.txt'), 'ENOENT');
        expect(await vfs.list('/')).toEqual([]);
      });

      it('a missing path is ENOENT', async () => {
        await expectCode(vfs.remove('/not-here'), 'ENOENT');
      });

      it('removing "/" is refused with EBUSY or EPERM', async () => {
        await vfs.write('/survivor.txt', text('x'));
        await expectCode(vfs.remove('/', { recursive: true }), 'EBUSY', 'EPERM');
        expect(await readText(vfs, '/survivor.txt')).toBe('x');
      });
    });

    describe('rename', () => {
      it('renames a file in the same directory', async () => {
        await vfs.write('/old.txt', text('content'));
        const entry = await vfs.rename('/old.txt', '/new.txt');
        expect(entry).toMatchObject({ path: '/new.txt', name: 'new.txt', type: 'file', size: 7 });
        await expectCode(vfs.stat('/old.txt'), 'ENOENT');
        expect(await readText(vfs, '/new.txt')).toBe('content');
      });

      it('moves a file to another directory under a new name', async () => {
        await vfs.mkdir('/from');
        await vfs.mkdir('/to');
        await vfs.write('/from/a.txt', text('moving'));
        await vfs.rename('/from/a.txt', '/to/b.txt');
        expect(await vfs.list('/from')).toEqual([]);
        expect(await readText(vfs, '/to/b.txt')).toBe('moving');
      });

      it('moves a file to another directory keeping its name', async () => {
        await vfs.mkdir('/m1');
        await vfs.mkdir('/m2');
        await vfs.write('/m1/same.txt', text('s'));
        await vfs.rename('/m1/same.txt', '/m2/same.txt');
        expect(names(await vfs.list('/m2'))).toEqual(['same.txt']);
        expect(await vfs.list('/m1')).toEqual([]);
      });

      it('works when the old name is already taken in the target directory', async () => {
        await vfs.mkdir('/src');
        await vfs.mkdir('/dst');
        await vfs.write('/src/x.txt', text('mover'));
        await vfs.write('/dst/x.txt', text('bystander'));
        await vfs.rename('/src/x.txt', '/dst/y.txt');
        expect(await readText(vfs, '/dst/y.txt')).toBe('mover');
        expect(await readText(vfs, '/dst/x.txt')).toBe('bystander');
        await expectCode(vfs.stat('/src/x.txt'), 'ENOENT');
      });

      it('onto an existing file without overwrite is EEXIST and both stay', async () => {
        await vfs.write('/r1.txt', text('one'));
        await vfs.write('/r2.txt', text('two'));
        await expectCode(vfs.rename('/r1.txt', '/r2.txt'), 'EEXIST');
        expect(await readText(vfs, '/r1.txt')).toBe('one');
        expect(await readText(vfs, '/r2.txt')).toBe('two');
      });

      it('onto an existing file with overwrite replaces it', async () => {
        await vfs.write('/w1.txt', text('winner'));
        await vfs.write('/w2.txt', text('loser'));
        await vfs.rename('/w1.txt', '/w2.txt', { overwrite: true });
        expect(await readText(vfs, '/w2.txt')).toBe('winner');
        await expectCode(vfs.stat('/w1.txt'), 'ENOENT');
      });

      it('renames a directory with everything inside', async () => {
        await vfs.mkdir('/dirA');
        await vfs.mkdir('/dirA/inner');
        await vfs.write('/dirA/inner/f.txt', text('deep'));
        await vfs.rename('/dirA', '/dirB');
        await expectCode(vfs.stat('/dirA'), 'ENOENT');
        expect(await readText(vfs, '/dirB/inner/f.txt')).toBe('deep');
      });

      it('a directory into itself is EINVAL', async () => {
        await vfs.mkdir('/self');
        await vfs.mkdir('/self/child');
        await expectCode(vfs.rename('/self', '/self/child/self'), 'EINVAL');
        expect((await vfs.stat('/self/child')).type).toBe('directory');
      });

      it('a missing source is ENOENT', async () => {
        await expectCode(vfs.rename('/nope.txt', '/other.txt'), 'ENOENT');
      });

      // Issue 16 #2: a replacing move onto an ancestor of the source must not delete the ancestor
      // (and the source with it). Refused up front with EINVAL, every byte still there.
      it('onto an ancestor of the source is EINVAL with overwrite, and nothing is lost', async () => {
        await vfs.mkdir('/anc');
        await vfs.mkdir('/anc/b');
        await vfs.mkdir('/anc/b/c');
        await vfs.write('/anc/b/c/f.txt', text('keep'));
        await vfs.write('/anc/sib.txt', text('sibling'));
        for (const [from, to] of [['/anc/b/c', '/anc'], ['/anc/b/c', '/anc/b'], ['/anc/b/c/f.txt', '/anc'], ['/anc/b/c/f.txt', '/anc/b/c'], ['/anc/b', '/anc/']]) {
          await expectCode(vfs.rename(from!, to!, { overwrite: true }), 'EINVAL');
          await expectCode(vfs.rename(from!, to!), 'EINVAL');
        }
        expect(await readText(vfs, '/anc/b/c/f.txt')).toBe('keep');
        expect(await readText(vfs, '/anc/sib.txt')).toBe('sibling');
      });

      it('into a missing directory is ENOENT and the source stays', async () => {
        await vfs.write('/stay.txt', text('x'));
        await expectCode(vfs.rename('/stay.txt', '/no-dir/stay.txt'), 'ENOENT');
        expect(await readText(vfs, '/stay.txt')).toBe('x');
      });
    });

    describe('copy', () => {
      it('copies a file and keeps the source', async () => {
        await vfs.write('/orig.txt', text('copy me'));
        const entry = await vfs.copy('/orig.txt', '/dup.txt');
        expect(entry).toMatchObject({ path: '/dup.txt', type: 'file', size: 7 });
        expect(await readText(vfs, '/orig.txt')).toBe('copy me');
        expect(await readText(vfs, '/dup.txt')).toBe('copy me');
      });

      it('copies into another directory under a new name even when the old name is taken there', async () => {
        await vfs.mkdir('/cs');
        await vfs.mkdir('/cd');
        await vfs.write('/cs/n.txt', text('fresh'));
        await vfs.write('/cd/n.txt', text('existing'));
        await vfs.copy('/cs/n.txt', '/cd/m.txt');
        expect(await readText(vfs, '/cd/m.txt')).toBe('fresh');
        expect(await readText(vfs, '/cd/n.txt')).toBe('existing');
        expect(await readText(vfs, '/cs/n.txt')).toBe('fresh');
      });

      it('onto an existing file without overwrite is EEXIST', async () => {
        await vfs.write('/c1.txt', text('one'));
        await vfs.write('/c2.txt', text('two'));
        await expectCode(vfs.copy('/c1.txt', '/c2.txt'), 'EEXIST');
        expect(await readText(vfs, '/c2.txt')).toBe('two');
      });

      it('onto an existing file with overwrite replaces it', async () => {
        await vfs.write('/o1.txt', text('new'));
        await vfs.write('/o2.txt', text('old old'));
        await vfs.copy('/o1.txt', '/o2.txt', { overwrite: true });
        expect(await readText(vfs, '/o2.txt')).toBe('new');
        expect(await readText(vfs, '/o1.txt')).toBe('new');
      });

      it('copies a directory tree', async () => {
        await vfs.mkdir('/ct');
        await vfs.mkdir('/ct/sub');
        await vfs.write('/ct/sub/a.txt', text('A'));
        await vfs.write('/ct/b.txt', text('BB'));
        await vfs.copy('/ct', '/ct2');
        expect(await readText(vfs, '/ct2/sub/a.txt')).toBe('A');
        expect(await readText(vfs, '/ct2/b.txt')).toBe('BB');
        expect(await readText(vfs, '/ct/sub/a.txt')).toBe('A');
      });

      it('a directory into itself is EINVAL', async () => {
        await vfs.mkdir('/loop');
        await expectCode(vfs.copy('/loop', '/loop/inside'), 'EINVAL');
      });

      it('a missing source is ENOENT', async () => {
        await expectCode(vfs.copy('/absent', '/present'), 'ENOENT');
      });

      it('onto an ancestor of the source is EINVAL with overwrite, and nothing is lost', async () => {
        await vfs.mkdir('/canc');
        await vfs.mkdir('/canc/b');
        await vfs.write('/canc/b/f.txt', text('keep'));
        await vfs.write('/canc/sib.txt', text('sibling'));
        for (const [from, to] of [['/canc/b', '/canc'], ['/canc/b/f.txt', '/canc'], ['/canc/b/f.txt', '/canc/b']]) {
          await expectCode(vfs.copy(from!, to!, { overwrite: true }), 'EINVAL');
          await expectCode(vfs.copy(from!, to!), 'EINVAL');
        }
        expect(await readText(vfs, '/canc/b/f.txt')).toBe('keep');
        expect(await readText(vfs, '/canc/sib.txt')).toBe('sibling');
        expect(names(await vfs.list('/canc'))).toEqual(['b', 'sib.txt']);
      });

      it('a copy is independent of its source', async () => {
        await vfs.write('/indep.txt', text('v1'));
        await vfs.copy('/indep.txt', '/indep-copy.txt');
        await vfs.write('/indep.txt', text('v2 changed'));
        expect(await readText(vfs, '/indep-copy.txt')).toBe('v1');
      });
    });

    describe('space', () => {
      it('reports used bytes when the backend knows its quota, else ENOTSUP', async () => {
        await vfs.write('/space.bin', pseudoRandomBytes(10_000));
        if (vfs.capabilities.quota) {
          const space = await vfs.space();
          expect(space.used).toBeGreaterThanOrEqual(10_000);
          if (space.total !== undefined && space.free !== undefined) expect(space.free).toBeLessThanOrEqual(space.total);
        } else {
          await expectCode(vfs.space(), 'ENOTSUP');
        }
      });
    });

    describe('arguments are checked before anything is done', () => {
      beforeEach(async () => {
        await vfs.write('/args.txt', text('0123456789'));
      });

      for (const bad of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
        it(`a read offset or length of ${bad} is EINVAL`, async () => {
          await expectCode(vfs.read('/args.txt', { offset: bad }), 'EINVAL');
          await expectCode(vfs.read('/args.txt', { length: bad }), 'EINVAL');
        });

        it(`a write size of ${bad} is EINVAL and writes nothing`, async () => {
          await expectCode(vfs.write('/sized-bad.txt', text('x'), { size: bad }), 'EINVAL');
          await expectCode(vfs.stat('/sized-bad.txt'), 'ENOENT');
        });
      }

      it('a write with an invalid mtime is EINVAL and keeps the old content', async () => {
        await expectCode(vfs.write('/args.txt', text('new'), { mtime: new Date(Number.NaN) }), 'EINVAL');
        expect(await readText(vfs, '/args.txt')).toBe('0123456789');
      });

      it('a read of "/" is EISDIR and a write to it EISDIR', async () => {
        await expectCode(vfs.read('/'), 'EISDIR');
        await expectCode(vfs.write('/', text('x')), 'EISDIR');
      });

      it('moving, copying or replacing the root is refused', async () => {
        await vfs.mkdir('/rootdir');
        await expectCode(vfs.rename('/', '/rootdir/r'), 'EBUSY', 'EINVAL');
        await expectCode(vfs.copy('/', '/rootdir/r'), 'EBUSY', 'EINVAL');
        await expectCode(vfs.rename('/args.txt', '/', { overwrite: true }), 'EBUSY', 'EINVAL');
        await expectCode(vfs.copy('/args.txt', '/', { overwrite: true }), 'EBUSY', 'EINVAL');
        expect(await readText(vfs, '/args.txt')).toBe('0123456789');
      });

      it('a copy onto itself is EINVAL; a rename onto itself is a no-op', async () => {
        await expectCode(vfs.copy('/args.txt', '/args.txt', { overwrite: true }), 'EINVAL');
        expect(await vfs.rename('/args.txt', '//args.txt')).toMatchObject({ path: '/args.txt', size: 10 });
        expect(await readText(vfs, '/args.txt')).toBe('0123456789');
      });

      it('an aborted signal is ECANCELED for every operation', async () => {
        const controller = new AbortController();
        controller.abort();
        const signal = controller.signal;
        await expectCode(vfs.stat('/args.txt', { signal }), 'ECANCELED');
        await expectCode(vfs.list('/', { signal }), 'ECANCELED');
        await expectCode(vfs.read('/args.txt', { signal }), 'ECANCELED');
        await expectCode(vfs.mkdir('/never', { signal }), 'ECANCELED');
        await expectCode(vfs.remove('/args.txt', { signal }), 'ECANCELED');
        await expectCode(vfs.rename('/args.txt', '/moved.txt', { signal }), 'ECANCELED');
        await expectCode(vfs.copy('/args.txt', '/copied.txt', { signal }), 'ECANCELED');
        expect(names(await vfs.list('/'))).toEqual(['args.txt']);
      });
    });

    describe('errors', () => {
      it('carry an errno number that matches their code', async () => {
        const e = await expectCode(vfs.stat('/x/y'), 'ENOENT');
        const { constants } = await import('node:os');
        expect(e.errno).toBe(constants.errno.ENOENT);
        // The code is a field, not part of the message; printing the error puts it in front once.
        expect(e.message).not.toContain('ENOENT');
        expect(String(e)).toMatch(/^ENOENT: [^]*\S/);
      });

      it('carry the operation and the paths as plain fields, as Node fs errors do', async () => {
        // A layer that re-roots (SubtreeVfs) may show the paths of the Vfs it wraps: ends are compared.
        const end = (got: string | undefined, want: string | undefined) => (got !== undefined && want !== undefined && got.endsWith(want) ? want : got);
        const fields = (e: VfsError, want: { syscall: string; path: string; dest?: string }) => ({ syscall: e.syscall, path: end(e.path, want.path), dest: end(e.dest, want.dest) });
        const e = await expectCode(vfs.stat('/x/y'), 'ENOENT');
        expect(fields(e, { syscall: 'stat', path: '/x/y' })).toEqual({ syscall: 'stat', path: '/x/y', dest: undefined });
        await vfs.write('/e1.txt', text('1'));
        await vfs.write('/e2.txt', text('2'));
        const moved = await expectCode(vfs.rename('/e1.txt', '//e2.txt'), 'EEXIST');
        const renameWant = { syscall: 'rename', path: '/e1.txt', dest: '/e2.txt' };
        expect(fields(moved, renameWant)).toEqual(renameWant);
        const copied = await expectCode(vfs.copy('/none.txt', '/e3.txt'), 'ENOENT');
        const copyWant = { syscall: 'copy', path: '/none.txt', dest: '/e3.txt' };
        expect(fields(copied, copyWant)).toEqual(copyWant);
      });
    });
  });
}
