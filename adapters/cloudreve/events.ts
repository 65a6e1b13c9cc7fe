/**
 * Cloudreve's change feed (GET /api/v4/file/events, Cloudreve ≥ 4.11) as `Vfs.watch`; see the
 * adapter README, "Change feed", for the server's behaviour this follows.
 *
 * - ONE connection per CloudreveVfs (one account), subscribed to the drive's root, however many
 *   watchers: a subscription covers the whole subtree, and each watcher filters by its path.
 * - The client id (X-Cr-Client-Id, also on every REST call so our own changes are not echoed) is
 *   kept per running instance in the state folder, taken when the instance first watches: a
 *   restart within the server's 14 days resumes and gets the events it missed.
 * - `subscribed` means nothing was buffered for us: every watcher gets a `resync` of "/".
 * - A dropped stream reconnects at once; a failing connect backs off 1, 2, 4 … 32 s (the official
 *   desktop client's schedule), and after 5 failures in a row tells watchers to resync.
 * - 40019 (the admin turned the feed off) or a 404 (a server older than the feed): fall back to
 *   polling the folders listed through this Vfs, and say so once in the log.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { isVfsError } from '../../src/errors.js';
import type { Logger } from '../../src/log.js';
import { normalizePath } from '../../src/path.js';
import type { Entry, VfsChange, WatchOptions } from '../../src/vfs.js';
import { ChangeHub, ListingPoller } from '../../src/watch.js';
import { envelopeError } from './api-error.js';
import type { CloudreveClient } from './client.js';
import { decodeName } from './names.js';
import { bootId } from './upload-journal.js';
import { ROOT_URI } from './uri.js';
import { CODE } from './codes.js';

/** Bytes of one SSE message (all its lines) at most; a longer one ends the stream (then a resync). */
export const MAX_SSE_MESSAGE_BYTES = 256 * 1024;
/** Events in one `event` message (an array) at most. */
export const MAX_EVENTS_PER_MESSAGE = 10_000;
/** Connect failures in a row before watchers are told to resync (the desktop client: 5). */
const MAX_QUIET_RETRIES = 5;

export interface FeedOptions {
  /** Re-listing interval when the server has no feed (default 10 s). */
  pollIntervalMs?: number;
  /** First and largest reconnect delay in ms (default 1 000 and 32 000). */
  backoffMs?: { initial: number; max: number };
  /** Called once before the first connect (the Vfs takes its kept client id). */
  beforeConnect?: () => void;
  logger: Logger;
}

type FeedMode = 'push' | 'poll';

/** The feed of one account. */
export class CloudreveFeed {
  private readonly hub: ChangeHub;
  readonly poller: ListingPoller;
  private abort: AbortController | undefined;
  mode: FeedMode = 'push';
  /** Why polling is used (logged once). */
  fallbackReason: string | undefined;
  /** Streams opened so far and how they began (tests, stats). */
  readonly counts = { connects: 0, subscribed: 0, resumed: 0, events: 0, failures: 0 };
  private closed = false;
  private readonly initialDelay: number;
  private readonly maxDelay: number;

  constructor(
    private readonly client: CloudreveClient,
    list: (dir: string, signal: AbortSignal) => Promise<Entry[]>,
    private readonly options: FeedOptions,
    private readonly onMode: (mode: FeedMode) => void,
  ) {
    this.hub = new ChangeHub({ start: () => this.start(), stop: () => this.stop() });
    // Fallback polling keeps every folder listed (up to MAX_POLLED_FOLDERS): a cache that believed in
    // a push feed holds listings for minutes without listing again, so "in use" cannot be told here.
    this.poller = new ListingPoller(list, this.hub, options.pollIntervalMs ?? 10_000, options.logger, undefined, Infinity);
    this.initialDelay = options.backoffMs?.initial ?? 1000;
    this.maxDelay = options.backoffMs?.max ?? 32_000;
  }

  watch(path: string, options: WatchOptions = {}): AsyncIterable<VfsChange> {
    // After close: an iterator that ends at once (never a new connection for a closed Vfs).
    if (this.closed) return this.hub.watch(normalizePath(path), { signal: AbortSignal.abort() });
    return this.hub.watch(normalizePath(path), options);
  }

