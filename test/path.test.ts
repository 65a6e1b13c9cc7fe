import { describe, expect, it } from 'vitest';
import { normalizePath, parentPath, baseName, isSameOrInside, validateName } from '../src/path.js';
import { VfsError } from '../src/errors.js';

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    return e instanceof VfsError ? e.code : 'not a VfsError';
  }
  return undefined;
}

describe('normalizePath', () => {
  it.each([
    ['/', '/'], ['/a', '/a'], ['/a/', '/a'], ['//a//b//', '/a/b'], ['/a/./b', '/a/b'], ['/a/b/../c', '/a/c'],
    ['/a/..', '/'], ['/with space/ü 🚀#%?+"\'', '/with space/ü 🚀#%?+"\''],
  ])('%j → %j', (input, expected) => {
    expect(normalizePath(input)).toBe(expected);
  });

  it.each([
    ['', 'EINVAL'], ['relative', 'EINVAL'], ['./x', 'EINVAL'], ['/a\0b', 'EINVAL'], ['/..', 'EINVAL'], ['/a/../../b', 'EINVAL'],
    ['/' + 'x'.repeat(256), 'ENAMETOOLONG'], ['/' + 'é'.repeat(128), 'ENAMETOOLONG'], ['/' + 'a/'.repeat(2100), 'ENAMETOOLONG'],
  ])('%j → %s', (input, code) => {
    expect(codeOf(() => normalizePath(input))).toBe(code);
  });

  it('a 255-byte name is fine', () => {
    expect(normalizePath('/' + 'x'.repeat(255))).toHaveLength(256);
  });

  it('rejects non-strings', () => {
    expect(codeOf(() => normalizePath(undefined))).toBe('EINVAL');
    expect(codeOf(() => normalizePath(42))).toBe('EINVAL');
  });
});

describe('path helpers', () => {
  it('parentPath and baseName', () => {
    expect(parentPath('/a/b/c')).toBe('/a/b');
    expect(parentPath('/a')).toBe('/');
    expect(parentPath('/')).toBe('/');
    expect(baseName('/a/b.txt')).toBe('b.txt');
    expect(baseName('/')).toBe('');
  });

  it('isSameOrInside does not confuse prefixes', () => {
    expect(isSameOrInside('/a', '/a/b')).toBe(true);
    expect(isSameOrInside('/a', '/a')).toBe(true);
    expect(isSameOrInside('/a', '/ab')).toBe(false);
    expect(isSameOrInside('/', '/x')).toBe(true);
  });

  it('validateName refuses separators and dot names', () => {
    for (const bad of ['', '.', '..', 'a/b', 'a\0b']) expect(codeOf(() => validateName(bad))).toBe('EINVAL');
    expect(validateName('ok name.txt')).toBe('ok name.txt');
  });
});
