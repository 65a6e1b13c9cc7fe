/**
 * Guards in front of webdav-server 2.6.3 for its measured defects (see index.ts): request bodies
 * it would buffer by their claimed length, If headers it crashes on or passes unchecked, locks it
 * does not enforce by token, and a PROPPATCH that crashes on several set/remove blocks or on
 * removing a property that was never set.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { v2 } from 'webdav-server';
import { isVfsError } from '../../src/errors.js';
import { evaluateIf, parseIfHeader, submittedTokens } from '../webdav/if-header.js';
import type { IfList } from '../webdav/if-header.js';
import type { VfsFileSystem } from './filesystem.js';

export interface GuardOptions {
  /** The Vfs file system the lock and If checks apply to. */
  fs: VfsFileSystem;
  /** Where `fs` is mounted in the server's tree ("/" or "/cloud"). */
  mountPath: string;
  /** Largest body of a request other than PUT (webdav-server buffers those whole), default 1 MiB. */
  maxBodyBytes?: number;
}

/** Methods that change the resource they name (and, for MOVE/COPY, the Destination). */
const MUTATING = new Set(['PUT', 'DELETE', 'MKCOL', 'MOVE', 'COPY', 'PROPPATCH']);
/** Methods whose change covers everything below the target. */
const TREE = new Set(['DELETE', 'MOVE']);

type Next = () => void;

/** A request guard: answers the request itself, or calls `next` to hand it to webdav-server. */
export function createGuard(server: v2.WebDAVServer, options: GuardOptions): (req: IncomingMessage, res: ServerResponse, next: Next) => void {
  const max = options.maxBodyBytes ?? 1024 * 1024;
  const mount = options.mountPath === '/' ? '' : options.mountPath;
  server.method('PROPPATCH', new SafeProppatch());

  /** The path inside `fs` of a request URL or Destination, undefined when it is elsewhere in the tree. */
  const inside = (raw: string): string | undefined => {
    const target = urlPath(raw);
    if (target === mount || target === mount + '/') return '/';
    if (mount === '' || target.startsWith(mount + '/')) return target.slice(mount.length).replace(/\/$/, '') || '/';
    return undefined;
  };

  return (req, res, next) => {
    const method = (req.method ?? 'GET').toUpperCase();
    const answer = (status: number, text: string, close = false) => {
      res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', ...(close ? { Connection: 'close' } : {}) });
      res.end(text + '\n');
      if (!close) req.resume();
    };
    const length = Number(req.headers['content-length'] ?? 0);
    if (method !== 'PUT' && length > max) return answer(413, `request body larger than ${max} bytes`, true);
    // A fragment is never part of a request target; webdav-server acted on the path before it (a DELETE of "/dir#x" removed "/dir").
    if ((req.url ?? '').includes('#')) return answer(400, 'a request URL may not contain a fragment (#)');
    // webdav-server ignores a MKCOL body (RFC 4918 §9.3: 415 for one it does not understand).
    if (method === 'MKCOL' && (length > 0 || req.headers['transfer-encoding'] !== undefined)) return answer(415, 'MKCOL with a body is not supported');
    // webdav-server sends a new lock's token without the angle brackets RFC 4918 §10.5 requires.
    if (method === 'LOCK') {
      const setHeader = res.setHeader.bind(res);
      res.setHeader = (name, value) => setHeader(name, typeof value === 'string' && name.toLowerCase() === 'lock-token' && !value.startsWith('<') ? `<${value}>` : value);
    }
    void (async () => {
      let path: string | undefined;
      let destination: string | undefined;
      try {
        path = inside(req.url ?? '/');
        const dest = req.headers.destination;
        if (typeof dest === 'string' && (method === 'MOVE' || method === 'COPY')) destination = inside(dest);
      } catch {
        return answer(400, 'malformed request path');
      }
      const header = req.headers.if;
      let lists: IfList[] | undefined;
      if (typeof header === 'string' && header.trim() !== '') {
        try {
          lists = parseIfHeader(header);
        } catch {
          return answer(400, 'malformed If header');
        }
        const holds = await evaluateIf(lists, {
          pathOf: (tag) => {
            if (tag === undefined) return path;
            try {
              return inside(tag);
            } catch {
              return undefined;
            }
          },
          tokenCovers: (token, p) => options.fs.locksCovering(p, false).some((l) => l.uuid === token),
          etagOf: async (p) => {
            try {
              return await options.fs.etagOf(p);
            } catch (e) {
              if (isVfsError(e, 'ENOENT', 'ENOTDIR')) return undefined;
              throw e;
            }
          },
        });
        if (!holds) return answer(412, 'the If header conditions do not hold');
      }
      if (MUTATING.has(method)) {
        const submitted = lists ? submittedTokens(lists) : new Set<string>();
        const targets: Array<[string | undefined, boolean]> = [[method === 'COPY' ? undefined : path, TREE.has(method)], [destination, true]];
        for (const [p, tree] of targets) {
          if (p === undefined) continue;
          if (options.fs.locksCovering(p, tree).some((l) => !submitted.has(l.uuid))) return answer(423, `locked: ${p}`);
        }
      }
      // A new lock (not a refresh, which names its lock in If) where an exclusive one already covers
      // the resource: webdav-server compares users, not tokens, and would grant it.
      if (method === 'LOCK' && !lists && path !== undefined) {
        const tree = String(req.headers.depth ?? 'infinity').toLowerCase() === 'infinity';
        if (options.fs.locksCovering(path, tree).some((l) => l.lockKind.scope.isSame(v2.LockScope.Exclusive))) return answer(423, `locked: ${path}`);
      }
      // Evaluated here; webdav-server crashes on untagged lists and would pass any list anyway.
      // LOCK keeps it: a refresh names its lock there.
      if (lists && method !== 'LOCK') delete req.headers.if;
      next();
    })().catch((e: unknown) => {
      if (!res.headersSent) answer(500, 'internal error');
      else res.destroy();
      void e;
    });
  };
}

