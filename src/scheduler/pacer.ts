/**
 * Adaptive pacing, after rclone's lib/pacer: requests start at least `1/rate` apart; a throttle answer
 * lowers the rate to just under what the server was seen to accept, and success raises it back
 * gradually, so that with no hint of the server's limit R the rate settles just under R with few 429s.
 *
 * How the limit R is found (the server is assumed to be a token bucket, the usual shape):
 * - a throttle means the server's bucket is empty. Requests it accepted in the last second (counted
 *   by when we sent them) are then about R, a little more if its bucket was still draining; and
 *   between two throttles it accepted about R per second of the round, a little less if its bucket
 *   overflowed while we were slow. The cut goes to 95 % of the smaller figure.
 * - the first throttle also counts the server's initial burst, so it only sets the rate; until the
 *   first throttle nothing is paced (only the concurrency cap applies).
 * - after a cut the rate grows back fast (×2/s) to 95 % of the pace we were turned away at, then
 *   probes upwards by 0.02 % per accepted request (2 %/s at 100 requests/s), doubling every 400
 *   accepted requests without a throttle, so a limit that rose (or was underestimated) is found
 *   again. Per request rather than per second: a probe cycle then costs the same one or two 429s out
 *   of the same number of requests whatever the limit. It only grows while the pace holds callers back.
 * - only one cut per round: requests sent before the last cut were already too fast.
 */

/** A request waiting for its turn. */
interface Waiter {
  resolve: () => void;
  reject: (reason: unknown) => void;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
}

export interface PacerOptions {
  /** Starting rate in requests/s (Infinity: no pacing until the first throttle). */
  initialRate?: number;
  /** Hard ceiling in requests/s (from the user's intervalCap/interval). */
  maxRate?: number;
  /** Never go below this many requests/s. */
  minRate?: number;
  /** Learn from throttles and successes (false: keep `initialRate`). */
  adaptive?: boolean;
  /** A hard cap: never more than `count` starts in any `intervalMs` (checked at the moment of sending). */
  cap?: { count: number; intervalMs: number } | undefined;
  /** Clock in ms, for tests. */
  now?: () => number;
}

/** Window over which accepted requests estimate the server's rate. */
const WINDOW_MS = 1000;
/** How much lateness of our own timers the pace makes up for (ms). */
const CATCH_UP_MS = 50;
/** Shortest look (s) that gives a usable estimate. */
const MIN_WINDOW_S = 0.5;
/** Cut when there is no usable estimate. */
const CUT = 0.7;
/** Shortest round between throttles (s) whose average is trusted. */
const MIN_ROUND_S = 0.5;
/** The first estimate counts the server's initial burst too: start well below it. */
const FIRST_CUT = 0.6;
/** How fast the floor under cuts fades (s). */
const FLOOR_HALF_LIFE_S = 60;
/** Settle this far below the estimated limit. */
const SETTLE = 0.95;
/** Fast growth (per second) while below the remembered limit. */
const FAST_GROWTH = 1.0;
/** Probe growth per accepted request near the remembered limit … */
const PROBE_PER_REQUEST = 0.0002;
/** … doubling every this many accepted requests without a throttle, at most this many times. */
const PROBE_DOUBLING_REQUESTS = 400;
const PROBE_MAX_DOUBLINGS = 6;

/** A pacer: spaces request starts, holds them during pauses, adapts the rate to throttling. */
export class Pacer {
  /** Current rate in requests/s (Infinity = unpaced). */
  rate: number;
  /** The pace we were last turned away at (or the server's measured rate), in requests/s; Infinity while unknown. */
  limit = Infinity;
  readonly maxRate: number;
  readonly minRate: number;
  readonly adaptive: boolean;
  readonly #now: () => number;
  #nextStart = 0;
  #pausedUntil = 0;
  #firstStartAt = -1;
  #lastCutAt = -Infinity;
  #lastGrowAt = 0;
  #lastBoundAt = -Infinity;
  #waiters: Waiter[] = [];
  readonly #cap: { count: number; intervalMs: number } | undefined;
  /** Start times of the last `cap.count` requests. */
  #capTimes: number[] = [];
  #timer: NodeJS.Timeout | undefined;
  /** Start times of requests sent in the last WINDOW_MS, oldest first (how fast we really sent). */
  #started: number[] = [];
  /** Pauses overlapping the last WINDOW_MS, as [start, end]. */
  #pauses: Array<[number, number]> = [];
  #firstThrottleAt = -1;
  #acceptedSinceCut = 0;
  /** The rate cuts do not go below (see onThrottled), and when it was last set. */
  #floor = 0;
  #floorAt = 0;
  /** Start times of accepted requests sent in the last WINDOW_MS, oldest first. */
  #accepted: number[] = [];
  /** Told when the rate changes. */
  onRateChange?: (rate: number, reason: 'throttle' | 'recover') => void;

  constructor(options: PacerOptions = {}) {
    this.#now = options.now ?? (() => performance.now());
    this.maxRate = options.maxRate ?? Infinity;
    this.minRate = options.minRate ?? 0.2;
    this.adaptive = options.adaptive ?? true;
    this.rate = Math.min(options.initialRate ?? Infinity, this.maxRate);
    this.#cap = options.cap;
  }

