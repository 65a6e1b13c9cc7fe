/**
 * `cloudmount/webdav-server` as another project imports it: after `npm run build`, a consumer gets
 * VfsFileSystem and createWebdavServer from the subpath export, next to the main entry point.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const repo = resolve(import.meta.dirname, '../..');

describe('the cloudmount/webdav-server subpath export', () => {
  let consumer: string;
  beforeAll(async () => {
    consumer = await mkdtemp(join(tmpdir(), 'cloudmount-consumer-wds-'));
    await mkdir(join(consumer, 'node_modules'));
    await symlink(repo, join(consumer, 'node_modules', 'cloudmount'), 'dir');
    await writeFile(join(consumer, 'package.json'), JSON.stringify({ name: 'consumer', type: 'module' }));
  });
  afterAll(async () => {
    await rm(consumer, { recursive: true, force: true });
  });

  it('serves a MemoryVfs through webdav-server from the subpath', async () => {
    const script = `
      import { MemoryVfs } from 'cloudmount';
      import { VfsFileSystem, createWebdavServer } from 'cloudmount/webdav-server';
      const vfs = await MemoryVfs.fromTree({ 'f.txt': 'from the subpath' });
      const server = createWebdavServer(vfs, { mountPath: '/cloud' });
      const http = await new Promise((r) => server.start(0, r));
      const res = await fetch('http://127.0.0.1:' + http.address().port + '/cloud/f.txt');
      console.log(JSON.stringify({ status: res.status, body: await res.text(), fs: typeof VfsFileSystem }));
      http.close();
      http.closeAllConnections();`;
    await writeFile(join(consumer, 'check.mjs'), script);
    const { stdout } = await run(process.execPath, ['check.mjs'], { cwd: consumer });
    expect(JSON.parse(stdout.trim())).toEqual({ status: 200, body: 'from the subpath', fs: 'function' });
  });
});
