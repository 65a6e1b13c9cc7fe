/**
 * Runs one WebDAV command sequence against a fresh share and the model side by side, comparing the
 * whole observable state (tree, sizes, content hashes, dead properties) after every step.
 */
import { CloudreveVfs, startCloudreveEmulator } from '../../adapters/cloudreve/index.js';
import type { FaultKind } from '../../adapters/cloudreve/index.js';
import { CouchdropVfs } from '../../adapters/couchdrop/index.js';
import { startCouchdropEmulator } from '../../adapters/couchdrop/emulator/index.js';
import { MemoryVfs } from '../../adapters/memory/index.js';
import { serveWebdav } from '../../mount/webdav.js';
import { seededRandom } from '../../src/seeded-random.js';
import type { Vfs } from '../../src/vfs.js';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startCli } from '../cli/run-cli.js';
import { DavClient } from './dav-client.js';
import type { DavCommand, Prediction } from './dav-rules.js';
import { predict, skippedAsKnown } from './dav-rules.js';
import { Model } from './model.js';
import { resolvePath } from './names.js';

/** A fresh share over some Vfs, with optional provider fault knobs. */
export interface DavTarget {
  url: string;
  /**
   * Kill -9 the share's process while `send` is mid-request, start it again and return its new
   * URL (only when the share runs in its own process). Locks and dead properties die with it.
   */
  killDuring?(send: () => Promise<void>): Promise<string>;
  /** Make the next `times` provider requests fail with `kind`. */
  fault?(kind: 500 | 503 | 429, times: number): void;
  /** Drop whatever injected faults are left. */
  clearFaults?(): Promise<void>;
  close(): Promise<void>;
}

export type TargetName = 'memory' | 'cloudreve' | 'couchdrop' | 'cloudreve-process';

/** Fast retries: the real backoff only makes the runs slow; a seeded jitter keeps them repeatable. */
const scheduler = () => ({ baseDelayMs: 2, maxDelayMs: 20, maxAttempts: 3, adaptive: false, random: seededRandom(7) });

export async function startTarget(name: TargetName): Promise<DavTarget> {
  let vfs: Vfs;
  let fault: DavTarget['fault'];
  let clearFaults: DavTarget['clearFaults'];
  let closeBackend: () => Promise<void>;
  if (name === 'cloudreve-process') return startProcessTarget();
  if (name === 'memory') {
    vfs = new MemoryVfs();
    closeBackend = async () => undefined;
  } else if (name === 'cloudreve') {
    const emu = await startCloudreveEmulator({});
    const cr = new CloudreveVfs({ baseUrl: emu.url, email: emu.email, password: emu.password, schedulerOptions: scheduler() });
    vfs = cr;
    const kinds: Record<number, FaultKind> = { 500: 'proxy502', 503: 'proxy503', 429: 'proxy429' };
    let armed = 0;
    fault = (kind, times) => {
      emu.injectFault(kinds[kind]!, { times });
      armed += times;
    };
    clearFaults = async () => {
      // The emulator has no "clear": spend what is left on requests nobody waits for.
      for (; armed > 0; armed--) await fetch(`${emu.url}/api/v4/site/ping`).then((r) => r.arrayBuffer()).catch(() => undefined);
    };
    closeBackend = async () => {
      await cr.close();
      await emu.close();
    };
  } else {
    const emu = await startCouchdropEmulator({});
    const cd = new CouchdropVfs({ token: emu.token, apiUrl: emu.apiUrl, fileioUrl: emu.fileioUrl, scheduler: scheduler() });
    vfs = cd;
    fault = (kind, times) => emu.setFaults([{ status: kind, every: 1, limit: times }]);
    clearFaults = async () => emu.setFaults([]);
    closeBackend = async () => {
      await cd.close();
      await emu.close();
    };
  }
  const server = await serveWebdav(vfs, { protectProcess: false });
  return {
    url: server.url,
    ...(fault ? { fault } : {}),
    ...(clearFaults ? { clearFaults } : {}),
    async close() {
      await server.close();
      await closeBackend();
    },
  };
}

/**
 * The share as a user runs it: `cloudmount serve webdav` (dist/) in its own process over the
 * Cloudreve emulator running here, so the process can be killed mid-upload and started again.
 */
async function startProcessTarget(): Promise<DavTarget> {
  const emu = await startCloudreveEmulator({});
  const spool = await mkdtemp(join(tmpdir(), 'cloudmount-model-dav-'));
  // The upload journal in a folder of this run's own, not the user's ~/.local/state (removed at close).
  const state = await mkdtemp(join(tmpdir(), 'cloudmount-model-state-'));
  const env = { CLOUDREVE_URL: emu.url, CLOUDREVE_EMAIL: emu.email, CLOUDREVE_PASSWORD: emu.password, XDG_STATE_HOME: state };
  const start = () => startCli(['serve', 'webdav', 'cloudreve:/', '--addr', '127.0.0.1:0', '--spool-dir', spool], /over WebDAV at (http\S+)/, env);
  let share = await start();
  const urlOf = (s: typeof share) => s.match[1]!.replace(/\/?$/, '/');
  return {
    url: urlOf(share),
    async killDuring(send) {
      const exited = new Promise((r) => share.child.once('exit', r));
      const sessions = emu.requests('PUT /file/upload').length;
      await send();
      // Kill once the upload session exists (the moment that matters); a PUT refused early opens none.
      for (let i = 0; i < 250 && emu.requests('PUT /file/upload').length === sessions; i++) await new Promise((r) => setTimeout(r, 20));
      share.child.kill('SIGKILL');
      await exited;
      share = await start();
      await leftoverSessionsSettled(emu);
      return urlOf(share);
    },
    async close() {
      await share.stop();
      await emu.close();
      await rm(spool, { recursive: true, force: true });
      await rm(state, { recursive: true, force: true });
    },
  };
}

