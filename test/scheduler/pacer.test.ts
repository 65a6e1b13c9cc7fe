/**
 * The pacer's control law in virtual time: a client with unlimited demand against a token-bucket
 * server it knows nothing about. Deterministic (no timers, seeded jitter), so it checks convergence
 * exactly; bench/scheduler measures the same over real HTTP.
 */
import { describe, expect, it } from 'vitest';
import { parseRetryAfter } from '../../src/http/status.js';
import { fullJitterDelay } from '../../src/scheduler/backoff.js';
import { Pacer } from '../../src/scheduler/pacer.js';
import { seededRandom } from './seeded.js';

interface SimResult {
  /** Accepted requests per second over the second half, ÷ R. */
  settledGoodput: number;
  /** Share of all requests answered 429. */
  throttledShare: number;
  finalRate: number;
}

/** Simulate `seconds` of a client sending as fast as the pacer allows (at most 1 request/ms). */
function simulate(rate: number, burst: number, seconds: number, seed = 1): SimResult {
  let t = 0;
  const pacer = new Pacer({ now: () => t });
  const random = seededRandom(seed);
  let tokens = burst;
  let last = 0;
  let requests = 0;
  let throttled = 0;
  let settledAccepted = 0;
  const end = seconds * 1000;
  while (t < end) {
    if (!pacer.tryAcquire()) {
      t = Math.max(t + 0.01, pacer.readyAt);
      continue;
    }
    const sentAt = t;
    tokens = Math.min(burst, tokens + ((t - last) / 1000) * rate);
    last = t;
    requests++;
    if (tokens >= 1) {
      tokens -= 1;
      if (t >= end / 2) settledAccepted++;
      t += 1; // one millisecond of round trip
      pacer.onAccepted(sentAt);
    } else {
      throttled++;
      t += 1;
      // What the Scheduler does on a 429: a rate signal holds every request; noise delays only its own retry.
      if (pacer.onThrottled(sentAt)) pacer.pause(fullJitterDelay(1, 250, 20_000, random));
    }
  }
  return { settledGoodput: settledAccepted / (seconds / 2) / rate, throttledShare: throttled / requests, finalRate: pacer.rate };
}

describe('Pacer control law (virtual time)', () => {
  it.each([
    [100, 100],
    [100, 10],
    [20, 20],
    [20, 2],
    [500, 500],
    [500, 50],
  ])('finds an unannounced limit of %i/s (burst %i): ≥ 0.9 R settled, ≤ 1 %% throttled', (rate, burst) => {
    // Low limits run longer: not cutting on the first refusals (they might be random, see flaky.test.ts)
    // costs a fixed handful of extra 429s while the limit is first found, whatever the limit.
    const r = simulate(rate, burst, Math.max(120, 4800 / rate));
    expect(r.settledGoodput).toBeGreaterThanOrEqual(0.9);
    expect(r.settledGoodput).toBeLessThanOrEqual(1.01);
    expect(r.throttledShare).toBeLessThanOrEqual(0.01);
    expect(r.finalRate).toBeGreaterThan(rate * 0.8);
    expect(r.finalRate).toBeLessThan(rate * 1.25);
  });

  it('does not collapse when errors are not about the rate (one request in ten fails, at any pace)', () => {
    let t = 0;
    const pacer = new Pacer({ now: () => t });
    const random = seededRandom(9);
    let accepted = 0;
    while (t < 60_000) {
      if (!pacer.tryAcquire()) {
        t = Math.max(t + 0.01, pacer.readyAt);
        continue;
      }
      const sentAt = t;
      t += 1;
      if (random() < 0.1) {
        pacer.onThrottled(sentAt);
        pacer.pause(fullJitterDelay(1, 250, 20_000, random));
      } else {
        accepted++;
        pacer.onAccepted(sentAt);
      }
    }
    // Each failure also pauses everything for up to 250 ms, so ~80/s is the most one could get; a
    // collapsing pace would end near its 0.2/s minimum instead.
    expect(pacer.rate).toBeGreaterThan(10);
    expect(accepted / 60).toBeGreaterThan(10);
  });

  it('never exceeds a given rate, and without adaptation never changes it', () => {
    let t = 0;
    const pacer = new Pacer({ now: () => t, initialRate: 10, maxRate: 10, adaptive: false });
    let sent = 0;
    while (t < 10_000) {
      if (pacer.tryAcquire()) {
        sent++;
        pacer.onAccepted(t);
        t += 1;
      } else t = pacer.readyAt;
    }
    expect(sent).toBeLessThanOrEqual(101);
    expect(pacer.rate).toBe(10);
  });
});

describe('Pacer hard cap', () => {
  it('never starts more than `count` requests in any interval, however irregular the clock', () => {
    let t = 0;
    const random = seededRandom(5);
    const pacer = new Pacer({ now: () => t, initialRate: 50, maxRate: 50, cap: { count: 5, intervalMs: 1000 } });
    const starts: number[] = [];
    while (t < 20_000) {
      if (pacer.tryAcquire()) {
        starts.push(t);
        pacer.onAccepted(t);
      }
      t = Math.max(t, pacer.readyAt) + random() * 300; // wake up late, by up to 300 ms
    }
    for (let i = 5; i < starts.length; i++) expect(starts[i]! - starts[i - 5]!).toBeGreaterThanOrEqual(1000);
    expect(starts.length).toBeGreaterThan(80); // and the cap, not the pace (50/s), is what binds
  });
});

describe('backoff and Retry-After', () => {
  it('parses delta-seconds and HTTP dates', () => {
    const now = Date.parse('Sun, 22 Nov 2026 22:00:00 GMT');
    expect(parseRetryAfter('120', now)).toBe(120_000);
    expect(parseRetryAfter('1.5', now)).toBe(1500);
    expect(parseRetryAfter('Sun, 22 Nov 2026 22:00:30 GMT', now)).toBe(30_000);
    expect(parseRetryAfter('Sun, 22 Nov 2026 21:00:00 GMT', now)).toBe(0);
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter(null, now)).toBeUndefined();
  });

  it('full jitter stays within [0, min(cap, base·2^(n-1))]', () => {
    const random = seededRandom(11);
    for (let n = 1; n <= 12; n++) {
      for (let i = 0; i < 50; i++) {
        const d = fullJitterDelay(n, 100, 5000, random);
        expect(d).toBeGreaterThanOrEqual(0);
        expect(d).toBeLessThanOrEqual(Math.min(5000, 100 * 2 ** (n - 1)));
      }
    }
    expect(fullJitterDelay(3, 100, 5000, () => 0.5)).toBe(200);
  });
});
