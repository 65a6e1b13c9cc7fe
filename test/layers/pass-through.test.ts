/**
 * The pass-through layers (src/forward.ts and its subclasses): each optional member of the Vfs
 * (setMtime, watch, the dead-property and share-link stores) is present on a layer exactly when the
 * Vfs under it has it, since callers choose strategies by presence; and ReadonlyVfs refuses every
 * change with EROFS, says so in its capabilities, and lets reads through.
 */
import { describe, expect, it } from 'vitest';
import { MemoryVfs } from '../../adapters/memory/index.js';
import { CachedVfs } from '../../src/cache.js';
import { MeteredVfs } from '../../src/metered-vfs.js';
import { ReadonlyVfs, readOnlyView } from '../../src/readonly-vfs.js';
import { SubtreeVfs } from '../../src/subtree-vfs.js';
import { hasDeadPropertyStore, hasShareLinks } from '../../src/vfs.js';
import type { Vfs } from '../../src/vfs.js';
import { collect, expectCode } from '../helpers.js';
import { setup } from '../cloudreve/fixtures.js';

const OPTIONAL = ['setMtime', 'watch', 'getProps', 'setProps', 'createShare', 'listShares', 'removeShare'] as const;

const LAYERS: Array<[string, (inner: Vfs) => Vfs]> = [
  ['CachedVfs', (v) => new CachedVfs(v)],
  ['SubtreeVfs', (v) => new SubtreeVfs(v, '/')],
  ['MeteredVfs', (v) => new MeteredVfs(v)],
  ['ReadonlyVfs', (v) => new ReadonlyVfs(v)],
];

/** Which optional members `vfs` offers. */
function offered(vfs: Vfs): string[] {
  return OPTIONAL.filter((k) => typeof vfs[k] === 'function');
}

describe('optional members are forwarded when and only when the inner Vfs has them', () => {
  it.each(LAYERS)('%s over a MemoryVfs (setMtime only)', async (_name, wrap) => {
    const inner = new MemoryVfs();
    expect(offered(inner)).toEqual(['setMtime']);
    const layer = wrap(inner);
    expect(offered(layer)).toEqual(['setMtime']);
    expect(hasDeadPropertyStore(layer)).toBe(false);
    expect(hasShareLinks(layer)).toBe(false);
    await layer.close?.();
  });

  it.each(LAYERS)('%s over a Vfs with none of them', async (_name, wrap) => {
    const memory = new MemoryVfs();
    // The required methods only, as a minimal adapter has them.
    const inner: Vfs = {
      name: 'plain', capabilities: memory.capabilities,
      stat: (p, o) => memory.stat(p, o), list: (p, o) => memory.list(p, o), read: (p, o) => memory.read(p, o),
      write: (p, d, o) => memory.write(p, d, o), mkdir: (p, o) => memory.mkdir(p, o), remove: (p, o) => memory.remove(p, o),
      rename: (a, b, o) => memory.rename(a, b, o), copy: (a, b, o) => memory.copy(a, b, o), space: (o) => memory.space(o),
    };
    const layer = wrap(inner);
    expect(offered(layer)).toEqual([]);
    expect(await layer.list('/')).toEqual([]);
  });

  it.each(LAYERS)('%s over a CloudreveVfs (all but setMtime)', async (_name, wrap) => {
    const { vfs } = await setup({ seed: { docs: { 'a.txt': 'x' } } }, { stateDir: false });
    const stores = OPTIONAL.filter((k) => k !== 'setMtime');
    expect(offered(vfs)).toEqual(stores);
    expect(offered(wrap(vfs))).toEqual(stores);
  });

  it('a stack of layers forwards through every level, paths mapped by the subtree', async () => {
    const { vfs } = await setup({ seed: { docs: { 'a.txt': 'x' } } }, { stateDir: false });
    const stack = new MeteredVfs(new SubtreeVfs(new CachedVfs(vfs), '/docs'));
    expect(offered(stack)).toEqual(offered(vfs));
    await stack.setProps!('/a.txt', { set: [{ namespace: 'urn:x', name: 'k', innerXml: 'v' }] });
    expect((await vfs.getProps('/docs/a.txt')).map((p) => p.name)).toEqual(['k']);
    const link = await stack.createShare!('/a.txt');
    expect(link.path).toBe('/a.txt');
    expect((await vfs.listShares()).map((l) => l.path)).toEqual(['/docs/a.txt']);
    const memory = await MemoryVfs.fromTree({ docs: { 'b.txt': 'b' } });
    const over = new MeteredVfs(new SubtreeVfs(new CachedVfs(memory), '/docs'));
    expect((await over.setMtime!('/b.txt', new Date(1_600_000_000_000))).path).toBe('/b.txt');
    expect((await memory.stat('/docs/b.txt')).mtime.getTime()).toBe(1_600_000_000_000);
  });
});

