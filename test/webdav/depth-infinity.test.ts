/**
 * A `Depth: infinity` PROPFIND walks at most MAX_INFINITY_ENTRIES entries: beyond, the whole request is
 * 403 with DAV:propfind-finite-depth (RFC 4918 §9.1), and the server keeps serving Depth 1.
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { SeedTree } from '../../adapters/memory/index.js';
import { MAX_INFINITY_ENTRIES } from '../../mount/webdav/handlers/propfind.js';
import type { WebdavServer } from '../../mount/webdav.js';
import { startMemoryServer } from './helpers.js';

const servers: WebdavServer[] = [];
afterAll(async () => {
  for (const s of servers) await s.close();
});

async function propfind(url: string, depth: string): Promise<{ status: number; body: string }> {
  const r = await fetch(url, { method: 'PROPFIND', headers: { Depth: depth } });
  return { status: r.status, body: await r.text() };
}

describe('Depth: infinity', () => {
  it(`lists ${MAX_INFINITY_ENTRIES} entries (the root included), and refuses one more with 403 propfind-finite-depth`, async () => {
    // 100 folders of 98 files plus loose files at the root: the root and MAX - 1 entries below it.
    const tree: SeedTree = {};
    for (let d = 0; d < 100; d++) {
      const dir: SeedTree = {};
      for (let f = 0; f < 98; f++) dir[`f${f}`] = '';
      tree[`d${d}`] = dir;
    }
    for (let f = 0; f < MAX_INFINITY_ENTRIES - 1 - 100 * 99; f++) tree[`loose${f}`] = '';
    const { server } = await startMemoryServer(tree);
    servers.push(server);
    const ok = await propfind(server.url, 'infinity');
    expect(ok.status).toBe(207);
    expect(ok.body.split('<D:response>').length - 1).toBe(MAX_INFINITY_ENTRIES);
    expect((await fetch(`${server.url}one-more`, { method: 'PUT', body: 'x' })).status).toBe(201);
    const over = await propfind(server.url, 'infinity');
    expect(over.status).toBe(403);
    expect(over.body).toContain('propfind-finite-depth');
    expect((await propfind(server.url, '1')).status).toBe(207);
  }, 60_000);
});
