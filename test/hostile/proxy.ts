/**
 * A hostile HTTP proxy for tests: it sits between an adapter and its emulator, forwards every
 * request, and lets a test rewrite the answer of chosen routes — an HTML 502 page from a "load
 * balancer", truncated or mangled JSON, a body shorter or longer than its Content-Length, a
 * connection dropped mid-body. The emulator stays the real server behind it; nothing is mocked.
 * Bodies are buffered here (test files are small); the adapter under test still streams.
 */
import { createServer, request } from 'node:http';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** What the upstream (the emulator) answered. */
export interface Upstream {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** One request and its answer as the proxy saw them. */
export interface Exchange {
  method: string;
  url: string;
  requestHeaders: IncomingHttpHeaders;
  /** The request body as text, when small. */
  requestBody: string;
  status: number;
  /** The answer's body as text, when it is JSON. */
  responseBody: string;
}

/** How a rule answers the client: `upstream` is undefined when the rule does not forward. */
export type Act = (res: ServerResponse, upstream: Upstream | undefined, req: IncomingMessage) => void;

export interface Rule {
  /** Which requests (method and path, e.g. "GET /api/v4/file"; the query is not included). */
  match: RegExp;
  act: Act;
  /** Send the request on to the emulator first (default true): the server acts, then the answer is spoiled. */
  forward?: boolean;
  /** How many matching requests to spoil (default: every one). */
  times?: number;
}

export interface HostileProxy {
  url: string;
  /** Where to forward (may be set after start, e.g. once the emulator knows the proxy's URL). */
  target: string;
  /** Spoil matching answers; the first matching rule with `times` left wins. */
  add(rule: Rule): void;
  /** Remove every rule. */
  clear(): void;
  /** How many answers were spoiled so far. */
  spoiled: number;
  /** Every exchange that passed (request headers and small bodies, JSON answers), for tests that hunt secrets. */
  exchanges: Exchange[];
  close(): Promise<void>;
}

/** Start a proxy forwarding to `target` (an origin, e.g. http://127.0.0.1:1234). */
export async function startHostileProxy(target = ''): Promise<HostileProxy> {
  const rules: Array<Rule & { left: number }> = [];
  const proxy: HostileProxy = {
    url: '',
    target,
    add: (rule) => void rules.push({ ...rule, left: rule.times ?? Infinity }),
    clear: () => void rules.splice(0),
    spoiled: 0,
    exchanges: [],
    close: async () => {},
  };
  const server = createServer(async (req, res) => {
    try {
      const body = await readAll(req);
      const key = `${req.method} ${(req.url ?? '/').split('?')[0]}`;
      const rule = rules.find((r) => r.left > 0 && r.match.test(key));
      if (rule) {
        rule.left--;
        proxy.spoiled++;
        const upstream = rule.forward === false ? undefined : await forward(proxy.target, req, body);
        rule.act(res, upstream, req);
        return;
      }
      const upstream = await forward(proxy.target, req, body);
      if (proxy.exchanges.length < 20_000) {
        proxy.exchanges.push({
          method: req.method ?? 'GET', url: req.url ?? '/', requestHeaders: req.headers,
          requestBody: body.length <= 64 * 1024 ? body.toString('utf8') : '',
          status: upstream.status,
          responseBody: String(upstream.headers['content-type'] ?? '').includes('json') ? upstream.body.toString('utf8') : '',
        });
      }
      res.writeHead(upstream.status, stripHop(upstream.headers));
      res.end(upstream.body);
    } catch {
      res.destroy();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  proxy.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  proxy.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return proxy;
}

function readAll(stream: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    stream.on('data', (d: Buffer) => parts.push(d));
    stream.on('end', () => resolve(Buffer.concat(parts)));
    stream.on('error', reject);
  });
}

function forward(target: string, req: IncomingMessage, body: Buffer): Promise<Upstream> {
  return new Promise((resolve, reject) => {
    const headers = { ...req.headers };
    delete headers.host;
    delete headers['transfer-encoding'];
    headers['content-length'] = String(body.length);
    const up = request(new URL(req.url ?? '/', target), { method: req.method, headers, agent: false }, (answer) => {
      readAll(answer).then((b) => resolve({ status: answer.statusCode ?? 502, headers: answer.headers, body: b }), reject);
    });
    up.on('error', reject);
    up.end(body);
  });
}

/** Headers safe to pass on once the body is re-framed here. */
function stripHop(headers: IncomingHttpHeaders): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(headers)) {
    if (v === undefined || k === 'connection' || k === 'keep-alive' || k === 'transfer-encoding') continue;
    out[k] = v;
  }
  return out;
}

