/**
 * Process-level protection: every request runs inside an AsyncLocalStorage context, and one
 * `uncaughtException` listener turns an exception thrown on behalf of a request (a stray callback
 * in some library, a bug) into a failed request instead of a dead process. Exceptions that belong
 * to no request are left to the process's other listeners or, when there are none, crash it as
 * Node would.
 */
import { AsyncLocalStorage } from 'node:async_hooks';

/** What the listener does with an exception that belongs to a request. */
export interface RequestScope {
  fail(error: unknown): void;
}

const storage = new AsyncLocalStorage<RequestScope>();
let users = 0;

function onUncaught(error: unknown): void {
  const scope = storage.getStore();
  if (scope) {
    scope.fail(error);
    return;
  }
  if (process.listenerCount('uncaughtException') === 1) {
    // Nobody else handles it: behave as if we were not here (print and exit non-zero).
    process.off('uncaughtException', onUncaught);
    process.nextTick(() => {
      throw error;
    });
  }
}

/** Start protecting (reference counted: one listener for every server in the process). */
export function protectProcess(): () => void {
  if (users++ === 0) process.on('uncaughtException', onUncaught);
  let released = false;
  return () => {
    if (released) return;
    released = true;
    if (--users === 0) process.off('uncaughtException', onUncaught);
  };
}

/** Run `fn` as part of a request, so an exception it leaks is routed to `scope.fail`. */
export function runInRequest<T>(scope: RequestScope, fn: () => T): T {
  return storage.run(scope, fn);
}
