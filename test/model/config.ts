/**
 * How much the model tests run. CI: a few runs per target on every commit (the whole folder stays
 * near a minute on two busy cores). `FUZZ=long` multiplies the runs (`npm run fuzz`); `FUZZ_SEED`
 * and `FUZZ_PATH` replay one counterexample that fast-check printed.
 */
import type fc from 'fast-check';

const long = process.env.FUZZ === 'long';
const factor = long ? Number(process.env.FUZZ_FACTOR ?? 20) : 1;

/**
 * fast-check parameters for a property with `runs` runs in CI. `slow` targets (a process started
 * per run) do not shrink in CI (each attempt costs seconds): their counterexamples are short anyway.
 */
export function fcParams<T>(runs: number, opts: { slow?: boolean } = {}): fc.Parameters<T> {
  const seed = process.env.FUZZ_SEED !== undefined ? Number(process.env.FUZZ_SEED) : undefined;
  return {
    numRuns: Math.max(1, Math.round(runs * factor)),
    // Every failure prints its seed, path and shrunk counterexample.
    verbose: 0,
    ...(opts.slow && !long ? { endOnFailure: true } : {}),
    ...(seed !== undefined ? { seed } : {}),
    ...(process.env.FUZZ_PATH ? { path: process.env.FUZZ_PATH } : {}),
  };
}

/** Longest command sequence. */
export const MAX_COMMANDS = long ? 25 : 15;
/** Longest sequence where each run starts a process. */
export const MAX_COMMANDS_SLOW = long ? 8 : 4;

/** Per-test vitest timeout: generous, the machines are shared (no assertion depends on it). */
export const TEST_TIMEOUT_MS = long ? 3_600_000 : 240_000;
