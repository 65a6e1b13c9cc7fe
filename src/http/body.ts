/** Request bodies across attempts: which can be sent again, and whether a one-shot body has started to go out. */

/** A body global fetch accepts. */
export type FetchBody = NonNullable<RequestInit['body']>;
/** What `httpFetch` accepts as `init.body`: a body, or a function that makes a fresh one for each attempt. */
export type HttpBody = FetchBody | null | (() => FetchBody | null | Promise<FetchBody | null>);

/** Bodies fetch can send any number of times (bytes, strings, blobs, forms). */
function isReusable(body: FetchBody): boolean {
  return (
    typeof body === 'string' ||
    body instanceof ArrayBuffer ||
    ArrayBuffer.isView(body) ||
    body instanceof URLSearchParams ||
    body instanceof Blob ||
    body instanceof FormData
  );
}

/** True for bodies fetch reads as a stream (it then needs `duplex: 'half'`). */
export function isStreamBody(body: unknown): boolean {
  return !!body && typeof body === 'object' && !isReusable(body as FetchBody);
}

/** One attempt's body plus whether any of it was read by fetch (i.e. bytes may have gone out). */
export interface AttemptBody {
  body: FetchBody | null | undefined;
  /** True once fetch pulled the first chunk of a one-shot stream. */
  started(): boolean;
}

/**
 * Hands out the body for each attempt. A function is called again per attempt; a plain one-shot
 * stream is wrapped so we know whether fetch began reading it: until then it may be offered again.
 */
export class BodySource {
  /** False for a stream passed directly: it cannot be sent twice. */
  readonly replayable: boolean;
  #consumed = false;

  constructor(private readonly source: HttpBody | undefined) {
    this.replayable = source === undefined || source === null || typeof source === 'function' || isReusable(source);
  }

  /** True when a one-shot body has (partly) gone out, so no further attempt is possible. */
  get consumed(): boolean {
    return this.#consumed;
  }

  /** The body for the next attempt. */
  async next(): Promise<AttemptBody> {
    const src = this.source;
    if (typeof src === 'function') return { body: await src(), started: () => true };
    if (src === undefined || src === null || isReusable(src)) return { body: src, started: () => false };
    let started = false;
    const self = this;
    const iterable = toAsyncIterable(src);
    // Only touch the source on the first pull: creating an iterator over a Node Readable and abandoning
    // it would destroy the stream, and an attempt that fails before sending must leave it intact.
    const wrapper: AsyncIterable<Uint8Array> = {
      async *[Symbol.asyncIterator]() {
        started = true;
        self.#consumed = true;
        for await (const chunk of iterable) yield typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      },
    };
    return { body: wrapper, started: () => started };
  }
}

function toAsyncIterable(body: FetchBody): AsyncIterable<Uint8Array | string> {
  if (Symbol.asyncIterator in (body as object)) return body as AsyncIterable<Uint8Array>;
  if (Symbol.iterator in (body as object)) {
    const sync = body as Iterable<Uint8Array>;
    return (async function* () { yield* sync; })();
  }
  // A web ReadableStream without async iteration (not the case on Node 20, kept for safety).
  const reader = (body as unknown as ReadableStream<Uint8Array>).getReader();
  return (async function* () {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      yield value;
    }
  })();
}