  /** A listing made through the Vfs: the poller's baseline when polling. */
  record(dir: string, entries: Entry[]): void {
    if (this.mode === 'poll') this.poller.record(dir, entries);
  }

  close(): void {
    this.closed = true;
    this.hub.close();
    this.stop();
  }

  private start(): void {
    if (this.mode === 'poll') {
      this.poller.start();
      return;
    }
    if (this.abort) return;
    this.options.beforeConnect?.();
    const abort = (this.abort = new AbortController());
    void this.run(abort.signal).catch((e) => this.options.logger.warn('cloudreve: change feed stopped', { error: String(e) }));
  }

  private stop(): void {
    this.abort?.abort();
    this.abort = undefined;
    this.poller.stop();
  }

  private async run(signal: AbortSignal): Promise<void> {
    let delay = this.initialDelay;
    let failures = 0;
    let renewals = 0;
    let opened = 0;
    while (!signal.aborted) {
      let received = false;
      try {
        const { response, token } = await this.client.openEvents(ROOT_URI, signal);
        const type = response.headers.get('content-type') ?? '';
        if (response.status === 404) {
          await response.body?.cancel().catch(() => {});
          this.fallBack('the server has no change feed (GET /api/v4/file/events is 404: Cloudreve older than 4.11)');
          return;
        }
        if (!type.startsWith('text/event-stream')) {
          const text = response.status === 200 ? (await readLimited(response, 64 * 1024)) : '';
          let env: { code?: unknown; msg?: unknown } = {};
          try {
            env = JSON.parse(text) as typeof env;
          } catch { /* not an envelope */ }
          if (env.code === CODE.FeatureNotEnabled) {
            this.fallBack('the change feed is turned off on this server (40019)');
            return;
          }
          if (env.code === 401 && renewals < 3) {
            renewals++;
            this.client.tokens.invalidate(token);
            continue;
          }
          throw typeof env.code === 'number'
            ? envelopeError(env as never, { provider: 'cloudreve', operation: 'GET /file/events' })
            : new Error(`GET /file/events: HTTP ${response.status} ${type || '(no type)'}`);
        }
        this.counts.connects++;
        renewals = 0;
        opened = Date.now();
        for await (const msg of readSse(response, signal)) {
          if (!received) {
            received = true;
            delay = this.initialDelay;
            failures = 0;
          }
          if (this.handle(msg) === 'reconnect') break;
        }
        if (!received) throw new Error('the event stream ended before its first message');
        // An ended stream (server shut down, proxy timeout) reconnects at once, as the desktop client
        // does; one that ends as soon as it opened, again and again, is slowed down by the backoff.
        if (Date.now() - opened < this.initialDelay) {
          await sleep(delay, signal);
          delay = Math.min(delay * 2, this.maxDelay);
        }
      } catch (e) {
        if (signal.aborted) return;
        if (received) {
          if (Date.now() - opened < this.initialDelay) {
            await sleep(delay, signal);
            delay = Math.min(delay * 2, this.maxDelay);
          }
          continue;
        }
        this.counts.failures++;
        failures++;
        this.options.logger.debug('cloudreve: change feed connect failed', { error: String(e), retryInMs: delay });
        if (failures === MAX_QUIET_RETRIES) {
          this.options.logger.warn('cloudreve: the change feed keeps failing; changes made elsewhere may be missed until it is back', isVfsError(e) ? { code: e.code, error: e.message } : { error: String(e) });
          this.hub.emit({ type: 'resync', path: '/' });
        }
        await sleep(delay, signal);
        delay = Math.min(delay * 2, this.maxDelay);
      }
    }
  }

  private fallBack(reason: string): void {
    this.mode = 'poll';
    this.fallbackReason = reason;
    this.abort = undefined;
    this.onMode('poll');
    this.options.logger.warn(`cloudreve: ${reason}; polling the folders in use every ${Math.round(this.poller.intervalMs / 1000)} s instead`);
    // What happened before polling started is unknown to it.
    this.hub.emit({ type: 'resync', path: '/' });
    if (this.hub.size > 0) this.poller.start();
  }

