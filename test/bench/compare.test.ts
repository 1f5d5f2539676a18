/**
 * The compare runner's pure parts, on made-up figures (no benchmark runs here): its options, the
 * order of its measurements, today's table with its per-round ratios, and the targets' verdicts.
 */
import test from 'ava';
import type { Measurement, WorkloadInfo, WorkloadKey } from '../../bench/compare/model.js';
import { parseCompareOptions, type CompareOptions } from '../../bench/compare/options.js';
import { plan, rotate, selectContenders } from '../../bench/compare/plan.js';
import { contenderRows, detailLines, ratioRows, Results, spread } from '../../bench/compare/table.js';
import {
  judgeAll,
  judgeMetric,
  judgeNoErrors,
  judgeProbe,
  judgeRatio,
  judgeRoundTrips,
  judgeStoreCpu,
} from '../../bench/compare/targets.js';

const options = (argv: string[]) => parseCompareOptions(argv) as CompareOptions;

/** One measurement; `metrics` undefined makes it a failed one. */
function m(workload: WorkloadKey, contender: string, round: number, metrics?: Record<string, number>, details?: string[]): Measurement {
  return {
    workload,
    contender,
    round,
    metrics: metrics ?? {},
    ...(metrics ? {} : { error: 'boom' }),
    ...(details ? { details } : {}),
    seconds: 1,
    load: [1, 1],
  };
}

const w1: WorkloadInfo = {
  key: 'W1',
  title: 'W1',
  metrics: [{ key: 'rate', label: 'tasks/s', better: 'higher', decimals: 0 }],
  contenders: [
    { key: 'ours-redis', label: 'ours on Redis', short: 'ours', ours: true },
    { key: 'bullmq', label: 'BullMQ', short: 'BullMQ', ours: false, peer: 'bullmq' },
  ],
  pairs: [{ ours: 'ours-redis', peer: 'bullmq', metric: 'rate' }],
  notes: [],
};

test('options: sizes default, at least 3 rounds, workloads by name, nothing unknown', (t) => {
  const defaults = options([]);
  t.like(defaults, { rounds: 3, concurrency: 10, w1Tasks: 20_000, w4Limit: 8, w5Callers: 16, w7Slots: 64 });
  t.deepEqual(defaults.only, ['W1', 'W2', 'W3', 'W4', 'W5', 'W6', 'W7']);
  t.deepEqual(defaults.w6SlotCounts, [10, 100, 1000, 10_000]);
  t.deepEqual(options(['--only=w4,W1', '--rounds=5']).only, ['W1', 'W4'], 'in workload order, any case');
  t.throws(() => parseCompareOptions(['--rounds=2']), { message: '--rounds must be a whole number of at least 3, got 2' });
  t.throws(() => parseCompareOptions(['--only=W9']), { message: /--only: unknown workload "W9"/ });
  t.throws(() => parseCompareOptions(['--w6-slot-counts=10,x']), { message: /--w6-slot-counts must be whole numbers/ });
  t.throws(() => parseCompareOptions(['--tasks=5']), { message: /Unknown option '--tasks'/ });
  t.throws(() => parseCompareOptions(['drain']), { message: 'compare takes no other benchmark names, got: drain' });
  t.is(parseCompareOptions(['--help']), 'help');
  t.is(defaults.contenders, undefined, 'every contender by default');
  t.deepEqual(options(['--contenders=ours-redis, bullmq']).contenders, ['ours-redis', 'bullmq']);
  t.throws(() => parseCompareOptions(['--contenders=,']), { message: '--contenders names no contender' });
  t.is(defaults.cpuProfDir, undefined, 'no profile by default');
  t.is(options(['--cpu-prof=/tmp/prof']).cpuProfDir, '/tmp/prof');
  t.throws(() => parseCompareOptions(['--cpu-prof=']), { message: /--cpu-prof needs a directory/ });
});

