/**
 * Fault soak (issue 11, item 1): through a FUSE mount and a WebDAV share of the same remote at once,
 * over each provider's emulator with ~10 % injected faults and tokens that expire every few seconds,
 * a seeded mix of create/overwrite/append/rename/copy/delete/read. Afterwards every file the emulator
 * stores matches what the workload believes it wrote, no fault reached the workload as an error, no
 * upload was left pending, and the serving processes' memory stayed flat.
 *
 * CI runs the short version (60 operations, files up to 3 MiB). `npm run soak` runs the long one
 * (SOAK=long: minutes, files up to 50 MiB) and prints the same figures.
 */
import { existsSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { cleanupSoaks, formatSoak, rssGrowth, runSoak } from './harness.js';
import type { SoakOptions } from './harness.js';
import type { ProviderName } from './providers.js';

const MiB = 1024 * 1024;
const long = process.env.SOAK === 'long';
const hasFuse = existsSync('/dev/fuse');
if (!hasFuse) console.warn('soak skipped: /dev/fuse is missing (the soak drives a real FUSE mount)');
const hasBuild = existsSync(new URL('../../dist/cli/index.js', import.meta.url));
if (!hasBuild) console.warn('soak skipped: dist/ is not built (run `npx tsc -p .` first; `npm test` does)');

/** Both sizes of the run; SOAK_SEED and SOAK_OPS override for reproducing a finding. */
function options(provider: ProviderName): SoakOptions {
  const seed = Number(process.env.SOAK_SEED ?? 11);
  return {
    provider,
    seed,
    fuseWorkers: 2,
    davWorkers: 2,
    opsPerWorker: Number(process.env.SOAK_OPS ?? (long ? 40 : 15)),
    maxSize: long ? 50 * MiB : 3 * MiB,
    faults: { rate: 0.1, seed, tokenTtlMs: 3000, latencyMs: 3, slowMs: 800 },
  };
}

describe.skipIf(!hasFuse || !hasBuild)(`fault soak (${long ? 'long' : 'CI'} version)`, () => {
  afterAll(cleanupSoaks);
  for (const provider of ['cloudreve', 'couchdrop'] as const) {
    it(`${provider}: FUSE + WebDAV under ~10 % faults lose nothing`, async () => {
      const o = options(provider);
      const r = await runSoak(o);
      console.log(formatSoak(long ? 'long' : 'CI', o, r));
      if (r.report.errors.length) console.log('errors surfaced:\n' + r.report.errors.map((e) => `  ${e.worker} ${e.op} ${e.path}${e.target ? ' → ' + e.target : ''}: ${e.message}`).join('\n'));
      if (r.report.errors.length) {
        const lines = (log: string) => log.split('\n').filter((l) => /warn|error|giving up/i.test(l)).slice(-30).join('\n');
        console.log(`mount log:\n${lines(r.logs.mount)}\nwebdav log:\n${lines(r.logs.webdav)}`);
      }
      if (r.mismatched.length) console.log('mismatched:\n' + r.mismatched.map((m) => `  ${m.path}: want ${m.want?.size} ${m.want?.sha256.slice(0, 12)}, got ${m.got ? `${m.got.size} ${m.got.sha256.slice(0, 12)}` : 'nothing'}`).join('\n'));

      // Faults really happened, and the workload did what it was asked.
      const injected = Object.values(r.faults).reduce((a, b) => a + b, 0);
      expect(injected).toBeGreaterThan(0);
      expect(r.report.ops).toBe(o.opsPerWorker * (o.fuseWorkers + o.davWorkers));
      // No retryable fault reached a user as an error.
      expect(r.report.errors).toEqual([]);
      // Every file matches byte for byte; nothing extra (no temp or half-written files) is left.
      expect(r.mismatched).toEqual([]);
      expect(r.unexpected).toEqual([]);
      expect(Object.keys(r.report.files).length).toBeGreaterThan(0);
      // Nothing was left behind as a pending upload.
      expect(r.pendingAfter).toMatch(/no pending uploads/);
      // The retries that hid the faults are visible in the Scheduler's figures.
      expect((r.scheduler.mount?.retries ?? 0) + (r.scheduler.webdav?.retries ?? 0)).toBeGreaterThan(0);
      // Memory is flat: after warm-up, the serving processes do not keep growing.
      const bound = (long ? 96 : 64) * MiB;
      expect(rssGrowth(r.rss.mount)).toBeLessThan(bound);
      expect(rssGrowth(r.rss.webdav)).toBeLessThan(bound);
    }, long ? 3_600_000 : 240_000);
  }
});
