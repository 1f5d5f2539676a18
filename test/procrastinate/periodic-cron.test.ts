/**
 * A periodic task's cron expression means the same instants in Node as in Python. Python is not
 * available here, so each row states the ticks croniter yields, by its documented semantics, as
 * Procrastinate calls it (`croniter(cron)`, then `get_next` from a Unix timestamp):
 * - 5 fields: minute, hour, day of month, month, day of week; an optional 6th field is the
 *   seconds, LAST (croniter's default, second_at_beginning=False); with 5 fields, second 0;
 * - times are read in UTC (a float timestamp has no zone, croniter takes it as UTC);
 * - the next tick is the first strictly after the start;
 * - when both day fields are restricted, a day matches if either does (day_or=True, the default);
 * - `*\/S` counts from the field's minimum; names jan…dec and sun…sat; 0 and 7 are Sunday;
 * - @daily is `0 0 * * *`.
 * The Node side: the node-cron expressions PeriodicDeferrer schedules (toNodeCron), whose ticks
 * node-cron's own matcher finds.
 */
import test from 'ava';
import cron from 'node-cron';
import { PeriodicDeferrer } from '../../backends/procrastinate/periodic.js';
import { toNodeCron } from '../../backends/procrastinate/periodic-cron.js';
import { ConfigError } from '../../src/core/errors.js';

/** Expression, start (UTC), and the next ticks croniter gives from there (UTC). */
const croniterTicks: Array<[cron: string, from: string, ticks: string[]]> = [
  // Every 10 seconds: the seconds are the 6th field.
  ['* * * * * */10', '2024-03-15T10:07:23Z', ['10:07:30', '10:07:40', '10:07:50', '10:08:00'].map((t) => `2024-03-15T${t}Z`)],
  ['*/5 * * * *', '2024-03-15T10:07:23Z', ['10:10:00', '10:15:00', '10:20:00'].map((t) => `2024-03-15T${t}Z`)],
  // Sundays at midnight (2024-03-15 is a Friday).
  ['0 0 * * 0', '2024-03-15T10:07:23Z', ['2024-03-17T00:00:00Z', '2024-03-24T00:00:00Z', '2024-03-31T00:00:00Z']],
  ['0 0 * * 7', '2024-03-15T10:07:23Z', ['2024-03-17T00:00:00Z', '2024-03-24T00:00:00Z']],
  // Weekdays at 12:00:30.
  ['0 12 * * 1-5 30', '2024-03-15T10:07:23Z', ['2024-03-15T12:00:30Z', '2024-03-18T12:00:30Z', '2024-03-19T12:00:30Z']],
  // Either day: the 1st of the month or a Monday (2024-05-29 is a Wednesday; June 1st a Saturday).
  ['0 0 1 * 1', '2024-05-29T10:07:23Z', ['2024-06-01T00:00:00Z', '2024-06-03T00:00:00Z', '2024-06-10T00:00:00Z']],
  [
    '0 0 */10 * sun',
    '2024-03-15T10:07:23Z',
    ['2024-03-17T00:00:00Z', '2024-03-21T00:00:00Z', '2024-03-24T00:00:00Z', '2024-03-31T00:00:00Z'],
  ],
  // Names, and a year's wrap: Mondays and Fridays of January to March only.
  [
    '30 9 * jan-mar mon,fri',
    '2024-03-15T10:07:23Z',
    ['2024-03-18T09:30:00Z', '2024-03-22T09:30:00Z', '2024-03-25T09:30:00Z', '2024-03-29T09:30:00Z', '2025-01-03T09:30:00Z'],
  ],
  [
    '0 0 */10 * *',
    '2024-03-15T10:07:23Z',
    ['2024-03-21T00:00:00Z', '2024-03-31T00:00:00Z', '2024-04-01T00:00:00Z', '2024-04-11T00:00:00Z'],
  ],
  [
    '15,45 8-10/2 * * *',
    '2024-03-15T10:07:23Z',
    ['2024-03-15T10:15:00Z', '2024-03-15T10:45:00Z', '2024-03-16T08:15:00Z', '2024-03-16T08:45:00Z'],
  ],
  ['* * * * * *', '2024-03-15T10:07:23Z', ['2024-03-15T10:07:24Z', '2024-03-15T10:07:25Z']],
  ['@daily', '2024-03-15T10:07:23Z', ['2024-03-16T00:00:00Z', '2024-03-17T00:00:00Z']],
];

