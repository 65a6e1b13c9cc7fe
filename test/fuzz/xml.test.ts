/**
 * Fuzzing the WebDAV XML body parser (PROPFIND, PROPPATCH and LOCK bodies all go through parseXml)
 * and the re-serialisation of dead property values: only EINVAL may come out, every input is parsed
 * in bounded time and heap, well-formed documents are accepted, and the pathological shapes that
 * made the old pre-check and namespace resolution super-linear stay fast.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isVfsError } from '../../src/errors.js';
import { MAX_PROP_VALUE_BYTES } from '../../mount/webdav/props.js';
import { MAX_XML_DEPTH, parseXml, serializeNodes } from '../../mount/webdav/xml.js';
import type { XmlElement } from '../../mount/webdav/xml.js';
import { anyUtf16, bounded, params, repeated, stringFrom } from './harness.js';

const isEinval = (e: unknown) => isVfsError(e, 'EINVAL');

/** A surely linear job of the same size and kind (JSON.parse of as many small objects), to calibrate against load. */
function reference(bytes: number): () => unknown {
  let text: string | undefined;
  return () => JSON.parse((text ??= `[${'{"a":[]},'.repeat(Math.ceil(bytes / 9))}{}]`));
}

function parse(text: string, heap: boolean | 'always' = true): XmlElement | null | undefined {
  const body = Buffer.from(text);
  return bounded('parseXml', () => parseXml(body), isEinval, body.length, heap, reference(body.length));
}

/** parse, then re-serialise every child of the root as PROPPATCH does with a property value. */
function parseAndSerialize(text: string, heap: boolean | 'always' = true): string | undefined {
  const body = Buffer.from(text);
  return bounded('parseXml+serializeNodes', () => {
    const doc = parseXml(body);
    return doc ? serializeNodes(doc.children, MAX_PROP_VALUE_BYTES) : '';
  }, isEinval, body.length, heap, reference(body.length)) ?? undefined;
}

const XML_ALPHABET = ['<', '>', '/', '?', '!', '-', '[', ']', '=', '"', "'", '&', ';', '#', 'x', ':', ' ', '\n', 'a', 'D', 'p', 'xmlns', 'xmlns:p', 'DAV:', '<!--', '-->', '<![CDATA[', ']]>', '<?xml', '?>', '&amp;', '&#0;', '&#x10FFFF;', '\uFFFE', '\uD800'];

/** A random, well-formed element tree with prefixes, default namespaces, attributes, text, CDATA and comments. */
const name = fc.constantFrom('a', 'prop', 'D:prop', 'p:x', 'q:y-z', 'é', 'b.c', '_u');
const text = fc.constantFrom('', 'hi', ' ', '&amp;&lt;&gt;', '&#x263A;', '<![CDATA[<&>]]>', '<!-- c -->', '<?pi x?>', 'ü');
const element: fc.Arbitrary<string> = fc.letrec<{ el: string }>((tie) => ({
  el: fc.oneof(
    { depthSize: 'small', maxDepth: 8, depthIdentifier: 'el' },
    fc.tuple(name, text).map(([n, t]) => `<${n}>${t}</${n}>`),
    fc.tuple(name, fc.array(tie('el'), { maxLength: 4, depthIdentifier: 'el' }), text, fc.boolean(), fc.constantFrom('', ' k="v"', " p:k='&quot;'", ' xml:lang="en"'))
      .map(([n, kids, t, redeclare, attr]) => {
        const decl = redeclare ? ' xmlns="urn:d" xmlns:p="urn:p" xmlns:q="urn:q"' : '';
        return `<${n}${decl}${attr}>${t}${kids.join('')}</${n}>`;
      }),
  ),
})).el;
const document = element.map((el) => `<?xml version="1.0" encoding="utf-8"?>\n<root xmlns:D="DAV:" xmlns:p="urn:p0" xmlns:q="urn:q0">${el}</root>`);

describe('parseXml under fuzzing', () => {
  it('any text: EINVAL or a tree, in bounded time and heap', () => {
    fc.assert(fc.property(stringFrom(XML_ALPHABET, 300), (s) => {
      parse(s);
    }), params(1000));
  });

  it('any UTF-16 text (lone surrogates, U+FFFE, controls): EINVAL or a tree', () => {
    fc.assert(fc.property(anyUtf16(200), (s) => {
      parse(s, false);
    }), params(500));
  });

  it('well-formed documents parse, and their values re-serialise within the budget', () => {
    fc.assert(fc.property(document, (doc) => {
      const root = parse(doc);
      expect(root?.name).toBe('root');
      const again = parseAndSerialize(doc);
      expect(typeof again).toBe('string');
    }), params(300));
  });

  it('mutations of well-formed documents (one character dropped or doubled): EINVAL or a tree', () => {
    fc.assert(fc.property(document, fc.nat(), fc.boolean(), (doc, at, drop) => {
      const i = at % doc.length;
      parse(drop ? doc.slice(0, i) + doc.slice(i + 1) : doc.slice(0, i + 1) + doc.slice(i));
    }), params(500));
  });
});

