/**
 * Safe XML for WebDAV request bodies: a size cap (the caller's), no DOCTYPE/ENTITY (no entity
 * expansion), a depth cap, well-formedness and namespace resolution in ONE linear pass of our own
 * scanner into a small element tree. Every step looks at each input character a bounded number of
 * times: no regular expression that can backtrack, no copy of a scope per element (a namespace
 * lookup walks at most MAX_XML_DEPTH small maps, each holding only its own element's declarations).
 * Output is built as strings with `escapeXml`; dead property values are re-serialised with explicit
 * namespace declarations on every element, so they stay well-formed wherever they are embedded, and
 * within a byte budget, since that re-declaration could otherwise multiply a body's size.
 */
import { VfsError } from '../../src/errors.js';

/** One element with its namespace resolved ("" = no namespace). */
export interface XmlElement {
  ns: string;
  name: string;
  attrs: XmlAttribute[];
  children: XmlNode[];
}
export interface XmlAttribute {
  ns: string;
  name: string;
  value: string;
}
export type XmlNode = XmlElement | string;

const XML_NS = 'http://www.w3.org/XML/1998/namespace';
const XMLNS_NS = 'http://www.w3.org/2000/xmlns/';

/** Deepest element nesting a request body may have (PROPPATCH values included). */
export const MAX_XML_DEPTH = 64;
/** Most attributes (namespace declarations included) one element may carry; WebDAV bodies use a few. */
export const MAX_XML_ATTRIBUTES = 256;
/**
 * Largest re-serialisation of client XML kept without an explicit budget (a LOCK owner): the same
 * as one dead property value. Serialising re-declares namespaces per element, so without a cap a
 * 1 MiB body (one 512 KiB namespace, 80 000 tiny children) would become tens of gigabytes.
 */
export const MAX_SERIALIZED_XML_BYTES = 64 * 1024;

/** Characters XML 1.0 does not allow anywhere (not even as character references). */
const NOT_XML_CHAR = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** XMLDecl (XML 1.0 §2.8): version, optional encoding and standalone, nothing else. */
const XML_DECL = /^<\?xml[ \t\r\n]+version[ \t\r\n]*=[ \t\r\n]*(["'])1\.[0-9]+\1([ \t\r\n]+encoding[ \t\r\n]*=[ \t\r\n]*(["'])[A-Za-z][A-Za-z0-9._-]*\3)?([ \t\r\n]+standalone[ \t\r\n]*=[ \t\r\n]*(["'])(yes|no)\5)?[ \t\r\n]*\?>$/;

/** Parse a request body; null when it is empty. EINVAL (→ 400) for anything unsafe or malformed. */
export function parseXml(body: Buffer): XmlElement | null {
  let text = body.toString('utf8');
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  let k = 0;
  while (k < text.length && isSpace(text.charCodeAt(k))) k++;
  if (k === text.length) return null;
  if (NOT_XML_CHAR.test(text)) throw bad('a character XML does not allow');
  return new Scanner(text).document();
}

/** The namespace declarations of one element, linked to its parent's (elements without any share their parent's). */
interface Scope {
  prefixes: Map<string, string>;
  parent: Scope | undefined;
}

interface Frame {
  qname: string;
  el: XmlElement;
  scope: Scope | undefined;
  defaultNs: string;
  /** Text (and CDATA) seen since the last child element, joined when the next node starts. */
  text: string[];
}

class Scanner {
  private i = 0;
  constructor(private readonly s: string) {}

  document(): XmlElement {
    const s = this.s;
    if (s.startsWith('<?xml') && (isSpace(s.charCodeAt(5)) || s.charCodeAt(5) === 0x3f)) {
      const end = s.indexOf('?>');
      // One anchored match of a bounded slice; the whitespace runs are separated by literals, so
      // a failing match backtracks over each run once (linear).
      if (end < 0 || !XML_DECL.test(s.slice(0, end + 2))) throw bad('malformed XML declaration');
      this.i = end + 2;
    }
    this.misc(true);
    if (s.charCodeAt(this.i) !== LT || this.i >= s.length) throw bad('no root element');
    const root = this.element();
    this.misc(false);
    if (this.i < s.length) throw bad('content after the root element');
    return root;
  }