/** The decoded path of a request URL (absolute or origin-form); throws on bad encoding, `..` or NUL. */
function urlPath(raw: string): string {
  let target = raw;
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(target)) {
    const slash = target.indexOf('/', target.indexOf('//') + 2);
    target = slash < 0 ? '/' : target.slice(slash);
  }
  const cut = target.search(/[?#]/);
  if (cut >= 0) target = target.slice(0, cut);
  const segments: string[] = [];
  for (const seg of target.split('/')) {
    if (seg === '') continue;
    const s = decodeURIComponent(seg);
    if (s === '.' || s === '..' || s.includes('/') || s.includes('\0')) throw new Error('bad path segment');
    segments.push(s);
  }
  return '/' + segments.join('/');
}

interface XmlElement {
  type: string;
  name: string;
  elements: XmlElement[];
  attributes?: Record<string, string>;
  find(name: string): XmlElement;
  findMany(name: string): XmlElement[];
}

const xmlBuilder = createRequire(createRequire(import.meta.url).resolve('webdav-server'))('xml-js-builder') as {
  XML: { parse(data: Buffer | string): XmlElement };
  XMLElementBuilder: new (name: string, attributes?: Record<string, string>) => { ele(name: string, attributes?: unknown, insertAtStart?: boolean): any; add(x: unknown): any };
};

/**
 * PROPPATCH over webdav-server's property managers, in document order, all or nothing: a DAV:
 * property is protected (403) and fails the others (424), nothing applied. Replaces webdav-server's
 * own, which crashes on two set/remove blocks or on removing a property never set.
 */
class SafeProppatch {
  unchunked(ctx: v2.HTTPRequestContext, data: Buffer, callback: () => void): void {
    const fail = (e: unknown) => {
      if (!ctx.setCodeFromError(e as Error)) ctx.setCode(v2.HTTPCodes.InternalServerError);
      callback();
    };
    let updates: Array<{ set: boolean; el: XmlElement }>;
    try {
      const root = xmlBuilder.XML.parse(data).find('DAV:propertyupdate');
      updates = [];
      for (const block of root.elements) {
        if (block.type !== 'element' || (block.name !== 'DAV:set' && block.name !== 'DAV:remove')) continue;
        for (const el of block.find('DAV:prop').elements) if (el.type === 'element') updates.push({ set: block.name === 'DAV:set', el });
      }
    } catch {
      ctx.setCode(v2.HTTPCodes.BadRequest);
      callback();
      return;
    }
    ctx.getResource((e, r) => {
      if (e || !r) return fail(e);
      r.fs.isLocked(ctx, r.path, (e, locked) => {
        if (e) return fail(e);
        if (locked) {
          ctx.setCode(v2.HTTPCodes.Locked);
          return callback();
        }
        r.propertyManager((e, pm) => {
          if (e || !pm) return fail(e);
          const forbidden = updates.some((u) => u.el.name.startsWith('DAV:'));
          const apply = async () => {
            if (forbidden) return;
            for (const u of updates) {
              await new Promise<void>((ok, ko) => {
                const done = (err?: Error | null) => (err ? ko(err) : ok());
                if (u.set) pm.setProperty(u.el.name, u.el.elements as never, u.el.attributes ?? {}, done);
                else pm.removeProperty(u.el.name, done);
              });
            }
          };
          apply().then(() => {
            const multistatus = new xmlBuilder.XMLElementBuilder('D:multistatus', { 'xmlns:D': 'DAV:' });
            const response = multistatus.ele('D:response');
            response.ele('D:href', undefined, true).add(v2.HTTPRequestContext.encodeURL(ctx.fullUri()));
            const groups = new Map<string, string[]>();
            for (const u of updates) {
              const status = !forbidden ? '200 OK' : u.el.name.startsWith('DAV:') ? '403 Forbidden' : '424 Failed Dependency';
              groups.set(status, [...(groups.get(status) ?? []), u.el.name]);
            }
            for (const [status, names] of groups) {
              const propstat = response.ele('D:propstat');
              const prop = propstat.ele('D:prop');
              for (const name of names) prop.add(new xmlBuilder.XMLElementBuilder(name));
              propstat.ele('D:status').add('HTTP/1.1 ' + status);
            }
            ctx.setCode(v2.HTTPCodes.MultiStatus);
            ctx.writeBody(multistatus);
            callback();
          }, fail);
        });
      });
    });
  }

  isValidFor(_ctx: v2.RequestContext, type?: v2.ResourceType): boolean {
    return !!type;
  }
}
