/** The Couchdrop error table: every documented status → errno and retry decision, message kept. */
import { constants } from 'node:os';
import { describe, expect, it } from 'vitest';
import { COUCHDROP_STATUS, couchdropError, providerMessageOf } from '../../adapters/couchdrop/codes.js';

const ctx = { operation: 'POST /file/upload', path: '/a/b.txt' };

describe('Couchdrop error table', () => {
  it.each([
    [401, 'EACCES', false],
    [403, 'EACCES', false],
    [404, 'ENOENT', false],
    [422, 'EIO', false],
    [429, 'EAGAIN', true],
    [500, 'EIO', true],
    [503, 'EAGAIN', true],
  ] as const)('HTTP %i → %s (retryable: %s)', (status, code, retryable) => {
    const e = couchdropError(status, 'the service said so', ctx);
    expect(e.code).toBe(code);
    expect(e.errno).toBe(constants.errno[code]);
    expect(e.retryable).toBe(retryable);
    expect(e.details).toMatchObject({ provider: 'couchdrop', operation: 'POST /file/upload', path: '/a/b.txt', status, providerMessage: 'the service said so' });
    expect(e.message).toContain('the service said so');
  });

  it('documents every status it handles', () => {
    for (const rule of Object.values(COUCHDROP_STATUS)) expect(rule.name.length).toBeGreaterThan(5);
  });

  it('an unknown status is EIO, not retried, and keeps its number', () => {
    const e = couchdropError(418, undefined, ctx);
    expect([e.code, e.retryable]).toEqual(['EIO', false]);
    expect(e.message).toContain('418');
  });

  it('404 parent-folder-not-found says the parent is missing', () => {
    const e = couchdropError(404, 'parent-folder-not-found', ctx);
    expect(e.code).toBe('ENOENT');
    expect(e.message).toContain('parent folder does not exist');
  });

  it('a 422 whose upstream text says not-found or exists maps to ENOENT / EEXIST', () => {
    expect(couchdropError(422, 'File not found in Google Drive', ctx).code).toBe('ENOENT');
    expect(couchdropError(422, 'folder already exists', ctx).code).toBe('EEXIST');
    expect(couchdropError(422, 'upstream timeout', ctx).code).toBe('EIO');
  });

  it('reads the message from {"error"}, the 2016 {"err"}, or plain text; tokens are redacted', () => {
    expect(providerMessageOf('{"error": "you cannot write to that folder"}')).toBe('you cannot write to that folder');
    expect(providerMessageOf('{"err": "Account was invalid"}')).toBe('Account was invalid');
    expect(providerMessageOf('Bad Gateway')).toBe('Bad Gateway');
    expect(providerMessageOf('')).toBeUndefined();
    const e = couchdropError(403, 'token: abcdef123456 rejected', ctx);
    expect(e.message).not.toContain('abcdef123456');
  });
});
