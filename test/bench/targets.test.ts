/**
 * The benchmarks' targets are judged by pure functions over measured figures, and the result
 * tables are built from measured drains the same way: both are checked here on made-up figures,
 * without running a benchmark.
 */
import test from 'ava';
import { drainRow, type DrainRun } from '../../bench/drain/table.js';
import type { Drain } from '../../bench/procrastinate/drain.js';
import { drainRows, mediansOf } from '../../bench/procrastinate/table.js';
import { compareSlotCeiling, judgeLatency, judgeOurs } from '../../bench/procrastinate/targets.js';

test('ours is judged against the SQL ceiling and graphile-worker defaults of the same run', (t) => {
  t.is(judgeOurs(2_700, 3_000, 2_700), '≥ 90 % of SQL ceiling: met (90 %); ≥ 1.0× graphile defaults: met (1.00×)');
  t.is(judgeOurs(2_000, 3_000, 4_000), '≥ 90 % of SQL ceiling: missed (67 %); ≥ 1.0× graphile defaults: missed (0.50×)');
  t.is(judgeOurs(5_000, 3_000, undefined), '≥ 90 % of SQL ceiling: met (167 %)', 'graphile-worker not run: not judged');
  t.is(judgeOurs(5_000, undefined, 4_000), '', 'no ceiling measured: nothing judged');
});

test('a slot store ceiling is a yardstick: the share ours reaches and its ratio to graphile-worker', (t) => {
  t.is(
    compareSlotCeiling(5_000, { label: 'Redis slots', median: 4_400 }, 4_000),
    'ours (Redis slots) reach 88 % of it; it is 1.25× graphile defaults',
  );
  t.is(compareSlotCeiling(5_000, { label: 'Redis slots', median: undefined }, undefined), '');
});

test('latency meets each percentile at or under its bound', (t) => {
  t.is(judgeLatency(2, 10), 'p50 ≤ 2 ms: met; p99 ≤ 10 ms: met');
  t.is(judgeLatency(2.01, 10.5), 'p50 ≤ 2 ms: missed; p99 ≤ 10 ms: missed');
});

test('the drain row gives the runs, their median and spread, and no verdict', (t) => {
  const runs = (store: 'memory' | 'redis', ...rates: number[]): DrainRun[] =>
    rates.map((tasksPerSec) => ({ store, tasksPerSec, requestsPerTask: 0.2, passes: 100 }));
  const sizes = { tasks: 20_000, slots: 10 };
  const redis = drainRow('redis', sizes, runs('redis', 12_000, 10_000, 14_000), true);
  t.like(redis, {
    runs: '12,000, 10,000, 14,000',
    'tasks/s median': '12,000',
    'spread (max−min)/median': '33.3%',
    'requests/task': '0.20',
  });
  t.false('target' in redis, 'a rate is judged against peers of the same run, in compare');
  t.like(drainRow('memory', sizes, runs('memory', 40_000), false), { 'requests/task': '-' });
});

test('the Procrastinate rows judge ours, compare the slot ceilings, and ratio every peer to ours', (t) => {
  const drain = (jobsPerSec: number): Drain => ({
    contender: '',
    jobsPerSec,
    elapsedMs: 1000,
    requests: '-',
    loadBefore: 1,
    loadAfter: 1,
    cpuMs: 100,
    machine: null,
  });
  const runs = new Map([
    ['sql', [drain(2_000), drain(3_000), drain(2_500)]],
    ['sql-redis-slots', [drain(6_000)]],
    ['redis', [drain(4_800)]],
    ['graphile', [drain(4_000)]],
  ]);
  t.is(mediansOf(runs).get('sql'), 2_500);
  const contenders = [...runs.keys()].map((key) => ({ key, label: key }));
  const [sql, slots, ours, graphile] = drainRows(contenders, runs, 10_000);
  t.like(sql, { 'jobs/s median': '2,500', '÷ SQL ceiling': '1.00', 'ours (Redis slots) ÷ this': '1.92', target: '' });
  t.like(slots, { target: 'ours (Redis slots) reach 80 % of it; it is 1.50× graphile defaults' });
  t.like(ours, { 'ours (Redis slots) ÷ this': '', target: '≥ 90 % of SQL ceiling: met (192 %); ≥ 1.0× graphile defaults: met (1.20×)' });
  t.like(graphile, { 'ours (Redis slots) ÷ this': '1.20', 'machine CPU ms/job (steal %)': '-', 'Node CPU ms/job': '0.010' });
});
