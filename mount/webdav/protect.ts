/**
 * Process-level protection: every request runs inside an AsyncLocalStorage context, and one
 * `uncaughtException` listener turns an exception thrown on behalf of a request (a stray callback
 * in some library, a bug) into a failed request instead of a dead process. Exceptions that belong
 * to no request are left to the process's other listeners or, when there are none, crash it as
 * Node would. Unhandled promise rejections are logged instead of ending the process.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { Logger } from '../../src/log.js';

/** What the listener does with an exception that belongs to a request. */
export interface RequestScope {
  fail(error: unknown): void;
}

const storage = new AsyncLocalStorage<RequestScope>();
const loggers = new Set<Logger>();

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

/**
 * A promise some layer forgot to await rejected. Node would exit; a server keeps serving and
 * says so in its log (the request that started it, if any, has its own error path).
 */
function onRejection(reason: unknown): void {
  for (const logger of loggers) logger.error('unhandled promise rejection (kept serving)', { error: reason });
}

/** Start protecting (reference counted: one listener pair for every server in the process). */
export function protectProcess(logger: Logger): () => void {
  if (loggers.size === 0) {
    process.on('uncaughtException', onUncaught);
    process.on('unhandledRejection', onRejection);
  }
  const token = logger.child({});
  loggers.add(token);
  let released = false;
  return () => {
    if (released) return;
    released = true;
    loggers.delete(token);
    if (loggers.size === 0) {
      process.off('uncaughtException', onUncaught);
      process.off('unhandledRejection', onRejection);
    }
  };
}

/** Run `fn` as part of a request, so an exception it leaks is routed to `scope.fail`. */
export function runInRequest<T>(scope: RequestScope, fn: () => T): T {
  return storage.run(scope, fn);
}
