/**
 * Injected faults: 429/503/500/422 answers and slow replies, chosen by rules that fire on every Nth
 * matching request or with a probability drawn from a seeded random source (deterministic runs).
 */
import { seededRandom } from '../../../src/seeded-random.js';

/**
 * What a rule injects: an HTTP status, a delay before the real answer (`slow`), or a dropped
 * connection (`reset`: a download breaks off halfway through its body, an upload halfway through
 * sending, any other call before it is answered).
 */
export type FaultKind = 429 | 500 | 503 | 422 | 'slow' | 'reset';

export interface FaultRule {
  /** What to inject (one of `kind` or its alias `status` is required). */
  kind?: FaultKind;
  /** Alias of `kind` for the status faults (reads naturally in config: `{ status: 503, probability: 0.1 }`). */
  status?: 429 | 500 | 503 | 422;
  /** Only requests to these routes count (e.g. `['/file/upload']`); default: every route. */
  routes?: string[];
  /** Fire on the Nth, 2Nth, … matching request. */
  every?: number;
  /** Fire with this probability (0..1) on each matching request (seeded). */
  probability?: number;
  /** Stop after firing this many times. */
  limit?: number;
  /** Body text: the upstream provider's message for 422 (default: a Google-Drive-like failure). */
  message?: string;
  /** Delay for `slow` (default 500 ms). */
  delayMs?: number;
}

/** A fault chosen for one request. */
export interface FaultDecision {
  kind: Exclude<FaultKind, 'slow'>;
  message?: string;
}

interface RuleState {
  rule: FaultRule & { kind: FaultKind };
  seen: number;
  fired: number;
}

/** Applies the rules in order; the first status fault wins, `slow` rules add their delays. */
export class FaultInjector {
  private states: RuleState[] = [];
  private random: () => number;

  constructor(rules: FaultRule[] = [], seed = 1) {
    this.random = seededRandom(seed);
    this.setRules(rules);
  }

  /** Replace the rules (counters start again). */
  setRules(rules: FaultRule[]): void {
    const kinds = new Set<unknown>([429, 500, 503, 422, 'slow', 'reset']);
    for (const rule of rules) {
      if (!kinds.has(rule.kind ?? rule.status)) throw new RangeError(`a fault rule needs a kind: 429, 500, 503, 422, 'slow' or 'reset' (got ${String(rule.kind ?? rule.status)})`);
      if (rule.every === undefined && rule.probability === undefined) {
        throw new RangeError('a fault rule needs `every` or `probability`');
      }
      if (rule.every !== undefined && !(Number.isInteger(rule.every) && rule.every >= 1)) {
        throw new RangeError('fault rule `every` must be a positive integer');
      }
    }
    this.states = rules.map((rule) => ({ rule: { ...rule, kind: (rule.kind ?? rule.status)! }, seen: 0, fired: 0 }));
  }

  /** Decide the faults for one request to `route`. */
  decide(route: string): { status?: FaultDecision; delayMs: number } {
    let status: FaultDecision | undefined;
    let delayMs = 0;
    for (const state of this.states) {
      const { rule } = state;
      if (rule.routes && !rule.routes.includes(route)) continue;
      state.seen++;
      if (rule.limit !== undefined && state.fired >= rule.limit) continue;
      const fires = rule.every !== undefined ? state.seen % rule.every === 0 : this.random() < (rule.probability ?? 0);
      if (!fires) continue;
      if (rule.kind === 'slow') {
        state.fired++;
        delayMs += rule.delayMs ?? 500;
      } else if (!status) {
        state.fired++;
        status = { kind: rule.kind, ...(rule.message !== undefined ? { message: rule.message } : {}) };
      }
    }
    return { ...(status ? { status } : {}), delayMs };
  }
}