  /** Whitespace, comments and processing instructions around the root element. */
  private misc(prolog: boolean): void {
    const s = this.s;
    for (;;) {
      while (this.i < s.length && isSpace(s.charCodeAt(this.i))) this.i++;
      if (s.startsWith('<?', this.i)) this.pi();
      else if (s.startsWith('<!--', this.i)) this.comment();
      else if (s.startsWith('<!', this.i)) {
        throw bad(prolog && /^<!(DOCTYPE|ENTITY)/i.test(s.slice(this.i, this.i + 9)) ? 'DOCTYPE and ENTITY declarations are not accepted' : 'unexpected markup');
      } else return;
    }
  }

  private pi(): void {
    const start = this.i + 2;
    const end = this.s.indexOf('?>', start);
    if (end < 0) throw bad('unterminated processing instruction');
    const targetEnd = nameEnd(this.s, start);
    if (targetEnd === start) throw bad('processing instruction without a target');
    // "xml" in any case is reserved: the declaration is only allowed first, and was read there.
    if (this.s.slice(start, targetEnd).toLowerCase() === 'xml') throw bad('misplaced XML declaration');
    this.i = end + 2;
  }

  private comment(): void {
    const start = this.i + 4;
    const end = this.s.indexOf('--', start);
    if (end < 0) throw bad('unterminated comment');
    if (this.s.charCodeAt(end + 2) !== GT) throw bad('"--" inside a comment');
    this.i = end + 3;
  }

  /** The root element and everything inside it, without recursion. */
  private element(): XmlElement {
    const s = this.s;
    const stack: Frame[] = [];
    let root: XmlElement | undefined;
    const open = (parent: Frame | undefined): void => {
      const [frame, empty] = this.startTag(parent);
      if (parent) {
        flushText(parent);
        parent.el.children.push(frame.el);
      } else root = frame.el;
      if (empty) return; // "<a/>"
      if (stack.length >= MAX_XML_DEPTH) throw bad(`XML nested deeper than ${MAX_XML_DEPTH} levels`);
      stack.push(frame);
    };
    open(undefined);
    while (stack.length > 0) {
      const top = stack[stack.length - 1]!;
      const lt = s.indexOf('<', this.i);
      if (lt < 0) throw bad(`element <${top.qname}> is not closed`);
      if (lt > this.i) {
        const raw = s.slice(this.i, lt);
        if (raw.includes(']]>')) throw bad('"]]>" in text');
        top.text.push(decodeEntities(raw));
        this.i = lt;
      }
      if (s.startsWith('</', lt)) {
        const start = lt + 2;
        const end = nameEnd(s, start);
        const qname = s.slice(start, end);
        if (qname !== top.qname) throw bad(`</${qname.slice(0, 100)}> does not close <${top.qname.slice(0, 100)}>`);
        this.i = end;
        while (this.i < s.length && isSpace(s.charCodeAt(this.i))) this.i++;
        if (s.charCodeAt(this.i) !== GT) throw bad('malformed end tag');
        this.i++;
        flushText(top);
        stack.pop();
      } else if (s.startsWith('<!--', lt)) this.comment();
      else if (s.startsWith('<![CDATA[', lt)) {
        const end = s.indexOf(']]>', lt + 9);
        if (end < 0) throw bad('unterminated CDATA section');
        top.text.push(s.slice(lt + 9, end));
        this.i = end + 3;
      } else if (s.startsWith('<?', lt)) this.pi();
      else if (s.startsWith('<!', lt)) throw bad('unexpected markup in content');
      else open(top);
    }
    return root!;
  }

