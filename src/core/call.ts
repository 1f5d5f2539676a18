import { CallTimeoutError, toError, type ErrorContext } from './errors.js';

/**
 * Runs a user function (a backend's poll or callback) so that it can neither throw synchronously
 * nor hang the caller: the result settles within `ms`, and `controller` is aborted on the timeout
 * so the function can stop its work. A synchronous result skips the timer entirely, which keeps
 * the hot path of cheap callbacks cheap.
 */
export async function callWithTimeout<T>(
  fn: () => T | Promise<T>,
  ms: number,
  /** The backend method called, e.g. `startCallback`: named in the timeout error. */
  method: string,
  context: ErrorContext & { backend: string },
  controller?: AbortController,
): Promise<T> {
  let result: T | Promise<T>;
  try {
    result = fn();
  } catch (thrown) {
    throw toError(thrown);
  }
  if (!(result instanceof Promise)) return result;

  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const error = new CallTimeoutError(`backend "${context.backend}" ${method}`, ms, context);
      controller?.abort(error);
      reject(error);
    }, ms);
    // Not unref'd: a pass waiting on this call must keep the process alive until it settles.
  });
  try {
    return await Promise.race([result.catch((thrown: unknown) => Promise.reject(toError(thrown))), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
