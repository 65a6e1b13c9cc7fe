/**
 * Single-flight: concurrent identical requests share one inner call. Each caller keeps its own
 * AbortSignal: a caller that gives up rejects alone, and the shared call is aborted only when
 * every caller has given up, so one impatient client cannot fail the others.
 */
import { VfsError } from '../errors.js';

interface Flight<T> {
  promise: Promise<T>;
  controller: AbortController;
  waiters: number;
}

export class SingleFlight<T> {
  private readonly flights = new Map<string, Flight<T>>();
  /** Callers that joined a flight someone else started. */
  joined = 0;

  /** Run `fn` once per key at a time; callers with the same key while it runs share its result. */
  run(key: string, signal: AbortSignal | undefined, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
    if (signal?.aborted) return Promise.reject(cancelled());
    let flight = this.flights.get(key);
    if (flight) {
      this.joined++;
      flight.waiters++;
    } else {
      const controller = new AbortController();
      const created: Flight<T> = { controller, waiters: 1, promise: undefined as unknown as Promise<T> };
      created.promise = (async () => fn(controller.signal))().finally(() => {
        if (this.flights.get(key) === created) this.flights.delete(key);
      });
      // The shared promise may settle after every caller left; that rejection is nobody's to handle.
      created.promise.catch(() => undefined);
      this.flights.set(key, created);
      flight = created;
    }
    return signal ? this.follow(flight, key, signal) : flight.promise;
  }

  /** Forget in-flight calls for keys matching `test`: later callers start a fresh call. */
  detach(test: (key: string) => boolean): void {
    for (const key of [...this.flights.keys()]) if (test(key)) this.flights.delete(key);
  }

  private follow(flight: Flight<T>, key: string, signal: AbortSignal): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const onAbort = () => {
        flight.waiters--;
        if (flight.waiters === 0) {
          if (this.flights.get(key) === flight) this.flights.delete(key);
          flight.controller.abort();
        }
        reject(cancelled());
      };
      signal.addEventListener('abort', onAbort, { once: true });
      flight.promise.then(
        (value) => { signal.removeEventListener('abort', onAbort); resolve(value); },
        (error) => { signal.removeEventListener('abort', onAbort); reject(error); },
      );
    });
  }
}

function cancelled(): VfsError {
  return new VfsError('ECANCELED', 'operation aborted', { provider: 'cache' });
}
