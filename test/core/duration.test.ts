/** `parseDuration`: numbers are milliseconds, strings are `<number><unit>` parts, bad input names its field. */
import test from 'ava';
import { parseDuration } from '../../src/core/duration.js';
import { ConfigError } from '../../src/core/errors.js';

for (const [input, ms] of [
  [1, 1],
  [1500, 1500],
  [2.4, 2], // whole milliseconds
  ['250ms', 250],
  ['30s', 30_000],
  ['5m', 300_000],
  ['2h', 7_200_000],
  ['1h30m', 5_400_000],
  ['1m30s500ms', 90_500],
  ['1.5s', 1500],
  ['0.5m', 30_000],
  ['2d', 172_800_000],
  [' 10s ', 10_000],
] as const) {
  test(`parseDuration(${JSON.stringify(input)}) is ${ms} ms`, (t) => {
    t.is(parseDuration(input, 'timeout'), ms);
  });
}

for (const bad of [
  '5 minutes',
  'abc',
  '',
  '10',
  '5x',
  's',
  '1h 30m',
  '-5s',
  '5m!',
  Number.NaN,
  Number.POSITIVE_INFINITY,
  null,
  undefined,
  true,
  { ms: 5 },
]) {
  test(`parseDuration rejects ${typeof bad === 'number' ? String(bad) : (JSON.stringify(bad) ?? 'undefined')}, naming the field`, (t) => {
    const error = t.throws(() => parseDuration(bad, 'slots[3].timeout'), { instanceOf: ConfigError });
    t.is(error.code, 'ERR_BAD_DURATION');
    t.is(error.field, 'slots[3].timeout');
    t.is(error.value, bad);
    t.true(error.message.startsWith('slots[3].timeout: '), error.message);
    t.true(error.message.includes("'30s'"), error.message); // shows the allowed forms
  });
}

test('parseDuration rejects zero and negative numbers, naming the field and the bounds', (t) => {
  for (const bad of [0, -1, -1000, '0s', '0.4ms']) {
    const error = t.throws(() => parseDuration(bad, 'pollTimeout'), { instanceOf: ConfigError });
    t.is(error.code, 'ERR_BAD_DURATION');
    t.is(error.field, 'pollTimeout');
    t.is(error.value, bad);
    t.true(error.message.includes('pollTimeout'), error.message);
    t.true(error.message.includes('between 1 ms'), error.message);
  }
});

test('parseDuration honours a custom minimum', (t) => {
  t.is(parseDuration(0, 'retention', { min: 0 }), 0);
  t.is(parseDuration('1s', 'lease', { min: 1000 }), 1000);
  const error = t.throws(() => parseDuration('999ms', 'lease', { min: 1000 }), { instanceOf: ConfigError });
  t.is(error.field, 'lease');
  t.true(error.message.includes('between 1000 ms'), error.message);
});

test('parseDuration rejects durations beyond 2^31 seconds', (t) => {
  const error = t.throws(() => parseDuration(2 ** 31 * 1000 + 1, 'timeout'), { instanceOf: ConfigError });
  t.is(error.code, 'ERR_BAD_DURATION');
  t.is(error.field, 'timeout');
});

test('a failed parse does not affect the next one', (t) => {
  t.throws(() => parseDuration('5m!', 'a'));
  t.is(parseDuration('5m', 'b'), 300_000);
  t.throws(() => parseDuration('1h 30m', 'a'));
  t.is(parseDuration('1h30m', 'b'), 5_400_000);
});
