/**
 * The one line a failed command prints: the errno once, the host and cause of a network failure,
 * command-line flag names instead of the library's option names.
 */
import { VfsError } from '../src/errors.js';

/** Library option names that leak into messages, and the flag a CLI user sets instead. */
const FLAG_FOR_OPTION: ReadonlyArray<readonly [RegExp, string]> = [
  [/\ballowNonEmpty\b/g, '--allow-non-empty'],
  [/\ballowUnauthenticatedRemote\b/g, '--allow-remote-without-auth'],
  [/\bset users or\b/g, 'add --user NAME:PASSWORD, or'],
  [/\breadOnly\b/g, '--read-only'],
  [/\bspoolDir\b/g, '--spool-dir'],
  [/\bmaxXmlBytes\b/g, 'the XML body limit'],
];

const NETWORK: Record<string, string> = {
  ECONNREFUSED: 'connection refused to',
  ENOTFOUND: 'host not found:',
  EAI_AGAIN: 'host name lookup failed for',
  ETIMEDOUT: 'connection timed out to',
  UND_ERR_CONNECT_TIMEOUT: 'connection timed out to',
  ECONNRESET: 'connection reset by',
  EHOSTUNREACH: 'host unreachable:',
  ENETUNREACH: 'network unreachable for',
  EPROTO: 'TLS/protocol error with',
  CERT_HAS_EXPIRED: 'expired TLS certificate on',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'self-signed TLS certificate on',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'untrusted TLS certificate on',
};

/** The network cause in an error's cause chain: its code and the host it names, if any. */
function networkCause(e: unknown): { code: string; host?: string } | undefined {
  let at: unknown = e;
  for (let depth = 0; at && depth < 8; depth++) {
    const err = at as { code?: unknown; message?: unknown; cause?: unknown };
    const message = typeof err.message === 'string' ? err.message : '';
    const code = typeof err.code === 'string' && err.code in NETWORK ? err.code
      : Object.keys(NETWORK).find((c) => new RegExp(`\\b${c}\\b`).test(message) && !(at instanceof VfsError));
    if (code) {
      // "connect ECONNREFUSED 127.0.0.1:5212", "getaddrinfo ENOTFOUND drive.example.com"
      const after = message.slice(message.indexOf(code) + code.length).trim().split(/\s+/)[0];
      return { code, ...(after ? { host: after } : {}) };
    }
    at = err.cause;
  }
  return undefined;
}

export interface DescribeOptions {
  /** Hosts of the remotes this command opened, by provider name, for network errors that do not say. */
  hostsOf?: (provider: string) => string[];
}

/** One line (without the "cloudmount: " prefix) for `e`. */
export function describeError(e: unknown, options: DescribeOptions = {}): string {
  // A VfsError's message leaves the errno out (it is the `code` field): said here, in front, once,
  // even when the reason was built from a Node error that already led with it.
  let message = e instanceof VfsError ? `${e.code}: ${e.message}` : e instanceof Error ? e.message : String(e);
  message = message.replace(/^([A-Z][A-Z0-9_]+): (?:\1:? )+/, '$1: ');
  const net = e instanceof VfsError ? networkCause(e) : undefined;
  if (e instanceof VfsError && net) {
    const provider = e.details.provider;
    const host = net.host ?? (provider ? options.hostsOf?.(provider).join(', ') : undefined) ?? 'the server';
    const attempts = /after (\d+) attempts?/.exec(message)?.[1];
    const what = [provider, e.details.operation].filter(Boolean).join(' ');
    message = `${e.code}: ${NETWORK[net.code]} ${host} (${net.code}${what ? `; ${what}` : ''}${attempts ? `, ${attempts} attempts` : ''})`;
  }
  else if (e instanceof VfsError && /\bfetch failed\b/.test(message) && e.details.provider) {
    // A failure before any answer that names no errno ("bad port", a TLS setup error): the host and the deepest cause.
    const hosts = options.hostsOf?.(e.details.provider) ?? [];
    message = `${e.code}: could not connect to ${hosts.join(', ') || e.details.provider} (${deepestMessage(e)}; ${e.details.provider} ${e.details.operation ?? ''})`.replace(/ \)$/, ')');
  }
  for (const [pattern, flag] of FLAG_FOR_OPTION) message = message.replace(pattern, flag);
  return message;
}

function deepestMessage(e: unknown): string {
  let at = e as { message?: unknown; cause?: unknown };
  for (let depth = 0; at.cause && typeof at.cause === 'object' && depth < 8; depth++) at = at.cause as typeof at;
  return typeof at.message === 'string' ? at.message : 'unknown cause';
}
