/**
 * The Scheduler: every provider request goes through one of these (one per provider account). It runs
 * attempts it is given and classifies their failures; it knows nothing of HTTP (src/http/ turns
 * statuses and Retry-After into the VfsErrors it classifies, as rclone's lib/pacer is given errors).
 * A p-queue caps concurrency and requests per interval; on top of it the Scheduler retries transient
 * failures with exponential backoff and full jitter, honours Retry-After, pauses the WHOLE queue on a
 * 429/503 that is about the rate (it names its wait, or such answers come denser than random ones),
 * and paces requests at an adaptive rate (see scheduler/pacer.ts) so a rate limit it was never told
 * about is found from the 429s and then respected. Random 429/503s (a flaky proxy) are retried one
 * by one with backoff and leave the pace alone.
 */
import { EventEmitter } from 'node:events';
import PQueue from 'p-queue';
import { VfsError, toVfsError } from '../errors.js';
import type { ErrnoCode } from '../errors.js';
import { silentLogger } from '../log.js';
import type { Logger } from '../log.js';
import { fullJitterDelay } from './backoff.js';
import { classifyFailure, mayRetry } from './classify.js';
import type { FailureKind } from './classify.js';
import type { SchedulerCoordinator, SlotAnswer } from './coordinator.js';
import { Pacer } from './pacer.js';
import { abortableSleep } from './sleep.js';

export type { FailureKind } from './classify.js';
export type { SchedulerCoordinator } from './coordinator.js';
export { isNetworkError } from './classify.js';

/** Options of a Scheduler. Every field has a default that suits a typical cloud API. */
export interface SchedulerOptions {
  /** Provider/account name used in errors and logs (default 'http'). */
  name?: string;
  /** Most requests in flight at once (default 8). Can be changed later with `setConcurrency`. */
  concurrency?: number;
  /** Most requests started per `interval` (default: no fixed cap; the adaptive pacer still applies). */
  intervalCap?: number;
  /** Length of the `intervalCap` window in ms (default 1000). */
  interval?: number;
  /** Attempts per call, first one included (default 5). */
  maxAttempts?: number;
  /** Backoff base: attempt n waits a random time in [0, min(maxDelayMs, baseDelayMs·2^(n-1))] (default 250). */
  baseDelayMs?: number;
  /** Backoff cap in ms (default 20 000). */
  maxDelayMs?: number;
  /** A Retry-After longer than this is not waited for: the call fails at once with EAGAIN (default 120 000). */
  maxRetryAfterMs?: number;
  /** Per-attempt timeout in ms; 0 disables (default 60 000). For an HTTP attempt it runs until the headers arrive. */
  timeoutMs?: number;
  /** Learn the server's rate limit from 429s and pace below it (default true). */
  adaptive?: boolean;
  /** Logger (default silent). Lines never hold secrets: URLs go through safeUrl, text through redact. */
  logger?: Logger;
  /** Random source in [0,1) for backoff jitter (tests pass a seeded one). */
  random?: () => number;
  /**
   * A budget shared with other instances serving the same account (rate, concurrency, pauses), e.g.
   * RedisBudget. Without it this process's pacer and queue are the whole budget.
   */
  coordinator?: SchedulerCoordinator;
}

/** Per-call options of `run`. */
export interface RunOptions<T = unknown> {
  /** Aborting removes the call from the queue, or cancels its running attempt, at once (ECANCELED). */
  signal?: AbortSignal | undefined;
  /**
   * May the attempt be repeated after a failure that might have reached the server (reset, 5xx,
   * timeout)? Default true for `run`. When false only "the server refused it" (429/503, EAGAIN) and
   * "never connected" (ECONNREFUSED, DNS) failures are retried.
   */
  idempotent?: boolean | undefined;
  /** What this call is, for logs, events and errors (e.g. 'GET /api/v4/file'). */
  label?: string | undefined;
  /** Per-attempt timeout in ms for this call (0 disables); default the scheduler's `timeoutMs`. */
  timeoutMs?: number | undefined;
  /**
   * Asked after a failure: can the attempt be made again at all (false once a one-shot input, such
   * as a request body stream, has started to go out)? Default: always.
   */
  repeatable?: (() => boolean) | undefined;
  /**
   * After success: an object (a response body still to be read) for as long as which the caller's
   * signal must keep aborting the attempt's signal. Default: the link ends with the attempt.
   */
  keepLinked?: ((value: T) => object | undefined) | undefined;
}

