/**
 * What one client may hold of the server: connections (in total and per client address), requests
 * in flight per connection (pipelining), and time (a request body that stops arriving, a socket on
 * which nothing moves). Header timeouts are node:http's own (`headersTimeout`); the rest is here.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { isIPv4, isIPv6 } from 'node:net';
import { VfsError } from '../../src/errors.js';
import type { Logger } from '../../src/log.js';

export interface ConnectionLimits {
  maxConnections: number;
  maxConnectionsPerAddress: number;
  /** A request body that receives no byte for this long (while we wait for one) fails the request. */
  bodyIdleTimeout: number;
  /** A socket on which nothing moves for this long is closed, unless the server itself is still working on its answer. */
  idleTimeout: number;
  /** Requests one connection may have waiting for their answers (HTTP/1.1 pipelining). */
  maxPipelined: number;
}

/** A request whose body is still arriving. */
interface Receiving {
  req: IncomingMessage;
  res: ServerResponse;
  socket: Socket;
  bytesRead: number;
  since: number;
  /** The client waits for our "100 Continue" before it sends the body. */
  awaitingContinue: boolean;
}

interface SocketState {
  group: string;
  /** Requests received on this socket whose response has not ended yet. */
  inFlight: number;
}

const TIMEOUT_ANSWER = 'HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n';

/**
 * Enforce `limits` on `server`. `admit(req, res)` must be called first for every request (and
 * "checkContinue"); it answers false when the request must not be served (its connection is
 * being dropped). `stop()` ends the timer.
 */
export function limitConnections(server: Server, limits: ConnectionLimits, logger: Logger): { admit(req: IncomingMessage, res: ServerResponse): boolean; stop(): void } {
  server.maxConnections = limits.maxConnections;
  const perGroup = new Map<string, number>();
  const sockets = new WeakMap<Socket, SocketState>();
  const receiving = new Set<Receiving>();

  server.on('connection', (socket: Socket) => {
    const group = addressGroup(socket.remoteAddress ?? '?');
    const count = perGroup.get(group) ?? 0;
    if (count >= limits.maxConnectionsPerAddress) {
      // Dropped before a byte is read, as node:http does beyond maxConnections: answering would
      // mean reading (and parsing) what this client sends.
      logger.debug('connection refused: too many from one address', { address: group, limit: limits.maxConnectionsPerAddress });
      socket.destroy();
      return;
    }
    perGroup.set(group, count + 1);
    sockets.set(socket, { group, inFlight: 0 });
    socket.once('close', () => {
      const left = (perGroup.get(group) ?? 1) - 1;
      if (left <= 0) perGroup.delete(group);
      else perGroup.set(group, left);
    });
  });

  // Socket inactivity (node:http's server timeout): a client that neither sends nor reads. Not
  // while the answer is still being worked out with nothing waiting to be read by the client (a
  // long commit of a big upload to the provider sends nothing for minutes, and must not be cut).
  server.setTimeout(limits.idleTimeout);
  server.on('timeout', (socket: Socket) => {
    const state = sockets.get(socket);
    if (state && state.inFlight > 0 && socket.writableLength === 0 && !socket.destroyed) {
      socket.setTimeout(limits.idleTimeout);
      return;
    }
    socket.destroy();
  });

  const tick = Math.max(10, Math.min(1000, Math.floor(limits.bodyIdleTimeout / 4)));
  const timer = setInterval(() => checkBodies(receiving, limits.bodyIdleTimeout, logger), tick);
  timer.unref();

  return {
    admit(req, res) {
      const socket = req.socket;
      if (socket.destroyed) return false;
      let state = sockets.get(socket);
      if (!state) sockets.set(socket, (state = { group: addressGroup(socket.remoteAddress ?? '?'), inFlight: 0 }));
      state.inFlight++;
      res.once('close', () => state.inFlight--);
      if (state.inFlight > limits.maxPipelined) {
        // Every pipelined request is dispatched at once by node:http: thousands in one packet
        // would run thousands of handlers for one connection. No real WebDAV client pipelines.
        logger.debug('connection dropped: too many pipelined requests', { limit: limits.maxPipelined });
        socket.destroy();
        return false;
      }
      const hasBody = req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
      if (hasBody && !req.complete) {
        const entry: Receiving = {
          req,
          res,
          socket,
          bytesRead: socket.bytesRead,
          since: Date.now(),
          awaitingContinue: /100-continue/i.test(String(req.headers.expect ?? '')),
        };
        if (entry.awaitingContinue) {
          const writeContinue = res.writeContinue.bind(res);
          res.writeContinue = (cb?: () => void) => {
            entry.awaitingContinue = false;
            entry.since = Date.now();
            writeContinue(cb);
          };
        }
        receiving.add(entry);
      }
      return true;
    },
    stop() {
      clearInterval(timer);
      receiving.clear();
    },
  };
}