  /** `<qname attr="v" …>` or `…/>` at this.i; leaves this.i after the ">". */
  private startTag(parent: Frame | undefined): [Frame, boolean] {
    const s = this.s;
    const start = this.i + 1;
    const end = nameEnd(s, start);
    if (end === start) throw bad('"<" not followed by an element name');
    const qname = s.slice(start, end);
    this.i = end;
    const raw: Array<[string, string]> = [];
    let seen: Set<string> | undefined;
    let prefixes: Map<string, string> | undefined;
    let defaultNs = parent?.defaultNs ?? '';
    let empty = false;
    for (;;) {
      const before = this.i;
      while (this.i < s.length && isSpace(s.charCodeAt(this.i))) this.i++;
      const c = s.charCodeAt(this.i);
      if (c === GT) {
        this.i++;
        break;
      }
      if (c === SLASH) {
        if (s.charCodeAt(this.i + 1) !== GT) throw bad('"/" not followed by ">" in a tag');
        this.i += 2;
        empty = true;
        break;
      }
      if (this.i === before) throw bad(`malformed tag <${qname.slice(0, 100)}>`);
      const nStart = this.i;
      const nEnd = nameEnd(s, nStart);
      if (nEnd === nStart) throw bad(`malformed attribute in <${qname.slice(0, 100)}>`);
      const aname = s.slice(nStart, nEnd);
      this.i = nEnd;
      while (this.i < s.length && isSpace(s.charCodeAt(this.i))) this.i++;
      if (s.charCodeAt(this.i) !== EQ) throw bad(`attribute ${aname.slice(0, 100)} has no value`);
      this.i++;
      while (this.i < s.length && isSpace(s.charCodeAt(this.i))) this.i++;
      const q = s[this.i];
      if (q !== '"' && q !== "'") throw bad(`attribute ${aname.slice(0, 100)} is not quoted`);
      const close = s.indexOf(q, this.i + 1);
      if (close < 0) throw bad('unterminated attribute value');
      const rawValue = s.slice(this.i + 1, close);
      if (rawValue.includes('<')) throw bad('"<" in an attribute value');
      this.i = close + 1;
      if (raw.length >= MAX_XML_ATTRIBUTES) throw bad(`more than ${MAX_XML_ATTRIBUTES} attributes on one element`);
      if (raw.length > 0) {
        seen ??= new Set([raw[0]![0]]);
        if (seen.has(aname)) throw bad(`duplicate attribute ${aname.slice(0, 100)}`);
        seen.add(aname);
      }
      const value = normalizeAttr(decodeEntities(rawValue));
      raw.push([aname, value]);
      if (aname === 'xmlns') defaultNs = value;
      else if (aname.startsWith('xmlns:')) {
        const prefix = aname.slice(6);
        checkNcName(prefix);
        // XML Namespaces 1.0: a prefix may not be bound to the empty string (litmus propfind_invalid2).
        if (value === '') throw bad(`namespace prefix "${prefix}" bound to an empty URI`);
        if (prefix === 'xmlns' || (prefix === 'xml') !== (value === XML_NS) || value === XMLNS_NS) throw bad(`reserved namespace prefix or name "${prefix}"`);
        (prefixes ??= new Map()).set(prefix, value);
      }
    }
    const scope = prefixes ? { prefixes, parent: parent?.scope } : parent?.scope;
    const [prefix, name] = splitQName(qname);
    const el: XmlElement = { ns: prefix === undefined ? defaultNs : lookup(scope, prefix), name, attrs: [], children: [] };
    for (const [k, v] of raw) {
      if (k === 'xmlns' || k.startsWith('xmlns:')) continue;
      const [p, n] = splitQName(k);
      el.attrs.push({ ns: p === undefined ? '' : lookup(scope, p), name: n, value: v });
    }
    return [{ qname, el, scope, defaultNs, text: [] }, empty];
  }
}

function flushText(frame: Frame): void {
  if (frame.text.length === 0) return;
  frame.el.children.push(frame.text.length === 1 ? frame.text[0]! : frame.text.join(''));
  frame.text = [];
}

const LT = 0x3c;
const GT = 0x3e;
const SLASH = 0x2f;
const EQ = 0x3d;

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;
}

/** Index just past the XML Name starting at `start` (= start when there is none). */
function nameEnd(s: string, start: number): number {
  let i = start;
  if (i < s.length && isNameStart(s.charCodeAt(i))) {
    i++;
    while (i < s.length && isNameChar(s.charCodeAt(i))) i++;
  }
  return i;
}

