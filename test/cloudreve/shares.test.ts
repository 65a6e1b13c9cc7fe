/** Share links on CloudreveVfs (PUT/GET/DELETE /share) and through SubtreeVfs and CachedVfs. */
import { describe, expect, it } from 'vitest';
import { CachedVfs } from '../../src/cache.js';
import { SubtreeVfs } from '../../src/subtree-vfs.js';
import { expectCode } from '../helpers.js';
import { setup } from './fixtures.js';

describe('CloudreveVfs share links', () => {
  it('create (public, password, private, expiry, downloads), list, remove', async () => {
    const { emu, vfs } = await setup({ seed: { docs: { 'a.txt': 'x' } } }, { stateDir: false });
    const open = await vfs.createShare('/docs/a.txt');
    expect(open.url).toBe(`${emu.url}/s/${open.id}`);
    expect(open.path).toBe('/docs/a.txt');
    const locked = await vfs.createShare('/docs', { password: 'abc123', expiresInSeconds: 3600, downloads: 5 });
    expect(locked.url).toBe(`${emu.url}/s/${locked.id}/abc123`);
    expect(locked).toMatchObject({ password: 'abc123', remainingDownloads: 5, expired: false, path: '/docs' });
    expect(locked.expires!.getTime()).toBeGreaterThan(Date.now() + 3500_000);
    const picked = await vfs.createShare('/docs/a.txt', { private: true });
    expect(picked.password).toMatch(/^[a-z]{8}$/);
    expect((await vfs.listShares()).map((s) => s.id).sort()).toEqual([open.id, locked.id, picked.id].sort());
    await vfs.removeShare(locked.id);
    expect((await vfs.listShares()).map((s) => s.id)).not.toContain(locked.id);
    await expectCode(vfs.removeShare(locked.id), 'ENOENT', 'EIO', 'EPROTO');
  });

  it('refuses a bad password, the root, a missing path and a hostile id before or at the server', async () => {
    const { emu, vfs } = await setup({ seed: { 'a.txt': 'x' } }, { stateDir: false });
    emu.clearLog();
    await expectCode(vfs.createShare('/a.txt', { password: 'has space' }), 'EINVAL');
    await expectCode(vfs.createShare('/a.txt', { password: 'x'.repeat(33) }), 'EINVAL');
    await expectCode(vfs.createShare('/'), 'EINVAL');
    await expectCode(vfs.removeShare('../file'), 'EINVAL');
    expect(emu.requests('PUT /share')).toHaveLength(0);
    await expectCode(vfs.createShare('/missing.txt'), 'ENOENT');
  });

  it('paths map through SubtreeVfs and CachedVfs', async () => {
    const { vfs } = await setup({ seed: { docs: { 'a.txt': 'x' }, other: { 'b.txt': 'y' } } }, { stateDir: false });
    const sub = new CachedVfs(new SubtreeVfs(vfs, '/docs'));
    const link = await sub.createShare!('/a.txt');
    expect(link.path).toBe('/a.txt');
    await vfs.createShare('/other/b.txt');
    const listed = await sub.listShares!();
    expect(listed.find((s) => s.id === link.id)?.path).toBe('/a.txt');
    expect(listed.find((s) => s.id !== link.id)?.path).toBeUndefined();
  });
});