const dayMs = 86_400_000;

/**
 * The first `count` ticks after `from` of node-cron expressions, in UTC, as node-cron's own
 * matcher sees them: days in order, and in each day the times node-cron parsed from the
 * expression (hours × minutes × seconds), each instant checked with the task's `match`.
 */
function nodeCronTicks(expressions: readonly string[], from: Date, count: number): string[] {
  const found = new Set<number>();
  for (const expression of expressions) {
    const task = cron.createTask(expression, () => {}, { timezone: 'UTC' });
    const { hour, minute, second } = cron.parse(expression);
    const times = hour.flatMap((h) => minute.flatMap((m) => second.map((s) => ((h * 60 + m) * 60 + s) * 1000))).sort((a, b) => a - b);
    let day = Date.UTC(from.getUTCFullYear(), from.getUTCMonth(), from.getUTCDate());
    let mine = 0;
    // Up to two years: the first time of a day tells whether its day fields match at all.
    for (let d = 0; d < 731 && mine < count; d++, day += dayMs) {
      if (!task.match(new Date(day + times[0]!))) continue;
      for (const time of times) {
        if (mine === count) break;
        if (day + time > from.getTime() && task.match(new Date(day + time))) {
          found.add(day + time);
          mine++;
        }
      }
    }
    void task.destroy();
  }
  return [...found]
    .sort((a, b) => a - b)
    .slice(0, count)
    .map((ms) => new Date(ms).toISOString().replace('.000Z', 'Z'));
}

for (const [expression, from, ticks] of croniterTicks) {
  test(`'${expression}' ticks in Node where croniter ticks`, (t) => {
    const schedules = toNodeCron(expression, 'cron');
    t.deepEqual(nodeCronTicks(schedules, new Date(from), ticks.length), ticks, `node-cron: ${schedules.join(' | ')}`);
  });
}

test('forms that node-cron and croniter read differently, or that only one reads, are refused, naming the field, the value and the part', (t) => {
  const refused: Array<[string, RegExp]> = [
    // node-cron's seconds-first habit: for Python, every second of every 10th minute.
    ['*/10 * * * * *', /seconds field \(last, as Procrastinate reads it\) is '\*'/],
    ['0 0 * * * *', /seconds-first order is not accepted/],
    ['* * * * * * 2024', /7 fields/],
    ['* * * *', /4 fields/],
    ['', /1 fields/],
    ['0 0 L * *', /day of month field 'L'/],
    ['0 0 15W * *', /day of month field '15W'/],
    ['0 0 ? * 1', /day of month field '\?'/],
    ['0 0 * * 1#2', /day of week field '1#2'/],
    ['H * * * *', /minute field 'H'/],
    ['61 * * * *', /61 is out of 0-59/],
    ['0 0 * * 8', /8 is out of 0-7/],
    ['0 0 * * 5-7', /write Sunday as 0 in a range/],
    ['5-5 * * * *', /a range N-M needs N < M/],
    ['10/5 * * * *', /write N-M\/S/],
    ['*/0 * * * *', /a step must be at least 1/],
    ['0 0 1-31 * 1', /one lists every value; write it as '\*'/],
    ['0 0 * foo *', /month field 'foo'/],
  ];
  for (const [expression, reason] of refused) {
    const error = t.throws(() => toNodeCron(expression, 'tasks[0].cron'), { instanceOf: ConfigError }, expression);
    t.is(error?.field, 'tasks[0].cron');
    t.is(error?.value, expression);
    t.regex(error?.message ?? '', reason, expression);
    t.regex(error?.message ?? '', /allowed: Procrastinate's cron syntax/);
  }
  t.is(t.throws(() => toNodeCron(5, 'c'), { instanceOf: ConfigError })?.field, 'c');
});

test('PeriodicDeferrer refuses a seconds-first expression at construction, naming the task entry', (t) => {
  const error = t.throws(
    () =>
      new PeriodicDeferrer({
        postgres: 'postgres://localhost/x',
        tasks: [
          { taskName: 'app.ok', cron: '0 * * * *' },
          { taskName: 'app.tick', cron: '*/10 * * * * *' },
        ],
      }),
    { instanceOf: ConfigError },
  );
  t.is(error?.field, 'PeriodicDeferrerOptions.tasks[1].cron');
  t.is(error?.value, '*/10 * * * * *');
});
