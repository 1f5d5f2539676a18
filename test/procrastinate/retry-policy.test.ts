/**
 * The retry policy of Procrastinate jobs run by Node: the delay formula of Python's
 * RetryStrategy (wait + linear_wait × attempts + exponential_wait ^ (attempts + 1)), the limit
 * (maxAttempts N means N retries), the error filter, and option checks naming the field.
 */
import test from 'ava';
import { ConfigError, describe } from '../../src/core/errors.js';
import { normalizeRetry, retryDelay, type RetryOption } from '../../backends/procrastinate/retry.js';

const boom = new Error('boom');

test('no policy never retries; true retries at once, without limit', (t) => {
  t.is(normalizeRetry(undefined, 'retry'), null);
  t.is(normalizeRetry(false, 'retry'), null);
  t.is(retryDelay(null, 0, boom), null);
  const always = normalizeRetry(true, 'retry');
  t.deepEqual(always, {});
  // All waits default to 0, and 0 ** (attempts + 1) is 0: "now".
  for (const attempts of [0, 1, 10, 1000]) t.is(retryDelay(always, attempts, boom), 0);
});

test('a number N means N retries: attempts 0..N-1 retry, attempt N does not', (t) => {
  const policy = normalizeRetry(3, 'retry');
  t.deepEqual(policy, { maxAttempts: 3 });
  t.deepEqual(
    [0, 1, 2, 3, 4].map((attempts) => retryDelay(policy, attempts, boom)),
    [0, 0, 0, null, null],
  );
  // 0 retries: the first failure is final.
  t.is(retryDelay(normalizeRetry(0, 'retry'), 0, boom), null);
});

test('delay is wait + linearWait × attempts + exponentialWait ^ (attempts + 1)', (t) => {
  const cases: Array<[RetryOption, number, number]> = [
    [{ wait: 5 }, 0, 5],
    [{ wait: 5 }, 7, 5],
    [{ linearWait: 3 }, 0, 0],
    [{ linearWait: 3 }, 4, 12],
    [{ exponentialWait: 2 }, 0, 2],
    [{ exponentialWait: 2 }, 1, 4],
    [{ exponentialWait: 2 }, 4, 32],
    [{ wait: 1, linearWait: 2, exponentialWait: 3 }, 0, 1 + 0 + 3],
    [{ wait: 1, linearWait: 2, exponentialWait: 3 }, 2, 1 + 4 + 27],
    [{ wait: 0.5, exponentialWait: 1.5 }, 1, 0.5 + 2.25],
  ];
  for (const [option, attempts, expected] of cases) {
    t.is(retryDelay(normalizeRetry(option, 'retry'), attempts, boom), expected, `${JSON.stringify(option)} at attempts ${attempts}`);
  }
});

test('maxAttempts with waits: the formula until the limit, then null', (t) => {
  const policy = normalizeRetry({ maxAttempts: 2, wait: 10, linearWait: 1 }, 'retry');
  t.deepEqual(
    [0, 1, 2].map((attempts) => retryDelay(policy, attempts, boom)),
    [10, 11, null],
  );
});

test('retryOn classes: only instances retry, subclasses included', (t) => {
  class Transient extends Error {}
  class Timeout extends Transient {}
  const policy = normalizeRetry({ retryOn: [Transient, RangeError] }, 'retry');
  t.is(retryDelay(policy, 0, new Transient('x')), 0);
  t.is(retryDelay(policy, 0, new Timeout('x')), 0);
  t.is(retryDelay(policy, 0, new RangeError('x')), 0);
  t.is(retryDelay(policy, 0, new TypeError('x')), null);
  t.is(retryDelay(policy, 0, 'a string'), null);
  // An empty list lets nothing retry.
  t.is(retryDelay(normalizeRetry({ retryOn: [] }, 'retry'), 0, boom), null);
});

test('retryOn predicate decides, and the limit still applies', (t) => {
  const seen: unknown[] = [];
  const policy = normalizeRetry(
    {
      maxAttempts: 1,
      retryOn: (error) => {
        seen.push(error);
        return error instanceof Error && error.message === 'retry me';
      },
    },
    'retry',
  );
  t.is(retryDelay(policy, 0, new Error('retry me')), 0);
  t.is(retryDelay(policy, 0, new Error('other')), null);
  t.is(retryDelay(policy, 1, new Error('retry me')), null);
  t.is(seen.length, 2); // past the limit the predicate is not even asked
});

for (const [option, field] of [
  [-1, 'task.retry'],
  [1.5, 'task.retry'],
  [Number.NaN, 'task.retry'],
  ['3', 'task.retry'],
  [null, 'task.retry'],
  [{ wait: -1 }, 'task.retry.wait'],
  [{ wait: Number.POSITIVE_INFINITY }, 'task.retry.wait'],
  [{ linearWait: '2' }, 'task.retry.linearWait'],
  [{ exponentialWait: -0.5 }, 'task.retry.exponentialWait'],
  [{ maxAttempts: -2 }, 'task.retry.maxAttempts'],
  [{ maxAttempts: 2.5 }, 'task.retry.maxAttempts'],
  [{ retryOn: 'Error' }, 'task.retry.retryOn'],
  [{ retryOn: [Error, 'TypeError'] }, 'task.retry.retryOn'],
] as Array<[unknown, string]>) {
  test(`normalizeRetry refuses ${describe(option)} naming ${field}`, (t) => {
    const error = t.throws(() => normalizeRetry(option as RetryOption, 'task.retry'), { instanceOf: ConfigError });
    t.is(error?.field, field);
    t.is(error?.code, 'ERR_CONFIG');
    t.true(error?.message.startsWith(`${field}: got `));
  });
}
