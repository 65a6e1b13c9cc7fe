/** Token-bucket rate limiting per API token, as Couchdrop's (unpublished) limit is modelled: excess → 429. */

export interface RateLimitOptions {
  /** Requests per second refilled into each bucket. */
  ratePerSec: number;
  /** Bucket size: how many requests may arrive at once (default: `ratePerSec`). */
  burst?: number;
}

interface Bucket {
  tokens: number;
  updated: number;
}

/** One bucket per key (the caller's token); `take` says whether a request may pass now. */
export class TokenBuckets {
  private readonly buckets = new Map<string, Bucket>();
  private readonly rate: number;
  private readonly burst: number;

  constructor(options: RateLimitOptions) {
    if (!(options.ratePerSec > 0)) throw new RangeError('rateLimit.ratePerSec must be > 0');
    this.rate = options.ratePerSec;
    this.burst = Math.max(1, options.burst ?? options.ratePerSec);
  }

  /** Spend one token of `key`'s bucket; false when it is empty. */
  take(key: string, now = performance.now()): boolean {
    let bucket = this.buckets.get(key);
    if (!bucket) {
      bucket = { tokens: this.burst, updated: now };
      this.buckets.set(key, bucket);
    }
    bucket.tokens = Math.min(this.burst, bucket.tokens + ((now - bucket.updated) / 1000) * this.rate);
    bucket.updated = now;
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    return true;
  }
}
