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
  controller?: Pick<AbortController, 'abort'>,
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

/**
 * Resolves true once `promise` settles (fulfilled or rejected: its outcome is the caller's to
 * read), or false after `ms` (Infinity: never), whichever comes first; never rejects. The timer is not unref'd: a
 * bounded wait, such as a shutdown's, keeps the process alive until it ends.
 */
export async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  const settled = promise.then(
    () => true,
    () => true,
  );
  // Past the longest delay a timer honours (Infinity included), a timer would fire at once.
  if (!(ms <= 2 ** 31 - 1)) return settled;
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), Math.max(0, ms))));
  try {
    return await Promise.race([settled, timedOut]);
  } finally {
    clearTimeout(timer);
  }
}
