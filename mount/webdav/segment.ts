/**
 * One path segment of a URL, both ways. A name is any sequence of UTF-16 code units, and some of
 * them have no UTF-8 (a lone surrogate: Windows and JavaScript allow them). Such a unit is written
 * as its WTF-8 bytes (U+D800 → %ED%A0%80), the same three-byte form UTF-8 would give it, and read
 * back the same way, so every name has exactly one href and every href reaches its name. Both
 * directions are one pass over the input, no regular expression.
 */
import { VfsError } from '../../src/errors.js';

const HEX = '0123456789ABCDEF';

/** Percent-encode a segment: everything but A–Z a–z 0–9 - _ . ~ as (WTF-)8 bytes. */
export function encodeSegment(seg: string): string {
  let out = '';
  for (let i = 0; i < seg.length; i++) {
    let c = seg.charCodeAt(i);
    if ((c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x5f || c === 0x2e || c === 0x7e) {
      out += seg[i];
      continue;
    }
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < seg.length) {
      const d = seg.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
        i++;
      }
    }
    if (c < 0x80) out += pct(c);
    else if (c < 0x800) out += pct(0xc0 | (c >> 6)) + pct(0x80 | (c & 0x3f));
    else if (c < 0x10000) out += pct(0xe0 | (c >> 12)) + pct(0x80 | ((c >> 6) & 0x3f)) + pct(0x80 | (c & 0x3f));
    else out += pct(0xf0 | (c >> 18)) + pct(0x80 | ((c >> 12) & 0x3f)) + pct(0x80 | ((c >> 6) & 0x3f)) + pct(0x80 | (c & 0x3f));
  }
  return out;
}

function pct(b: number): string {
  return '%' + HEX[b >> 4]! + HEX[b & 15]!;
}

/**
 * Decode the %XX escapes of a segment as UTF-8, accepting the WTF-8 form of a lone surrogate (not
 * of a surrogate pair, which has its own four-byte form). EINVAL for a malformed escape or byte sequence.
 */
export function decodeSegment(raw: string): string {
  let i = raw.indexOf('%');
  if (i < 0) return raw;
  let out = raw.slice(0, i);
  const bytes: number[] = [];
  while (i < raw.length) {
    if (raw.charCodeAt(i) !== 0x25) {
      const next = raw.indexOf('%', i);
      const end = next < 0 ? raw.length : next;
      out += raw.slice(i, end);
      i = end;
      continue;
    }
    bytes.length = 0;
    while (i < raw.length && raw.charCodeAt(i) === 0x25) {
      const hi = hexValue(raw.charCodeAt(i + 1));
      const lo = hexValue(raw.charCodeAt(i + 2));
      if (hi < 0 || lo < 0) throw bad();
      bytes.push((hi << 4) | lo);
      i += 3;
    }
    out += decodeWtf8(bytes);
  }
  return out;
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  return -1;
}

function decodeWtf8(b: number[]): string {
  let out = '';
  let lastHigh = false;
  for (let i = 0; i < b.length; ) {
    const b0 = b[i]!;
    let cp: number;
    let n: number;
    if (b0 < 0x80) [cp, n] = [b0, 1];
    else if (b0 >= 0xc2 && b0 <= 0xdf) [cp, n] = [b0 & 0x1f, 2];
    else if (b0 >= 0xe0 && b0 <= 0xef) [cp, n] = [b0 & 0x0f, 3];
    else if (b0 >= 0xf0 && b0 <= 0xf4) [cp, n] = [b0 & 0x07, 4];
    else throw bad();
    if (i + n > b.length) throw bad();
    for (let k = 1; k < n; k++) {
      const bk = b[i + k]!;
      if ((bk & 0xc0) !== 0x80) throw bad();
      cp = (cp << 6) | (bk & 0x3f);
    }
    // Shortest form only, and nothing above U+10FFFF.
    if ((n === 3 && cp < 0x800) || (n === 4 && (cp < 0x10000 || cp > 0x10ffff))) throw bad();
    const high = cp >= 0xd800 && cp <= 0xdbff;
    // A pair written as two three-byte surrogates would be a second href for the same name.
    if (lastHigh && cp >= 0xdc00 && cp <= 0xdfff) throw bad();
    lastHigh = high;
    out += String.fromCodePoint(cp);
    i += n;
  }
  return out;
}

function bad(): VfsError {
  return new VfsError('EINVAL', 'malformed percent-encoding in the path', { provider: 'webdav' });
}
