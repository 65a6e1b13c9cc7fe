/**
 * Storage policies of the emulated server: which policy a folder writes to, and the session fields
 * each type answers `PUT /file/upload` with (service/explorer/response.go UploadSessionResponse,
 * filled by each driver's `Token` in pkg/filemanager/driver/<type>/). In the open-source server the
 * policy comes from the user's group (per-folder choice is Pro); the emulator lets a seed assign one
 * per folder so every flow can be tested side by side.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { emuFail } from '../errors.js';
import type { UploadSession } from '../store.js';

export type EmulatedPolicyType = 'local' | 'remote' | 'onedrive' | 's3' | 'ks3' | 'oss' | 'cos' | 'obs' | 'qiniu' | 'upyun';

export interface EmulatedPolicy {
  /** Hash id as the API shows it. */
  id: string;
  name?: string;
  type: EmulatedPolicyType;
  /** Bytes per file (0 = unlimited). */
  max_size?: number;
  /** Bytes per part (default: the emulator's chunkSize; Upyun has none: the whole file). */
  chunk_size?: number;
  chunk_concurrency?: number;
  relay?: boolean;
  allowed_suffix?: string[];
  denied_suffix?: string[];
}

/** The policy JSON of service/explorer/response.go StoragePolicy (BuildStoragePolicy). */
export function policyJsonOf(p: EmulatedPolicy): Record<string, unknown> {
  return {
    id: p.id,
    name: p.name ?? `${p.type} policy`,
    type: p.type,
    max_size: p.max_size ?? 0,
    ...(p.relay ? { relay: true } : {}),
    ...(p.chunk_concurrency ? { chunk_concurrency: p.chunk_concurrency } : {}),
    ...(p.allowed_suffix?.length ? { allowed_suffix: p.allowed_suffix } : {}),
    ...(p.denied_suffix?.length ? { denied_suffix: p.denied_suffix } : {}),
  };
}

/** The policies and which folder uses which. */
export class PolicyTable {
  private readonly byId = new Map<string, EmulatedPolicy>();
  /** "/a/b" → policy id; a folder inherits its nearest assigned ancestor's, the root the default. */
  readonly folders = new Map<string, string>();

  constructor(readonly policies: EmulatedPolicy[], folders: Record<string, string> = {}) {
    if (policies.length === 0) throw new Error('at least one storage policy');
    for (const p of policies) this.byId.set(p.id, p);
    for (const [path, id] of Object.entries(folders)) this.assign(path, id);
  }

  get default(): EmulatedPolicy {
    return this.policies[0]!;
  }

  /** Assign `id` to the folder at `path` ("/a/b"). */
  assign(path: string, id: string): void {
    if (!this.byId.has(id)) throw new Error(`unknown storage policy ${id}`);
    this.folders.set('/' + path.split('/').filter(Boolean).join('/'), id);
  }

  /** The policy a folder's listing reports, and its uploads use. */
  forFolder(segments: string[]): EmulatedPolicy {
    for (let n = segments.length; n >= 0; n--) {
      const id = this.folders.get('/' + segments.slice(0, n).join('/'));
      if (id) return this.byId.get(id)!;
    }
    return this.default;
  }
}

/** Refuse a name the policy's suffix lists exclude (dbfs/validator.go validateExtension → 40052). */
export function checkSuffix(policy: EmulatedPolicy, name: string): void {
  const dot = name.lastIndexOf('.');
  const ext = dot < 0 ? '' : name.slice(dot + 1).toLowerCase();
  const inList = (list?: string[]) => ext !== '' && !!list?.includes(ext);
  if (policy.allowed_suffix?.length && !inList(policy.allowed_suffix)) emuFail(40052, 'Invalid object name: file extension is not allowed');
  if (policy.denied_suffix?.length && inList(policy.denied_suffix)) emuFail(40052, 'Invalid object name: file extension is not allowed');
}

/** Signs and checks the emulated storage URLs (a stand-in for SigV4 and friends). */
export class StorageSigner {
  private readonly key = randomBytes(32);

  sign(parts: string[]): string {
    return createHmac('sha256', this.key).update(parts.join('\n')).digest('hex');
  }

  /** A secret only the session knows (remote node credential, Qiniu UpToken, Upyun authorization). */
  credential(session: UploadSession, kind: string): string {
    return `${kind} ${this.sign([kind, session.id])}`;
  }
}
