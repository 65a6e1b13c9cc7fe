/**
 * Shared pieces of the parser fuzzers: how many runs (FUZZ=long multiplies them), a per-input time
 * bound that catches super-linear work (an input is re-measured once before it counts as slow, so
 * one GC pause or a busy neighbour does not fail the suite), and a per-input heap bound.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import fc from 'fast-check';
import { vi } from 'vitest';

/** Runs per property: bounded in CI, 50× with FUZZ=long (`npm run fuzz`). */
export function runs(base: number): number {
  return process.env.FUZZ === 'long' ? base * 50 : base;
}

// 50× the runs need more than the suite's 30 s per test (the file that imports this harness only).
if (process.env.FUZZ === 'long') vi.setConfig({ testTimeout: 60 * 60_000 });

/** fast-check parameters every property uses (seed printed on failure by fast-check itself). */
export function params(base: number): fc.Parameters<unknown> {
  return { numRuns: runs(base), ...(process.env.FUZZ_SEED ? { seed: Number(process.env.FUZZ_SEED) } : {}) };
}

/**
 * Longest a single parser call may take: 100 ms for up to 64 KiB, then in proportion (a linear
 * budget). Linear parsers need far less; the old quadratic ones took seconds to minutes.
 */
export const MAX_MS_PER_INPUT = 100;
const BUDGET_UNIT_BYTES = 64 * 1024;
export function timeBoundMs(inputBytes: number): number {
  return MAX_MS_PER_INPUT * Math.max(1, inputBytes / BUDGET_UNIT_BYTES);
}

/** A gc() function: global.gc under --expose-gc, else one obtained by switching the flag on now. */
function findGc(): (() => void) | undefined {
  const g = (globalThis as { gc?: () => void }).gc;
  if (g) return g;
  try {
    setFlagsFromString('--expose-gc');
    return runInNewContext('gc') as () => void;
  } catch {
    return undefined;
  }
}
export const gc = findGc();
if (!gc) console.warn('[fuzz] no gc() available (neither --expose-gc nor v8.setFlagsFromString): heap bounds are not checked');

/** Heap a single input may add while its result is alive: this many bytes per input byte, plus a floor. */
export const HEAP_BYTES_PER_INPUT_BYTE = 64;
export const HEAP_FLOOR_BYTES = 16 * 1024 * 1024;

let sampled = 0;
/** Allowed multiple of the linear reference: our parsers need 5–10× JSON.parse; the old quadratic ones 1 000× and more. */
const REFERENCE_FACTOR = 20;

function timeOnce<T>(fn: () => T): { ms: number; result?: T; error?: unknown } {
  const t0 = process.hrtime.bigint();
  try {
    const result = fn();
    return { ms: Number(process.hrtime.bigint() - t0) / 1e6, result };
  } catch (error) {
    return { ms: Number(process.hrtime.bigint() - t0) / 1e6, error };
  }
}

/**
 * Call `fn` on one input: fail when it takes longer than timeBoundMs (or 20× the optional linear
 * `reference` of the same size, measured at the same moment) three times in a row, when it
 * throws something `allowed` does not accept, or (with `heap`) when it grows the heap beyond the
 * bound for `inputBytes`. Returns the result (undefined when it threw an allowed error).
 */
export function bounded<T>(label: string, fn: () => T, allowed: (e: unknown) => boolean, inputBytes: number, heap: boolean | 'always' = false, reference?: () => unknown): T | undefined {
  let limit = timeBoundMs(inputBytes);
  let run = timeOnce(fn);
  for (let attempt = 0; run.ms > limit && attempt < 2; attempt++) {
    // Against scheduling noise: measure again, and when a linear reference of the same size is
    // given, allow a fixed multiple of what it takes right now (a loaded machine slows both).
    if (reference) limit = Math.max(limit, REFERENCE_FACTOR * timeOnce(reference).ms);
    run = timeOnce(fn);
  }
  if (run.ms > limit) throw new Error(`${label}: one input of ${inputBytes} bytes took ${run.ms.toFixed(0)} ms (bound ${limit.toFixed(0)} ms)`);
  if (run.error !== undefined && !allowed(run.error)) {
    const e = run.error as Error;
    throw new Error(`${label}: undocumented failure ${e?.name}: ${e?.message}`, { cause: e });
  }
  // Two full GCs per input are costly: random inputs are sampled (every one with FUZZ=long).
  if (heap && gc && (heap === 'always' || process.env.FUZZ === 'long' || ++sampled % 50 === 0)) {
    gc();
    const before = process.memoryUsage().heapUsed;
    const again = timeOnce(fn);
    gc();
    const grown = process.memoryUsage().heapUsed - before;
    const heapLimit = HEAP_FLOOR_BYTES + HEAP_BYTES_PER_INPUT_BYTE * inputBytes;
    // `again.result` is still referenced here, so what it holds counts.
    if (grown > heapLimit && again.result !== null) throw new Error(`${label}: one input of ${inputBytes} bytes kept ${grown} heap bytes (bound ${heapLimit})`);
  }
  return run.result;
}

/** A string from a small alphabet that hits a parser's special characters often. */
export function stringFrom(alphabet: string[], maxLength = 200): fc.Arbitrary<string> {
  return fc.array(fc.constantFrom(...alphabet), { maxLength }).map((a) => a.join(''));
}

/** A pathological input of about `bytes` characters: `prefix` + `unit` repeated + `suffix`. */
export function repeated(prefix: string, unit: string, bytes: number, suffix = ''): string {
  return prefix + unit.repeat(Math.max(1, Math.ceil(bytes / unit.length))) + suffix;
}

/** Any UTF-16 string, lone surrogates included. */
export function anyUtf16(maxLength = 100): fc.Arbitrary<string> {
  return fc.array(fc.integer({ min: 0, max: 0xffff }), { maxLength }).map((a) => String.fromCharCode(...a));
}
