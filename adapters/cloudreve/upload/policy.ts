/**
 * Storage-policy rules checked before an upload sends a byte: `max_size` (EFBIG) and the policy's
 * suffix allow/deny list (EINVAL), as the server's `dbfs/validator.go` applies them. The name regular
 * expressions (`allowed_name_regexp`/`denied_name_regexp`) are Go RE2 syntax, which JavaScript's
 * backtracking RegExp does not match safely or identically: they are left to the server (40052 → EINVAL).
 */
import { opError } from '../../../src/errors.js';
import type { StoragePolicy } from '../types.js';

/** Policy types whose client flow this adapter implements (`inventory/types` PolicyType). */
export const POLICY_TYPES = ['local', 'remote', 'onedrive', 's3', 'ks3', 'oss', 'cos', 'obs', 'qiniu', 'upyun'] as const;
export type PolicyType = (typeof POLICY_TYPES)[number];

/** The flow an upload session of `policy` takes: relay means "through the master" whatever the type. */
export type UploadFlow = 'local' | 'remote' | 'onedrive' | 's3' | 'oss' | 'obs' | 'qiniu' | 'upyun';

export function flowOf(policy: Pick<StoragePolicy, 'type' | 'relay'> | undefined): UploadFlow | undefined {
  // frontend src/component/Uploader/core/index.ts dispatchUploader: relay first, then the type.
  if (!policy || policy.relay) return 'local';
  switch (policy.type) {
    case 'local': return 'local';
    case 'remote': return 'remote';
    case 'onedrive': return 'onedrive';
    case 's3': case 'ks3': case 'cos': return 's3';
    case 'oss': return 'oss';
    case 'obs': return 'obs';
    case 'qiniu': return 'qiniu';
    case 'upyun': return 'upyun';
    default: return undefined;
  }
}

/** Lower-cased extension without the dot, as `util.Ext` (Go filepath.Ext: from the last dot). */
function extOf(name: string): string {
  const dot = name.lastIndexOf('.');
  return dot < 0 ? '' : name.slice(dot + 1).toLowerCase();
}

/** Throw EFBIG / EINVAL when `policy` would refuse a file of `size` bytes named `serverName`. */
export function checkPolicy(policy: StoragePolicy | undefined, serverName: string, size: number, path: string): void {
  if (!policy) return;
  const details = { provider: 'cloudreve' };
  const max = Number(policy.max_size);
  if (Number.isFinite(max) && max > 0 && size > max) {
    throw opError('EFBIG', `${size} bytes is over the storage policy's limit of ${max} bytes per file`, 'write', path, details);
  }
  const ext = extOf(serverName);
  // util.IsInExtensionList: a name without an extension is in no list.
  const inList = (list: string[] | undefined) => ext !== '' && !!list?.includes(ext);
  if (policy.allowed_suffix && policy.allowed_suffix.length > 0 && !inList(policy.allowed_suffix)) {
    throw opError('EINVAL', `the storage policy only takes files ending in ${policy.allowed_suffix.slice(0, 20).map((s) => '.' + s).join(', ')}`, 'write', path, details);
  }
  if (policy.denied_suffix && inList(policy.denied_suffix)) {
    throw opError('EINVAL', `the storage policy refuses files ending in .${ext}`, 'write', path, details);
  }
}
