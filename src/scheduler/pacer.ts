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
 *
 * Not every 429/503 is about the rate: a flaky proxy refuses a share of requests at any pace. Cutting
 * on each of those drives the pace down to nothing (a 10 % fault rate took a copy from 6 s to 330 s).
 * A throttle without Retry-After counts as a rate signal only when it is unlikely as chance, given the
 * background share p of random refusals (learnt from earlier answers, prior PRIOR_SHARE):
 * - a run of consecutive refusals that random ones would make with odds below RUN_ODDS (6 in a row
 *   at p = 10 %): once we outrun a token bucket it refuses nearly everything, in runs;
 * - or more refusals among the last RECENT answers than p explains by Z standard deviations (a
 *   one-sided binomial test; Z_UNPACED while unpaced, where a false alarm would cost the most). At
 *   the probe edge of a found limit that is 2 refusals in 50 where none were usual; random refusals
 *   stay near p whatever the pace;
 * - or, while a learnt pace is rising (towards a limit not yet measured, or probing above one found
 *   earlier), any refusal if at most QUIET of the answers at known-good paces were random refusals
 *   (a quiet provider: the plain one-refusal-one-cut law).
 * Only answers that left the recent window feed p, only throttles judged noise count as refusals in
 * it, and only answers given at a pace known to be fine (unpaced, at the given cap, or below a limit
 * found earlier): so neither a burst nor the probing at a found limit raises the bar it is judged by,
 * and a share of refusals that rises with the pace is what makes a signal. Noise is retried by the caller with its
 * own backoff; the pace and the rest of the queue are left alone.
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
/** Answers (accepted or throttled) in the window a paced throttle's density is judged over. */
const RECENT = 50;
/** How many standard deviations above the background share make a rate signal (paced; unpaced). */
const Z = 4;
const Z_UNPACED = 6;
/** Odds of a run of random refusals below which the run is a rate signal (unpaced). */
const RUN_ODDS = 1e-6;
/** Prior background share of random refusals, worth PRIOR_WEIGHT answers. */
const PRIOR_SHARE = 0.1;
const PRIOR_WEIGHT = 10;
/** Refusing more than this share at random is no longer "noise": judge as if it were this. */
const MAX_NOISE = 0.5;
/** At most this share of random refusals at known-good paces, and a refusal while raising the pace is a signal. */
const QUIET = 0.01;
/** The background share forgets: counts halve beyond this many answers. */
const NOISE_MEMORY = 2000;

/** The learning law's constants, for a shared learner that applies the same law to a whole account (src/coordinator/budget.ts). */
export const PACE_LAW = {
  WINDOW_MS, MIN_WINDOW_S, CUT, MIN_ROUND_S, FIRST_CUT, FLOOR_HALF_LIFE_S, SETTLE, FAST_GROWTH,
  PROBE_PER_REQUEST, PROBE_DOUBLING_REQUESTS, PROBE_MAX_DOUBLINGS,
} as const;

