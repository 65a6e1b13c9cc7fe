/**
 * Parsing of the gateway options and their limits: `--user name:password[:root[:ro]]`, config
 * `users`, the htpasswd size bound, the proxy user-name bound and the metrics operation-label bound.
 */
import { mkdtemp, rm, truncate, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryVfs } from '../../adapters/memory/index.js';
import { Users, serveWebdav } from '../../mount/webdav.js';
import { MAX_HTPASSWD_BYTES } from '../../mount/webdav/users.js';
import { MAX_PROXY_USER_LENGTH } from '../../mount/webdav/proxy.js';
import { configUsers, parseUserFlag } from '../../cli/gateway-options.js';
import { MAX_OPERATIONS, operationLabel } from '../../cli/metrics.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cm-gwopts-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('--user', () => {
  it('reads name:password, an optional root and an optional ro/rw flag', () => {
    expect(parseUserFlag('alice:secret')).toEqual({ name: 'alice', password: 'secret' });
    expect(parseUserFlag('alice:se:cret')).toEqual({ name: 'alice', password: 'se:cret' });
    expect(parseUserFlag('alice:secret:/Alice')).toEqual({ name: 'alice', password: 'secret', root: '/Alice' });
    expect(parseUserFlag('guest:pw:/Public:ro')).toEqual({ name: 'guest', password: 'pw', root: '/Public', readOnly: true });
    expect(parseUserFlag('bob:pw:/With Space/x:rw')).toEqual({ name: 'bob', password: 'pw', root: '/With Space/x', readOnly: false });
    expect(() => parseUserFlag(':pw')).toThrow();
    expect(() => parseUserFlag('alice::/root')).toThrow(/password/);
  });
});

describe('config users', () => {
  it('reads the users list and refuses unknown fields with the file named', async () => {
    const file = join(dir, 'config.json');
    await writeFile(file, JSON.stringify({ remotes: {}, users: [{ name: 'a', password: 'pw', root: '/A', readOnly: true, hideSystemFiles: false }] }));
    expect(await configUsers(file)).toEqual([{ name: 'a', password: 'pw', root: '/A', readOnly: true, hideSystemFiles: false }]);
    await writeFile(file, JSON.stringify({ users: [{ name: 'a', pasword: 'typo' }] }));
    await expect(configUsers(file)).rejects.toThrow(/users\[0\]: unknown field "pasword"/);
    expect(await configUsers(join(dir, 'missing.json'))).toEqual([]);
  });
});

describe('limits', () => {
  it(`refuses an htpasswd file larger than ${MAX_HTPASSWD_BYTES} bytes`, async () => {
    const file = join(dir, 'huge-htpasswd');
    await writeFile(file, '');
    await truncate(file, MAX_HTPASSWD_BYTES + 1);
    expect(() => new Users([], file)).toThrow(/larger than/);
  });

  it(`ignores a proxied user name longer than ${MAX_PROXY_USER_LENGTH} characters`, async () => {
    const vfs = await MemoryVfs.fromTree({ 'f.txt': 'x' });
    const server = await serveWebdav(vfs, { users: new Users([{ name: 'u', password: 'pw-long-enough' }]), authProxy: { header: 'Remote-User', from: ['127.0.0.1'] }, cache: false });
    try {
      const status = (name: string) =>
        new Promise<number>((resolve, reject) => {
          const req = request({ host: '127.0.0.1', port: server.port, path: '/f.txt', headers: { 'Remote-User': name } }, (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          });
          req.on('error', reject);
          req.end();
        });
      expect(await status('x'.repeat(MAX_PROXY_USER_LENGTH))).toBe(200);
      expect(await status('x'.repeat(MAX_PROXY_USER_LENGTH + 1))).toBe(401);
    } finally {
      await server.close();
    }
  });

  it(`keeps at most ${MAX_OPERATIONS} provider operation labels, with ids and names replaced`, () => {
    const known = new Set<string>();
    expect(operationLabel('GET /file/info', known)).toBe('GET /file/info');
    expect(operationLabel('POST /file/upload/{session}/{index}', known)).toBe('POST /file/upload/{session}/{index}');
    expect(operationLabel('GET /files/My Secret.txt', known)).toBe('GET /files/:id');
    expect(operationLabel('DELETE /share/AbC123', known)).toBe('DELETE /share/:id');
    for (let i = 0; i < 200; i++) operationLabel(`GET /route${'x'.repeat(i % 30)}/r${String.fromCharCode(97 + (i % 26))}${'q'.repeat(Math.floor(i / 26))}`, known);
    expect(known.size).toBeLessThanOrEqual(MAX_OPERATIONS);
    expect(operationLabel('GET /brand/new', known)).toBe('other');
  });
});
