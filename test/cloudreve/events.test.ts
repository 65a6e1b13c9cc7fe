/**
 * The change feed over real HTTP: the emulator's GET /file/events (faithful to Cloudreve's eventhub)
 * and CloudreveVfs.watch, with a SECOND client making the changes.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CloudreveVfs } from '../../adapters/cloudreve/index.js';
import type { CloudreveEmulator } from '../../adapters/cloudreve/index.js';
import { ChangeFeed, FEED_CHANNEL_SIZE, debounceEvents } from '../../adapters/cloudreve/emulator/feed.js';
import type { FeedEvent } from '../../adapters/cloudreve/emulator/feed.js';
import { readSse } from '../../adapters/cloudreve/events.js';
import { CachedVfs } from '../../src/cache.js';
import { SubtreeVfs } from '../../src/subtree-vfs.js';
import type { VfsChange } from '../../src/vfs.js';
import { api, setup } from './fixtures.js';

const state = mkdtempSync(join(tmpdir(), 'cm-feed-'));
afterAll(() => rmSync(state, { recursive: true, force: true }));

/** A second, independent client of the same account. */
function second(emu: CloudreveEmulator, extra: Partial<ConstructorParameters<typeof CloudreveVfs>[0]> = {}) {
  return new CloudreveVfs({ baseUrl: emu.url, email: emu.email, password: emu.password, stateDir: false, ...extra });
}

/** Collect changes from an iterator until `until` says stop (no timing: the test waits on events). */
async function collect(it: AsyncIterator<VfsChange>, until: (seen: VfsChange[]) => boolean): Promise<VfsChange[]> {
  const seen: VfsChange[] = [];
  while (!until(seen)) {
    const r = await it.next();
    if (r.done) break;
    seen.push(r.value);
  }
  return seen;
}

const FAST = { feed: { debounceMs: 50 } };

async function login(emu: CloudreveEmulator): Promise<string> {
  const r = await api(emu, 'POST', '/session/token', { body: { email: emu.email, password: emu.password } });
  return r.env.data.token.access_token as string;
}

describe('emulated feed (GET /file/events)', () => {
  it('answers like the server: 401, 40019, 40001 for a missing or bad client id, then subscribed / resumed', async () => {
    const { emu } = await setup(FAST, { stateDir: false });
    const token = await login(emu);
    expect((await api(emu, 'GET', '/file/events', { query: { uri: 'cloudreve://my' } })).env.code).toBe(401);
    expect((await api(emu, 'GET', '/file/events', { token, query: { uri: 'cloudreve://my' } })).env.code).toBe(40001);
    expect((await api(emu, 'GET', '/file/events', { token, query: { uri: 'cloudreve://my' }, headers: { 'X-Cr-Client-Id': 'nope' } })).env.code).toBe(40001);
    emu.feed.enabled = false;
    expect((await api(emu, 'GET', '/file/events', { token, query: { uri: 'cloudreve://my' }, headers: { 'X-Cr-Client-Id': crypto.randomUUID() } })).env.code).toBe(40019);
    emu.feed.enabled = true;
    const id = crypto.randomUUID();
    const open = async () => {
      const ac = new AbortController();
      const res = await fetch(`${emu.url}/api/v4/file/events?uri=${encodeURIComponent('cloudreve://my')}`, {
        headers: { Authorization: `Bearer ${token}`, 'X-Cr-Client-Id': id }, signal: ac.signal,
      });
      expect(res.headers.get('content-type')).toBe('text/event-stream');
      const it = readSse(res, ac.signal)[Symbol.asyncIterator]();
      return { it, ac };
    };
    const a = await open();
    expect((await a.it.next()).value).toEqual({ event: 'subscribed', data: '<nil>' });
    a.ac.abort();
    // While offline, a change by someone else is kept for this client id.
    await api(emu, 'POST', '/file/create', { token, body: { uri: 'cloudreve://my/while-away', type: 'folder' } });
    const b = await open();
    expect((await b.it.next()).value.event).toBe('resumed');
    const evt = (await b.it.next()).value;
    expect(evt.event).toBe('event');
    expect(JSON.parse(evt.data)).toMatchObject({ type: 'create', from: '/while-away', to: '' });
    b.ac.abort();
  });

  it('sends keep-alive on its interval', async () => {
    const { emu } = await setup({ feed: { debounceMs: 50, keepAliveMs: 20 } }, { stateDir: false });
    const token = await login(emu);
    const ac = new AbortController();
    const res = await fetch(`${emu.url}/api/v4/file/events?uri=cloudreve%3A%2F%2Fmy`, {
      headers: { Authorization: `Bearer ${token}`, 'X-Cr-Client-Id': crypto.randomUUID() }, signal: ac.signal,
    });
    const it = readSse(res, ac.signal)[Symbol.asyncIterator]();
    expect((await it.next()).value.event).toBe('subscribed');
    expect((await it.next()).value).toEqual({ event: 'keep-alive', data: '<nil>' });
    ac.abort();
  });

  it('a reader that does not keep up loses events beyond the 16-slot channel (bufSize)', () => {
    const feed = new ChangeFeed({ debounceMs: 1_000_000 });
    const { sub } = feed.subscribe({ id: 1, segments: () => [] }, crypto.randomUUID());
    for (let i = 0; i < 20; i++) sub.publish({ type: 'create', file_id: String(i), from: `/f${i}`, to: '' });
    sub.flush();
    expect(sub.channel).toHaveLength(FEED_CHANNEL_SIZE);
    expect(sub.dropped).toBe(4);
    feed.dropAll();
  });

  it('merges per file id as DebounceEvents does', () => {
    const e = (type: FeedEvent['type'], id: string, from: string, to = ''): FeedEvent => ({ type, file_id: id, from, to });
    expect(debounceEvents([e('create', '1', '/a'), e('modify', '1', '/a')])).toEqual([e('create', '1', '/a')]);
    expect(debounceEvents([e('create', '1', '/a'), e('delete', '1', '/a')])).toEqual([]);
    expect(debounceEvents([e('rename', '1', '/a', '/b'), e('rename', '1', '/b', '/c')])).toEqual([e('rename', '1', '/a', '/c')]);
    expect(debounceEvents([e('rename', '1', '/a', '/b'), e('rename', '1', '/b', '/a')])).toEqual([]);
    expect(debounceEvents([e('modify', '1', '/a'), e('delete', '1', '/a')])).toEqual([e('delete', '1', '/a')]);
    expect(debounceEvents([e('create', '1', '/a'), e('rename', '1', '/a', '/b')])).toEqual([e('create', '1', '/b')]);
  });
});