/** An answer in the recent window: accepted, throttled as noise, or throttled as a rate signal. */
const Answer = { Accepted: 0, Noise: 1, Signal: 2 } as const;
type Answer = (typeof Answer)[keyof typeof Answer];
/** Added to an Answer given while a learnt pace held us back: it does not feed the background share. */
const PACED = 4;

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
  /** The last RECENT answers (Answer, plus PACED), how many of them were throttled, and the current run of throttles. */
  #recent: number[] = [];
  #recentThrottled = 0;
  #run = 0;
  /** Answers older than the recent window, and the throttles among them judged noise (halved now and then). */
  #answers = 0;
  #noise = 0;
  /** The pace is the account's, learned by a coordinator over several instances (see adopt). */
  #delegated = false;
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
    return Number.isFinite(this.rate) && !this.#delegated ? 1000 / this.rate : 0;
  }

  /**
   * Coordinator hook: take the account's pace, learned from every instance's answers, as this
   * pacer's own. While one is adopted the coordinator spaces the requests and learns; this pacer
   * still judges each throttle (rate signal or noise) against it, and keeps its hard cap. Undefined
   * (the coordinator unreachable): learn alone again, from the pace last adopted.
   */
  adopt(pace: { rate: number; limit: number } | undefined): void {
    this.#delegated = pace !== undefined;
    if (!pace) return;
    this.limit = pace.limit;
    const rate = Math.min(this.maxRate, pace.rate);
    if (rate === this.rate) return;
    const reason = rate < this.rate ? 'throttle' : 'recover';
    this.rate = rate;
    this.onRateChange?.(rate, reason);
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
    this.#record(Answer.Accepted);
    // Counted by when it was sent: arrival order at the server, unlike our (jittery) receive times.
    this.#insertAccepted(startedAt);
    if (startedAt >= this.#lastCutAt) this.#acceptedSinceCut++;
    this.#trim(now);
    if (this.#delegated || !this.adaptive || !Number.isFinite(this.rate) || startedAt < this.#lastCutAt) return;
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

  /**
   * A request that started at `startedAt` was throttled (429/503). Returns whether that is a rate
   * signal (the caller then holds every request for a while) or noise (the caller retries just this
   * request, after its own backoff). A rate signal lowers the rate, once per round. `retryAfter`: the
   * server said how long to wait, which is always a rate signal.
   */
  onThrottled(startedAt: number, retryAfter = false): boolean {
    const signal = retryAfter || this.#unlikelyByChance();
    if (signal) {
      // The refusals just before this one were its start, not noise: unpaced, all those in the window
      // (the first outrun of a limit); paced, only the run (further back they may well be random, and
      // the background share must keep counting those or it would sink and make every refusal a signal).
      const unpaced = !Number.isFinite(this.rate);
      for (let i = this.#recent.length - 1; i >= 0 && (unpaced || this.#recent[i]! % PACED !== Answer.Accepted); i--) {
        if (this.#recent[i]! % PACED === Answer.Noise) this.#recent[i]! += Answer.Signal - Answer.Noise;
      }
    }
    this.#record(signal ? Answer.Signal : Answer.Noise);
    if (!signal) return false;
    if (!this.adaptive || this.#delegated) return true;
    const now = this.#now();
    // Requests sent before our last cut were sent too fast already; one cut per round is enough.
    if (startedAt < this.#lastCutAt) return true;
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
        if (accepted === 0) return true; // unpaced and nothing to go by: the pause must do
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
    return true;
  }

  /** Background share of random refusals: throttles judged noise over answers, with the prior. */
  get noiseShare(): number {
    return (this.#noise + PRIOR_SHARE * PRIOR_WEIGHT) / (this.#answers + PRIOR_WEIGHT);
  }

  /** Would one more throttle now be unlikely as a random refusal (see the header)? */
  #unlikelyByChance(): boolean {
    const p = Math.min(MAX_NOISE, this.noiseShare);
    const run = this.#run + 1;
    if (run >= Math.max(2, Math.ceil(Math.log(RUN_ODDS) / Math.log(p)))) return true;
    // Paced and raising the pace (towards a limit not measured yet, or probing above one found earlier)
    // where no random refusals were seen at known-good paces: the refusal is the answer to our rising
    // pace (a provider that also refuses at random is judged by the tests below instead).
    const raising = Number.isFinite(this.rate) && (!Number.isFinite(this.limit) || this.#probing());
    if (raising && this.adaptive && this.#noise <= QUIET * this.#answers) return true;
    const full = this.#recent.length >= RECENT;
    const n = full ? RECENT : this.#recent.length + 1;
    const k = this.#recentThrottled + 1 - (full && this.#recent[0]! % PACED !== Answer.Accepted ? 1 : 0);
    const z = Number.isFinite(this.rate) ? Z : Z_UNPACED;
    return k > n * p + z * Math.sqrt(n * p * (1 - p));
  }

  /** Is the pace at or above the limit found earlier (the region where the rate probes upwards)? */
  #probing(): boolean {
    return Number.isFinite(this.limit) && this.rate >= this.limit * SETTLE * 0.97;
  }

  /** Remember one answer; the one leaving the recent window goes into the background share. */
  #record(answer: Answer): void {
    // Learn the background only where the pace is known to be fine: unpaced (or at the given cap), or
    // below the limit found earlier; never while probing at that limit, nor before one was measured.
    const learn = this.rate >= this.maxRate || !this.#probing();
    this.#recent.push(learn ? answer : answer + PACED);
    if (answer === Answer.Accepted) this.#run = 0;
    else {
      this.#recentThrottled++;
      this.#run++;
    }
    if (this.#recent.length <= RECENT) return;
    const old = this.#recent.shift()!;
    if (old % PACED !== Answer.Accepted) this.#recentThrottled--;
    if (old >= PACED) return;
    if (old === Answer.Noise) this.#noise++;
    if (++this.#answers > NOISE_MEMORY) {
      this.#answers /= 2;
      this.#noise /= 2;
    }
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
