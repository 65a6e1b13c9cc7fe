/**
 * A mount in its own process (bench/fuse/serve.mjs over the built dist/, as the CLI will run it)
 * unmounts cleanly on SIGTERM and SIGINT: the kernel mount is gone, the process exits with the
 * conventional status, and a file written just before is on the "remote".
 * Needs `npm run build` first (CI's `npm test` does it); skipped with a reason otherwise.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { fuseSkipReason, q, sh, shOk } from './harness.js';

const root = join(import.meta.dirname, '../..');
const built = existsSync(join(root, 'dist/mount/fuse.js'));
if (!built && !fuseSkipReason) console.warn('[fuse signal tests skipped] dist/ is missing: run `npm run build` first');

const mounted = (dir: string) => readFileSync('/proc/mounts', 'utf8').split('\n').some((l) => l.split(' ')[1] === dir);

describe.skipIf(!!fuseSkipReason || !built)('FUSE mount process and signals', () => {
  const bases: string[] = [];
  afterAll(async () => {
    for (const base of bases) await sh(`fusermount -u -z ${q(base + '/mnt')} 2>/dev/null; rm -rf ${q(base)}`);
  });

  for (const [signal, status] of [['SIGTERM', 143], ['SIGINT', 130]] as const) {
    it(`unmounts cleanly on ${signal} and exits with ${status}`, async () => {
      const base = (await shOk('mktemp -d')).trim();
      bases.push(base);
      const dir = join(base, 'mnt');
      await shOk(`mkdir -p ${q(base + '/store')}`);
      const child = spawn(process.execPath, [join(root, 'bench/fuse/serve.mjs'), dir, `local:${base}/store`, join(base, 'spool')], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      await new Promise<void>((resolve, reject) => {
        child.stdout!.on('data', (d: Buffer) => d.toString().includes('ready') && resolve());
        child.once('exit', (code) => reject(new Error(`mount process exited early (${code})`)));
      });
      expect(mounted(dir)).toBe(true);
      await shOk(`printf 'saved before the signal' > ${q(dir + '/note.txt')}`);
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      child.kill(signal);
      expect(await exited).toBe(status);
      expect(mounted(dir)).toBe(false);
      // serve.mjs serves a LocalVfs rooted at `base/store`: the file landed there.
      expect(readFileSync(join(base, 'store/note.txt'), 'utf8')).toBe('saved before the signal');
    });
  }
});