/**
 * A share that cancels a dead process's upload sessions at start may do so just after it listens:
 * give it a moment (bounded) before the next request, so the check sees the settled state.
 */
export async function leftoverSessionsSettled(emu: { store: { sessions: Map<string, unknown> } }): Promise<void> {
  for (let i = 0; i < 60 && emu.store.sessions.size > 0; i++) await new Promise((r) => setTimeout(r, 50));
}

function diff(want: string[], got: string[]): string {
  const w = new Set(want);
  const g = new Set(got);
  const missing = want.filter((l) => !g.has(l)).map((l) => `  - ${l}`);
  const extra = got.filter((l) => !w.has(l)).map((l) => `  + ${l}`);
  return [...missing, ...extra].join('\n');
}

/** Apply `cmds` to a fresh target and to the model; throws at the first disagreement. */
export async function runDavSequence(name: TargetName, cmds: DavCommand[]): Promise<void> {
  const target = await startTarget(name);
  let dav = new DavClient(target.url);
  const model = new Model();
  const history: string[] = [];
  const fail = (msg: string): never => {
    throw new Error(`${name}: ${msg}\n  after: ${history.length === 0 ? '(nothing)' : '\n    ' + history.join('\n    ')}`);
  };
  try {
    let faultArmed = false;
    for (const cmd of cmds) {
      if (cmd.op === 'fault') {
        if (!target.fault) continue;
        target.fault(cmd.kind, cmd.times);
        faultArmed = true;
        history.push(`(provider answers ${cmd.kind} to the next ${cmd.times} requests)`);
        continue;
      }
      if (skippedAsKnown(model, cmd)) continue;
      let alternatives: Model[] = [model];
      if (cmd.op === 'killShare') {
        if (!target.killDuring) continue;
        const path = resolvePath(model, cmd.p);
        const sent = Math.floor(cmd.size / 2);
        const old = dav;
        const url = await target.killDuring(() => old.abortedPut(path, Buffer.alloc(cmd.size, 0x6b), sent, { keepOpen: true }));
        old.close();
        dav = new DavClient(url);
        history.push(`PUT ${JSON.stringify(path)} of ${cmd.size} bytes, share killed (-9) after ${sent} and started again`);
        // Locks and dead properties live in the share's memory (documented): they die with it.
        model.locks = [];
        model.props.clear();
      } else if (cmd.op === 'abortPut') {
        const path = resolvePath(model, cmd.p);
        const sent = Math.floor(cmd.size / 2);
        history.push(`PUT ${JSON.stringify(path)} of ${cmd.size} bytes, client killed after ${sent}`);
        await dav.abortedPut(path, Buffer.alloc(cmd.size, 0x5a), sent);
      } else {
        const pred: Prediction = predict(model, cmd, { lookalikeRefusal: name.startsWith('cloudreve') });
        const before = model.clone();
        const res = await pred.send(dav).catch((e: Error) => fail(`${pred.label}: request failed: ${e.message}`));
        history.push(`${pred.label} → ${res.status}`);
        if (process.env.MODEL_DEBUG) console.log(history[history.length - 1]);
        if (pred.errors.length === 0 && pred.ok.includes(res.status)) pred.apply!(res);
        else if (pred.errors.includes(res.status) || pred.mayRefuse?.includes(res.status)) {
          /* refused: nothing may change */
        } else if (faultArmed && res.status >= 500) {
          // The provider failed: the share may have done it or not, nothing in between.
          const after = before.clone();
          const predAfter = predict(after, cmd, { lookalikeRefusal: name.startsWith('cloudreve') });
          if (predAfter.errors.length === 0) {
            try {
              predAfter.apply!({ status: 201, headers: { 'lock-token': '<unknown-lock>' } });
              after.locks = after.locks.filter((l) => l.token !== 'unknown-lock');
            } catch {
              /* no state change to expect */
            }
          }
          alternatives = [before, after];
        } else {
          const body = res.body.length > 0 ? ` (${res.body.toString('utf8').replace(/\s+/g, ' ').slice(0, 200)})` : '';
          fail(`${pred.label}: answered ${res.status}${body}, the model expects ${pred.errors.length > 0 ? `one of ${pred.errors.join('/')} (refusal)` : pred.ok.join('/')}`);
        }
      }
      if (faultArmed) {
        await target.clearFaults?.();
        faultArmed = false;
      }
      const got = await dav.snapshot({ props: true }).catch((e: Error) => fail(`snapshot failed: ${e.message}`));
      const match = alternatives.find((m) => sameLines(m.snapshot({ props: true }), got));
      if (!match) {
        fail(`state differs from the model after the last step:\n${diff(alternatives[alternatives.length - 1]!.snapshot({ props: true }), got)}`);
      } else if (match !== model) {
        model.nodes = match.nodes;
        model.props = match.props;
        model.locks = match.locks;
      }
    }
  } finally {
    dav.close();
    await target.close();
  }
}

function sameLines(a: string[], b: string[]): boolean {
  return a.length === b.length && a.every((l, i) => l === b[i]);
}
