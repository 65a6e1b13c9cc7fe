/**
 * End to end: a real WebDAV client → the WebDAV frontend → CouchdropVfs → the emulator, with every
 * 4th request answered 429. What a Finder/Explorer user does must simply work.
 */
import { afterEach, expect, it } from 'vitest';
import { createClient } from 'webdav';
import type { FileStat } from 'webdav';
import { serveWebdav } from '../../mount/webdav.js';
import { harness } from './fixtures.js';
import type { Harness } from './fixtures.js';

let h: Harness | undefined;
let close: (() => Promise<void>) | undefined;
afterEach(async () => {
  await close?.();
  await h?.close();
  h = close = undefined;
});

it('browse, upload, ranged download, move, copy and delete a Couchdrop account over WebDAV while throttled', { timeout: 60_000 }, async () => {
  h = await harness({ seed: 'demo', faults: [{ kind: 429, every: 4 }] });
  const dav = await serveWebdav(h.vfs, {});
  close = () => dav.close();
  const client = createClient(dav.url);

  const listing = (await client.getDirectoryContents('/mount0/reports')) as FileStat[];
  expect(listing.map((i) => `${i.type} ${i.basename} ${i.size}`).sort()).toEqual(['directory 2024 0', 'file notes #1 (draft).md 42']);

  await client.putFileContents('/mount0/new file #1 ünï.txt', Buffer.from('hello over dav'));
  expect(await client.getFileContents('/mount0/new file #1 ünï.txt', { format: 'text' })).toBe('hello over dav');
  expect(await client.getFileContents('/mount0/README.txt', { format: 'text', headers: { Range: 'bytes=0-6' } })).toBe('Welcome');

  await client.moveFile('/mount0/new file #1 ünï.txt', '/mount0/inbox/moved.txt');
  await client.copyFile('/mount0/reports', '/mount0/reports-copy');
  expect(await client.getFileContents('/mount0/reports-copy/2024/q1 summary.csv', { format: 'text' })).toContain('north,100');
  await client.deleteFile('/mount0/reports-copy');

  const all = ((await client.getDirectoryContents('/mount0', { deep: true })) as FileStat[]).map((i) => i.filename).sort();
  expect(all).toEqual([
    '/mount0/README.txt', '/mount0/inbox', '/mount0/inbox/moved.txt', '/mount0/reports', '/mount0/reports/2024',
    '/mount0/reports/2024/q1 summary.csv', '/mount0/reports/2024/q2 summary.csv', '/mount0/reports/notes #1 (draft).md',
  ]);
  expect(h.emu.log.filter((e) => e.status === 429).length).toBeGreaterThan(3);
});
