/** CouchdropVfs.watch: polling the folders in use, and Couchdrop's upload webhooks as immediate hints. */
import { afterEach, describe, expect, it } from 'vitest';
import { CouchdropVfs } from '../../adapters/couchdrop/index.js';
import { startCouchdropEmulator } from '../../adapters/couchdrop/emulator/index.js';
import type { CouchdropEmulator } from '../../adapters/couchdrop/emulator/index.js';
import type { VfsChange } from '../../src/vfs.js';

const open: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (open.length) await open.pop()!().catch(() => undefined);
});

async function setup(pollIntervalMs: number, extra: Partial<ConstructorParameters<typeof CouchdropVfs>[0]> = {}) {
  const emu = await startCouchdropEmulator();
  const make = (o: Partial<ConstructorParameters<typeof CouchdropVfs>[0]> = {}) =>
    new CouchdropVfs({ token: emu.token, apiUrl: emu.apiUrl, fileioUrl: emu.fileioUrl, pollIntervalMs, ...o });
  const vfs = make(extra);
  const other = make();
  open.push(async () => {
    await vfs.close();
    await other.close();
    await emu.close();
  });
  return { emu, vfs, other };
}

async function take(it: AsyncIterator<VfsChange>, n: number): Promise<VfsChange[]> {
  const out: VfsChange[] = [];
  while (out.length < n) {
    const r = await it.next();
    if (r.done) break;
    out.push(r.value);
  }
  return out;
}

describe('CouchdropVfs.watch', () => {
  it('says it polls, and reports a second client\'s create, modify and delete in a listed folder', async () => {
    const { vfs, other } = await setup(30);
    expect(vfs.capabilities.changes).toBe('poll');
    await vfs.mkdir('/in');
    await vfs.write('/in/a.txt', Buffer.from('a'));
    const it = vfs.watch('/')[Symbol.asyncIterator]();
    await vfs.list('/in');
    await other.write('/in/b.txt', Buffer.from('b'));
    expect(await take(it, 1)).toEqual([{ type: 'create', path: '/in/b.txt' }]);
    await other.write('/in/a.txt', Buffer.from('longer'));
    expect(await take(it, 1)).toEqual([{ type: 'modify', path: '/in/a.txt' }]);
    await other.remove('/in/b.txt');
    expect(await take(it, 1)).toEqual([{ type: 'delete', path: '/in/b.txt' }]);
  });

  it('an upload webhook is an immediate hint (no waiting for the poll interval)', async () => {
    // A poll interval far longer than the test: only the webhook can deliver the change.
    const { emu, vfs, other } = await setup(3_600_000, { webhookAddr: '127.0.0.1:0' });
    const url = await vfs.listenForWebhooks();
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    emu.settings.webhookUrl = url;
    await vfs.mkdir('/up');
    const it = vfs.watch('/')[Symbol.asyncIterator]();
    await vfs.list('/up');
    await other.write('/up/new.bin', Buffer.from('x'));
    const seen = await take(it, 2);
    expect(seen).toContainEqual({ type: 'modify', path: '/up/new.bin' });
    expect(seen).toContainEqual({ type: 'create', path: '/up/new.bin' });
  });

  it('a hostile webhook body is refused without effect', async () => {
    const { vfs } = await setup(3_600_000, { webhookAddr: '127.0.0.1:0' });
    const url = (await vfs.listenForWebhooks())!;
    const big = await fetch(url, { method: 'POST', body: 'x'.repeat(64 * 1024) }).catch(() => undefined);
    expect(big === undefined || big.status === 413).toBe(true);
    expect((await fetch(url, { method: 'POST', body: '{not json' })).status).toBe(400);
    expect((await fetch(url)).status).toBe(405);
  });
});

describe('polling follows the folders in use', () => {
  it('a folder not listed through the Vfs for POLL_FORGET_MS is no longer polled (an idle mount costs nothing)', async () => {
    const { ListingPoller, ChangeHub } = await import('../../src/watch.js');
    let lists = 0;
    const hub = new ChangeHub({ start: () => {}, stop: () => {} });
    const poller = new ListingPoller(async () => { lists++; return []; }, hub, 1_000_000, undefined, undefined, 0);
    hub.watch('/');
    poller.record('/a', []);
    await new Promise((r) => setTimeout(r, 5));
    await poller.tick();
    expect(lists).toBe(0);
    expect(poller.folders).toBe(0);
    const keep = new ListingPoller(async () => { lists++; return []; }, hub, 1_000_000, undefined, undefined, 60_000);
    keep.record('/a', []);
    await keep.tick();
    expect(lists).toBe(1);
  });
});