test('--contenders keeps only the contenders named, drops a workload left with none, and refuses an unknown one', (t) => {
  const w2: WorkloadInfo = { ...w1, key: 'W2', contenders: [w1.contenders[1]!] };
  t.deepEqual(selectContenders([w1, w2], undefined), [w1, w2]);
  const picked = selectContenders([w1, w2], ['ours-redis']);
  t.deepEqual(
    picked.map((info) => [info.key, info.contenders.map((c) => c.key), info.pairs.length]),
    [['W1', ['ours-redis'], 0]],
    'no ratio without its peer',
  );
  t.deepEqual(selectContenders([w1], ['ours-redis', 'bullmq'])[0]!.pairs, w1.pairs);
  t.deepEqual(plan(picked, 3).length, 3, 'one measurement a round');
  t.throws(() => selectContenders([w1], ['ours-redis', 'graphile']), {
    message: '--contenders: no selected workload has "graphile"; known: ours-redis, bullmq',
  });
});

test('each round runs every contender once, starting one later than the round before', (t) => {
  t.deepEqual(rotate(['A', 'B', 'C'], 0), ['A', 'B', 'C']);
  t.deepEqual(rotate(['A', 'B', 'C'], 4), ['B', 'C', 'A']);
  const steps = plan([w1, { ...w1, key: 'W5' }], 3).map((s) => `${s.round}${s.workload}:${s.contender}`);
  t.deepEqual(steps, [
    '0W1:ours-redis',
    '0W1:bullmq',
    '0W5:ours-redis',
    '0W5:bullmq',
    '1W1:bullmq',
    '1W1:ours-redis',
    '1W5:bullmq',
    '1W5:ours-redis',
    '2W1:ours-redis',
    '2W1:bullmq',
    '2W5:ours-redis',
    '2W5:bullmq',
  ]);
});

test('a ratio is taken within each round, and rounds where either side failed are left out', (t) => {
  const results = new Results([
    m('W1', 'ours-redis', 0, { rate: 900 }),
    m('W1', 'bullmq', 0, { rate: 1000 }),
    m('W1', 'ours-redis', 1, { rate: 2400 }),
    m('W1', 'bullmq', 1, { rate: 2000 }),
    m('W1', 'ours-redis', 2, { rate: 5000 }),
    m('W1', 'bullmq', 2),
  ]);
  t.deepEqual(results.ratios('W1', w1.pairs[0]!), [
    { round: 0, ratio: 0.9 },
    { round: 1, ratio: 1.2 },
  ]);
  t.deepEqual(results.values('W1', 'bullmq', 'rate'), [1000, 2000]);
  t.deepEqual(ratioRows(w1, results), [
    {
      'ours ÷ peer, same round': 'ours ÷ BullMQ',
      of: 'tasks/s',
      'per round': '0.90 · 1.20',
      median: '1.05',
      'min–max': '0.90–1.20',
      'ours better when': '> 1',
    },
  ]);
  t.deepEqual(contenderRows(w1, results), [
    { contender: 'ours on Redis', 'tasks/s, median (min–max)': '2,400 (900–5,000)', rounds: '3' },
    { contender: 'BullMQ', 'tasks/s, median (min–max)': '1,500 (1,000–2,000)', rounds: '2 of 3' },
  ]);
  t.is(spread([]), '-');
  t.is(spread([3, 3]), '3.00');
});

test('details come from the last round that measured, and every failure is listed', (t) => {
  const results = new Results([
    m('W1', 'ours-redis', 0, { rate: 1 }, ['first']),
    m('W1', 'ours-redis', 1, { rate: 1 }, ['last']),
    m('W1', 'bullmq', 2),
  ]);
  t.deepEqual(detailLines(w1, results), ['- ours on Redis: last', '- BullMQ, round 3 FAILED: boom']);
});

test('ratio and metric targets are judged on the median and say how many rounds held', (t) => {
  const results = new Results([
    m('W1', 'ours-redis', 0, { rate: 1100 }),
    m('W1', 'bullmq', 0, { rate: 1000 }),
    m('W1', 'ours-redis', 1, { rate: 900 }),
    m('W1', 'bullmq', 1, { rate: 1000 }),
    m('W1', 'ours-redis', 2, { rate: 1050 }),
    m('W1', 'bullmq', 2, { rate: 1000 }),
  ]);
  const pair = w1.pairs[0]!;
  t.deepEqual(judgeRatio(results, 'W1', pair, '>=', 1, 'W1 target'), {
    target: 'W1 target',
    measured: 'median 1.05× (0.90–1.10); 2 of 3 rounds ≥ 1.00',
    verdict: 'met',
  });
  t.is(judgeRatio(results, 'W1', pair, '>=', 1.06, 'x').verdict, 'missed');
  t.is(judgeRatio(results, 'W2', pair, '>=', 1, 'x').verdict, 'not measured');
  t.deepEqual(judgeMetric(results, 'W1', 'ours-redis', 'rate', '<=', 1000, 'fast enough', ' ms'), {
    target: 'fast enough',
    measured: 'median 1,050 ms (900–1,100); 1 of 3 rounds ≤ 1,000 ms',
    verdict: 'missed',
  });
});