/** Counters for `--stats` and benchmarks. */
export interface SchedulerStats {
  /** Requests (attempts) started. */
  requests: number;
  /** Attempts after the first one of a call. */
  retries: number;
  /** Attempts answered 429/503 (or EAGAIN from the adapter), whether judged a rate signal or random. */
  throttled: number;
  /**
   * Calls that failed: retries ran out, a one-shot body could not be resent, or an unexpected error.
   * Not included: definite answers passed through (`rejected`) and caller aborts (`cancelled`).
   */
  failures: number;
  /** Milliseconds spent waiting for backoff, pauses and pacing, summed over calls. */
  waitMs: number;
  /** Attempts running now. */
  inFlight: number;
  /** Calls waiting for a slot or for their retry delay. */
  queued: number;
  /** Calls finished: succeeded + failures + rejected + cancelled. */
  calls: number;
  /** Calls that succeeded. */
  succeeded: number;
  /** Calls that ended with a non-retryable VfsError from the attempt (ENOENT, EEXIST, EACCES…), passed through. */
  rejected: number;
  /** Calls aborted by their caller. */
  cancelled: number;
  /** Current paced rate in requests/s (null = not paced). */
  rate: number | null;
  /** True while a 429/503 holds the whole queue. */
  paused: boolean;
}

/** Event payloads. `request`: an attempt starts; `response`: it ended; the others as named. */
export interface SchedulerEvents {
  request: [{ label: string; attempt: number }];
  response: [{ label: string; attempt: number; ok: boolean; status?: number; ms: number }];
  retry: [{ label: string; attempt: number; delayMs: number; reason: string; status?: number }];
  /** A 429/503 judged a rate signal (it named its wait, or such answers track our rate): the queue pauses. */
  throttle: [{ label: string; status?: number; delayMs: number; retryAfterMs?: number; rate: number | null }];
  pause: [{ ms: number }];
  resume: [];
  /** The paced rate changed: cut on a throttle, or grew back by 5 % or more since the last report. */
  rate: [{ rate: number; reason: 'throttle' | 'recover' }];
  /** A call failed (see `SchedulerStats.failures`; definite answers such as ENOENT do not emit it). */
  failure: [{ label: string; code: ErrnoCode; attempts: number }];
}

/** Why an attempt failed, carried from the queued task to the retry loop. */
class AttemptFailure {
  constructor(readonly kind: FailureKind, readonly error: unknown, readonly delayMs?: number) {}
}

/**
 * Runs provider requests with a concurrency cap, a rate cap, retries and a shared pause on throttling.
 * Emits the events in `SchedulerEvents`. One instance per provider account.
 */
export class Scheduler extends EventEmitter<SchedulerEvents> {
  readonly name: string;
  readonly #queue: PQueue;
  readonly #pacer: Pacer;
  readonly #log: Logger;
  readonly #random: () => number;
  readonly #maxAttempts: number;
  readonly #baseDelayMs: number;
  readonly #maxDelayMs: number;
  readonly #maxRetryAfterMs: number;
  readonly #timeoutMs: number;
  #coordinator: SchedulerCoordinator | undefined;
  #resumeTimer: NodeJS.Timeout | undefined;
  #resumeAt = 0;
  #backingOff = 0;
  #counts = { requests: 0, retries: 0, throttled: 0, failures: 0, waitMs: 0, inFlight: 0, calls: 0, succeeded: 0, rejected: 0, cancelled: 0 };

