/** Names and URIs: full-width encoding of forbidden characters, and encodeURIComponent segments. */
import { describe, expect, it } from 'vitest';
import { decodeName, encodeName, pathToUri, uriToPath } from '../../adapters/cloudreve/index.js';
import { AWKWARD_NAMES } from '../contract/suite.js';

describe('Cloudreve names', () => {
  it('maps each forbidden character to its full-width twin and back', () => {
    expect(encodeName('a\\b:c*d?e"f<g>h|i')).toBe('a＼b：c＊d？e＂f＜g＞h｜i');
    expect(decodeName('a＼b：c＊d？e＂f＜g＞h｜i')).toBe('a\\b:c*d?e"f<g>h|i');
  });

  it('every awkward contract name round-trips and is legal for Cloudreve', () => {
    for (const name of AWKWARD_NAMES) {
      const encoded = encodeName(name);
      expect(encoded).not.toMatch(/[\\/:*?"<>|]/);
      expect(decodeName(encoded)).toBe(name);
    }
  });

  it('ENAMETOOLONG when the encoded name passes 255 bytes', () => {
    expect(() => encodeName('a'.repeat(255))).not.toThrow();
    expect(() => encodeName('?'.repeat(86))).toThrow(expect.objectContaining({ code: 'ENAMETOOLONG' }));
  });
});

describe('Cloudreve URIs', () => {
  it('builds the reference example', () => {
    expect(pathToUri('/My Docs/a+b #1 100%.txt')).toBe('cloudreve://my/My%20Docs/a%2Bb%20%231%20100%25.txt');
    expect(pathToUri('/')).toBe('cloudreve://my');
  });

  it('encodes ? and quotes as full-width before percent-encoding', () => {
    expect(pathToUri('/q?"x"')).toBe(`cloudreve://my/${encodeURIComponent('q？＂x＂')}`);
  });

  it('reads back server paths, with or without a user id and trailing slash', () => {
    expect(uriToPath('cloudreve://my/My%20Docs/a%2Bb%20%231%20100%25.txt')).toBe('/My Docs/a+b #1 100%.txt');
    expect(uriToPath('cloudreve://lpu8@my/x/')).toBe('/x');
    expect(uriToPath('cloudreve://my')).toBe('/');
    expect(uriToPath(`cloudreve://my/${encodeURIComponent('q？')}`)).toBe('/q?');
    expect(uriToPath('cloudreve://trash/x')).toBeUndefined();
  });
});
