import { ConfigError } from '../../src/core/errors.js';

/** An error class a retry policy lists; a thrown error retries only if it is an instance of one. */
export type ErrorClass = abstract new (...args: never[]) => unknown;

/**
 * When a failed job runs again, as Procrastinate's `RetryStrategy` decides it, so that a job
 * behaves the same whichever language ran it. Waits are in seconds.
 */
export interface RetryPolicy {
  /**
   * Retries at most this many times (a job runs at most `maxAttempts + 1` times). Unlimited when
   * absent; 0 retries nothing (Python's `RetryStrategy(max_attempts=0)`, being falsy, is unlimited).
   */
  maxAttempts?: number;
  /** Fixed wait before each retry. @defaultValue 0 */
  wait?: number;
  /** Added wait per attempt already made. @defaultValue 0 */
  linearWait?: number;
  /** Base of an exponential wait: `exponentialWait ^ (attempts + 1)`. @defaultValue 0 */
  exponentialWait?: number;
  /**
   * Only these errors retry (or those this predicate accepts); any error when absent. An empty list
   * retries nothing (Python's empty `retry_exceptions`, being falsy, retries any error).
   */
  retryOn?: readonly ErrorClass[] | ((error: unknown) => boolean);
}

/** As Procrastinate's `retry=`: `false` never, `true` always, `N` up to N retries, or a policy. */
export type RetryOption = boolean | number | RetryPolicy;

/** Checks a retry option once, at configuration, naming the field. @throws ConfigError */
export function normalizeRetry(option: RetryOption | undefined, field: string): RetryPolicy | null {
  if (option === undefined || option === false) return null;
  if (option === true) return {};
  if (typeof option === 'number') {
    if (!Number.isSafeInteger(option) || option < 0)
      throw new ConfigError(field, option, 'allowed: a whole number of retries >= 0, true, false or a policy');
    return { maxAttempts: option };
  }
  if (typeof option !== 'object' || option === null)
    throw new ConfigError(field, option, 'allowed: true, false, a number of retries, or a RetryPolicy');
  for (const key of ['wait', 'linearWait', 'exponentialWait'] as const) {
    const value = option[key];
    if (value !== undefined && !(typeof value === 'number' && Number.isFinite(value) && value >= 0)) {
      throw new ConfigError(`${field}.${key}`, value, 'allowed: a number of seconds >= 0');
    }
  }
  if (option.maxAttempts !== undefined && (!Number.isSafeInteger(option.maxAttempts) || option.maxAttempts < 0)) {
    throw new ConfigError(`${field}.maxAttempts`, option.maxAttempts, 'allowed: a whole number >= 0');
  }
  const { retryOn } = option;
  if (
    retryOn !== undefined &&
    typeof retryOn !== 'function' &&
    !(Array.isArray(retryOn) && retryOn.every((c) => typeof c === 'function'))
  ) {
    throw new ConfigError(`${field}.retryOn`, retryOn, 'allowed: an array of error classes, or a predicate');
  }
  return option;
}

/**
 * Seconds to wait before retrying a job that failed with `error` after `attempts` finished tries
 * (the first run sees 0), or null when it must not retry.
 */
export function retryDelay(policy: RetryPolicy | null, attempts: number, error: unknown): number | null {
  if (!policy) return null;
  if (policy.maxAttempts !== undefined && attempts >= policy.maxAttempts) return null;
  const { retryOn } = policy;
  if (typeof retryOn === 'function' && !retryOn(error)) return null;
  if (Array.isArray(retryOn) && !retryOn.some((errorClass) => error instanceof errorClass)) return null;
  const { wait = 0, linearWait = 0, exponentialWait = 0 } = policy;
  return wait + linearWait * attempts + exponentialWait ** (attempts + 1);
}
