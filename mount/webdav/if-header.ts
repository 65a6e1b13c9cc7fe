/**
 * The WebDAV `If:` header (RFC 4918 §10.4): lists of conditions (state tokens and entity tags,
 * optionally negated with Not), optionally tagged with the resource they apply to. The header holds
 * when any list holds; a list holds when all its conditions do. Every token named (not negated)
 * counts as "submitted" for the lock check, whether or not its list held.
 */
import { VfsError } from '../../src/errors.js';

export interface IfCondition {
  not: boolean;
  kind: 'token' | 'etag';
  value: string;
}

export interface IfList {
  /** The tagged resource URL, or undefined for the request URL. */
  tag?: string;
  conditions: IfCondition[];
}

/**
 * Most conditions one If header may hold (all lists together). Each may cost a lock lookup or a
 * stat when evaluated; real clients send one or two (litmus at most four). Beyond: 400.
 */
export const MAX_IF_CONDITIONS = 64;

/** Parse an If header; EINVAL (→ 400) when it is malformed. One pass: every character is looked at once. */
export function parseIfHeader(header: string): IfList[] {
  const lists: IfList[] = [];
  let i = 0;
  let tag: string | undefined;
  let count = 0;
  const s = header;
  const skipWs = () => {
    for (let c = s.charCodeAt(i); c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d; c = s.charCodeAt(i)) i++;
  };
  skipWs();
  while (i < s.length) {
    if (s[i] === '<') {
      const end = s.indexOf('>', i);
      if (end < 0) throw bad('unterminated resource tag');
      tag = s.slice(i + 1, end);
      i = end + 1;
      skipWs();
      if (s[i] !== '(') throw bad('a resource tag must be followed by a list');
      continue;
    }
    if (s[i] !== '(') throw bad(`unexpected character ${JSON.stringify(s[i])}`);
    i++;
    const conditions: IfCondition[] = [];
    for (;;) {
      skipWs();
      if (i >= s.length) throw bad('unterminated list');
      if (s[i] === ')') {
        i++;
        break;
      }
      if (++count > MAX_IF_CONDITIONS) throw bad(`more than ${MAX_IF_CONDITIONS} conditions`);
      let not = false;
      if (s.slice(i, i + 3).toLowerCase() === 'not') {
        not = true;
        i += 3;
        skipWs();
      }
      if (s[i] === '<') {
        const end = s.indexOf('>', i);
        if (end < 0) throw bad('unterminated state token');
        conditions.push({ not, kind: 'token', value: s.slice(i + 1, end) });
        i = end + 1;
      } else if (s[i] === '[') {
        const end = s.indexOf(']', i);
        if (end < 0) throw bad('unterminated entity tag');
        conditions.push({ not, kind: 'etag', value: s.slice(i + 1, end) });
        i = end + 1;
      } else {
        throw bad(`unexpected character ${JSON.stringify(s[i])} in a list`);
      }
    }
    if (conditions.length === 0) throw bad('empty list');
    lists.push({ ...(tag !== undefined ? { tag } : {}), conditions });
    skipWs();
  }
  if (lists.length === 0) throw bad('no condition list');
  return lists;
}

/** Lock tokens named positively anywhere in the header. */
export function submittedTokens(lists: IfList[]): Set<string> {
  const out = new Set<string>();
  for (const l of lists) for (const c of l.conditions) if (c.kind === 'token' && !c.not) out.add(c.value);
  return out;
}

/** What evaluation needs to know about a resource. */
export interface IfResolver {
  /** The Vfs path of a tagged URL (undefined when it is not ours) or of the request (tag undefined). */
  pathOf(tag: string | undefined): string | undefined;
  /** Does a live lock with this token cover `path`? */
  tokenCovers(token: string, path: string): boolean | Promise<boolean>;
  /** Current ETag of `path` (quoted), or undefined when it does not exist. */
  etagOf(path: string): Promise<string | undefined>;
}

/** Does the header hold? */
export async function evaluateIf(lists: IfList[], r: IfResolver): Promise<boolean> {
  // One stat per path, however many entity tags name it.
  const etags = new Map<string, Promise<string | undefined>>();
  const etagOf = (path: string) => {
    let e = etags.get(path);
    if (!e) etags.set(path, (e = r.etagOf(path)));
    return e;
  };
  for (const list of lists) {
    const path = r.pathOf(list.tag);
    if (path === undefined) continue;
    let holds = true;
    for (const c of list.conditions) {
      let match: boolean;
      if (c.kind === 'token') match = await r.tokenCovers(c.value, path);
      else {
        const etag = await etagOf(path);
        match = etag !== undefined && stripWeak(etag) === stripWeak(c.value);
      }
      if (match === c.not) {
        holds = false;
        break;
      }
    }
    if (holds) return true;
  }
  return false;
}

function stripWeak(etag: string): string {
  return etag.startsWith('W/') ? etag.slice(2) : etag;
}

function bad(message: string): VfsError {
  return new VfsError('EINVAL', `bad If header: ${message}`, { provider: 'webdav' });
}
