/**
 * Byte ranges on the wire (RFC 9110 §14): the `Range` header a client sends us, and the
 * `Content-Range` we send or read back from a provider. Syntax here; what a frontend serves for a
 * range (one span, all of it, 416) stays with the frontend.
 */

/** One byte-range-spec as written: `first-last`, `first-` (to the end) or `-suffix` (the last bytes). */
export type RangeSpec = { first: number; last?: number } | { suffix: number };

/** Most specs of one Range header that are parsed (a longer list is not honoured). */
export const MAX_RANGE_SPECS = 256;

export interface RangeGrammar {
  /**
   * 'rfc' (default): `bytes=` required, whitespace around `-` and empty list elements allowed.
   * 'webdav-server': that library's parseRangeBlock, which the webdav-server frontend must match
   * byte for byte: the unit may be missing, and every element must be exactly `a-b`, `a-` or `-n`.
   */
  grammar?: 'rfc' | 'webdav-server';
}

/** The specs of a Range header, or undefined when it is not one we honour (bad unit or spec, too many). */
export function parseRangeSpecs(header: string, options: RangeGrammar = {}): RangeSpec[] | undefined {
  const loose = options.grammar !== 'webdav-server';
  const unit = /^\s*bytes\s*=(.*)$/is.exec(header);
  if (!unit && loose) return undefined;
  const elements = (unit ? unit[1]! : header).split(',');
  if (elements.length > MAX_RANGE_SPECS) return undefined;
  const specs: RangeSpec[] = [];
  for (const raw of elements) {
    const element = raw.trim();
    if (element === '' && loose) continue;
    const m = (loose ? /^(\d*)\s*-\s*(\d*)$/ : /^(\d*)-(\d*)$/).exec(element);
    if (!m || (m[1] === '' && m[2] === '')) return undefined;
    if (m[1] === '') specs.push({ suffix: Number(m[2]) });
    else specs.push(m[2] === '' ? { first: Number(m[1]) } : { first: Number(m[1]), last: Number(m[2]) });
  }
  return specs;
}

/** `Content-Range: bytes start-end/total` of a partial answer (`*` when the total is unknown). */
export function contentRange(start: number, end: number, total: number | '*'): string {
  return `bytes ${start}-${end}/${total}`;
}

/** `Content-Range` of a 416 answer: the size the unsatisfiable range was measured against. */
export function unsatisfiedRange(size: number): string {
  return `bytes */${size}`;
}

/** A provider's `Content-Range: bytes a-b/total` (total undefined for `*`); undefined when it is not that. */
export function parseContentRange(value: string | null | undefined): { start: number; end: number; total?: number } | undefined {
  const m = /^bytes (\d+)-(\d+)\/(\d+|\*)\s*$/.exec(value ?? '');
  if (!m) return undefined;
  return { start: Number(m[1]), end: Number(m[2]), ...(m[3] !== '*' ? { total: Number(m[3]) } : {}) };
}

/** `Range: bytes=first-last` to ask a server for bytes first..last inclusive (to the end without `last`). */
export function rangeHeader(first: number, last?: number): string {
  return `bytes=${first}-${last ?? ''}`;
}
