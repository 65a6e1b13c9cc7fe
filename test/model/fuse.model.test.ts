/**
 * Model-based tests of the FUSE mount: random POSIX command sequences (write, append, truncate,
 * mkdir, unlink, rmdir, rm -r, rename onto anything — ancestors and itself included — copy,
 * utimes) made by a child process on a real kernel mount over MemoryVfs and the Cloudreve emulator,
 * checked against the plain model after every step (tree, sizes, content hashes, mtimes set by
 * utimes). Faults: provider 5xx/429, a writer killed mid-write, and an ENOSPC spool (a 1 MiB
 * tmpfs, as root). A failure prints fast-check's seed and path; replay it with
 * FUZZ_SEED=… FUZZ_PATH=… npx vitest run test/model/fuse.model.test.ts
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { CloudreveVfs, startCloudreveEmulator } from '../../adapters/cloudreve/index.js';
import type { CloudreveEmulator, FaultKind } from '../../adapters/cloudreve/index.js';
import { MemoryVfs } from '../../adapters/memory/index.js';
import { seededRandom } from '../../src/seeded-random.js';
import { fuseSkipReason, mountTemp } from '../fuse/harness.js';
import type { TestMount } from '../fuse/harness.js';
import { MAX_COMMANDS, TEST_TIMEOUT_MS, fcParams } from './config.js';
import { FsChild, runPosixSequence } from './fuse-runner.js';
import type { FuseTarget } from './fuse-runner.js';
import { posixSequenceArb } from './posix-rules.js';

const SPOOL_BYTES = 1024 * 1024;

describe.skipIf(!!fuseSkipReason)('FUSE mount against the model', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterAll(async () => {
    while (cleanups.length > 0) await cleanups.pop()!().catch((e) => console.warn('[model cleanup]', e));
  });
  let runs = 0;
  const runDir = (t: FuseTarget) => join(t.dir, `run-${++runs}`);

  describe('over MemoryVfs', () => {
    let target: FuseTarget;
    beforeAll(async () => {
      const m = await mountTemp(new MemoryVfs());
      const child = new FsChild();
      cleanups.push(() => m.close(), () => child.close());
      target = { name: 'fuse/memory', rules: { mtimes: true }, dir: m.dir, child };
    });
    it('every step matches the model (writers killed mid-write included)', async () => {
      await fc.assert(
        fc.asyncProperty(posixSequenceArb({ faults: false, kills: true }, MAX_COMMANDS), (cmds) => runPosixSequence(target, runDir(target), cmds)),
        fcParams(15),
      );
    }, TEST_TIMEOUT_MS);
  });

  describe('over the Cloudreve emulator', () => {
    let target: FuseTarget;
    beforeAll(async () => {
      const emu: CloudreveEmulator = await startCloudreveEmulator({});
      const vfs = new CloudreveVfs({
        baseUrl: emu.url, email: emu.email, password: emu.password,
        schedulerOptions: { baseDelayMs: 2, maxDelayMs: 20, maxAttempts: 3, adaptive: false, random: seededRandom(7) },
      });
      const m: TestMount = await mountTemp(vfs);
      const child = new FsChild();
      cleanups.push(async () => {
        await child.close();
        await m.close();
        await vfs.close();
        await emu.close();
      });
      const kinds: Record<number, FaultKind> = { 500: 'proxy502', 503: 'proxy503', 429: 'proxy429' };
      let armed = 0;
      target = {
        // Cloudreve keeps no mtimes of ours (preservesMtime false): utimes is not checked there.
        name: 'fuse/cloudreve', rules: { mtimes: false, lookalikeRefusal: true }, dir: m.dir, child,
        fault: (kind, times) => {
          emu.injectFault(kinds[kind]!, { times });
          armed += times;
        },
        clearFaults: async () => {
          for (; armed > 0; armed--) await fetch(`${emu.url}/api/v4/site/ping`).then((r) => r.arrayBuffer()).catch(() => undefined);
        },
      };
    });
    it('every step matches the model (provider 5xx/429 included)', async () => {
      await fc.assert(
        fc.asyncProperty(posixSequenceArb({ faults: true, kills: false }, MAX_COMMANDS), (cmds) => runPosixSequence(target, runDir(target), cmds)),
        fcParams(10),
      );
    }, TEST_TIMEOUT_MS);
  });

  // A full spool needs a real full disk: a tmpfs, which only root may mount.
  const tmpfsReason = process.getuid?.() !== 0 ? 'mounting a tmpfs spool needs root' : undefined;
  if (tmpfsReason) console.warn(`[skip] FUSE model with an ENOSPC spool: ${tmpfsReason}`);
  describe.skipIf(!!tmpfsReason)('over MemoryVfs with a 1 MiB tmpfs spool (ENOSPC)', () => {
    let target: FuseTarget;
    beforeAll(async () => {
      const spool = mkdtempSync(join(tmpdir(), 'cloudmount-model-spool-'));
      execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${SPOOL_BYTES}`, 'tmpfs', spool]);
      cleanups.push(async () => {
        execFileSync('umount', ['-l', spool]);
        rmSync(spool, { recursive: true, force: true });
      });
      // spoolMemoryBytes 0: every open file spools to disk, so the tmpfs is the only room there is.
      const m = await mountTemp(new MemoryVfs(), { spoolDir: spool, spoolMemoryBytes: 0 });
      const child = new FsChild();
      cleanups.push(() => m.close(), () => child.close());
      target = { name: 'fuse/enospc', rules: { mtimes: true }, dir: m.dir, child };
    });
    it('a write the spool cannot hold fails and leaves the old file', async () => {
      await fc.assert(
        fc.asyncProperty(posixSequenceArb({ faults: false, kills: false, spoolBytes: SPOOL_BYTES }, MAX_COMMANDS), (cmds) => runPosixSequence(target, runDir(target), cmds)),
        fcParams(8),
      );
    }, TEST_TIMEOUT_MS);
  });
});
