/**
 * WebDAV dead properties kept in Cloudreve's `dav:` metadata (adapters/cloudreve/dav-props.ts), in the
 * format Cloudreve's own /dav uses, seen by a second CloudreveVfs (another cloudmount instance) and
 * forwarded through CachedVfs and SubtreeVfs.
 */
import { describe, expect, it } from 'vitest';
import { CloudreveVfs } from '../../adapters/cloudreve/index.js';
import { CachedVfs } from '../../src/cache.js';
import { SubtreeVfs } from '../../src/subtree-vfs.js';
import { hasDeadPropertyStore } from '../../src/vfs.js';
import { expectCode } from '../helpers.js';
import { setup } from './fixtures.js';

describe('Cloudreve dead properties in dav: metadata', () => {
  it('a PROPPATCH-shaped change lands as dav:<ns>|<name> = {"l","i":base64} and a second instance reads it back', async () => {
    const { emu, vfs } = await setup({ seed: { docs: { 'a.txt': 'x' } } }, { stateDir: false });
    await vfs.setProps('/docs/a.txt', {
      set: [
        { namespace: 'http://example.com/ns', name: 'color', innerXml: 'red', lang: 'en' },
        { namespace: 'urn:x', name: 'tree', innerXml: '<x:leaf xmlns:x="urn:x">1</x:leaf>' },
      ],
    });
    const meta = emu.store.find(['docs', 'a.txt'])!.metadata;
    expect(JSON.parse(meta['dav:http://example.com/ns|color']!)).toEqual({ l: 'en', i: Buffer.from('red').toString('base64') });
    expect(Object.keys(meta).filter((k) => k.startsWith('dav:')).sort()).toEqual(['dav:http://example.com/ns|color', 'dav:urn:x|tree']);

    const other = new CloudreveVfs({ baseUrl: emu.url, email: emu.email, password: emu.password, stateDir: false });
    try {
      const props = await other.getProps('/docs/a.txt');
      expect(props.sort((a, b) => a.name.localeCompare(b.name))).toEqual([
        { namespace: 'http://example.com/ns', name: 'color', innerXml: 'red', lang: 'en' },
        { namespace: 'urn:x', name: 'tree', innerXml: '<x:leaf xmlns:x="urn:x">1</x:leaf>' },
      ]);
      await other.setProps('/docs/a.txt', { remove: [{ namespace: 'urn:x', name: 'tree' }] });
      expect((await vfs.getProps('/docs/a.txt')).map((p) => p.name)).toEqual(['color']);
    } finally {
      await other.close();
    }
  });

  it('reads what Cloudreve itself stored, skips what does not parse, and is forwarded by the cache and subtree layers', async () => {
    const { emu, vfs } = await setup({ seed: { docs: { 'a.txt': 'x' } } }, { stateDir: false });
    const node = emu.store.find(['docs', 'a.txt'])!;
    node.metadata['dav:DAV:|displayname-x'] = JSON.stringify({ i: Buffer.from('Hi').toString('base64') });
    node.metadata['dav:broken'] = '{}';
    node.metadata['dav:urn:y|bad'] = 'not json';
    node.metadata['customize:icon_color'] = '#fff';
    const cached = new CachedVfs(vfs);
    expect(hasDeadPropertyStore(cached)).toBe(true);
    expect(await cached.getProps!('/docs/a.txt')).toEqual([{ namespace: 'DAV:', name: 'displayname-x', innerXml: 'Hi' }]);
    const sub = new SubtreeVfs(cached, '/docs');
    await sub.setProps!('/a.txt', { set: [{ namespace: 'urn:z', name: 'n', innerXml: 'v' }] });
    expect(node.metadata['dav:urn:z|n']).toBeDefined();
  });

  it('refuses more than the limits, a "|" in a namespace, and the root, before any request', async () => {
    const { emu, vfs } = await setup({ seed: { 'a.txt': 'x' } }, { stateDir: false });
    emu.clearLog();
    await expectCode(vfs.setProps('/a.txt', { set: [{ namespace: 'urn:a', name: 'big', innerXml: 'x'.repeat(64 * 1024 + 1) }] }), 'EINVAL');
    await expectCode(vfs.setProps('/a.txt', { set: Array.from({ length: 101 }, (_, i) => ({ namespace: 'urn:a', name: `p${i}`, innerXml: '' })) }), 'EINVAL');
    await expectCode(vfs.setProps('/a.txt', { set: [{ namespace: 'urn:a|b', name: 'p', innerXml: '' }] }), 'EINVAL');
    await expectCode(vfs.setProps('/', { set: [{ namespace: 'urn:a', name: 'p', innerXml: '' }] }), 'EACCES');
    expect(emu.requests('PATCH /file/metadata')).toHaveLength(0);
    await expectCode(vfs.setProps('/missing.txt', { set: [{ namespace: 'urn:a', name: 'p', innerXml: '' }] }), 'ENOENT');
  });
});
