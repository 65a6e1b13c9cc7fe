/**
 * How several Schedulers (one per instance, all for one provider account) share one budget: the
 * Scheduler asks its coordinator before every attempt and tells it how the attempt was answered.
 * The in-process Scheduler needs none (its pacer and p-queue are the budget); a shared one lives in
 * Redis (src/coordinator/budget.ts), which also learns the account's pace from every instance's
 * answers: the Pacer then adopts that pace (for judging 429s) and leaves the spacing to it.
 */
export interface SchedulerCoordinator {
  /**
   * Wait for a shared slot: the account's rate (at most `ceiling` requests/s, the user's cap;
   * Infinity = none), the account's concurrency cap, and any shared pause. Resolves with the time
   * waited, a release for the concurrency lease (told how the attempt was answered), and the
   * account's learned pace — absent when the coordinator could not be reached (the Pacer then
   * learns alone again).
   */
  acquire(ceiling: number, concurrency: number, signal?: AbortSignal): Promise<CoordinatedSlot>;
  /** A 429/503 judged a rate signal: pause every instance for `pauseMs`. */
  throttled(pauseMs: number, rate: number): void;
  /** The pace this instance learned changed (growth after a cut). */
  rateChanged(rate: number): void;
}

/** How an attempt was answered, for the shared learner: accepted (any answer but a throttle), or throttled as a rate signal. */
export type SlotAnswer = 'accepted' | 'throttled';

export interface CoordinatedSlot {
  waitedMs: number;
  release(answer?: SlotAnswer): void;
  /** The account's learned pace in requests/s (Infinity = none yet) and the limit it was turned away at. */
  pace?: { rate: number; limit: number };
}
