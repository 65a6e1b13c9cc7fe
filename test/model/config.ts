/**
 * How much the model tests run. CI: a few runs per target on every commit (the whole folder stays
 * near a minute on two busy cores). `FUZZ=long` multiplies the runs (`npm run fuzz`); `FUZZ_SEED`
 * and `FUZZ_PATH` replay one counterexample that fast-check printed.
 */
import type fc from 'fast-check';

const long = process.env.FUZZ === 'long';
const factor = long ? Number(process.env.FUZZ_FACTOR ?? 20) : 1;

/** fast-check parameters for a property with `runs` runs in CI. */
export function fcParams<T>(runs: number): fc.Parameters<T> {
  const seed = process.env.FUZZ_SEED !== undefined ? Number(process.env.FUZZ_SEED) : undefined;
  return {
    numRuns: Math.max(1, Math.round(runs * factor)),
    // Every failure prints its seed, path and shrunk counterexample.
    verbose: 0,
    ...(seed !== undefined ? { seed } : {}),
    ...(process.env.FUZZ_PATH ? { path: process.env.FUZZ_PATH } : {}),
  };
}

/** Longest command sequence. */
export const MAX_COMMANDS = long ? 25 : 15;

/** Per-test vitest timeout: generous, the machines are shared (no assertion depends on it). */
export const TEST_TIMEOUT_MS = long ? 3_600_000 : 240_000;