test('the W4 probe above the limit is a VIOLATION, whoever the contender', (t) => {
  const clean = new Results([m('W4', 'ours-redis', 0, { probeMax: 8 }), m('W4', 'bullmq', 0, { probeMax: 7 })]);
  t.deepEqual(judgeProbe(clean, ['ours-redis', 'bullmq'], 8), {
    row: {
      target: 'W4: never above the limit of 8 (independent probe), every contender, every round',
      measured: 'most seen at once: 8',
      verdict: 'met',
    },
    violations: [],
  });
  const over = new Results([m('W4', 'ours-redis', 0, { probeMax: 8 }), m('W4', 'bullmq', 1, { probeMax: 9 })]);
  const judged = judgeProbe(over, ['ours-redis', 'bullmq'], 8);
  t.is(judged.row.verdict, 'VIOLATION');
  t.deepEqual(judged.violations, ['VIOLATION: bullmq, round 2: 9 jobs ran at once, above the limit of 8']);
});

test('W6 round trips must be the same at every slot count; W7 must have no errors and a store CPU', (t) => {
  const results = new Results([
    m('W6', 'redis-10', 0, { trips: 2 }),
    m('W6', 'redis-1000', 0, { trips: 2 }),
    m('W6', 'postgres-10', 0, { trips: 2 }),
    m('W6', 'postgres-1000', 0, { trips: 3 }),
    m('W7', 'ours-redis', 0, { errors: 0, storeCpu: 40 }),
    m('W7', 'ours-redis', 1, { errors: 0, storeCpu: 60 }),
    m('W7', 'ours-postgres', 0, { errors: 2, storeCpu: NaN }),
  ]);
  t.like(judgeRoundTrips(results, 'redis', [10, 1000]), { measured: '10: 2, 1,000: 2', verdict: 'met' });
  t.like(judgeRoundTrips(results, 'postgres', [10, 1000]), { measured: '10: 2, 1,000: 3', verdict: 'missed' });
  t.like(judgeNoErrors(results, 'ours-redis', 'Redis slots'), { measured: '0 in 2 rounds', verdict: 'met' });
  t.like(judgeNoErrors(results, 'ours-postgres', 'PostgreSQL slots'), { measured: '2 in 1 rounds', verdict: 'missed' });
  t.like(judgeStoreCpu(results, 'ours-redis', 'Redis slots'), {
    measured: '2 of 2 rounds: median 50.0 (40.0–60.0) % of one core',
    verdict: 'met',
  });
  t.like(judgeStoreCpu(results, 'ours-postgres', 'PostgreSQL slots'), { verdict: 'missed' });
});

test('every target of the workloads run is judged, and only those', (t) => {
  const sizes = { w4Limit: 8, w5Callers: 16, w5Limit: 4, w6SlotCounts: [10] };
  const { rows } = judgeAll(new Results([]), ['W1', 'W5'], sizes);
  t.deepEqual(
    rows.map((r) => r.target),
    [
      'W1: Redis slots ≥ 1.0× BullMQ',
      'W1: PostgreSQL slots ≥ 1.0× graphile-worker defaults',
      'W5: ≥ 1.0× redis-semaphore, 1 caller',
      'W5: ≥ 1.0× redis-semaphore, 16 callers',
      "W5: acquire p99 below redis-semaphore's, 16 callers on 4",
    ],
  );
  t.true(rows.every((r) => r.verdict === 'not measured'));
  t.is(judgeAll(new Results([]), ['W1', 'W2', 'W3', 'W4', 'W5', 'W6', 'W7'], sizes).rows.length, 22);
});
