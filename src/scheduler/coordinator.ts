/**
 * How several Schedulers (one per instance, all for one provider account) share one budget: the
 * Scheduler asks its coordinator before every attempt and tells it about throttles and the pace it
 * learned. The in-process Scheduler needs none (its pacer and p-queue are the budget); a shared
 * one lives in Redis (src/coordinator/budget.ts).
 */
export interface SchedulerCoordinator {
  /**
   * Wait for a shared slot: the account's rate (at most `localRate` requests/s, or the lower pace
   * another instance learned; Infinity = unknown), the account's concurrency cap, and any shared
   * pause. Resolves with the time waited and a release for the concurrency lease.
   */
  acquire(localRate: number, concurrency: number, signal?: AbortSignal): Promise<{ waitedMs: number; release(): void }>;
  /** A 429/503 judged a rate signal: pause every instance for `pauseMs`, and share the pace now learned. */
  throttled(pauseMs: number, rate: number): void;
  /** The pace this instance learned changed (growth after a cut). */
  rateChanged(rate: number): void;
}
