/** Turning a Cloudreve envelope (or a broken answer) into a VfsError, through the code table. */
import { VfsError, opError } from '../../src/errors.js';
import type { ErrnoCode, VfsErrorDetails } from '../../src/errors.js';
import { CODE, lookupCode } from './codes.js';
import type { Envelope } from './types.js';

/**
 * The error for a non-zero envelope. A 40081 batch failure is unwrapped into the first per-URI
 * failure (the adapter always sends one URI per batch call), as the web frontend does.
 */
export function envelopeError(env: Envelope, details: VfsErrorDetails): VfsError {
  let code = env.code;
  // The envelope is the server's (or a proxy's) JSON: a msg that is not a string is no message.
  let msg = textOf(env.msg);
  if (code === CODE.BatchOperationNotFullyCompleted && typeof env.aggregated_error === 'object' && env.aggregated_error !== null) {
    const first = Object.values(env.aggregated_error)[0];
    if (first && typeof first.code === 'number') {
      code = first.code;
      msg = textOf(first.msg);
    }
  }
  const info = lookupCode(code);
  const options = {
    provider: 'cloudreve',
    ...details,
    providerCode: code,
    providerMessage: msg,
    retryable: info.retryable,
  };
  if (code === CODE.LockConflict && Array.isArray(env.data)) {
    // Under a symbol key: it survives the copies errors go through (object spread keeps it) but no
    // JSON log line shows it (lock tokens are not for logs). For the caller that must clear its own lock.
    Object.assign(options, { [LOCK_CONFLICTS]: env.data.filter(isConflict) });
  }
  return opError(info.errno, `Cloudreve code ${code} (${info.name})${msg ? `: ${msg}` : ''}`, details.operation ?? 'request', details.path || undefined, options);
}

function textOf(v: unknown): string {
  return typeof v === 'string' ? v : '';
}

const LOCK_CONFLICTS = Symbol('cloudreve lock conflicts');

/** One lock a 40073 answer names: which path, its token, and what holds it ("upload", "dav", …). */
export interface LockConflict {
  path?: string;
  token?: string;
  owner?: { application?: { type?: string } };
}

/** The locks a 40073 error named (empty for other errors). */
export function lockConflicts(e: unknown): LockConflict[] {
  if (!(e instanceof VfsError)) return [];
  return ((e.details as Record<symbol, unknown>)[LOCK_CONFLICTS] as LockConflict[] | undefined) ?? [];
}

function isConflict(v: unknown): v is LockConflict {
  return typeof v === 'object' && v !== null;
}

/** The Cloudreve code behind a VfsError made by `envelopeError`, if any. */
export function cloudreveCode(e: unknown): number | undefined {
  if (!(e instanceof VfsError)) return undefined;
  const code = e.details.providerCode;
  return typeof code === 'number' ? code : undefined;
}

/** Same error with another errno for `operation` on `path` (e.g. 40004 on an upload aimed at a folder → EISDIR). */
export function recode(e: VfsError, code: ErrnoCode, reason: string, operation: string, path: string): VfsError {
  return opError(code, reason, operation, path, { ...e.details, retryable: false, cause: e });
}