  private handle(msg: SseMessage): 'reconnect' | undefined {
    switch (msg.event) {
      case 'subscribed':
        this.counts.subscribed++;
        // A new subscriber: nothing was kept for us, so anything may have changed meanwhile.
        this.hub.emit({ type: 'resync', path: '/' });
        return undefined;
      case 'resumed':
        this.counts.resumed++;
        return undefined;
      case 'keep-alive':
        return undefined;
      case 'reconnect-required':
        return 'reconnect';
      case 'event':
      case '':
      case 'message': {
        for (const change of parseEvents(msg.data)) {
          this.counts.events++;
          this.hub.emit(change);
        }
        return undefined;
      }
      default:
        return undefined;
    }
  }
}

/** The Vfs changes of one `event` message: an object or an array of `{type, file_id, from, to}`. */
export function parseEvents(data: string): VfsChange[] {
  let value: unknown;
  try {
    value = JSON.parse(data);
  } catch {
    return [{ type: 'resync', path: '/' }];
  }
  const items = Array.isArray(value) ? value : [value];
  if (items.length > MAX_EVENTS_PER_MESSAGE) return [{ type: 'resync', path: '/' }];
  const out: VfsChange[] = [];
  for (const item of items) {
    const change = toChange(item);
    // Something we cannot read still says "something changed": make the watchers look again.
    out.push(change ?? { type: 'resync', path: '/' });
  }
  return out;
}

function toChange(item: unknown): VfsChange | undefined {
  if (typeof item !== 'object' || item === null) return undefined;
  const { type, from, to } = item as Record<string, unknown>;
  const path = typeof from === 'string' ? serverPath(from) : undefined;
  if (path === undefined) return undefined;
  switch (type) {
    case 'create':
    case 'modify':
    case 'delete':
      return path === '/' ? { type: 'resync', path: '/' } : { type, path };
    case 'rename': {
      const target = typeof to === 'string' ? serverPath(to) : undefined;
      if (target === undefined || target === '/' || path === '/') return { type: 'resync', path: '/' };
      return { type: 'rename', path: target, oldPath: path };
    }
    default:
      // A type a future server adds: whatever it is, the folder holding it may have changed.
      return { type: 'resync', path: path === '/' ? '/' : path };
  }
}

/** A feed path ("/a/b", server names, relative to the subscribed root "/") as a Vfs path. */
function serverPath(p: string): string | undefined {
  if (!p.startsWith('/') || p.length > 64 * 1024) return undefined;
  const segments = p.split('/').filter((s) => s !== '');
  if (segments.some((s) => s === '.' || s === '..')) return undefined;
  return '/' + segments.map((s) => decodeName(s)).join('/');
}

// ---- Server-Sent Events -------------------------------------------------------------------------

export interface SseMessage {
  event: string;
  data: string;
}

/** The messages of an event stream (WHATWG rules: `field:value`, one optional space, blank line ends). */
export async function* readSse(response: Response, signal: AbortSignal): AsyncGenerator<SseMessage> {
  if (!response.body) return;
  const reader = response.body.getReader();
  const onAbort = () => void reader.cancel().catch(() => {});
  signal.addEventListener('abort', onAbort, { once: true });
  const decoder = new TextDecoder();
  let buffer = '';
  let event = '';
  let data: string[] = [];
  let size = 0;
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      // One pass over the buffer (an index, not a copy per line): a chunk of many lines stays linear.
      let at = 0;
      const eol = /\r\n|\n|\r/g;
      for (;;) {
        eol.lastIndex = at;
        const m = eol.exec(buffer);
        // A lone "\r" at the end may be the first half of "\r\n": wait for the next chunk.
        if (!m || (m[0] === '\r' && m.index === buffer.length - 1)) break;
        const line = buffer.slice(at, m.index);
        at = m.index + m[0].length;
        if (line === '') {
          if (event !== '' || data.length > 0) yield { event, data: data.join('\n') };
          event = '';
          data = [];
          size = 0;
          continue;
        }
        size += line.length;
        if (size > MAX_SSE_MESSAGE_BYTES) throw new Error(`an event-stream message is longer than ${MAX_SSE_MESSAGE_BYTES} bytes`);
        if (line.startsWith(':')) continue;
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        let value = colon < 0 ? '' : line.slice(colon + 1);
        if (value.startsWith(' ')) value = value.slice(1);
        if (field === 'event') event = value;
        else if (field === 'data') data.push(value);
      }
      buffer = buffer.slice(at);
      if (buffer.length > MAX_SSE_MESSAGE_BYTES) throw new Error(`an event-stream line is longer than ${MAX_SSE_MESSAGE_BYTES} bytes`);
    }
  } finally {
    signal.removeEventListener('abort', onAbort);
    await reader.cancel().catch(() => {});
  }
}