describe('CloudreveVfs.watch', () => {
  it('reports create, modify, rename and delete made by a second client, with the right paths', async () => {
    const { emu, vfs } = await setup(FAST, { stateDir: state });
    await vfs.mkdir('/docs');
    const other = second(emu);
    try {
      const ac = new AbortController();
      const it = vfs.watch('/', { signal: ac.signal })[Symbol.asyncIterator]();
      // The first connect is a new subscriber: resync.
      expect((await it.next()).value).toEqual({ type: 'resync', path: '/' });
      await other.write('/docs/a.txt', Buffer.from('one'));
      expect(await collect(it, (s) => s.length >= 1)).toEqual([{ type: 'create', path: '/docs/a.txt' }]);
      await other.write('/docs/a.txt', Buffer.from('two!'));
      expect(await collect(it, (s) => s.length >= 1)).toEqual([{ type: 'modify', path: '/docs/a.txt' }]);
      await other.rename('/docs/a.txt', '/docs/b?.txt');
      expect(await collect(it, (s) => s.length >= 1)).toEqual([{ type: 'rename', path: '/docs/b?.txt', oldPath: '/docs/a.txt' }]);
      await other.remove('/docs/b?.txt');
      expect(await collect(it, (s) => s.length >= 1)).toEqual([{ type: 'delete', path: '/docs/b?.txt' }]);
      ac.abort();
      expect((await it.next()).done).toBe(true);
    } finally {
      await other.close();
    }
  });

  it('does not echo its own changes, and sends its client id on every REST call', async () => {
    const { emu, vfs } = await setup(FAST, { stateDir: state });
    const other = second(emu);
    try {
      const it = vfs.watch('/')[Symbol.asyncIterator]();
      expect((await it.next()).value.type).toBe('resync');
      emu.clearLog();
      await vfs.write('/mine.txt', Buffer.from('x'));
      await vfs.mkdir('/mine');
      // A marker change by the other client: everything before it would have arrived first.
      await other.write('/theirs.txt', Buffer.from('y'));
      expect(await collect(it, (s) => s.length >= 1)).toEqual([{ type: 'create', path: '/theirs.txt' }]);
      // Every API call (login, info, upload, create) carries this instance's id; content URLs are not API calls.
      const api = emu.log.filter((e) => e.path.startsWith('/api/v4/') && e.route !== 'GET /file/content');
      const mine = api.filter((e) => e.clientId === vfs.feedStatus().clientId);
      expect(mine.length).toBeGreaterThanOrEqual(2);
      expect(api.every((e) => e.clientId !== undefined)).toBe(true);
    } finally {
      await other.close();
    }
  });

  it('a subtree subscription sees deep changes, re-rooted by SubtreeVfs', async () => {
    const { emu, vfs } = await setup(FAST, { stateDir: state });
    await vfs.mkdir('/p');
    await vfs.mkdir('/p/q');
    const other = second(emu);
    try {
      const sub = new SubtreeVfs(vfs, '/p');
      const it = sub.watch('/')[Symbol.asyncIterator]();
      expect((await it.next()).value).toEqual({ type: 'resync', path: '/' });
      await other.write('/outside.txt', Buffer.from('o'));
      await other.mkdir('/p/q/r');
      await other.write('/p/q/r/deep.txt', Buffer.from('d'));
      const seen = await collect(it, (s) => s.some((c) => c.path === '/q/r/deep.txt'));
      expect(seen).toContainEqual({ type: 'create', path: '/q/r/deep.txt' });
      expect(seen.every((c) => !c.path.includes('outside'))).toBe(true);
    } finally {
      await other.close();
    }
  });

  it('reconnects after a dropped connection, and a server restart (subscribed again) yields resync', async () => {
    const { emu, vfs } = await setup(FAST, { stateDir: state, feedBackoffMs: { initial: 20, max: 100 } });
    const other = second(emu);
    try {
      const it = vfs.watch('/')[Symbol.asyncIterator]();
      expect((await it.next()).value.type).toBe('resync');
      // A restart: every subscriber is forgotten, the stream ends; the next connect is "subscribed".
      emu.feed.dropAll();
      expect((await it.next()).value).toEqual({ type: 'resync', path: '/' });
      expect(emu.feed.counts.subscribed).toBe(2);
      await other.write('/after.txt', Buffer.from('a'));
      expect(await collect(it, (s) => s.some((c) => c.type !== 'resync'))).toContainEqual({ type: 'create', path: '/after.txt' });
      // A dropped connection (not a restart) resumes: the change made meanwhile arrives, no resync.
      const resumed = emu.feed.counts.resumed;
      emu.feed.disconnectAll();
      await other.write('/meanwhile.txt', Buffer.from('m'));
      expect(await collect(it, (s) => s.length >= 1)).toEqual([{ type: 'create', path: '/meanwhile.txt' }]);
      expect(emu.feed.counts.resumed).toBe(resumed + 1);
    } finally {
      await other.close();
    }
  });

  it('a restarted instance resumes with its kept client id and gets the changes it missed', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cm-feed-id-'));
    try {
      const { emu } = await setup(FAST, { stateDir: false });
      const open = () => new CloudreveVfs({ baseUrl: emu.url, email: emu.email, password: emu.password, stateDir: dir });
      const first = open();
      const it1 = first.watch('/')[Symbol.asyncIterator]();
      expect((await it1.next()).value.type).toBe('resync');
      const id = first.feedStatus().clientId;
      await first.close();
      const other = second(emu);
      await other.write('/missed.txt', Buffer.from('m'));
      await other.close();
      const again = open();
      try {
        // Not watching yet: a fresh id (a one-shot command never borrows a stopped mount's id).
        expect(again.feedStatus().clientId).not.toBe(id);
        const it2 = again.watch('/')[Symbol.asyncIterator]();
        expect((await it2.next()).value).toEqual({ type: 'create', path: '/missed.txt' });
        expect(again.feedStatus().clientId).toBe(id);
        expect(again.feedStatus().resumed).toBe(1);
      } finally {
        await again.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('falls back to polling on 40019', async () => {
    const { emu, vfs } = await setup({ feed: { enabled: false } }, { stateDir: false, pollIntervalMs: 30 });
    const other = second(emu);
    try {
      await vfs.mkdir('/w');
      const it = vfs.watch('/')[Symbol.asyncIterator]();
      expect((await it.next()).value).toEqual({ type: 'resync', path: '/' });
      expect(vfs.capabilities.changes).toBe('poll');
      expect(vfs.feedStatus().reason).toContain('40019');
      await vfs.list('/w'); // the poller re-lists folders in use
      await other.write('/w/new.txt', Buffer.from('n'));
      expect(await collect(it, (s) => s.length >= 1)).toEqual([{ type: 'create', path: '/w/new.txt' }]);
    } finally {
      await other.close();
    }
  });

  it('falls back to polling on a server without the route (older than 4.11: 404)', async () => {
    const { emu, vfs } = await setup({ feed: { route: false } }, { stateDir: false, pollIntervalMs: 30 });
    const other = second(emu);
    try {
      const it = vfs.watch('/')[Symbol.asyncIterator]();
      expect((await it.next()).value).toEqual({ type: 'resync', path: '/' });
      expect(vfs.feedStatus()).toMatchObject({ mode: 'poll' });
      expect(vfs.feedStatus().reason).toContain('404');
      await vfs.list('/');
      await other.mkdir('/appeared');
      expect(await collect(it, (s) => s.length >= 1)).toEqual([{ type: 'create', path: '/appeared' }]);
    } finally {
      await other.close();
    }
  });

  it('a CachedVfs with 5-minute TTLs sees a second client\'s change once the feed delivers it', async () => {
    const { emu, vfs } = await setup(FAST, { stateDir: state });
    const other = second(emu);
    const cache = new CachedVfs(vfs, { watch: true });
    try {
      expect(cache.options.statTtlMs).toBeGreaterThanOrEqual(300_000);
      await other.write('/f.txt', Buffer.from('old'));
      await cache.whenWatching();
      expect((await cache.stat('/f.txt')).size).toBe(3);
      expect((await cache.list('/')).map((e) => e.name)).toContain('f.txt');
      await other.write('/f.txt', Buffer.from('newer'));
      await other.write('/g.txt', Buffer.from('g'));
      // Wait for the feed to deliver (no clock): the cache's change counter moves.
      await cache.nextChange((c) => c.path === '/g.txt');
      expect((await cache.stat('/f.txt')).size).toBe(5);
      expect((await cache.list('/')).map((e) => e.name).sort()).toEqual(['f.txt', 'g.txt']);
    } finally {
      await other.close();
      await cache.close();
    }
  });
});
