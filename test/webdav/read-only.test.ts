/**
 * Read-only is one layer (src/readonly-vfs.ts): the WebDAV frontend reads the served Vfs's
 * capability, so a ReadonlyVfs handed to it is a read-only share without any option, and the
 * `readOnly` option and read-only users are that same layer.
 */
import { describe, expect, it } from 'vitest';
import { MemoryVfs } from '../../adapters/memory/index.js';
import { serveWebdav } from '../../mount/webdav.js';
import { ReadonlyVfs } from '../../src/readonly-vfs.js';

const CHANGES: Array<[string, string, Record<string, string>]> = [
  ['PUT', 'a.txt', {}], ['PUT', 'new.txt', {}], ['DELETE', 'a.txt', {}], ['MKCOL', 'dir', {}],
  ['COPY', 'a.txt', { Destination: 'b.txt' }], ['MOVE', 'a.txt', { Destination: 'b.txt' }],
  ['PROPPATCH', 'a.txt', {}], ['LOCK', 'a.txt', {}], ['UNLOCK', 'a.txt', { 'Lock-Token': '<opaquelocktoken:x>' }],
];

describe('a read-only share is a ReadonlyVfs', () => {
  it.each([
    ['a ReadonlyVfs, no option', async () => serveWebdav(new ReadonlyVfs(await MemoryVfs.fromTree({ 'a.txt': 'a' })), { cache: false })],
    ['the readOnly option, cached', async () => serveWebdav(await MemoryVfs.fromTree({ 'a.txt': 'a' }), { readOnly: true })],
  ])('%s: every change is 403, reads and OPTIONS say read-only', async (_name, start) => {
    const s = await start();
    try {
      expect(s.vfs.capabilities.readOnly).toBe(true);
      for (const [method, target, headers] of CHANGES) {
        const h = headers.Destination ? { Destination: s.url + headers.Destination } : headers;
        expect((await fetch(s.url + target, { method, headers: h, body: method === 'PUT' ? 'x' : undefined })).status, method).toBe(403);
      }
      expect(await fetch(s.url + 'a.txt').then((r) => r.text())).toBe('a');
      expect((await fetch(s.url + 'a.txt', { method: 'PROPFIND', headers: { Depth: '0' } })).status).toBe(207);
      const allow = (await fetch(s.url, { method: 'OPTIONS' })).headers.get('allow');
      expect(allow).toContain('PROPFIND');
      expect(allow).not.toContain('PUT');
      expect(await s.vfs.list('/').then((l) => l.map((e) => e.name))).toEqual(['a.txt']);
    } finally {
      await s.close();
    }
  });
});
