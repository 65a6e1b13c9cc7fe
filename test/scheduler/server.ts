/** A small node:http server for the scheduler tests: records every request and answers by a script. */
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request as the server saw it. */
export interface Seen {
  method: string;
  path: string;
  at: number;
  body: number;
}

export type Handler = (req: IncomingMessage, res: ServerResponse, seen: Seen, index: number) => void | Promise<void>;

export interface TestServer {
  url: string;
  seen: Seen[];
  /** Most requests in flight at once, as measured by the server. */
  maxInFlight: number;
  /** Responses sent, by status. */
  statuses: Map<number, number>;
  close(): Promise<void>;
}

/** Start a server on an ephemeral port that runs `handler` for each request after reading its body. */
export async function startServer(handler: Handler): Promise<TestServer> {
  let inFlight = 0;
  const state: TestServer = {
    url: '',
    seen: [],
    maxInFlight: 0,
    statuses: new Map(),
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  const server = createServer((req, res) => {
    const seen: Seen = { method: req.method ?? 'GET', path: req.url ?? '/', at: performance.now(), body: 0 };
    const index = state.seen.push(seen) - 1;
    inFlight++;
    state.maxInFlight = Math.max(state.maxInFlight, inFlight);
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      inFlight--;
    };
    res.on('finish', () => {
      state.statuses.set(res.statusCode, (state.statuses.get(res.statusCode) ?? 0) + 1);
      finish();
    });
    res.on('close', finish);
    req.on('data', (chunk: Buffer) => { seen.body += chunk.length; });
    req.on('end', () => {
      Promise.resolve(handler(req, res, seen, index)).catch((e) => {
        res.statusCode = 599;
        res.end(String(e));
      });
    });
  });
  server.keepAliveTimeout = 5000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return state;
}

/** Send a JSON body. */
export function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

/** Poll until `condition` holds (no fixed sleeps: this machine may be loaded). */
export async function waitFor(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > until) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}