// ---- the spoiled answers ---------------------------------------------------------------------

/** A load balancer's HTML error page (no JSON at all). */
export const htmlPage = (status = 502): Act => (res) => {
  res.writeHead(status, { 'Content-Type': 'text/html', ...(status === 503 ? { 'Retry-After': '0' } : {}) });
  res.end(`<html><head><title>${status} Bad Gateway</title></head><body><center><h1>${status} Bad Gateway</h1></center><hr><center>nginx</center></body></html>`);
};

/** The same answer with the body cut in half, framed correctly (so only the JSON is broken). */
export const truncated: Act = (res, up) => {
  const body = up!.body.subarray(0, Math.floor(up!.body.length / 2));
  res.writeHead(up!.status, { ...stripHop(up!.headers), 'content-length': String(body.length) });
  res.end(body);
};

/** The JSON answer passed through `edit` (which may change it in place or return a new value). */
export const editJson = (edit: (json: any) => unknown): Act => (res, up) => {
  const json = JSON.parse(up!.body.toString('utf8'));
  const changed = edit(json);
  const body = Buffer.from(JSON.stringify(changed === undefined ? json : changed));
  res.writeHead(up!.status, { ...stripHop(up!.headers), 'content-length': String(body.length) });
  res.end(body);
};

/** A fixed answer in place of the server's. */
export const fixed = (status: number, body: string, type = 'application/json'): Act => (res) => {
  res.writeHead(status, { 'Content-Type': type, 'Content-Length': String(Buffer.byteLength(body)) });
  res.end(body);
};

/** Content-Length promises the whole body, half is sent, then the connection closes. */
export const shortBody: Act = (res, up) => {
  res.writeHead(up!.status, { ...stripHop(up!.headers), 'content-length': String(up!.body.length) });
  res.write(up!.body.subarray(0, Math.floor(up!.body.length / 2)), () => res.socket?.destroy());
};

/** Content-Length claims fewer bytes than follow: the client sees a short, "complete" body plus junk. */
export const longBody: Act = (res, up) => {
  const socket = res.socket!;
  const head = [`HTTP/1.1 ${up!.status} X`];
  for (const [k, v] of Object.entries(stripHop(up!.headers))) if (k !== 'content-length') head.push(`${k}: ${String(v)}`);
  head.push(`Content-Length: ${Math.floor(up!.body.length / 2)}`, 'Connection: close');
  // Written on the raw socket: node:http would refuse to send more than it declared.
  socket.write(head.join('\r\n') + '\r\n\r\n');
  socket.end(up!.body);
};

/** No Content-Length, no chunking: half the body, then a clean close (looks complete to HTTP). */
export const closeDelimitedShort: Act = (res, up) => {
  const socket = res.socket!;
  const head = [`HTTP/1.1 ${up!.status} X`];
  for (const [k, v] of Object.entries(stripHop(up!.headers))) if (k !== 'content-length') head.push(`${k}: ${String(v)}`);
  head.push('Connection: close');
  socket.write(head.join('\r\n') + '\r\n\r\n');
  socket.end(up!.body.subarray(0, Math.floor(up!.body.length / 2)));
};

/** The connection drops before any answer (after the server acted, when forwarded). */
export const drop: Act = (res) => {
  res.socket?.destroy();
};

/** 200 with a JSON content type and a body that never ends (until the client hangs up). */
export const endless: Act = (res) => {
  res.writeHead(200, { 'Content-Type': 'application/json' });
  const chunk = Buffer.alloc(256 * 1024, 0x20);
  res.write('[');
  const pump = () => {
    while (!res.destroyed && res.write(chunk));
    if (!res.destroyed) res.once('drain', pump);
  };
  res.on('close', () => res.removeAllListeners('drain'));
  pump();
};
