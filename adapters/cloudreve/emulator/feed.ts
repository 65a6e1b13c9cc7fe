/**
 * The emulated change feed (`GET /api/v4/file/events`), after Cloudreve's eventhub
 * (pkg/filemanager/eventhub/*.go, pkg/filemanager/fs/dbfs/events.go, service/explorer/events.go):
 *
 * - a subscriber is (folder id, client id); a second connect with the same pair is `resumed` and
 *   gets what was buffered while it was away, a new pair is `subscribed` with nothing buffered;
 * - each change is published to every subscriber of every ancestor folder of the object, except the
 *   subscriber whose client id made the change (self-echo suppression), with paths relative to the
 *   subscribed folder;
 * - a subscriber's events wait until `debounceMs` pass without a new one, then are merged
 *   (DebounceEvents) and put into a 16-slot channel; a full channel drops the event (slow reader);
 * - while offline, flushed events are stored as they are (merged at the next flush after resuming);
 * - `dropAll()` is a server restart: every subscriber and stored event is forgotten, connections end.
 */
import { AsyncLocalStorage } from 'node:async_hooks';

export type FeedEventType = 'create' | 'modify' | 'rename' | 'delete';

/** An event as the server serialises it (eventhub/event.go `Event`: `to` is always present). */
export interface FeedEvent {
  type: FeedEventType;
  file_id: string;
  from: string;
  to: string;
}

/** A folder as the feed sees it: an id and its current absolute path segments. */
export interface FeedFolder {
  id: number;
  segments: () => string[];
}

/** What the store reports about one change. */
export interface StoreChange {
  type: FeedEventType | 'move';
  fileId: string;
  /** Absolute segments of the object before the change (after it for create/modify). */
  from: string[];
  /** rename: absolute segments after it. */
  to?: string[];
  /** Ancestor folders of the object before the change, nearest first, the root last. */
  ancestors: FeedFolder[];
  /** move: the destination folder and its ancestors, destination first. */
  dstChain?: FeedFolder[];
}

/** Channel slots per subscriber (eventhub.go `bufSize`). */
export const FEED_CHANNEL_SIZE = 16;

export interface FeedOptions {
  /** Quiet time before a subscriber's events are flushed (Cloudreve: `fs_event_push_debounce`, 5 s). */
  debounceMs?: number;
  /** Keep-alive interval (30 s in service/explorer/events.go). */
  keepAliveMs?: number;
  /** `fs_event_push_enabled`: false answers 40019. */
  enabled?: boolean;
  /** false: a server older than 4.11, where the route does not exist (gin's plain-text 404). */
  route?: boolean;
}

export class Subscriber {
  online = true;
  closed = false;
  /** Events waiting for the debounce timer. */
  buffer: FeedEvent[] = [];
  /** Flushed while offline (the server's fs_events table). */
  stored: FeedEvent[] = [];
  /** The channel the SSE writer drains. */
  readonly channel: FeedEvent[] = [];
  timer: NodeJS.Timeout | undefined;
  /** Wakes the writer (channel has data, or the subscriber closed). */
  wake: (() => void) | undefined;
  /** Events dropped because the channel was full. */
  dropped = 0;
  /** Ends the connection serving it (the subscriber stays, offline). */
  kick: (() => void) | undefined;

  constructor(readonly clientId: string, readonly topic: FeedFolder, private readonly feed: ChangeFeed) {}

  publish(evt: FeedEvent): void {
    if (this.closed) return;
    this.buffer.push(evt);
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => this.flush(), this.feed.debounceMs);
    this.timer.unref?.();
  }

  flush(): void {
    this.timer = undefined;
    if (this.buffer.length === 0 || this.closed) return;
    if (!this.online) this.stored.push(...this.buffer);
    else {
      for (const e of debounceEvents(this.buffer)) {
        if (this.channel.length < FEED_CHANNEL_SIZE) this.channel.push(e);
        else this.dropped++;
      }
      this.wake?.();
    }
    this.buffer = [];
  }

  /** Unsubscribe: flush what is pending (to the channel, still online), then go offline. */
  setOffline(): void {
    if (this.closed) return;
    if (this.timer) clearTimeout(this.timer);
    this.flush();
    this.online = false;
  }

  setOnline(): void {
    if (this.closed) return;
    this.online = true;
    this.buffer.push(...this.stored);
    this.stored = [];
    if (this.buffer.length > 0) {
      if (this.timer) clearTimeout(this.timer);
      this.timer = setTimeout(() => this.flush(), this.feed.debounceMs);
      this.timer.unref?.();
    }
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.buffer = [];
    this.stored = [];
    this.wake?.();
  }
}

/** The hub: topics (folder ids) → client id → subscriber. */
export class ChangeFeed {
  debounceMs: number;
  keepAliveMs: number;
  enabled: boolean;
  route: boolean;
  private readonly topics = new Map<number, Map<string, Subscriber>>();
  /** The client id of the request being handled (X-Cr-Client-Id), for self-echo suppression. */
  readonly actor = new AsyncLocalStorage<string | undefined>();
  /** Connections served so far, by how they started (tests). */
  readonly counts = { subscribed: 0, resumed: 0 };

