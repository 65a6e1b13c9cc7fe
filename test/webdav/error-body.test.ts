/**
 * What a WebDAV client reads in an error body: the errno once, in front, then the message (which
 * itself no longer carries the code), on one line.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryVfs } from '../../adapters/memory/index.js';
import { serveWebdav } from '../../mount/webdav.js';
import type { WebdavServer } from '../../mount/webdav.js';

describe('WebDAV error bodies', () => {
  let server: WebdavServer;
  beforeAll(async () => {
    server = await serveWebdav(await MemoryVfs.fromTree({ 'a.txt': 'a' }));
  });
  afterAll(async () => {
    await server?.close();
  });

  it('a missing file answers 404 with "ENOENT: …" said once', async () => {
    const r = await fetch(server.url + 'missing.txt');
    expect(r.status).toBe(404);
    const body = await r.text();
    expect(body).toMatch(/^ENOENT: \S/);
    expect(body.match(/ENOENT/g)).toHaveLength(1);
    expect(body.trimEnd()).not.toContain('\n');
  });
});
