// Statistics and run ordering shared by the benchmarks: medians of alternated runs.

/** Median of a list of numbers (the lower middle for an even count); NaN when empty. */
export function median(xs) {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/**
 * Run `measure(side, round)` for every side, `rounds` times, alternating the order each round
 * (A B, B A, A B…) so neither side always meets the warmer machine. Returns { side: [values] }.
 */
export async function alternate(sides, rounds, measure) {
  const out = Object.fromEntries(sides.map((s) => [s, []]));
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? sides : [...sides].reverse();
    for (const side of order) out[side].push(await measure(side, round));
  }
  return out;
}

/** Wall-clock seconds `fn` takes, with its result. */
export async function timed(fn) {
  const t0 = process.hrtime.bigint();
  const result = await fn();
  return { seconds: Number(process.hrtime.bigint() - t0) / 1e9, result };
}