  constructor(options: FeedOptions = {}) {
    this.debounceMs = options.debounceMs ?? 5000;
    this.keepAliveMs = options.keepAliveMs ?? 30_000;
    this.enabled = options.enabled ?? true;
    this.route = options.route ?? true;
  }

  /** eventhub.Subscribe: returns the subscriber and whether it was resumed. */
  subscribe(topic: FeedFolder, clientId: string): { sub: Subscriber; resumed: boolean } {
    let subs = this.topics.get(topic.id);
    if (!subs) this.topics.set(topic.id, (subs = new Map()));
    const existing = subs.get(clientId);
    if (existing && !existing.closed) {
      existing.setOnline();
      this.counts.resumed++;
      return { sub: existing, resumed: true };
    }
    const sub = new Subscriber(clientId, topic, this);
    subs.set(clientId, sub);
    this.counts.subscribed++;
    return { sub, resumed: false };
  }

  /** A server restart: every subscriber and buffered event is gone; open streams end. */
  dropAll(): void {
    for (const subs of this.topics.values()) for (const s of subs.values()) s.close();
    this.topics.clear();
  }

  /** Every stream ends (a proxy or network cut); subscribers stay and resume at the next connect. */
  disconnectAll(): void {
    for (const subs of this.topics.values()) for (const s of subs.values()) s.kick?.();
  }

  /** Subscribers currently connected (tests). */
  online(): number {
    let n = 0;
    for (const subs of this.topics.values()) for (const s of subs.values()) if (s.online && !s.closed) n++;
    return n;
  }

  /** dbfs/events.go: publish one store change to the eligible subscribers. */
  publish(change: StoreChange): void {
    const self = this.actor.getStore();
    const eligible = (chain: FeedFolder[]) => {
      const out: Array<{ sub: Subscriber; root: string[] }> = [];
      for (const folder of chain) {
        const subs = this.topics.get(folder.id);
        if (!subs) continue;
        for (const sub of subs.values()) if (!sub.closed && sub.clientId !== self) out.push({ sub, root: folder.segments() });
      }
      return out;
    };
    const rel = (root: string[], abs: string[]) => '/' + abs.slice(root.length).join('/');
    if (change.type !== 'move') {
      for (const { sub, root } of eligible(change.ancestors)) {
        sub.publish({
          type: change.type, file_id: change.fileId, from: rel(root, change.from),
          to: change.type === 'rename' && change.to ? rel(root, change.to) : '',
        });
      }
      return;
    }
    // emitFileMoved: a subscriber that sees both ends gets a rename, one end only a delete or create.
    const name = change.from[change.from.length - 1] ?? '';
    const src = eligible(change.ancestors);
    const dst = new Map<Subscriber, string[]>();
    for (const { sub, root } of eligible(change.dstChain ?? [])) if (!dst.has(sub)) dst.set(sub, root);
    const dstSegs = change.to ?? [];
    for (const { sub, root } of src) {
      const dRoot = dst.get(sub);
      if (dRoot) {
        sub.publish({ type: 'rename', file_id: change.fileId, from: rel(root, change.from), to: rel(dRoot, [...dstSegs.slice(0, -1), name]) });
        dst.delete(sub);
      } else sub.publish({ type: 'delete', file_id: change.fileId, from: rel(root, change.from), to: '' });
    }
    for (const [sub, root] of dst) sub.publish({ type: 'create', file_id: change.fileId, from: rel(root, [...dstSegs.slice(0, -1), name]), to: '' });
  }
}

/**
 * eventhub/event.go DebounceEvents, rule for rule: per file id, in order of first appearance.
 * create+modify → create; create+rename(a→b) → create at b; create+delete → nothing;
 * modify+delete → delete; modify+rename → rename; rename+modify → rename; rename(a→b)+rename(b→c) →
 * rename(a→c), back to a → nothing; rename+delete → delete (at the path the delete names);
 * delete+create → create.
 */
export function debounceEvents(input: FeedEvent[]): FeedEvent[] {
  interface State { base: FeedEventType; src: string; dst: string }
  const states = new Map<string, State>();
  const order: string[] = [];
  const drop = (id: string) => {
    states.delete(id);
    const i = order.indexOf(id);
    if (i >= 0) order.splice(i, 1);
  };
  for (const e of input) {
    const s = states.get(e.file_id);
    if (!s) {
      order.push(e.file_id);
      states.set(e.file_id, { base: e.type, src: e.from, dst: e.to });
      continue;
    }
    switch (e.type) {
      case 'create':
        if (s.base === 'delete') Object.assign(s, { base: 'create', src: e.from, dst: '' });
        break;
      case 'modify':
        break;
      case 'rename':
        if (s.base === 'create') Object.assign(s, { src: e.to, dst: '' });
        else if (s.base === 'modify') Object.assign(s, { base: 'rename', src: e.from, dst: e.to });
        else if (s.base === 'rename') {
          if (s.src === e.to) drop(e.file_id);
          else s.dst = e.to;
        }
        break;
      case 'delete':
        if (s.base === 'create') drop(e.file_id);
        else if (s.base === 'modify' || s.base === 'rename') Object.assign(s, { base: 'delete', src: e.from, dst: '' });
        break;
    }
  }
  return order.map((id) => {
    const s = states.get(id)!;
    return { type: s.base, file_id: id, from: s.src, to: s.base === 'rename' ? s.dst : '' };
  });
}
