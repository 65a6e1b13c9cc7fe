/**
 * Mutations of one path run in the order they were asked for: a write cut short (a WebDAV client gone
 * mid-PUT) cancels its upload session before the next write, move or delete of that path is sent.
 * Found by the WebDAV model test: PUT aborted, then MOVE of the same path answered 423 while the
 * cancel was still in flight.
 */
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { collect } from '../helpers.js';
import { setup } from './fixtures.js';

describe('CloudreveVfs: one path, one mutation at a time', () => {
  it('a write and a move right after a cut-short upload of a new file wait for its session to be cancelled', async () => {
    // Latency makes the cancel take a while; small chunks make the upload a session, not one PUT.
    const { emu, vfs } = await setup({ chunkSize: 64 * 1024, latencyMs: 150 }, { stateDir: false, smallFileBytes: 0 });
    const body = new Readable({ read() {} });
    // The owner of the stream (here the test, in a share the HTTP request) hears its own error too.
    body.on('error', () => {});
    body.push(Buffer.alloc(64 * 1024, 1));
    const cut = vfs.write('/a.bin', body, { size: 512 * 1024 }).then(() => 'written', (e: { code?: string }) => e.code);
    // Once the session exists (the server holds the path's lock), the writer goes away.
    while (emu.requests('PUT /file/upload').length === 0) await new Promise((r) => setTimeout(r, 10));
    body.destroy(new Error('client gone'));
    // The next client, at once: an empty file at that name, then a move (the model's sequence).
    await vfs.write('/a.bin', Buffer.alloc(0));
    await vfs.rename('/a.bin', '/b.bin');
    expect(await cut).not.toBe('written');
    expect((await vfs.stat('/b.bin')).size).toBe(0);
    expect((await vfs.list('/')).map((e) => e.name)).not.toContain('a.bin');
  });
});
