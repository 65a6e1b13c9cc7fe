/** A deterministic random source in [0,1) (xorshift32), so backoff jitter in tests is reproducible. */
export function seededRandom(seed = 42): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 0x1_0000_0000;
  };
}