describe('ReadonlyVfs', () => {
  it('refuses every change with EROFS, touches nothing, and still reads', async () => {
    const inner = await MemoryVfs.fromTree({ 'a.txt': 'hello', d: { 'b.txt': 'b' } });
    const ro = new ReadonlyVfs(inner);
    expect(ro.capabilities.readOnly).toBe(true);
    expect(inner.capabilities.readOnly).toBe(false);
    const changes: Array<[string, () => Promise<unknown>]> = [
      ['write new', () => ro.write('/new.txt', Buffer.from('x'))],
      ['write over', () => ro.write('/a.txt', Buffer.from('x'))],
      ['mkdir', () => ro.mkdir('/e')],
      ['remove', () => ro.remove('/a.txt')],
      ['remove tree', () => ro.remove('/d', { recursive: true })],
      ['rename', () => ro.rename('/a.txt', '/z.txt')],
      ['copy', () => ro.copy('/a.txt', '/z.txt')],
      ['setMtime', () => ro.setMtime!('/a.txt', new Date(0))],
      ['remove missing', () => ro.remove('/missing')],
    ];
    for (const [what, change] of changes) {
      const e = await expectCode(change(), 'EROFS');
      expect(e.message, what).toContain('read-only');
    }
    expect((await inner.list('/')).map((e) => e.name).sort()).toEqual(['a.txt', 'd']);
    expect((await inner.stat('/a.txt')).mtime.getTime()).not.toBe(0);
    expect((await collect(await ro.read('/a.txt', { offset: 1, length: 3 }))).toString()).toBe('ell');
    expect((await ro.stat('/d/b.txt')).size).toBe(1);
    expect((await ro.list('/d')).map((e) => e.name)).toEqual(['b.txt']);
  });

  it('refuses dead-property and share-link changes but lists them', async () => {
    const { vfs } = await setup({ seed: { docs: { 'a.txt': 'x' } } }, { stateDir: false });
    await vfs.createShare('/docs/a.txt');
    const ro = new ReadonlyVfs(vfs);
    await expectCode(ro.setProps!('/docs/a.txt', { set: [{ namespace: 'urn:x', name: 'k', innerXml: 'v' }] }), 'EROFS');
    await expectCode(ro.createShare!('/docs/a.txt'), 'EROFS');
    const [link] = await ro.listShares!();
    await expectCode(ro.removeShare!(link!.id), 'EROFS');
    expect(await vfs.listShares()).toHaveLength(1);
    expect(await ro.getProps!('/docs/a.txt')).toEqual([]);
  });

  it('keeps the read-only flag through the layers above it, and is not stacked twice', async () => {
    const ro = new ReadonlyVfs(new MemoryVfs());
    expect(new CachedVfs(ro).capabilities.readOnly).toBe(true);
    expect(new SubtreeVfs(ro, '/').capabilities.readOnly).toBe(true);
    expect(readOnlyView(ro)).toBe(ro);
    expect(readOnlyView(new CachedVfs(ro))).toBeInstanceOf(CachedVfs);
    const rw = new MemoryVfs();
    expect(readOnlyView(rw)).toBeInstanceOf(ReadonlyVfs);
  });
});
