/** The whole Cloudreve code table, walked: every documented code has an errno and a retry decision. */
import { constants } from 'node:os';
import { describe, expect, it } from 'vitest';
import { CLOUDREVE_CODES, lookupCode } from '../../adapters/cloudreve/index.js';
import { CODE } from '../../adapters/cloudreve/codes.js';
import { envelopeError } from '../../adapters/cloudreve/api-error.js';

/** Every code in the reference §5 (pkg/serializer/error.go), -1 included. */
const REFERENCE_CODES = [
  -1, 203, 401, 403, 404, 409,
  ...Array.from({ length: 89 }, (_, i) => 40001 + i), // 40001 … 40089
  50001, 50002, 50004, 50005, 50006, 50007, 50008, 50009, 50010, 50011,
];

/** Where the reference is explicit about meaning, the errno a user must see. */
const EXPECTED: Record<number, string> = {
  401: 'EACCES', 40016: 'ENOENT', 40044: 'ENOENT', 404: 'ENOENT', 40004: 'EEXIST', 40052: 'EINVAL', 40001: 'EINVAL',
  40049: 'EFBIG', 40051: 'ENOSPC', 40073: 'EBUSY', 40020: 'EACCES', 40080: 'EACCES', 40089: 'EACCES', 40088: 'EACCES',
  40019: 'ENOTSUP', 403: 'EACCES', 50001: 'EIO', 50004: 'EIO', 40074: 'EINVAL', 40011: 'ESTALE', 40077: 'ENOENT',
};

describe('Cloudreve code table', () => {
  it("names each code the adapter decides on as Cloudreve's source does", () => {
    for (const [name, code] of Object.entries(CODE)) expect(lookupCode(code).name, `${name} = ${code}`).toBe(`Code${name}`);
  });

  it('has exactly the documented codes', () => {
    expect(Object.keys(CLOUDREVE_CODES).map(Number).sort((a, b) => a - b)).toEqual([...REFERENCE_CODES].sort((a, b) => a - b));
  });

  for (const code of REFERENCE_CODES) {
    it(`${code} → a real errno, a retry decision and a name`, () => {
      const info = lookupCode(code);
      expect(info.name).toMatch(/^Code[A-Za-z0-9]+$/);
      expect((constants.errno as Record<string, number>)[info.errno]).toBeGreaterThan(0);
      expect(typeof info.retryable).toBe('boolean');
      if (EXPECTED[code]) expect(info.errno).toBe(EXPECTED[code]);
      // EIO only where the code means an I/O or server failure.
      if (info.errno === 'EIO') expect(code === -1 || code >= 50000 || [40002, 40003, 40009, 40028, 40045, 40047, 40048, 40060, 40081].includes(code)).toBe(true);
      const e = envelopeError({ code, msg: 'server says hi' }, { operation: 'GET /file', path: '/a' });
      expect(e.code).toBe(info.errno);
      expect(e.retryable).toBe(info.retryable);
      expect(e.details).toMatchObject({ provider: 'cloudreve', providerCode: code, providerMessage: 'server says hi', path: '/a' });
      expect(e.message).toContain(String(code));
    });
  }

  it('transient server failures are retryable; client errors are not', () => {
    for (const code of [50001, 50004, 50006, 50010, 409, -1]) expect(lookupCode(code).retryable).toBe(true);
    for (const code of [40004, 40016, 40052, 401, 403, 40020, 40073, 40051]) expect(lookupCode(code).retryable).toBe(false);
  });

  it('an unknown code is EIO and keeps its number in the message', () => {
    const e = envelopeError({ code: 41234, msg: '' }, { operation: 'POST /file/move' });
    expect(e.code).toBe('EIO');
    expect(e.message).toContain('41234');
    expect(e.retryable).toBe(false);
  });

  it('a 40081 batch failure is unwrapped into its per-URI code', () => {
    const e = envelopeError({
      code: 40081, msg: 'Batch operation not fully completed',
      aggregated_error: { 'cloudreve://my/x': { code: 40016, msg: 'Path not exist' } },
    }, { operation: 'DELETE /file', path: '/x' });
    expect(e.code).toBe('ENOENT');
    expect(e.details.providerCode).toBe(40016);
    const bare = envelopeError({ code: 40081, msg: 'Batch operation not fully completed' }, {});
    expect(bare.code).toBe('EIO');
  });
});
