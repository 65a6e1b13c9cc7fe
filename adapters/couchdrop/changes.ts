/**
 * `watch` for Couchdrop, which has no change feed: the folders listed through the Vfs are listed
 * again every `pollIntervalMs` and the differences become changes (src/watch.ts ListingPoller).
 * Optionally (`webhookAddr`) a small HTTP listener takes Couchdrop's outbound webhooks (folder
 * notifications, `{"filename", "event_type": "upload", …}` POSTed by Couchdrop) as immediate hints:
 * the named file is reported changed and a poll runs at once, at most once a second.
 */
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../../src/log.js';
import { normalizePath } from '../../src/path.js';
import type { Entry, VfsChange, WatchOptions } from '../../src/vfs.js';
import { ChangeHub, ListingPoller } from '../../src/watch.js';

/** Bytes of one webhook body at most (Couchdrop's are ~300 bytes); beyond it: 413, nothing done. */
export const MAX_WEBHOOK_BYTES = 16 * 1024;
/** Webhook-triggered polls at most once per this many ms (a flood of hooks costs one listing round). */
const HOOK_POLL_GAP_MS = 1000;

export interface CouchdropChangesOptions {
  pollIntervalMs?: number;
  /** host:port to accept Couchdrop webhooks on (default: none). */
  webhookAddr?: string;
  logger: Logger;
}

export class CouchdropChanges {
  private readonly hub: ChangeHub;
  readonly poller: ListingPoller;
  private server: Server | undefined;
  private lastHookPoll = 0;
  private hookTimer: NodeJS.Timeout | undefined;
  private closed = false;
  /** Webhooks accepted so far. */
  hooks = 0;

  constructor(list: (dir: string, signal: AbortSignal) => Promise<Entry[]>, private readonly options: CouchdropChangesOptions) {
    this.hub = new ChangeHub({ start: () => this.poller.start(), stop: () => this.poller.stop() });
    this.poller = new ListingPoller(list, this.hub, options.pollIntervalMs ?? 10_000, options.logger);
  }

  watch(path: string, options: WatchOptions = {}): AsyncIterable<VfsChange> {
    if (this.closed) return this.hub.watch(normalizePath(path), { signal: AbortSignal.abort() });
    return this.hub.watch(normalizePath(path), options);
  }

  record(dir: string, entries: Entry[]): void {
    this.poller.record(dir, entries);
  }

  /** Start the webhook listener (when configured); resolves with its URL. */
  async listen(): Promise<string | undefined> {
    if (!this.options.webhookAddr || this.server) return undefined;
    const m = /^(.*):(\d+)$/.exec(this.options.webhookAddr);
    if (!m) throw new Error(`webhookAddr must be host:port, got ${JSON.stringify(this.options.webhookAddr)}`);
    const host = m[1]!.replace(/^\[|\]$/g, '') || '127.0.0.1';
    const server = createServer((req, res) => {
      if (req.method !== 'POST') {
        res.writeHead(405).end();
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      req.on('data', (c: Buffer) => {
        size += c.length;
        if (size > MAX_WEBHOOK_BYTES) {
          res.writeHead(413).end();
          req.destroy();
          return;
        }
        chunks.push(c);
      });
      req.on('end', () => {
        if (size > MAX_WEBHOOK_BYTES) return;
        let body: unknown;
        try {
          body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        } catch {
          res.writeHead(400).end();
          return;
        }
        res.writeHead(204).end();
        this.onHook(body);
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(Number(m[2]), host, () => resolve());
    });
    this.server = server;
    const a = server.address() as AddressInfo;
    return `http://${a.address.includes(':') ? `[${a.address}]` : a.address}:${a.port}/`;
  }

  private onHook(body: unknown): void {
    if (typeof body !== 'object' || body === null) return;
    this.hooks++;
    const { filename } = body as { filename?: unknown };
    // An absolute name is the changed file; anything else still says "look again".
    if (typeof filename === 'string' && filename.startsWith('/') && filename.length <= 4096) {
      this.hub.emit({ type: 'modify', path: normalizePath(filename) });
    }
    const wait = Math.max(0, this.lastHookPoll + HOOK_POLL_GAP_MS - Date.now());
    if (this.hookTimer) return;
    this.hookTimer = setTimeout(() => {
      this.hookTimer = undefined;
      this.lastHookPoll = Date.now();
      void this.poller.tick();
    }, wait);
    this.hookTimer.unref();
  }

  async close(): Promise<void> {
    this.closed = true;
    this.hub.close();
    this.poller.stop();
    if (this.hookTimer) clearTimeout(this.hookTimer);
    const s = this.server;
    this.server = undefined;
    if (s) await new Promise<void>((r) => { s.closeAllConnections(); s.close(() => r()); });
  }
}
