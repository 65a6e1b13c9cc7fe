/**
 * The two providers' emulators set up for a fault soak: ~`rate` of requests get a fault (429, 503,
 * 500/502 or Cloudreve's 50001, a reset mid-body, a slow reply), access/login tokens expire every few
 * seconds, replies carry latency. Also how to read what the emulator really stores (its store, not
 * through any cloudmount code) and how many faults it injected (its request log).
 */
import { createHash } from 'node:crypto';
import { startCloudreveEmulator } from '../../adapters/cloudreve/index.js';
import type { FaultKind } from '../../adapters/cloudreve/index.js';
import { startCouchdropEmulator } from '../../adapters/couchdrop/index.js';
import type { FsNode } from '../../adapters/cloudreve/emulator/store.js';

export type ProviderName = 'cloudreve' | 'couchdrop';

export interface StoredFile {
  size: number;
  sha256: string;
}

export interface SoakProvider {
  name: ProviderName;
  /** Environment that makes the CLI's `<name>:` remote point at this emulator (username/password logins). */
  env: Record<string, string>;
  /** Faults injected so far, by kind. */
  faults(): Record<string, number>;
  /** Requests answered so far. */
  requests(): number;
  /** Stop injecting faults (for the final check and clean shutdowns). */
  calm(): void;
  /** Every file below `root` as the emulator stores it, with its sha256. */
  files(root: string): Promise<Map<string, StoredFile>>;
  /** Create a folder directly in the emulator's store. */
  mkdir(path: string): Promise<void>;
  /** Put a file directly into the emulator's store (its parent must exist). */
  seedFile(path: string, data: Buffer): Promise<void>;
  close(): Promise<void>;
}

export interface SoakFaults {
  /** Share of requests that get a fault (about 0.1). */
  rate: number;
  seed: number;
  /** Access / login token lifetime in ms (a few seconds). */
  tokenTtlMs: number;
  latencyMs: number;
  /** Delay of a "slow" fault. */
  slowMs: number;
}

const sha = (data: Buffer) => createHash('sha256').update(data).digest('hex');

/** Start `name`'s emulator with the soak's faults. */
export async function startSoakProvider(name: ProviderName, f: SoakFaults): Promise<SoakProvider> {
  return name === 'cloudreve' ? startCloudreve(f) : startCouchdrop(f);
}

async function startCloudreve(f: SoakFaults): Promise<SoakProvider> {
  const kinds: FaultKind[] = ['slow', 'reset', 'proxy429', 'proxy502', 'proxy503', 'code50001'];
  const faults = { rate: f.rate, kinds, seed: f.seed, slowMs: f.slowMs };
  // Small chunks so bigger files take several chunk uploads (each one a chance for a fault).
  const emu = await startCloudreveEmulator({ accessTtlMs: f.tokenTtlMs, latencyMs: f.latencyMs, faults, chunkSize: 4 * 1024 * 1024, maxLogEntries: 10_000_000 });
  const find = (path: string) => emu.store.find(path.split('/').filter(Boolean));
  return {
    name: 'cloudreve',
    env: { CLOUDREVE_URL: emu.url, CLOUDREVE_EMAIL: emu.email, CLOUDREVE_PASSWORD: emu.password },
    faults: () => countBy(emu.log.map((e) => e.fault)),
    requests: () => emu.log.length,
    calm: () => {
      faults.rate = 0;
    },
    async files(root) {
      const out = new Map<string, StoredFile>();
      const walk = (node: FsNode, path: string) => {
        for (const child of node.children.values()) {
          const p = `${path}/${child.name}`;
          if (child.type === 1) walk(child, p);
          else {
            const data = child.entity?.data ?? Buffer.alloc(0);
            out.set(p, { size: data.length, sha256: sha(data) });
          }
        }
      };
      const node = find(root);
      if (node) walk(node, root);
      return out;
    },
    async mkdir(path) {
      emu.store.ensureFolders(path.split('/').filter(Boolean));
    },
    async seedFile(path, data) {
      emu.store.seedFile(path.split('/').filter(Boolean), data);
    },
    close: () => emu.close(),
  };
}

async function startCouchdrop(f: SoakFaults): Promise<SoakProvider> {
  const each = f.rate / 5;
  const rules = [
    { kind: 429 as const, probability: each },
    { kind: 503 as const, probability: each },
    { kind: 500 as const, probability: each },
    { kind: 'reset' as const, probability: each },
    { kind: 'slow' as const, probability: each, delayMs: f.slowMs },
  ];
  const emu = await startCouchdropEmulator({ loginTokenTtlMs: f.tokenTtlMs, latencyMs: f.latencyMs, faults: rules, randomSeed: f.seed });
  return {
    name: 'couchdrop',
    // Username/password: the adapter logs in and must log in again whenever the short-lived token expires.
    env: { COUCHDROP_USERNAME: emu.username, COUCHDROP_PASSWORD: emu.password, COUCHDROP_FILEIO_URL: emu.fileioUrl, COUCHDROP_API_URL: emu.apiUrl },
    // The request log records status faults and resets; slow replies are not recorded, so they are not counted.
    faults: () => countBy(emu.log.map((e) => (e.fault === undefined ? undefined : String(e.fault)))),
    requests: () => emu.log.length,
    calm: () => emu.setFaults([]),
    async files(root) {
      const out = new Map<string, StoredFile>();
      const walk = async (dir: string) => {
        for (const e of await emu.store.list(dir)) {
          if (e.type === 'directory') await walk(e.path);
          else {
            const hash = createHash('sha256');
            let size = 0;
            for await (const c of await emu.store.read(e.path)) {
              hash.update(c as Buffer);
              size += (c as Buffer).length;
            }
            out.set(e.path, { size, sha256: hash.digest('hex') });
          }
        }
      };
      if (await emu.store.stat(root).then(() => true, () => false)) await walk(root);
      return out;
    },
    async mkdir(path) {
      await emu.store.mkdir(path);
    },
    async seedFile(path, data) {
      await emu.store.write(path, data);
    },
    close: () => emu.close(),
  };
}

function countBy(values: Array<string | undefined>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const v of values) if (v !== undefined) out[v] = (out[v] ?? 0) + 1;
  return out;
}