/** XML 1.0 NameStartChar (surrogates stand for the astral planes, which it allows up to U+EFFFF). */
function isNameStart(c: number): boolean {
  return (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || c === 0x5f || c === 0x3a ||
    (c >= 0xc0 && c <= 0xd6) || (c >= 0xd8 && c <= 0xf6) || (c >= 0xf8 && c <= 0x2ff) || (c >= 0x370 && c <= 0x37d) ||
    (c >= 0x37f && c <= 0x1fff) || c === 0x200c || c === 0x200d || (c >= 0x2070 && c <= 0x218f) ||
    (c >= 0x2c00 && c <= 0x2fef) || (c >= 0x3001 && c <= 0xdfff) || (c >= 0xf900 && c <= 0xfdcf) || (c >= 0xfdf0 && c <= 0xfffd);
}

function isNameChar(c: number): boolean {
  return isNameStart(c) || c === 0x2d || c === 0x2e || (c >= 0x30 && c <= 0x39) || c === 0xb7 || (c >= 0x300 && c <= 0x36f) || c === 0x203f || c === 0x2040;
}

function checkNcName(n: string): void {
  if (n === '' || n.includes(':')) throw bad(`"${n.slice(0, 100)}" is not a valid namespace name part`);
}

function splitQName(q: string): [string | undefined, string] {
  const i = q.indexOf(':');
  if (i < 0) return [undefined, q];
  const prefix = q.slice(0, i);
  const local = q.slice(i + 1);
  checkNcName(prefix);
  checkNcName(local);
  return [prefix, local];
}

/** The namespace of `prefix`: at most MAX_XML_DEPTH map lookups, one per ancestor that declared something. */
function lookup(scope: Scope | undefined, prefix: string): string {
  if (prefix === 'xml') return XML_NS;
  for (let s = scope; s; s = s.parent) {
    const ns = s.prefixes.get(prefix);
    if (ns !== undefined) return ns;
  }
  throw bad(`undeclared namespace prefix "${prefix.slice(0, 100)}"`);
}

/** Attribute-value normalisation (XML 1.0 §3.3.3) for CDATA attributes: tab, CR, LF become spaces. */
function normalizeAttr(v: string): string {
  let out = '';
  let from = 0;
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (c === 0x09 || c === 0x0a || c === 0x0d) {
      out += v.slice(from, i) + ' ';
      from = i + 1;
    }
  }
  return from === 0 ? v : out + v.slice(from);
}

const NAMED: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };
/** Longest reference looked at: "&#x10FFFF;" is 10 characters; leading zeros beyond that are refused. */
const MAX_REF_LENGTH = 16;

/** Decode the predefined entities and character references in one pass; a bare "&" is EINVAL. */
function decodeEntities(s: string): string {
  let amp = s.indexOf('&');
  if (amp < 0) return s;
  let out = '';
  let from = 0;
  while (amp >= 0) {
    let semi = -1;
    for (let j = amp + 1; j < s.length && j <= amp + MAX_REF_LENGTH; j++) {
      if (s.charCodeAt(j) === 0x3b) {
        semi = j;
        break;
      }
    }
    if (semi < 0) throw bad('"&" that starts no reference');
    const ref = s.slice(amp + 1, semi);
    out += s.slice(from, amp) + decodeRef(ref);
    from = semi + 1;
    amp = s.indexOf('&', from);
  }
  return out + s.slice(from);
}

function decodeRef(ref: string): string {
  if (ref[0] !== '#') {
    const named = Object.hasOwn(NAMED, ref) ? NAMED[ref] : undefined;
    if (named === undefined) throw bad(`unknown entity &${ref.slice(0, 20)};`);
    return named;
  }
  const hex = ref[1] === 'x';
  const digits = ref.slice(hex ? 2 : 1);
  if (digits === '' || !(hex ? /^[0-9a-fA-F]+$/ : /^[0-9]+$/).test(digits)) throw bad(`bad character reference &${ref};`);
  const code = parseInt(digits, hex ? 16 : 10);
  const ch = code <= 0x10ffff ? String.fromCodePoint(code) : '';
  if (ch === '' || NOT_XML_CHAR.test(ch)) throw bad(`character reference &${ref}; names a character XML does not allow`);
  return ch;
}

