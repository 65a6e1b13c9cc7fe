/**
 * Trust in an authenticating reverse proxy (oauth2-proxy, Authelia, nginx auth_request…): the user
 * name is read from a header the proxy sets, but only on connections that come from the proxy's own
 * configured addresses. From anywhere else the header is ignored, so a client cannot name itself.
 */
import type { IncomingMessage } from 'node:http';
import { BlockList, isIP } from 'node:net';
import { VfsError } from '../../src/errors.js';

export interface AuthProxyOptions {
  /** Header carrying the signed-in user's name (e.g. "X-Forwarded-User", "Remote-User"). */
  header: string;
  /** Addresses (or CIDR ranges) of the proxy; connections from others are never trusted. */
  from: string[];
}

/** Longest user name taken from the header. */
export const MAX_PROXY_USER_LENGTH = 256;

export class ProxyTrust {
  private readonly header: string;
  private readonly trusted = new BlockList();

  constructor(options: AuthProxyOptions) {
    if (!/^[A-Za-z0-9-]{1,64}$/.test(options.header)) throw new VfsError('EINVAL', `auth proxy header must be a header name, got ${JSON.stringify(options.header)}`);
    if (options.from.length === 0) throw new VfsError('EINVAL', 'auth proxy: name the proxy addresses to trust');
    this.header = options.header.toLowerCase();
    for (const entry of options.from) {
      const [address, bits] = entry.split('/');
      const family = isIP(address ?? '');
      if (!family) throw new VfsError('EINVAL', `auth proxy: not an IP address or range: ${JSON.stringify(entry)}`);
      const type = family === 6 ? 'ipv6' : 'ipv4';
      if (bits === undefined) this.trusted.addAddress(address!, type);
      else {
        const prefix = Number(bits);
        if (!Number.isInteger(prefix) || prefix < 0 || prefix > (family === 6 ? 128 : 32)) throw new VfsError('EINVAL', `auth proxy: bad prefix length in ${JSON.stringify(entry)}`);
        this.trusted.addSubnet(address!, prefix, type);
      }
    }
  }

  /** Is the connection from a configured proxy address? */
  trusts(address: string | undefined): boolean {
    if (!address) return false;
    // An IPv4 client on a dual-stack socket shows as ::ffff:a.b.c.d.
    const plain = address.startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : address;
    const family = isIP(plain);
    return family !== 0 && this.trusted.check(plain, family === 6 ? 'ipv6' : 'ipv4');
  }

  /** The user the proxy vouches for, or undefined (no header, an untrusted address, or a malformed name). */
  userOf(req: IncomingMessage): string | undefined {
    const value = req.headers[this.header];
    if (typeof value !== 'string' || !this.trusts(req.socket.remoteAddress)) return undefined;
    const name = value.trim();
    // eslint-disable-next-line no-control-regex
    if (name === '' || name.length > MAX_PROXY_USER_LENGTH || /[\u0000-\u001f\u007f]/.test(name)) return undefined;
    return name;
  }
}
