import { constants } from 'node:os';
import { describe, expect, it } from 'vitest';
import { VfsError, opError, toVfsError } from '../src/errors.js';
import { HTTP_STATUS_BY_CODE, httpStatusFor } from '../mount/webdav/status.js';
import { redact, registerSecret, safeUrl } from '../src/redact.js';

describe('VfsError', () => {
  it('carries code, errno from os.constants and retryable', () => {
    const e = new VfsError('ENOTEMPTY', 'directory not empty', { path: '/a', provider: 'memory', retryable: false });
    expect(e).toBeInstanceOf(Error);
    expect(e.code).toBe('ENOTEMPTY');
    expect(e.errno).toBe(constants.errno.ENOTEMPTY);
    expect(e.retryable).toBe(false);
    expect(e.details).toEqual({ path: '/a', provider: 'memory' });
  });

  it('never keeps a secret in its message, provider message or cause', () => {
    registerSecret('hunter2-super-secret');
    const e = new VfsError('EACCES', 'login failed for password hunter2-super-secret', {
      providerMessage: 'bad token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.abcdefghijk',
      cause: new Error('GET https://x.example/api/v4/file/content/1/0/a.txt?sign=abc123:999 failed'),
    });
    const all = `${e.message} ${e.details.providerMessage} ${(e.cause as Error).message}`;
    expect(all).not.toContain('hunter2-super-secret');
    expect(all).not.toContain('eyJhbGciOiJIUzI1NiJ9');
    expect(all).not.toContain('abc123');
  });

  it('toVfsError maps aborts, Node errno errors and unknown errors', () => {
    expect(toVfsError(new DOMException('x', 'AbortError')).code).toBe('ECANCELED');
    expect(toVfsError(Object.assign(new Error('reset'), { code: 'ECONNRESET' }))).toMatchObject({ code: 'ECONNRESET', retryable: true });
    expect(toVfsError(new TypeError('boom')).code).toBe('EIO');
  });
});

describe('errno → HTTP table', () => {
  it('has the statuses the design fixes', () => {
    expect(HTTP_STATUS_BY_CODE).toMatchObject({
      ENOENT: 404, EACCES: 403, EEXIST: 405, ENOTEMPTY: 409, ENOSPC: 507, EDQUOT: 507, EFBIG: 413, EBUSY: 423,
      ENOLCK: 423, EAGAIN: 503, EINVAL: 400, EIO: 502,
    });
    expect(httpStatusFor(new VfsError('ENOENT', 'x'))).toBe(404);
    expect(httpStatusFor(new Error('x'))).toBe(500);
  });
});

describe('redact', () => {
  it('removes bearer tokens, signed query strings and secret JSON fields', () => {
    const out = redact('Authorization: Bearer abc.def.ghi url=/x?download=true&sign=SIG:123 {"password":"pw1234","refresh_token":"r"}');
    expect(out).not.toMatch(/abc\.def|SIG:123|pw1234|"r"/);
    expect(out).toContain('download=true');
  });
  it('safeUrl drops the query string', () => {
    expect(safeUrl('https://h.example/a/b?sign=zzz')).toBe('https://h.example/a/b?…');
  });
});

describe('redact keeps route names', () => {
  it('"POST /session/token: message" is not mistaken for a token value', () => {
    expect(redact('POST /session/token: code 40080')).toBe('POST /session/token: code 40080');
    expect(redact('token: abcdef123')).toBe('token: [redacted]');
  });
});

describe('provider messages in errors are bounded', () => {
  it('keeps at most 300 characters of what the provider said', () => {
    const e = new VfsError('EIO', 'upload failed', { providerMessage: 'x'.repeat(100_000) });
    expect(e.details.providerMessage).toHaveLength(300);
  });
});

describe('VfsError has the shape of a Node fs error', () => {
  it('carries code, errno, syscall, path and dest as plain fields, and the message without the code', async () => {
    const e = new VfsError('ENOENT', 'no such file', { operation: 'rename', path: '/a', dest: '/b' });
    expect({ code: e.code, errno: e.errno, syscall: e.syscall, path: e.path, dest: e.dest }).toEqual({
      code: 'ENOENT', errno: constants.errno.ENOENT, syscall: 'rename', path: '/a', dest: '/b',
    });
    expect(e.reason).toBe('no such file');
    expect(e.message).toBe('no such file');
    // More context keeps the message as it was.
    expect(e.withDetails({ provider: 'memory' }).message).toBe('no such file');
    // Logs that print the error (`String(e)`) still show the code, once.
    expect(String(e)).toBe('ENOENT: no such file');
    await expect(Promise.reject(e)).rejects.toMatchObject({ code: 'ENOENT', message: 'no such file' });
  });
});

describe('the errno is said once', () => {
  it('a wrapped Node fs error keeps its reason without its own code in front', async () => {
    const { readFile } = await import('node:fs/promises');
    const e = toVfsError(await readFile('/nonexistent/cloudmount-x').catch((err: unknown) => err), { operation: 'read', path: '/x' });
    expect(e.code).toBe('ENOENT');
    expect(e.message).toMatch(/^no such file or directory/);
    expect(e.message).not.toMatch(/ENOENT/);
    expect(String(e).match(/ENOENT/g)).toHaveLength(1);
  });

  it('opError names the operation and path after the reason, as Node does, and as fields', () => {
    const e = opError('EEXIST', 'already exists', 'mkdir', '/a b');
    expect(e.message).toBe('already exists, mkdir "/a b"');
    expect({ code: e.code, syscall: e.syscall, path: e.path }).toEqual({ code: 'EEXIST', syscall: 'mkdir', path: '/a b' });
    const r = opError('ENOENT', 'no such file or directory', 'rename', '/a', { dest: '/b\nEIO: forged' });
    expect(r.message).toBe('no such file or directory, rename "/a" -> "/b\\nEIO: forged"');
    expect(r.dest).toBe('/b\nEIO: forged');
  });

  it('calledAs puts the outer call in the fields and keeps where it failed in the details', () => {
    const inner = new VfsError('ENOENT', 'gone', { operation: 'POST /file/move', path: '/inner' });
    const outer = inner.calledAs('rename', '/a', '/b');
    expect({ syscall: outer.syscall, path: outer.path, dest: outer.dest }).toEqual({ syscall: 'rename', path: '/a', dest: '/b' });
    expect(outer.details).toMatchObject({ operation: 'POST /file/move', path: '/inner', dest: '/b' });
    expect(outer.message).toBe(inner.message);
    expect(outer.calledAs('rename', '/a', '/b')).toBe(outer);
  });
});
