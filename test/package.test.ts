/**
 * The package as another project sees it: after `npm run build`, a project that depends on this
 * directory can `import('cloudmount')` and gets the public API with working errors.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const repo = resolve(import.meta.dirname, '..');

describe('the built package', () => {
  let consumer: string;
  beforeAll(async () => {
    consumer = await mkdtemp(join(tmpdir(), 'cloudmount-consumer-'));
    await mkdir(join(consumer, 'node_modules'));
    // What `npm install ../cloudmount` does for a directory dependency: a symlink in node_modules.
    await symlink(repo, join(consumer, 'node_modules', 'cloudmount'), 'dir');
    await writeFile(join(consumer, 'package.json'), JSON.stringify({ name: 'consumer', type: 'module', dependencies: { cloudmount: `file:${repo}` } }));
  });
  afterAll(async () => {
    await rm(consumer, { recursive: true, force: true });
  });

  it('exports MemoryVfs and VfsError, and errors carry code and errno', async () => {
    const script = `
      import { MemoryVfs, VfsError } from 'cloudmount';
      import { constants } from 'node:os';
      const vfs = new MemoryVfs();
      try { await vfs.stat('/missing'); } catch (e) {
        console.log(JSON.stringify({ isVfsError: e instanceof VfsError, code: e.code, errno: e.errno, expected: constants.errno.ENOENT }));
      }`;
    await writeFile(join(consumer, 'check.mjs'), script);
    const { stdout } = await run(process.execPath, ['check.mjs'], { cwd: consumer });
    const result = JSON.parse(stdout.trim());
    expect(result).toEqual({ isVfsError: true, code: 'ENOENT', errno: result.expected, expected: result.expected });
  });

  it('ships type declarations for the public API', async () => {
    const { stdout } = await run(process.execPath, ['-e', `console.log(require.resolve('cloudmount/package.json'))`], { cwd: consumer });
    const pkg = JSON.parse(await (await import('node:fs/promises')).readFile(stdout.trim(), 'utf8'));
    expect(pkg.exports['.'].types).toBe('./dist/src/index.d.ts');
    const { stat } = await import('node:fs/promises');
    expect((await stat(join(repo, 'dist/src/index.d.ts'))).isFile()).toBe(true);
  });

  it('the cloudmount bin answers --help and --version', async () => {
    const bin = join(repo, 'dist/cli/index.js');
    const help = await run(process.execPath, [bin, '--help']);
    expect(help.stdout).toContain('Usage: cloudmount');
    const version = await run(process.execPath, [bin, '--version']);
    expect(version.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
  });
});