/**
 * Fail the requests whose body stopped arriving. The clock runs only while the server waits for the
 * client: bytes buffered but not yet read by the handler (a slow provider, the login delay) or a
 * "100 Continue" not yet sent are our delay, not the client's.
 */
function checkBodies(receiving: Set<Receiving>, timeout: number, logger: Logger): void {
  const now = Date.now();
  for (const r of receiving) {
    if (r.req.complete || r.req.destroyed || r.socket.destroyed) {
      receiving.delete(r);
      continue;
    }
    const moved = r.socket.bytesRead !== r.bytesRead;
    if (moved) r.awaitingContinue = false; // the client sends without waiting for the 100
    const ours = r.req.readableLength > 0 || (r.awaitingContinue && !r.res.writableEnded);
    if (moved || ours) {
      r.bytesRead = r.socket.bytesRead;
      r.since = now;
      continue;
    }
    if (now - r.since < timeout) continue;
    receiving.delete(r);
    logger.debug('request body stalled: request failed', { method: r.req.method, timeoutMs: timeout });
    // Say why when this request owns the socket's answer slot (not a pipelined one queued behind).
    if (!r.res.headersSent && r.res.socket === r.socket) r.socket.write(TIMEOUT_ANSWER);
    // Destroying the request fails whatever reads its body (so the write never commits) and
    // closes the connection.
    r.req.destroy(new VfsError('ETIMEDOUT', `request body stalled for ${timeout} ms`, { provider: 'webdav' }));
  }
}

/**
 * The unit a client is counted by: an IPv4 address, or an IPv6 /64 (one subscriber's network:
 * a single host can use any of its 2^64 addresses). IPv4-mapped IPv6 counts as the IPv4 address.
 */
export function addressGroup(address: string): string {
  const zone = address.indexOf('%');
  const a = (zone >= 0 ? address.slice(0, zone) : address).toLowerCase();
  if (isIPv4(a)) return a;
  if (!isIPv6(a)) return a;
  const groups = expandIPv6(a);
  if (groups[0] === 0 && groups[1] === 0 && groups[2] === 0 && groups[3] === 0 && groups[4] === 0 && groups[5] === 0xffff) {
    return `${groups[6]! >> 8}.${groups[6]! & 255}.${groups[7]! >> 8}.${groups[7]! & 255}`;
  }
  return groups.slice(0, 4).map((g) => g.toString(16)).join(':') + '::/64';
}

/** The eight 16-bit groups of a valid IPv6 address (with "::" and a dotted IPv4 tail expanded). */
function expandIPv6(a: string): number[] {
  const parse = (part: string): number[] => {
    if (part === '') return [];
    const out: number[] = [];
    for (const p of part.split(':')) {
      if (p.includes('.')) {
        const [w, x, y, z] = p.split('.').map(Number) as [number, number, number, number];
        out.push((w << 8) | x, (y << 8) | z);
      } else out.push(parseInt(p, 16));
    }
    return out;
  };
  const gap = a.indexOf('::');
  if (gap < 0) return parse(a);
  const head = parse(a.slice(0, gap));
  const tail = parse(a.slice(gap + 2));
  return [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
}