describe('parseXml: pathological bodies stay linear', () => {
  const KiB = 1024;
  // Each is tried at about 6 KiB and 200 KiB: both must pass the same per-input bound.
  const shapes: Array<[string, (n: number) => string]> = [
    ['"<a" then a run of "<" (the old depth pre-check)', (n) => repeated('<a', '<', n)],
    ['a run of "<a "', (n) => repeated('', '<a ', n)],
    ['a run of "<!--"', (n) => repeated('<r>', '<!--', n)],
    ['a run of "<![CDATA["', (n) => repeated('<r>', '<![CDATA[', n)],
    ['a run of "<?"', (n) => repeated('<r>', '<?', n)],
    ['nested quotes in an attribute', (n) => repeated('<a b="', '\'"', n)],
    ['an attribute run without "="', (n) => repeated('<a', ' b', n)],
    ['a run of "&"', (n) => repeated('<a>', '&', n)],
    ['a run of "&#x"', (n) => repeated('<a>', '&#x1', n)],
    ['a long entity name', (n) => repeated('<a>&', 'a', n)],
    ['deep nesting', (n) => repeated('', '<a>', n)],
    ['deep nesting, each level declaring a namespace', (n) => repeated('', '<p:a xmlns:p="urn:x">', n)],
    ['many siblings', (n) => repeated('<r>', '<a/>', n, '</r>')],
    ['a run of unclosed end tags', (n) => repeated('<r>', '</', n)],
    ['many attributes', (n) => '<r' + Array.from({ length: n / 8 }, (_, i) => ` a${i}="1"`).join('') + '/>'],
    ['a duplicated attribute many times', (n) => repeated('<r', ' a="1"', n, '/>')],
    ['DOCTYPE-like runs', (n) => repeated('', '<!DOCTYP', n)],
    ['an XML declaration with a whitespace run', (n) => repeated('<?xml version="1.0"', ' ', n, 'x?><a/>')],
    ['an XML declaration with whitespace runs around every part', (n) => '<?xml' + ' '.repeat(n / 4) + 'version="1.0"' + ' '.repeat(n / 4) + 'encoding="u"' + ' '.repeat(n / 4) + 'standalone="no"' + ' '.repeat(n / 4) + '!?><a/>'],
    ['a huge text node', (n) => repeated('<a>', 'x', n, '</a>')],
  ];
  for (const [what, make] of shapes) {
    it(what, () => {
      for (const size of [6 * KiB, 200 * KiB]) parse(make(size), 'always');
    });
  }

  it('namespace resolution is not a copy of the whole scope per element (2 000 prefixes, 10 000 declaring children)', () => {
    // 50 levels declaring 40 prefixes each, then 10 000 leaves that each declare one more and use the outermost.
    const levels = Array.from({ length: 50 }, (_, l) => `<p${l * 40}:n${Array.from({ length: 40 }, (_, i) => ` xmlns:p${l * 40 + i}="urn:${l * 40 + i}"`).join('')}>`);
    const closes = Array.from({ length: 50 }, (_, l) => `</p${(49 - l) * 40}:n>`);
    const body = `${levels.join('')}${'<p0:c xmlns:q="urn:q"/>'.repeat(10_000)}${closes.join('')}`;
    let leaf = parse(body, 'always');
    for (let l = 1; l < 50; l++) leaf = leaf?.children[0] as XmlElement;
    expect(leaf?.children.length).toBe(10_000);
    expect((leaf?.children[9_999] as XmlElement).ns).toBe('urn:0');
  });

  it(`nesting deeper than ${MAX_XML_DEPTH} is EINVAL however it is spelled`, () => {
    for (const open of ['<a>', '<a >', '<a\n>', '<p:a xmlns:p="u">', '<a b=">">']) {
      expect(() => parseXml(Buffer.from(open.repeat(MAX_XML_DEPTH + 1)))).toThrow(/deeper/);
    }
    expect(parseXml(Buffer.from('<a>'.repeat(MAX_XML_DEPTH) + '</a>'.repeat(MAX_XML_DEPTH)))?.name).toBe('a');
  });

  it('a property value whose serialisation would multiply its size stops at the budget', () => {
    // One long namespace inherited by 20 000 small children: every child re-declares it when serialised.
    const uri = 'urn:' + 'u'.repeat(30 * 1024);
    const body = `<x:p xmlns:x="${uri}">${'<x:b/>'.repeat(10_000)}</x:p>`;
    const out = parseAndSerialize(body, 'always');
    expect(out).toBeUndefined();
  });

  it('regression (shrunk counterexample on the old parser): a doubled quote in the XML declaration is EINVAL, not a plain Error', () => {
    const doc = '<?xml version=""1.0" encoding="utf-8"?>\n<root xmlns:D="DAV:" xmlns:p="urn:p0" xmlns:q="urn:q0"><a><?pi x?></a></root>';
    expect(() => parseXml(Buffer.from(doc))).toThrow(expect.objectContaining({ code: 'EINVAL' }));
  });
});
