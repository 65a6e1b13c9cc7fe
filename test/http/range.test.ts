// Range and Content-Range syntax (src/http/range.ts), shared by the WebDAV frontends and the adapters.
import { describe, expect, it } from 'vitest';
import { MAX_RANGE_SPECS, contentRange, parseContentRange, parseRangeSpecs, rangeHeader, unsatisfiedRange } from '../../src/http/range.js';

describe('parseRangeSpecs', () => {
  it('reads the three forms of a spec', () => {
    expect(parseRangeSpecs('bytes=0-9')).toEqual([{ first: 0, last: 9 }]);
    expect(parseRangeSpecs('bytes=90-')).toEqual([{ first: 90 }]);
    expect(parseRangeSpecs('bytes=-10')).toEqual([{ suffix: 10 }]);
    expect(parseRangeSpecs(' Bytes = 0-1, 5-6')).toEqual([{ first: 0, last: 1 }, { first: 5, last: 6 }]);
  });

  it('rfc grammar: needs the unit, allows whitespace around "-" and empty elements', () => {
    expect(parseRangeSpecs('0-9')).toBeUndefined();
    expect(parseRangeSpecs('items=0-9')).toBeUndefined();
    expect(parseRangeSpecs('bytes=0 - 9,')).toEqual([{ first: 0, last: 9 }]);
    expect(parseRangeSpecs('bytes=')).toEqual([]);
    expect(parseRangeSpecs('bytes=-')).toBeUndefined();
    expect(parseRangeSpecs('bytes=x-1')).toBeUndefined();
  });

  it("webdav-server grammar: the unit is optional, elements must be exact (as that library's parseRangeBlock)", () => {
    const g = { grammar: 'webdav-server' } as const;
    expect(parseRangeSpecs('0-9', g)).toEqual([{ first: 0, last: 9 }]);
    expect(parseRangeSpecs('bytes=0 - 9', g)).toBeUndefined();
    expect(parseRangeSpecs('bytes=0-9,', g)).toBeUndefined();
  });

  it(`parses at most ${MAX_RANGE_SPECS} specs`, () => {
    expect(parseRangeSpecs('bytes=' + Array(MAX_RANGE_SPECS).fill('0-1').join(','))).toHaveLength(MAX_RANGE_SPECS);
    expect(parseRangeSpecs('bytes=' + Array(MAX_RANGE_SPECS + 1).fill('0-1').join(','))).toBeUndefined();
  });
});

describe('Content-Range', () => {
  it('builds and reads back', () => {
    expect(contentRange(10, 19, 100)).toBe('bytes 10-19/100');
    expect(unsatisfiedRange(100)).toBe('bytes */100');
    expect(rangeHeader(5)).toBe('bytes=5-');
    expect(rangeHeader(5, 9)).toBe('bytes=5-9');
    expect(parseContentRange(contentRange(10, 19, 100))).toEqual({ start: 10, end: 19, total: 100 });
    expect(parseContentRange('bytes 0-4/*')).toEqual({ start: 0, end: 4 });
  });

  it('refuses what is not a byte span', () => {
    expect(parseContentRange(null)).toBeUndefined();
    expect(parseContentRange('bytes */100')).toBeUndefined();
    expect(parseContentRange('items 0-4/5')).toBeUndefined();
    expect(parseContentRange('bytes 0-4/5junk')).toBeUndefined();
  });
});