function bad(message: string): VfsError {
  return new VfsError('EINVAL', message, { provider: 'webdav', operation: 'parse XML body' });
}

/**
 * Escape text for element content and attribute values. Characters XML cannot carry at all (C0
 * controls other than tab/LF/CR, U+FFFE, U+FFFF, lone surrogates: a file name may hold them) become
 * U+FFFD, so a response stays well-formed; hrefs carry the exact name (see `encodeSegment`).
 */
export function escapeXml(s: string): string {
  return s.replace(/[<>&"']|[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, (c) => {
    switch (c) {
      case '<': return '&lt;';
      case '>': return '&gt;';
      case '&': return '&amp;';
      case '"': return '&quot;';
      case "'": return '&apos;';
      default: return '\ufffd';
    }
  });
}

/** Children of `el` that are elements. */
export function elements(el: XmlElement): XmlElement[] {
  return el.children.filter((c): c is XmlElement => typeof c !== 'string');
}

/** First child element with this namespace and name. */
export function child(el: XmlElement, ns: string, name: string): XmlElement | undefined {
  return elements(el).find((c) => c.ns === ns && c.name === name);
}

/** Text content of an element (concatenated, untrimmed). */
export function textOf(el: XmlElement): string {
  return el.children.map((c) => (typeof c === 'string' ? c : textOf(c))).join('');
}

class OverBudget extends Error {}

/**
 * Serialise nodes with a default-namespace declaration on every element (always well-formed).
 * With a `budget` (in characters, so also a lower bound of UTF-8 bytes): undefined as soon as the
 * output would pass it. Without: EINVAL past MAX_SERIALIZED_XML_BYTES.
 */
export function serializeNodes(nodes: XmlNode[]): string;
export function serializeNodes(nodes: XmlNode[], budget: number): string | undefined;
export function serializeNodes(nodes: XmlNode[], budget?: number): string | undefined {
  const out = { parts: [] as string[], length: 0, budget: budget ?? MAX_SERIALIZED_XML_BYTES };
  try {
    for (const n of nodes) serializeInto(n, out);
  } catch (e) {
    if (!(e instanceof OverBudget)) throw e;
    if (budget !== undefined) return undefined;
    throw bad(`XML value larger than ${MAX_SERIALIZED_XML_BYTES} bytes once serialised`);
  }
  return out.parts.join('');
}

function serializeInto(node: XmlNode, out: { parts: string[]; length: number; budget: number }): void {
  const emit = (s: string) => {
    out.length += s.length;
    if (out.length > out.budget) throw new OverBudget();
    out.parts.push(s);
  };
  if (typeof node === 'string') return emit(escapeXml(node));
  const open = openTag(node);
  if (node.children.length === 0) return emit(`<${open}/>`);
  emit(`<${open}>`);
  for (const c of node.children) serializeInto(c, out);
  emit(`</${node.name}>`);
}

function openTag(el: Pick<XmlElement, 'ns' | 'name' | 'attrs'>): string {
  let attrs = '';
  let n = 0;
  for (const a of el.attrs) {
    if (a.ns === '') attrs += ` ${a.name}="${escapeXml(a.value)}"`;
    else if (a.ns === XML_NS) attrs += ` xml:${a.name}="${escapeXml(a.value)}"`;
    else {
      const p = `a${n++}`;
      attrs += ` xmlns:${p}="${escapeXml(a.ns)}" ${p}:${a.name}="${escapeXml(a.value)}"`;
    }
  }
  return `${el.name} xmlns="${escapeXml(el.ns)}"${attrs}`;
}

/** `<name xmlns="ns" …attrs>inner</name>` with `inner` already serialised. */
export function serializeElement(el: Pick<XmlElement, 'ns' | 'name' | 'attrs'>, inner: string): string {
  const open = openTag(el);
  return inner === '' ? `<${open}/>` : `<${open}>${inner}</${el.name}>`;
}