  /** Milliseconds between request starts at the current rate. */
  get spacingMs(): number {
    return Number.isFinite(this.rate) ? 1000 / this.rate : 0;
  }

  /** Hold every request start until `ms` from now (extends, never shortens, a pause). */
  pause(ms: number): void {
    const now = this.#now();
    const until = now + ms;
    if (until <= this.#pausedUntil) return;
    const last = this.#pauses.at(-1);
    if (last && last[1] >= now) last[1] = until;
    else this.#pauses.push([now, until]);
    this.#pausedUntil = until;
    // A timer armed for an earlier moment just finds the pause and re-arms itself.
  }

  /**
   * Wait for this request's turn; resolves with the milliseconds waited. Waiters leave in order,
   * `1/rate` apart; after a late timer at most CATCH_UP_MS worth go at once, never a long burst.
   */
  acquire(signal?: AbortSignal): Promise<number> {
    const began = this.#now();
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.tryAcquire()) return Promise.resolve(0);
    return new Promise<number>((resolve, reject) => {
      const waiter: Waiter = { resolve: () => resolve(this.#now() - began), reject, signal, onAbort: undefined };
      if (signal) {
        waiter.onAbort = () => {
          const i = this.#waiters.indexOf(waiter);
          if (i >= 0) this.#waiters.splice(i, 1);
          reject(signal.reason);
        };
        signal.addEventListener('abort', waiter.onAbort, { once: true });
      }
      this.#waiters.push(waiter);
      this.#schedule();
    });
  }

  /** Earliest time (on the pacer's clock) the next request may start. */
  get readyAt(): number {
    return Math.max(this.#pausedUntil, this.#nextStart, this.#capFreeAt());
  }

  /** Start a request now if its turn has come, without waiting; false (the pace is holding callers back) if not. */
  tryAcquire(): boolean {
    const now = this.#now();
    if (this.#waiters.length === 0 && now >= this.readyAt) {
      this.#release(now);
      return true;
    }
    if (now >= this.#pausedUntil) this.#lastBoundAt = now;
    return false;
  }

  /** A request starts now: the next one may start one spacing later. */
  /** When the hard cap (if any) allows another start: `count` starts ago plus the interval. */
  #capFreeAt(): number {
    const cap = this.#cap;
    if (!cap || this.#capTimes.length < cap.count) return -Infinity;
    return this.#capTimes[this.#capTimes.length - cap.count]! + cap.intervalMs;
  }

  #release(now: number, late = false): void {
    if (this.#cap) {
      this.#capTimes.push(now);
      if (this.#capTimes.length > this.#cap.count) this.#capTimes.shift();
    }
    if (this.#firstStartAt < 0) this.#firstStartAt = now;
    this.#started.push(now);
    if (this.#started.length > 4096) this.#trim(now);
    // Keep to the ideal grid when a timer fires late (else a loaded machine sends below the pace), but
    // forgive lateness beyond CATCH_UP_MS (or one spacing), so a stall never turns into a long burst.
    // An idle pacer earns no credit: only a waiter released by a late timer keeps to the grid.
    const spacing = this.spacingMs;
    this.#nextStart = late ? Math.max(this.#nextStart, now - Math.max(spacing, CATCH_UP_MS)) + spacing : now + spacing;
  }

  /** Arm the timer for the next waiter (pauses and the spacing both hold it). */
  #schedule(): void {
    if (this.#timer || this.#waiters.length === 0) return;
    const delay = Math.max(0, this.readyAt - this.#now());
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#tick();
    }, delay);
  }

  #tick(): void {
    const now = this.#now();
    while (this.#waiters.length > 0 && now >= this.readyAt) {
      const waiter = this.#waiters.shift()!;
      if (waiter.onAbort) waiter.signal?.removeEventListener('abort', waiter.onAbort);
      this.#release(now, true);
      waiter.resolve();
    }
    if (this.#waiters.length > 0) {
      if (now >= this.#pausedUntil) this.#lastBoundAt = now;
      this.#schedule();
    }
  }

  /** A request that started at `startedAt` was accepted by the server: maybe raise the rate. */
  onAccepted(startedAt: number): void {
    const now = this.#now();
    // Counted by when it was sent: arrival order at the server, unlike our (jittery) receive times.
    this.#insertAccepted(startedAt);
    if (startedAt >= this.#lastCutAt) this.#acceptedSinceCut++;
    this.#trim(now);
    if (!this.adaptive || !Number.isFinite(this.rate) || startedAt < this.#lastCutAt) return;
    const dt = Math.min(1, (now - Math.max(this.#lastGrowAt, this.#lastCutAt)) / 1000);
    this.#lastGrowAt = now;
    // Only grow while the pace is what holds callers back; otherwise a quiet spell would inflate it.
    if (now - this.#lastBoundAt > 1000) return;
    const target = this.limit * SETTLE;
    let next: number;
    if (this.rate < target * 0.97) {
      next = Math.min(this.rate * (1 + FAST_GROWTH * dt), target);
    } else {
      // Probe per accepted request, not per second: a cycle then costs the same few 429s out of the
      // same number of requests whatever the limit, which keeps the throttled share low at low rates.
      const boost = 2 ** Math.min(PROBE_MAX_DOUBLINGS, this.#acceptedSinceCut / PROBE_DOUBLING_REQUESTS);
      next = this.rate * (1 + PROBE_PER_REQUEST * boost);
    }
    next = Math.min(next, this.maxRate);
    if (next > this.rate) {
      this.rate = next;
      this.onRateChange?.(this.rate, 'recover');
    }
  }

  /** A request that started at `startedAt` was throttled (429/503). Lowers the rate once per round. */
  onThrottled(startedAt: number): void {
    if (!this.adaptive) return;
    const now = this.#now();
    // Requests sent before our last cut were sent too fast already; one cut per round is enough.
    if (startedAt < this.#lastCutAt) return;
    this.#trim(now);
    const previousCut = this.#lastCutAt;
    this.#lastCutAt = now;
    this.#lastGrowAt = now;
    const firstThrottle = this.#firstThrottleAt < 0;
    // Before the first throttle the server was still spending its initial burst: count only after it.
    const origin = firstThrottle ? this.#firstStartAt : this.#firstThrottleAt;
    if (firstThrottle) this.#firstThrottleAt = now;
    const from = Math.max(now - WINDOW_MS, origin < 0 ? now : origin);
    const seconds = (now - from) / 1000;
    const accepted = countFrom(this.#accepted, from);
    // How fast we really sent (a loaded client may not reach its own pace), pauses not counted.
    const active = Math.max(MIN_WINDOW_S, seconds - this.#pausedWithin(from, now) / 1000);
    const sent = countFrom(this.#started, from) / active;
    let next: number;
    if (seconds < MIN_WINDOW_S || accepted === 0) {
      // Too short a look to estimate (or nothing got through): cut, and let the next round measure.
      if (!Number.isFinite(this.rate)) {
        if (accepted === 0) return; // unpaced and nothing to go by: the pause must do
        next = (accepted / Math.max(seconds, 0.001)) * FIRST_CUT;
      } else next = this.rate * CUT;
      this.#acceptedSinceCut = 0;
    } else {
      const estimate = accepted / seconds;
      // Between two throttles the server's bucket went from empty to empty, so what it accepted in
      // that round is what it allows (less if it overflowed while we were slow): the tighter figure.
      const roundSeconds = (now - previousCut) / 1000;
      const round = !firstThrottle && roundSeconds >= MIN_ROUND_S ? this.#acceptedSinceCut / roundSeconds : Infinity;
      // The limit we grow back to quickly: the pace we were turned away at, or what the server took in
      // the last window if that window holds no ramp-up after an earlier cut (which biases it low).
      if (!firstThrottle) this.limit = Math.min(this.rate, sent, now - previousCut >= 2 * WINDOW_MS ? estimate : Infinity);
      next = Math.min(estimate, round, this.rate) * (firstThrottle ? FIRST_CUT : SETTLE);
    }
    this.#acceptedSinceCut = 0;
    // Errors that are not about the rate (a 503 now and then, whatever our pace) would otherwise cut
    // again and again: never go below 90 % of an earlier measured settle point. That floor halves
    // every FLOOR_HALF_LIFE_S, so a limit that really fell is still followed, only more slowly.
    const floor = this.#floor * 0.5 ** ((now - this.#floorAt) / 1000 / FLOOR_HALF_LIFE_S);
    if (!firstThrottle && seconds >= MIN_WINDOW_S && accepted > 0) {
      this.#floor = Math.max(floor, next * 0.9);
      this.#floorAt = now;
    }
    next = Math.max(next, floor);
    this.rate = Math.max(this.minRate, Math.min(this.maxRate, next));
    this.onRateChange?.(this.rate, 'throttle');
  }

  /** Milliseconds paused between `from` and `to`. */
  #pausedWithin(from: number, to: number): number {
    let total = 0;
    for (const [start, end] of this.#pauses) total += Math.max(0, Math.min(end, to) - Math.max(start, from));
    return total;
  }

  #insertAccepted(startedAt: number): void {
    const list = this.#accepted;
    let i = list.length;
    while (i > 0 && list[i - 1]! > startedAt) i--;
    list.splice(i, 0, startedAt);
  }

  #trim(now: number): void {
    const cutoff = now - WINDOW_MS;
    dropBefore(this.#accepted, cutoff);
    dropBefore(this.#started, cutoff);
    while (this.#pauses.length > 0 && this.#pauses[0]![1] < cutoff) this.#pauses.shift();
  }
}

/** Number of times in the sorted list at or after `from`. */
function countFrom(times: number[], from: number): number {
  let i = times.length;
  while (i > 0 && times[i - 1]! >= from) i--;
  return times.length - i;
}

/** Drop the times before `cutoff` from a sorted list. */
function dropBefore(times: number[], cutoff: number): void {
  let drop = 0;
  while (drop < times.length && times[drop]! < cutoff) drop++;
  if (drop > 0) times.splice(0, drop);
}