  constructor(options: SchedulerOptions = {}) {
    super();
    this.name = options.name ?? 'http';
    const interval = options.interval ?? 1000;
    const intervalCap = options.intervalCap;
    this.#queue = intervalCap !== undefined && Number.isFinite(intervalCap)
      ? new PQueue({ concurrency: options.concurrency ?? 8, intervalCap, interval, strict: true })
      : new PQueue({ concurrency: options.concurrency ?? 8 });
    const givenRate = intervalCap !== undefined && Number.isFinite(intervalCap) && interval > 0 ? (intervalCap * 1000) / interval : Infinity;
    // p-queue's window counts task starts; the pacer enforces the same cap at the moment of sending,
    // which is what the server sees (a task may wait for its pace slot after it started).
    const cap = Number.isFinite(givenRate) ? { count: intervalCap!, intervalMs: interval } : undefined;
    this.#pacer = new Pacer({ initialRate: givenRate, maxRate: givenRate, adaptive: options.adaptive ?? true, cap });
    // Growth nudges the rate on every accepted request while probing: report steps of 5 % or more.
    let reported = Infinity;
    this.#pacer.onRateChange = (rate, reason) => {
      if (reason === 'recover' && Number.isFinite(reported) && Math.abs(rate / reported - 1) < 0.05) return;
      reported = rate;
      if (reason === 'recover') this.#coordinator?.rateChanged(rate);
      this.emit('rate', { rate, reason });
    };
    this.#log = (options.logger ?? silentLogger).child({ scheduler: this.name });
    this.#random = options.random ?? Math.random;
    this.#maxAttempts = Math.max(1, options.maxAttempts ?? 5);
    this.#baseDelayMs = options.baseDelayMs ?? 250;
    this.#maxDelayMs = options.maxDelayMs ?? 20_000;
    this.#maxRetryAfterMs = options.maxRetryAfterMs ?? 120_000;
    this.#timeoutMs = options.timeoutMs ?? 60_000;
    this.#coordinator = options.coordinator;
  }

  /** Counters so far (a fresh object each call). */
  stats(): SchedulerStats {
    const rate = this.#pacer.rate;
    return {
      ...this.#counts,
      queued: this.#queue.size + this.#backingOff,
      rate: Number.isFinite(rate) ? rate : null,
      paused: this.#queue.isPaused,
    };
  }

  /** Share this account's budget with other instances from now on (undefined: this process alone). */
  setCoordinator(coordinator: SchedulerCoordinator | undefined): void {
    this.#coordinator = coordinator;
    // Alone again: the pacer learns and spaces by itself (from the account's pace last adopted).
    if (!coordinator) this.#pacer.adopt(undefined);
  }

  /** Change the concurrency cap at runtime. */
  setConcurrency(concurrency: number): void {
    this.#queue.concurrency = Math.max(1, concurrency);
  }

  /** Resolves when nothing is queued or running. */
  onIdle(): Promise<void> {
    return this.#queue.onIdle();
  }

  /**
   * Run `attempt` in the queue, retrying it while it fails with a retryable error (a VfsError with
   * `retryable: true`, optionally `retryAfterMs`, or a network error). Non-retryable errors fail at once.
   */
  async run<T>(attempt: (attemptNo: number, signal: AbortSignal) => Promise<T>, options: RunOptions<T> = {}): Promise<T> {
    const { repeatable, keepLinked } = options;
    const label = options.label ?? 'request';
    const idempotent = options.idempotent ?? true;
    const signal = options.signal;
    const timeoutMs = options.timeoutMs ?? this.#timeoutMs;
    for (let n = 1; ; n++) {
      try {
        if (signal?.aborted) throw signal.reason;
        this.#resumeTimer?.ref();
        const value = await this.#queue.add(() => this.#attempt(attempt, n, label, signal, timeoutMs, keepLinked), { signal, priority: n > 1 ? 1 : 0 });
        this.#counts.calls++;
        this.#counts.succeeded++;
        return value as T;
      } catch (e) {
        if (signal?.aborted) throw this.#cancelled(label, e);
        const failure = e instanceof AttemptFailure ? e : new AttemptFailure(classifyFailure(e), e);
        const { kind, error } = failure;
        const retryAfterMs = error instanceof VfsError ? error.retryAfterMs : undefined;
        const resendable = repeatable?.() ?? true;
        const retry = mayRetry(kind, idempotent) && resendable && n < this.#maxAttempts;
        if (!retry || (retryAfterMs !== undefined && retryAfterMs > this.#maxRetryAfterMs)) {
          throw this.#giveUp(kind, error, label, n, mayRetry(kind, idempotent) && resendable);
        }
        const delayMs = failure.delayMs ?? this.#delayFor(n, retryAfterMs);
        const status = error instanceof VfsError ? error.details.status : undefined;
        const reason = describe(kind, error, timeoutMs);
        this.#counts.retries++;
        this.#log.info(`retrying ${label} (attempt ${n + 1}/${this.#maxAttempts}) in ${delayMs} ms: ${reason}`);
        this.emit('retry', { label, attempt: n + 1, delayMs, reason, ...(status !== undefined ? { status } : {}) });
        this.#backingOff++;
        const began = performance.now();
        try {
          await abortableSleep(delayMs, signal);
        } catch (abortReason) {
          throw this.#cancelled(label, abortReason);
        } finally {
          this.#backingOff--;
          this.#counts.waitMs += performance.now() - began;
        }
      }
    }
  }

  /** One attempt, inside a queue slot: wait for the pacer, then run with a timeout and the caller's signal. */
  async #attempt<T>(
    attempt: (n: number, signal: AbortSignal) => Promise<T>, n: number, label: string, signal: AbortSignal | undefined, timeoutMs: number,
    keepLinked: ((value: T) => object | undefined) | undefined,
  ): Promise<T> {
    this.#counts.waitMs += await this.#pacer.acquire(signal);
    const lease = this.#coordinator ? await this.#coordinator.acquire(this.#pacer.maxRate, this.#queue.concurrency, signal) : undefined;
    if (lease) {
      this.#counts.waitMs += lease.waitedMs;
      this.#pacer.adopt(lease.pace);
    }
    // How the attempt was answered, for a coordinator that learns the account's pace.
    let answer: SlotAnswer | undefined;
    const controller = new AbortController();
    let timedOut = false;
    const timer = timeoutMs > 0
      ? setTimeout(() => {
        timedOut = true;
        controller.abort(new VfsError('ETIMEDOUT', `${label} timed out after ${timeoutMs} ms`, { provider: this.name, operation: label, retryable: true }));
      }, timeoutMs)
      : undefined;
    // Not AbortSignal.any: on Node 20 it leaks an entry on a long-lived caller signal per call.
    const unlink = signal ? linkAbort(signal, controller) : undefined;
    let linkedUntil: object | undefined;
    const attemptSignal = controller.signal;
    const startedAt = performance.now();
    this.#counts.requests++;
    this.#counts.inFlight++;
    this.emit('request', { label, attempt: n });
    try {
      const value = await untilAborted(attempt(n, attemptSignal), attemptSignal);
      linkedUntil = keepLinked?.(value);
      this.#pacer.onAccepted(startedAt);
      answer = 'accepted';
      this.emit('response', { label, attempt: n, ok: true, ms: performance.now() - startedAt });
      return value;
    } catch (e) {
      if (signal?.aborted) throw e;
      const kind: FailureKind = timedOut ? 'timeout' : classifyFailure(e);
      const status = e instanceof VfsError ? e.details.status : undefined;
      let delayMs: number | undefined;
      if (kind === 'throttle') {
        this.#counts.throttled++;
        const retryAfterMs = e instanceof VfsError ? e.retryAfterMs : undefined;
        // Only a refusal that tracks our rate (or names its wait) slows everyone down; a random one
        // (a flaky proxy) is retried alone after its own backoff, and the pace stands.
        if (this.#pacer.onThrottled(startedAt, retryAfterMs !== undefined)) {
          answer = 'throttled';
          // Pause before this task frees its slot, or p-queue would start the next one first.
          delayMs = this.#delayFor(n, retryAfterMs);
          this.#throttle(label, status, Math.min(delayMs, this.#maxRetryAfterMs), retryAfterMs);
        }
      } else if (kind === 'fatal' && e instanceof VfsError) {
        // The server answered (e.g. 404 mapped by the adapter): it accepted the request rate-wise.
        this.#pacer.onAccepted(startedAt);
        answer = 'accepted';
      }
      this.emit('response', { label, attempt: n, ok: false, ms: performance.now() - startedAt, ...(status !== undefined ? { status } : {}) });
      throw new AttemptFailure(kind, timedOut ? controller.signal.reason : e, delayMs);
    } finally {
      if (timer) clearTimeout(timer);
      lease?.release(this.#pacer.adaptive ? answer : undefined);
      this.#counts.inFlight--;
      if (unlink) {
        if (linkedUntil) unlinkWhenCollected.register(linkedUntil, unlink);
        else unlink();
      }
    }
  }

  /** Wait before attempt n+1: the server's Retry-After wins over exponential backoff with full jitter. */
  #delayFor(n: number, retryAfterMs: number | undefined): number {
    return retryAfterMs ?? fullJitterDelay(n, this.#baseDelayMs, this.#maxDelayMs, this.#random);
  }

  /** A 429/503: hold the whole queue (and requests waiting for the pacer) for `delayMs`. */
  #throttle(label: string, status: number | undefined, delayMs: number, retryAfterMs: number | undefined): void {
    const rate = this.#pacer.rate;
    this.emit('throttle', { label, delayMs, rate: Number.isFinite(rate) ? rate : null, ...(status !== undefined ? { status } : {}), ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) });
    this.#log.info(`throttled on ${label}${status ? ` (HTTP ${status})` : ''}: pausing all requests for ${delayMs} ms, rate now ${Number.isFinite(rate) ? rate.toFixed(1) + '/s' : 'unpaced'}`);
    this.#coordinator?.throttled(delayMs, rate);
    if (delayMs <= 0) return;
    this.#pacer.pause(delayMs);
    const until = performance.now() + delayMs;
    if (until <= this.#resumeAt) return;
    this.#resumeAt = until;
    if (this.#resumeTimer) clearTimeout(this.#resumeTimer);
    else this.emit('pause', { ms: delayMs });
    this.#queue.pause();
    this.#resumeTimer = setTimeout(() => {
      this.#resumeTimer = undefined;
      this.#queue.start();
      this.emit('resume');
    }, delayMs);
    // A pause with nothing waiting must not keep a finished CLI alive; `run` re-refs it when a call comes.
    if (this.#queue.size === 0 && this.#backingOff === 0 && this.#counts.inFlight <= 1) this.#resumeTimer.unref();
  }

  /** The final error of a call: EAGAIN when throttled, ETIMEDOUT on timeout, EIO otherwise; fatal errors pass through. */
  #giveUp(kind: FailureKind, error: unknown, label: string, attempts: number, retryable: boolean): VfsError {
    this.#counts.calls++;
    let result: VfsError;
    if (kind === 'fatal' && error instanceof VfsError) {
      // A definite answer (ENOENT, EEXIST, …): routine for the adapter, not a failure of ours.
      this.#counts.rejected++;
      result = toVfsError(error, { provider: this.name, operation: label });
      this.#log.debug(`${label}: ${result.message}`, { code: result.code });
      return result;
    }
    this.#counts.failures++;
    if (kind === 'fatal') {
      result = toVfsError(error, { provider: this.name, operation: label });
    } else {
      const code: ErrnoCode = kind === 'throttle' ? 'EAGAIN' : kind === 'timeout' ? 'ETIMEDOUT' : 'EIO';
      const details = error instanceof VfsError ? error.details : {};
      const retryAfterMs = error instanceof VfsError ? error.retryAfterMs : undefined;
      result = new VfsError(code, `${label} failed after ${attempts} attempt${attempts === 1 ? '' : 's'}: ${describe(kind, error, this.#timeoutMs)}`, {
        ...details,
        provider: details.provider ?? this.name,
        operation: details.operation ?? label,
        retryable,
        ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
        cause: error,
      });
    }
    this.#log.warn(`giving up on ${label} after ${attempts} attempt${attempts === 1 ? '' : 's'}: ${result.message}`, { code: result.code });
    this.emit('failure', { label, code: result.code, attempts });
    return result;
  }

  #cancelled(label: string, reason: unknown): VfsError {
    this.#counts.calls++;
    this.#counts.cancelled++;
    return new VfsError('ECANCELED', `${label} aborted`, { provider: this.name, operation: label, cause: reason });
  }
}

