/**
 * Safe XML for WebDAV request bodies: a size cap, no DOCTYPE/ENTITY (no entity expansion), a depth
 * cap, a well-formedness check, then namespace resolution into a small element tree.
 * Output is built as strings with `escapeXml`; dead property values are re-serialised with explicit
 * namespace declarations on every element, so they stay well-formed wherever they are embedded.
 */
import { XMLParser, XMLValidator } from 'fast-xml-parser';
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

/** Deepest element nesting a request body may have (PROPPATCH values included). */
export const MAX_XML_DEPTH = 64;

const parser = new XMLParser({
  preserveOrder: true,
  ignoreAttributes: false,
  attributeNamePrefix: '',
  trimValues: false,
  parseTagValue: false,
  parseAttributeValue: false,
  // Entities are decoded by us (only the five predefined ones and character references).
  processEntities: false,
  htmlEntities: false,
  ignoreDeclaration: true,
  ignorePiTags: true,
});

/** Parse a request body; null when it is empty. EINVAL (→ 400) for anything unsafe or malformed. */
export function parseXml(body: Buffer): XmlElement | null {
  const text = body.toString('utf8');
  if (text.trim() === '') return null;
  if (/<!DOCTYPE|<!ENTITY/i.test(text)) throw bad('DOCTYPE and ENTITY declarations are not accepted');
  checkDepth(text);
  const valid = XMLValidator.validate(text);
  if (valid !== true) throw bad(`malformed XML: ${valid.err.msg}`);
  const tree = parser.parse(text) as RawNode[];
  const rootRaw = tree.find((n) => elementKey(n) !== undefined);
  if (!rootRaw) throw bad('no root element');
  return resolve(rootRaw, new Map([['xml', XML_NS]]), '');
}

/** A cheap pre-scan so a deeply nested body is refused before the parser builds anything. */
function checkDepth(text: string): void {
  let depth = 0;
  const tag = /<(\/?)([^\s>!?/]*)[^>]*?(\/?)>/g;
  const skip = /<!--[\s\S]*?-->|<!\[CDATA\[[\s\S]*?\]\]>|<\?[\s\S]*?\?>/g;
  const stripped = text.replace(skip, '');
  for (let m = tag.exec(stripped); m; m = tag.exec(stripped)) {
    if (m[1]) depth--;
    else if (!m[3]) {
      depth++;
      if (depth > MAX_XML_DEPTH) throw bad(`XML nested deeper than ${MAX_XML_DEPTH} levels`);
    }
  }
}

type RawNode = Record<string, unknown> & { ':@'?: Record<string, string> };

function elementKey(node: RawNode): string | undefined {
  for (const k of Object.keys(node)) if (k !== ':@' && k !== '#text') return k;
  return undefined;
}

function resolve(node: RawNode, scope: Map<string, string>, defaultNs: string): XmlElement {
  const qname = elementKey(node)!;
  const rawAttrs = node[':@'] ?? {};
  let local = scope;
  let ns = defaultNs;
  for (const [k, v] of Object.entries(rawAttrs)) {
    const value = decodeEntities(v);
    if (k === 'xmlns') ns = value;
    else if (k.startsWith('xmlns:')) {
      // XML Namespaces 1.0: a prefix may not be bound to the empty string (litmus propfind_invalid2).
      if (value === '') throw bad(`namespace prefix "${k.slice(6)}" bound to an empty URI`);
      if (local === scope) local = new Map(scope);
      local.set(k.slice(6), value);
    }
  }
  const [prefix, name] = splitQName(qname);
  const elNs = prefix === undefined ? ns : lookup(local, prefix);
  const attrs: XmlAttribute[] = [];
  for (const [k, v] of Object.entries(rawAttrs)) {
    if (k === 'xmlns' || k.startsWith('xmlns:')) continue;
    const [p, n] = splitQName(k);
    attrs.push({ ns: p === undefined ? '' : lookup(local, p), name: n, value: decodeEntities(v) });
  }
  const children: XmlNode[] = [];
  for (const child of (node[qname] as RawNode[] | undefined) ?? []) {
    if ('#text' in child) children.push(decodeEntities(String(child['#text'])));
    else if (elementKey(child) !== undefined) children.push(resolve(child, local, ns));
  }
  return { ns: elNs, name, attrs, children };
}

function splitQName(q: string): [string | undefined, string] {
  const i = q.indexOf(':');
  return i < 0 ? [undefined, q] : [q.slice(0, i), q.slice(i + 1)];
}

function lookup(scope: Map<string, string>, prefix: string): string {
  const ns = scope.get(prefix);
  if (ns === undefined) throw bad(`undeclared namespace prefix "${prefix}"`);
  return ns;
}

const NAMED: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

/** Decode the predefined entities and character references in one pass. */
function decodeEntities(s: string): string {
  if (!s.includes('&')) return s;
  return s.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|[a-zA-Z]+);/g, (whole, ref: string) => {
    if (ref[0] === '#') {
      const code = ref[1] === 'x' || ref[1] === 'X' ? parseInt(ref.slice(2), 16) : parseInt(ref.slice(1), 10);
      if (!Number.isFinite(code) || code > 0x10ffff || code === 0) throw bad(`bad character reference ${whole}`);
      return String.fromCodePoint(code);
    }
    const named = NAMED[ref];
    if (named === undefined) throw bad(`unknown entity ${whole}`);
    return named;
  });
}

function bad(message: string): VfsError {
  return new VfsError('EINVAL', message, { provider: 'webdav', operation: 'parse XML body' });
}

/** Escape text for element content and attribute values. */
export function escapeXml(s: string): string {
  return s.replace(/[<>&"'\u0000-\u0008\u000b\u000c\u000e-\u001f]/g, (c) => {
    switch (c) {
      case '<': return '&lt;';
      case '>': return '&gt;';
      case '&': return '&amp;';
      case '"': return '&quot;';
      case "'": return '&apos;';
      default: return ''; // control characters are not allowed in XML 1.0 at all
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

/** Serialise nodes with a default-namespace declaration on every element (always well-formed). */
export function serializeNodes(nodes: XmlNode[]): string {
  return nodes.map(serializeNode).join('');
}

function serializeNode(node: XmlNode): string {
  if (typeof node === 'string') return escapeXml(node);
  return serializeElement(node, serializeNodes(node.children));
}

/** `<name xmlns="ns" …attrs>inner</name>` with `inner` already serialised. */
export function serializeElement(el: Pick<XmlElement, 'ns' | 'name' | 'attrs'>, inner: string): string {
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
  const open = `${el.name} xmlns="${escapeXml(el.ns)}"${attrs}`;
  return inner === '' ? `<${open}/>` : `<${open}>${inner}</${el.name}>`;
}