async function readLimited(response: Response, max: number): Promise<string> {
  if (!response.body) return '';
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let n = 0;
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      n += value.byteLength;
      if (n > max) break;
      chunks.push(value);
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
  return Buffer.concat(chunks).toString('utf8');
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

// ---- the client id --------------------------------------------------------------------------------

/** Ids claimed by CloudreveVfs instances of this process (two instances must never share one). */
const CLAIMED = new Set<string>();
/** Slots per account looked at at most (a flooded folder is not read whole). */
const MAX_ID_SLOTS = 64;

interface IdSlot { id: string; pid: number; host: string; boot?: string }

/**
 * This instance's client id for the account: a slot of `<stateDir>/cloudreve-clients/<account>`
 * whose process is gone is taken over (so a restart resumes the server's subscription and gets the
 * events it missed); otherwise a new UUID in a new slot. Without a state folder, a fresh UUID.
 */
export function claimClientId(stateDir: string | false, baseUrl: string, account: string, logger: Logger): string {
  const fresh = () => {
    const id = randomUUID();
    CLAIMED.add(id);
    return id;
  };
  if (stateDir === false) return fresh();
  const key = createHash('sha256').update(`${baseUrl.replace(/\/+$/, '')}\n${account}`).digest('hex').slice(0, 32);
  const dir = join(stateDir, 'cloudreve-clients', key);
  const mine: IdSlot = { id: '', pid: process.pid, host: hostname(), ...(bootId() ? { boot: bootId()! } : {}) };
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const names = readdirSync(dir).filter((n) => /^slot-\d+\.json$/.test(n)).sort().slice(0, MAX_ID_SLOTS);
    let taken = 0;
    for (const name of names) {
      taken = Math.max(taken, Number(name.slice(5, -5)));
      let slot: IdSlot | undefined;
      try {
        slot = parseSlot(readFileSync(join(dir, name), 'utf8'));
      } catch {
        continue;
      }
      if (!slot || CLAIMED.has(slot.id) || !slotIsFree(slot)) continue;
      write(join(dir, name), { ...mine, id: slot.id });
      CLAIMED.add(slot.id);
      return slot.id;
    }
    if (names.length >= MAX_ID_SLOTS) return fresh();
    const id = fresh();
    write(join(dir, `slot-${taken + 1}.json`), { ...mine, id });
    return id;
  } catch (e) {
    logger.debug('cloudreve: could not keep the client id in the state folder; a restart will resync', { error: String(e) });
    return fresh();
  }
}

/** Give the id back when the Vfs closes (another instance of this process may take it). */
export function releaseClientId(id: string): void {
  CLAIMED.delete(id);
}

function write(file: string, slot: IdSlot): void {
  const temp = `${file}.${process.pid}.tmp`;
  writeFileSync(temp, JSON.stringify(slot), { mode: 0o600 });
  renameSync(temp, file);
}

function parseSlot(text: string): IdSlot | undefined {
  const v = JSON.parse(text) as Partial<IdSlot>;
  if (typeof v.id !== 'string' || !/^[0-9a-f-]{36}$/i.test(v.id) || typeof v.pid !== 'number' || typeof v.host !== 'string') return undefined;
  return v as IdSlot;
}

function slotIsFree(slot: IdSlot): boolean {
  if (slot.host !== hostname()) return false;
  const boot = bootId();
  if (boot !== undefined && slot.boot !== undefined && slot.boot !== boot) return true;
  if (slot.pid === process.pid) return true; // this process, released (CLAIMED says not in use)
  try {
    process.kill(slot.pid, 0);
    return false;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ESRCH';
  }
}
