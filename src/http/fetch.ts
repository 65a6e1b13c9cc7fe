/**
 * Global fetch under a Scheduler: each attempt is one `Scheduler.run` attempt, a 429/5xx answer
 * becomes the retryable VfsError the Scheduler classifies (status.ts), and a request body is offered
 * again only when it can be (body.ts). For the JSON API; file content goes through content.ts.
 */
import type { Scheduler } from '../scheduler/index.js';
import { safeUrl } from '../redact.js';
import { BodySource, isStreamBody } from './body.js';
import type { HttpBody } from './body.js';
import { ERROR_BODY_LIMIT, RETRYABLE_STATUSES, statusError } from './status.js';

export type { HttpBody } from './body.js';

/** `httpFetch` init: global fetch's init, plus a replayable body and the Scheduler's run options. */
export type HttpInit = Omit<RequestInit, 'body' | 'signal'> & {
  /** A body, or a function returning a fresh body per attempt (the way to make a stream upload retryable). */
  body?: HttpBody;
  signal?: AbortSignal | null | undefined;
  /**
   * Default: true for GET, HEAD, OPTIONS, PUT and DELETE (idempotent by HTTP semantics); false for POST
   * and PATCH, whose callers must say `idempotent: true` when resending cannot do the work twice.
   */
  idempotent?: boolean | undefined;
  label?: string | undefined;
  timeoutMs?: number | undefined;
};

/** Methods that are idempotent by HTTP semantics. */
export const IDEMPOTENT_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE']);

/**
 * Global fetch through `scheduler`. Retries 429/500/502/503/504 and network errors and returns the
 * Response for any other status (the adapter maps 4xx). After the last attempt: VfsError EAGAIN
 * (throttled), ETIMEDOUT or EIO, with the status and the provider's message.
 */
export function httpFetch(scheduler: Scheduler, url: string | URL, init: HttpInit = {}): Promise<Response> {
  // The caller reads the body after we return: its signal must keep reaching the request meanwhile.
  return send(scheduler, url, init, async (res) => res, (res) => res.body ?? undefined);
}

/**
 * Fetch and consume the body as ONE retried unit, so a body cut short mid-read is retried too.
 * `consume` may throw a retryable VfsError (e.g. an HTTP-200 envelope saying "try later").
 */
export function httpRequest<T>(scheduler: Scheduler, url: string | URL, init: HttpInit, consume: (res: Response) => Promise<T>): Promise<T> {
  return send(scheduler, url, init, consume);
}

function send<T>(
  scheduler: Scheduler, url: string | URL, init: HttpInit, consume: (res: Response) => Promise<T>,
  keepLinked?: (value: T) => object | undefined,
): Promise<T> {
  const { body, idempotent, label, timeoutMs, signal, ...rest } = init;
  const method = (rest.method ?? 'GET').toUpperCase();
  const name = label ?? `${method} ${safeUrl(url)}`;
  const source = new BodySource(body);
  return scheduler.run(async (_n, attemptSignal) => {
    const { body: attemptBody } = await source.next();
    const requestInit: RequestInit & { duplex?: 'half' } = { ...rest, method, signal: attemptSignal };
    if (attemptBody !== undefined) requestInit.body = attemptBody;
    if (isStreamBody(attemptBody)) requestInit.duplex = 'half';
    const res = await globalThis.fetch(url, requestInit);
    if (RETRYABLE_STATUSES.has(res.status)) throw statusError(res.status, res.headers, await readErrorBody(res), name, scheduler.name);
    try {
      return await consume(res);
    } catch (e) {
      await res.body?.cancel().catch(() => undefined);
      throw e;
    }
  }, {
    signal: signal ?? undefined,
    idempotent: idempotent ?? IDEMPOTENT_METHODS.has(method),
    label: name,
    timeoutMs,
    // A stream passed directly can be offered again only if fetch never started reading it.
    repeatable: () => source.replayable || !source.consumed,
    keepLinked,
  });
}

/** At most ERROR_BODY_LIMIT bytes of an error body, as text; a body cut short still leaves the status. */
async function readErrorBody(res: Response): Promise<string> {
  if (!res.body) return '';
  let text = '';
  try {
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let bytes = 0;
    while (bytes < ERROR_BODY_LIMIT) {
      const { done, value } = await reader.read();
      if (done) break;
      bytes += value.byteLength;
      text += decoder.decode(value, { stream: true });
    }
    await reader.cancel().catch(() => undefined);
  } catch {
    // best effort: the message is optional
  }
  return text;
}
