/**
 * Parsers of command-line values shared by several commands (numbers, ports, addresses, durations).
 */
import { InvalidArgumentError } from 'commander';
import { VfsError } from '../src/errors.js';

export function parseNumber(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw new InvalidArgumentError('expected a non-negative number');
  return n;
}

export function parsePort(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('expected a port number 0..65535');
  return n;
}

/** "host:port", ":port" or "PORT" (then 127.0.0.1:PORT); IPv6 as "[::1]:8080". */
export function parseAddr(addr: string): { host: string; port: number } {
  const bad = () => new VfsError('EINVAL', `--addr must be PORT, :PORT or HOST:PORT (IPv6: [::1]:PORT), got ${JSON.stringify(addr)}`);
  let host = '127.0.0.1';
  let portText = addr;
  if (addr.startsWith('[')) {
    const end = addr.indexOf(']');
    if (end < 0 || addr[end + 1] !== ':') throw bad();
    host = addr.slice(1, end);
    portText = addr.slice(end + 2);
  } else if (addr.includes(':')) {
    const colon = addr.lastIndexOf(':');
    host = addr.slice(0, colon) || '127.0.0.1';
    portText = addr.slice(colon + 1);
    if (host.includes(':')) throw bad(); // a bare IPv6 address needs brackets
  }
  if (!/^\d{1,5}$/.test(portText)) throw bad();
  const port = Number(portText);
  if (port > 65535) throw new VfsError('EINVAL', `--addr port out of range (0..65535): ${port}`);
  return { host, port };
}

/** Parser of --cache-ttl. */
export function parseSeconds(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw new InvalidArgumentError('expected seconds (a number ≥ 0)');
  return n;
}
