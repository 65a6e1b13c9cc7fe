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

/** "host:port", ":port" or "port"; IPv6 as "[::1]:8080". */
export function parseAddr(addr: string): { host: string; port: number } {
  const m = addr.match(/^(?:\[([^\]]+)\]|([^:]*))?:?(\d+)$/);
  if (!m) throw new VfsError('EINVAL', `--addr must be host:port, got ${JSON.stringify(addr)}`);
  const port = Number(m[3]);
  if (port > 65535) throw new VfsError('EINVAL', `port out of range: ${port}`);
  return { host: m[1] ?? (m[2] || '127.0.0.1'), port };
}

/** Parser of --cache-ttl. */
export function parseSeconds(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw new InvalidArgumentError('expected seconds (a number ≥ 0)');
  return n;
}