/** Unlinks a caller's signal from an attempt once the body it governs is garbage. */
const unlinkWhenCollected = new FinalizationRegistry<() => void>((unlink) => unlink());

/** Abort `controller` when `signal` aborts; returns the function that undoes the link. */
function linkAbort(signal: AbortSignal, controller: AbortController): () => void {
  if (signal.aborted) {
    controller.abort(signal.reason);
    return () => undefined;
  }
  const onAbort = () => controller.abort(signal.reason);
  signal.addEventListener('abort', onAbort, { once: true });
  return () => signal.removeEventListener('abort', onAbort);
}

/** Settle with `promise`, or reject as soon as `signal` aborts (for attempts that ignore their signal). */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) {
    promise.catch(() => undefined);
    return Promise.reject(signal.reason);
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (v) => { signal.removeEventListener('abort', onAbort); resolve(v); },
      (e) => { signal.removeEventListener('abort', onAbort); reject(e); },
    );
  });
}

/** A short human reason for a failed attempt (for logs and the final error). Never holds a URL query. */
function describe(kind: FailureKind, error: unknown, timeoutMs: number): string {
  if (kind === 'timeout') return error instanceof VfsError ? error.reason : `timed out after ${timeoutMs} ms`;
  if (error instanceof VfsError) {
    const status = error.details.status;
    const msg = error.details.providerMessage;
    if (status !== undefined) return `HTTP ${status}${msg ? ` (${msg})` : ''}`;
    return error.reason;
  }
  const codes: string[] = [];
  let cur: unknown = error;
  for (let i = 0; cur && typeof cur === 'object' && i < 6; i++) {
    const code = (cur as { code?: unknown }).code;
    if (typeof code === 'string') codes.push(code);
    cur = (cur as { cause?: unknown }).cause;
  }
  const message = error instanceof Error ? error.message : String(error);
  return `${kind === 'not-sent' ? 'could not connect' : kind === 'network' ? 'network error' : 'error'}: ${message}${codes.length ? ` (${codes.join('/')})` : ''}`;
}

