/**
 * Adaptive pacing, after rclone's lib/pacer: requests start at least `1/rate` apart; a throttle answer
 * lowers the rate to just under what the server was seen to accept, and success raises it back
 * gradually, fast while far below the last known limit and slowly near it, so that with no hint of the
 * server's limit R the rate settles just under R with few 429s.
 */
import { abortableSleep } from './sleep.js';

export interface PacerOptions {
  /** Starting rate in requests/s (Infinity: no pacing until the first throttle). */
  initialRate?: number;
  /** Hard ceiling in requests/s (from the user's intervalCap/interval). */
  maxRate?: number;
  /** Never go below this many requests/s. */
  minRate?: number;
  /** Learn from throttles and successes (false: keep `initialRate`). */
  adaptive?: boolean;
  /** Clock, for tests. */
  now?: () => number;
}

/** How far below the measured limit to settle (1 − margin of safety). */
const SETTLE = 0.92;
/** Multiplicative cut when no better estimate exists. */
const CUT = 0.5;
/** Window over which accepted requests are counted to estimate the server's rate. */
const WINDOW_MS = 1000;
/** Growth per second while well below the known limit (×2 per second). */
const FAST_GROWTH = 1.0;
/** Growth per second near the known limit (1 %/s), doubling every PROBE_DOUBLING_S without a throttle. */
const SLOW_GROWTH = 0.01;
const PROBE_DOUBLING_S = 10;

export class Pacer {
  /** Current rate in requests/s (Infinity = unpaced). */
  rate: number;
  /** Rate at which the server last throttled us (the best guess of its limit), Infinity when unknown. */
  ceiling = Infinity;
  readonly maxRate: number;
  readonly minRate: number;
  readonly adaptive: boolean;
  readonly #now: () => number;
  #nextStart = 0;
  #pausedUntil = 0;
  #lastCutAt = -Infinity;
  #lastGrowAt = 0;
  /** Last time a request had to wait for its turn (the pace was binding). */
  #lastBoundAt = -Infinity;
  /** Times of recent accepted (not throttled) responses, oldest first. */
  #accepted: number[] = [];
  /** Listeners told when the rate changes. */
  onRateChange?: (rate: number, reason: 'throttle' | 'recover') => void;

  constructor(options: PacerOptions = {}) {
    this.#now = options.now ?? (() => performance.now());
    this.maxRate = options.maxRate ?? Infinity;
    this.minRate = options.minRate ?? 0.2;
    this.adaptive = options.adaptive ?? true;
    this.rate = Math.min(options.initialRate ?? Infinity, this.maxRate);
  }

  /** Milliseconds between request starts at the current rate. */
  get spacingMs(): number {
    return Number.isFinite(this.rate) ? 1000 / this.rate : 0;
  }

  /** Time left on the current pause (ms). */
  get pausedFor(): number {
    return Math.max(0, this.#pausedUntil - this.#now());
  }

  /** Hold every request start until `ms` from now (extends, never shortens, a pause). */
  pause(ms: number): void {
    this.#pausedUntil = Math.max(this.#pausedUntil, this.#now() + ms);
  }

  /** Wait for this request's turn; resolves with the milliseconds waited. */
  async acquire(signal?: AbortSignal): Promise<number> {
    const began = this.#now();
    for (;;) {
      const now = this.#now();
      const start = Math.max(now, this.#pausedUntil, this.#nextStart);
      this.#nextStart = start + this.spacingMs;
      if (start <= now) return now - began;
      if (start > this.#pausedUntil) this.#lastBoundAt = now;
      await abortableSleep(start - now, signal);
      // A pause may have begun while we slept: look again (our reserved slot is simply skipped).
      if (this.#now() >= this.#pausedUntil) return this.#now() - began;
    }
  }

  /** A request that started at `startedAt` was accepted by the server: maybe raise the rate. */
  onAccepted(startedAt: number): void {
    const now = this.#now();
    this.#accepted.push(now);
    this.#trim(now);
    if (!this.adaptive || !Number.isFinite(this.rate) || startedAt < this.#lastCutAt) return;
    const dt = Math.min(1, (now - Math.max(this.#lastGrowAt, this.#lastCutAt)) / 1000);
    this.#lastGrowAt = now;
    // Only grow while the pace is what holds callers back; otherwise a quiet spell would inflate it.
    if (dt <= 0 || now - this.#lastBoundAt > 1000) return;
    const target = this.ceiling * SETTLE;
    let next: number;
    if (this.rate < target * 0.95) {
      next = Math.min(this.rate * (1 + FAST_GROWTH * dt), target);
    } else {
      // Near the last known limit: probe gently, a little faster the longer nothing was throttled.
      const sinceCut = (now - this.#lastCutAt) / 1000;
      next = this.rate * (1 + SLOW_GROWTH * 2 ** (sinceCut / PROBE_DOUBLING_S) * dt);
    }
    next = Math.min(next, this.maxRate);
    if (next > this.rate) {
      this.rate = next;
      this.onRateChange?.(this.rate, 'recover');
    }
  }

  /** A request that started at `startedAt` was throttled (429/503). Lowers the rate at most once per round. */
  onThrottled(startedAt: number): void {
    if (!this.adaptive) return;
    const now = this.#now();
    // Requests sent before our last cut were sent too fast already; one cut per round is enough.
    if (startedAt < this.#lastCutAt) return;
    this.#trim(now);
    this.#lastCutAt = now;
    this.#lastGrowAt = now;
    // Accepted responses in the last window ≈ what the server lets through while we overdrive it.
    const seen = this.#accepted.length / (WINDOW_MS / 1000);
    if (seen === 0 && !Number.isFinite(this.rate)) return; // nothing to go by yet: the pause must do
    const estimate = seen > 0 ? seen : this.rate * CUT;
    this.ceiling = estimate;
    const target = Number.isFinite(this.rate)
      ? Math.min(this.rate * 0.9, Math.max(this.rate * CUT, estimate * SETTLE))
      : estimate * SETTLE;
    this.rate = Math.max(this.minRate, Math.min(this.maxRate, target));
    this.onRateChange?.(this.rate, 'throttle');
  }

  #trim(now: number): void {
    const cutoff = now - WINDOW_MS;
    let drop = 0;
    while (drop < this.#accepted.length && this.#accepted[drop]! < cutoff) drop++;
    if (drop > 0) this.#accepted.splice(0, drop);
  }
}
