/**
 * The Vfs contract over every adapter × every pass-through layer, from this one table: each adapter
 * (MemoryVfs, LocalVfs, CouchdropVfs and CloudreveVfs over their emulators) bare and under each
 * layer the frontends and the CLI put on it, and ReadonlyVfs with the read-only expectations
 * (reads as the adapter's, every change EROFS, nothing changed underneath).
 * Adapter-specific variants (emulator readings, flaky networks, cache block sizes) stay with their
 * adapter's tests.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CloudreveVfs, startCloudreveEmulator } from '../../adapters/cloudreve/index.js';
import { LocalVfs } from '../../adapters/local/index.js';
import { MemoryVfs } from '../../adapters/memory/index.js';
import { CachedVfs } from '../../src/cache.js';
import { MeteredVfs } from '../../src/metered-vfs.js';
import { ReadonlyVfs } from '../../src/readonly-vfs.js';
import { SubtreeVfs } from '../../src/subtree-vfs.js';
import type { Vfs } from '../../src/vfs.js';
import { harness } from '../couchdrop/fixtures.js';
import { collect, expectCode } from '../helpers.js';
import { describeContract } from './suite.js';
import type { ContractTarget } from './suite.js';

interface Adapter {
  name: string;
  open(): Promise<ContractTarget>;
  /** Per-test timeout for the slower emulators. */
  timeoutMs?: number;
}

const ADAPTERS: Adapter[] = [
  { name: 'MemoryVfs', open: async () => ({ vfs: new MemoryVfs() }) },
  {
    name: 'LocalVfs',
    open: async () => {
      const root = await mkdtemp(join(tmpdir(), 'cloudmount-local-'));
      return { vfs: new LocalVfs({ root }), cleanup: () => rm(root, { recursive: true, force: true }) };
    },
  },
  {
    name: 'CouchdropVfs (emulator)',
    open: async () => {
      const h = await harness();
      return { vfs: h.vfs, cleanup: h.close };
    },
  },
  {
    name: 'CloudreveVfs (emulator)',
    open: async () => {
      // Small chunks so the multi-megabyte case goes through a real multi-chunk upload session.
      const emu = await startCloudreveEmulator({ chunkSize: 2 * 1024 * 1024 });
      const vfs = new CloudreveVfs({ baseUrl: emu.url, email: emu.email, password: emu.password });
      return { vfs, cleanup: () => emu.close() };
    },
  },
];

interface Layer {
  name: string;
  wrap(inner: Vfs): Promise<Vfs>;
}

/** The subtree the Subtree layer shows, with a file beside it that must stay out of sight. */
async function subtree(inner: Vfs): Promise<Vfs> {
  await inner.mkdir('/share');
  await inner.mkdir('/share/inner');
  await inner.write('/outside.txt', Buffer.from('not visible'));
  return new SubtreeVfs(inner, '/share/inner');
}

const LAYERS: Layer[] = [
  { name: '%s', wrap: async (v) => v },
  { name: 'CachedVfs(%s)', wrap: async (v) => new CachedVfs(v) },
  { name: 'SubtreeVfs(%s) at /share/inner', wrap: subtree },
  { name: 'MeteredVfs(%s)', wrap: async (v) => new MeteredVfs(v) },
  // What `serve webdav remote:/dir --stats` serves: the frontend's cache over the CLI's two layers.
  { name: 'CachedVfs(SubtreeVfs(MeteredVfs(%s)))', wrap: async (v) => new CachedVfs(await subtree(new MeteredVfs(v))) },
];

for (const adapter of ADAPTERS) {
  for (const layer of LAYERS) {
    describeContract(layer.name.replace('%s', adapter.name), async () => {
      const target = await adapter.open();
      try {
        return { vfs: await layer.wrap(target.vfs), ...(target.cleanup ? { cleanup: target.cleanup } : {}) };
      } catch (e) {
        await target.vfs.close?.();
        await target.cleanup?.();
        throw e;
      }
    });
  }
  describeReadOnly(adapter);
}

/** ReadonlyVfs over `adapter`: what the inner Vfs holds reads the same; every change is EROFS and changes nothing. */
function describeReadOnly(adapter: Adapter): void {
  describe(`read-only: ReadonlyVfs(${adapter.name})`, { timeout: 30_000 }, () => {
    let target: ContractTarget;
    let inner: Vfs;
    let ro: Vfs;

    beforeEach(async () => {
      target = await adapter.open();
      inner = target.vfs;
      await inner.mkdir('/dir');
      await inner.write('/dir/a.txt', Buffer.from('hello, world'));
      await inner.write('/top.txt', Buffer.from('top'));
      ro = new ReadonlyVfs(inner);
    });
    afterEach(async () => {
      await ro.close?.();
      await target.cleanup?.();
    });

    it('says read-only in its capabilities, the rest as the adapter says', () => {
      expect(ro.capabilities).toEqual({ ...inner.capabilities, readOnly: true });
      expect(inner.capabilities.readOnly).toBe(false);
    });

    it('reads, lists and stats as the adapter does', async () => {
      expect((await ro.list('/')).map((e) => e.name).sort()).toEqual(['dir', 'top.txt']);
      expect((await ro.stat('/dir/a.txt')).size).toBe(12);
      expect((await collect(await ro.read('/dir/a.txt'))).toString()).toBe('hello, world');
      expect((await collect(await ro.read('/dir/a.txt', { offset: 7, length: 5 }))).toString()).toBe('world');
      await expectCode(ro.stat('/missing'), 'ENOENT');
      if (ro.capabilities.quota) expect((await ro.space()).used).toBeGreaterThanOrEqual(0);
    });

    it('refuses every change with EROFS, existing paths or not, and the adapter keeps what it had', async () => {
      const changes: Array<() => Promise<unknown>> = [
        () => ro.write('/new.txt', Buffer.from('x')),
        () => ro.write('/top.txt', Buffer.from('x'), { overwrite: true }),
        () => ro.mkdir('/dir2'),
        () => ro.mkdir('/dir'),
        () => ro.remove('/top.txt'),
        () => ro.remove('/dir', { recursive: true }),
        () => ro.remove('/missing'),
        () => ro.rename('/top.txt', '/moved.txt'),
        () => ro.rename('/dir', '/dir/inside'),
        () => ro.copy('/dir', '/copy'),
        () => ro.copy('/top.txt', '/dir/a.txt', { overwrite: true }),
      ];
      if (ro.setMtime) changes.push(() => ro.setMtime!('/top.txt', new Date(0)));
      if (ro.setProps) changes.push(() => ro.setProps!('/top.txt', { set: [{ namespace: 'urn:x', name: 'k', innerXml: 'v' }] }));
      if (ro.createShare) changes.push(() => ro.createShare!('/top.txt'));
      for (const change of changes) await expectCode(change(), 'EROFS');
      expect((await inner.list('/')).map((e) => e.name).sort()).toEqual(['dir', 'top.txt']);
      expect((await inner.list('/dir')).map((e) => e.name)).toEqual(['a.txt']);
      expect((await collect(await inner.read('/top.txt'))).toString()).toBe('top');
      expect((await inner.stat('/top.txt')).mtime.getTime()).not.toBe(0);
    });
  });
}
