/**
 * A tiny raw WebDAV client over node:http for the model tests: every request is exactly what the
 * test says (no client library smoothing statuses over), and the observable state of a share is
 * read back as the model's snapshot lines (PROPFIND Depth 1 per collection, GET per file).
 */
import { Agent, request } from 'node:http';
import { XMLParser } from 'fast-xml-parser';
import { describe } from './model.js';

export const PROP_NS = 'urn:x-cloudmount-model:';
export const PROP_NAMES = ['p0', 'p1'] as const;

export interface DavResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

export class DavClient {
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 4 });
  readonly base: URL;

  constructor(baseUrl: string) {
    this.base = new URL(baseUrl);
  }

  /** The request target for a Vfs path: every segment percent-encoded. */
  href(path: string, dir = false): string {
    const segs = path.split('/').filter(Boolean).map(encodeURIComponent);
    return '/' + segs.join('/') + (dir && segs.length > 0 ? '/' : '');
  }

  url(path: string): string {
    return `http://${this.base.host}${this.href(path)}`;
  }

  send(method: string, path: string, headers: Record<string, string> = {}, body?: Buffer | string): Promise<DavResponse> {
    return new Promise((resolve, reject) => {
      const data = body === undefined ? undefined : Buffer.isBuffer(body) ? body : Buffer.from(body);
      const req = request(
        {
          host: this.base.hostname, port: this.base.port, method, path: this.href(path), agent: this.agent,
          headers: { ...headers, 'Content-Length': String(data?.length ?? 0) },
        },
        (res) => {
          const parts: Buffer[] = [];
          res.on('data', (c: Buffer) => parts.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts) }));
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(data);
    });
  }

  /**
   * A PUT whose client dies mid-body: announce `full.length` bytes, send `sent` of them, then drop
   * the connection (what a killed writer leaves behind). Resolves once the socket is gone.
   */
  abortedPut(path: string, full: Buffer, sent: number, opts: { keepOpen?: boolean } = {}): Promise<void> {
    return new Promise((resolve) => {
      const req = request({
        host: this.base.hostname, port: this.base.port, method: 'PUT', path: this.href(path),
        headers: { 'Content-Length': String(full.length) },
      });
      req.on('error', () => resolve());
      req.on('close', () => resolve());
      req.on('response', (res) => {
        // The server may answer early (e.g. 4xx before reading the body): fine, that is no partial write.
        res.resume();
      });
      // keepOpen: resolve once the bytes are out and leave the request hanging (the caller kills the server).
      req.write(full.subarray(0, sent), () => (opts.keepOpen ? resolve() : setImmediate(() => req.destroy())));
    });
  }

  close(): void {
    this.agent.destroy();
  }

  /** The share's whole tree (and dead properties) as snapshot lines. */
  async snapshot(opts: { props?: boolean } = {}): Promise<string[]> {
    const out: string[] = [];
    const queue = ['/'];
    while (queue.length > 0) {
      const dir = queue.shift()!;
      const body =
        `<?xml version="1.0" encoding="utf-8"?><D:propfind xmlns:D="DAV:" xmlns:m="${PROP_NS}"><D:prop>` +
        `<D:resourcetype/><D:getcontentlength/>${PROP_NAMES.map((n) => `<m:${n}/>`).join('')}</D:prop></D:propfind>`;
      const res = await this.send('PROPFIND', dir, { Depth: '1', 'Content-Type': 'application/xml' }, body);
      if (res.status !== 207) throw new Error(`snapshot: PROPFIND ${dir} answered ${res.status}: ${res.body.toString().slice(0, 300)}`);
      for (const r of parseMultistatus(res.body.toString('utf8'))) {
        if (r.path === dir) continue;
        if (r.dir) {
          out.push(describe(r.path, 'dir', undefined, undefined, opts.props ? r.props : undefined));
          queue.push(r.path);
        } else {
          const got = await this.send('GET', r.path);
          if (got.status !== 200) throw new Error(`snapshot: GET ${r.path} answered ${got.status}`);
          if (r.size !== got.body.length) out.push(`${r.path} PROPFIND size ${r.size} but GET gave ${got.body.length} bytes`);
          out.push(describe(r.path, 'file', got.body, undefined, opts.props ? r.props : undefined));
        }
      }
    }
    return out.sort();
  }
}

interface PropfindEntry {
  path: string;
  dir: boolean;
  size: number;
  props: Map<string, string>;
}

const parser = new XMLParser({ removeNSPrefix: true, ignoreAttributes: true, parseTagValue: false, trimValues: false, isArray: (name) => ['response', 'propstat'].includes(name) });

/** The entries of a 207 multistatus, with decoded paths (no trailing slash). */
export function parseMultistatus(xml: string): PropfindEntry[] {
  const doc = parser.parse(xml) as { multistatus?: { response?: unknown[] } };
  const out: PropfindEntry[] = [];
  for (const r of (doc.multistatus?.response ?? []) as Array<{ href: string; propstat?: Array<{ prop?: Record<string, unknown>; status: string }> }>) {
    const pathname = new URL(String(r.href), 'http://x').pathname;
    const segs = pathname.split('/').filter(Boolean).map(decodeURIComponent);
    const path = '/' + segs.join('/');
    let dir = false;
    let size = 0;
    const props = new Map<string, string>();
    for (const ps of r.propstat ?? []) {
      if (!/ 200 /.test(ps.status) || !ps.prop) continue;
      const prop = ps.prop;
      if (prop.resourcetype && typeof prop.resourcetype === 'object' && 'collection' in prop.resourcetype) dir = true;
      if (prop.getcontentlength !== undefined) size = Number(prop.getcontentlength);
      for (const n of PROP_NAMES) if (prop[n] !== undefined) props.set(n, String(prop[n]));
    }
    out.push({ path, dir, size, props });
  }
  return out;
}
