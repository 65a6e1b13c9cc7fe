/**
 * File content uploads over node:http(s), the counterpart of content.ts's downloads: the body goes
 * out as the Buffer it is (`req.end`) or piped from a Node stream, never through fetch's web streams,
 * and no byte is copied on the way. Each attempt is one `Scheduler.run` attempt (rate, concurrency,
 * retries, pauses); a body can be sent again because the caller hands bytes (re-sent as is) or a
 * function that opens a fresh stream per attempt. The answer (small: an envelope, an ETag, an error
 * document) is consumed inside the attempt, so a reset while reading it is retried too.
 */
import http from 'node:http';
import https from 'node:https';
import type { IncomingMessage } from 'node:http';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { VfsError } from '../errors.js';
import type { Scheduler } from '../scheduler/index.js';
import { safeUrl } from '../redact.js';
import { agents, wrap } from './content.js';
import type { ContentResponse } from './content.js';
import { IDEMPOTENT_METHODS } from './fetch.js';
import { ERROR_BODY_LIMIT, RETRYABLE_STATUSES, statusError } from './status.js';

/** An upload body: bytes (sent again as they are) or a function opening a fresh stream per attempt. */
export type ContentBody = Uint8Array | (() => Readable);

export interface ContentUploadInit {
  /** Default PUT. */
  method?: string;
  /** Headers, or a function called per attempt (a token renewed while the call waited goes on the wire). */
  headers?: Record<string, string> | (() => Record<string, string>);
  body: ContentBody;
  /** Exact byte count of the body: sent as Content-Length (presigned URLs sign it; never chunked). */
  length: number;
  signal?: AbortSignal | undefined;
  label?: string;
  /** Default: by the method (PUT yes, POST no), as for `httpFetch`. */
  idempotent?: boolean | undefined;
  /** Per-attempt timeout, body and answer included (the Scheduler's default when unset). */
  timeoutMs?: number | undefined;
  /**
   * The adapter's own error for a retryable status (429/5xx), e.g. its status table's; default the
   * generic one of status.ts. Whatever it returns, the Scheduler retries it as its code says.
   */
  statusError?: ((status: number, body: string) => VfsError) | undefined;
}

/**
 * Upload `init.body` to `url` through `scheduler` and hand the answer to `consume` (inside the same
 * attempt). A 429/5xx is retried by the Scheduler; any other status goes to `consume`.
 */
export function contentUpload<T>(scheduler: Scheduler, url: string | URL, init: ContentUploadInit, consume: (res: ContentResponse) => Promise<T>): Promise<T> {
  const method = (init.method ?? 'PUT').toUpperCase();
  const label = init.label ?? `${method} ${safeUrl(url)}`;
  return scheduler.run(async (_n, signal) => {
    const headers = { ...(typeof init.headers === 'function' ? init.headers() : init.headers), 'content-length': String(init.length) };
    const msg = await send(new URL(url), method, headers, init.body, signal);
    const res = wrap(msg);
    if (RETRYABLE_STATUSES.has(res.status)) {
      const text = await res.text(ERROR_BODY_LIMIT).catch(() => '');
      throw init.statusError?.(res.status, text) ?? statusError(res.status, res.headers, text, label, scheduler.name);
    }
    try {
      return await consume(res);
    } finally {
      res.cancel();
    }
  }, { signal: init.signal, idempotent: init.idempotent ?? IDEMPOTENT_METHODS.has(method), label, timeoutMs: init.timeoutMs });
}

/** One request with its body; resolves with the response once its headers arrived. */
function send(target: URL, method: string, headers: Record<string, string>, body: ContentBody, signal: AbortSignal): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const secure = target.protocol === 'https:';
    const req = (secure ? https : http).request(target, { method, headers, agent: secure ? agents.https : agents.http });
    let settled = false;
    const fail = (e: unknown) => {
      if (settled) return;
      settled = true;
      signal.removeEventListener('abort', onAbort);
      req.destroy();
      reject(e);
    };
    const onAbort = () => fail(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
    if (signal.aborted) {
      onAbort();
      return;
    }
    signal.addEventListener('abort', onAbort, { once: true });
    req.once('response', (msg) => {
      if (settled) {
        msg.destroy();
        return;
      }
      settled = true;
      signal.removeEventListener('abort', onAbort);
      resolve(msg);
    });
    req.once('error', fail);
    if (body instanceof Uint8Array) {
      req.end(body);
      return;
    }
    // A server may answer (413, 401…) before it has read everything: the answer wins over the
    // broken pipe that may follow, which then only ends our half of the stream.
    const source = body();
    pipeline(source, req).catch((e: unknown) => {
      source.destroy();
      fail(e);
    });
  });
}
