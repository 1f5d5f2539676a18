/**
 * The targets of issue 16, judged from one run's measurements: ratios to a peer from the same
 * rounds, and absolute figures. Met or missed, never asserted anywhere: pure functions over
 * measured figures, tested without running a benchmark.
 */
import { fmt, type Row } from '../harness/format.js';
import { summarize } from '../harness/stats.js';
import type { RatioPair, WorkloadKey } from './model.js';
import type { Results } from './table.js';

export const targets = {
  /** W1: ours on Redis slots ÷ BullMQ, tasks/s. */
  w1RedisVsBullmq: 1,
  /** W1: ours on PostgreSQL slots ÷ graphile-worker's defaults, tasks/s. */
  w1PostgresVsGraphile: 1,
  /** W2: achieved tasks/s ÷ what the concurrency allows. */
  w2Efficiency: 0.9,
  /** W3: enqueue → start on Redis slots, p50 in ms. */
  w3P50Ms: 1.5,
  /** W3: enqueue → start, p99 in ms. */
  w3P99Ms: 10,
  /** W4: jobs/s ÷ limit ÷ job duration. */
  w4EfficiencyRedis: 0.95,
  w4EfficiencyPostgres: 0.9,
  /** W4: ours on Redis slots ÷ redis-semaphore, jobs/s. */
  w4VsRedisSemaphore: 1,
  /** W5: ours ÷ redis-semaphore, cycles/s with 1 and with N callers. */
  w5VsRedisSemaphore: 1,
} as const;

export interface Sizes {
  w4Limit: number;
  w5Callers: number;
  w5Limit: number;
  w6SlotCounts: readonly number[];
}

type Op = '>=' | '<=' | '<';
const sign: Record<Op, string> = { '>=': '≥', '<=': '≤', '<': '<' };
const holds = (value: number, op: Op, bound: number) => (op === '>=' ? value >= bound : op === '<=' ? value <= bound : value < bound);
const row = (target: string, measured: string, verdict: string): Row => ({ target, measured, verdict });
const notMeasured = (target: string) => row(target, '-', 'not measured');

/** A target on the ratios ours ÷ peer of a pair: judged on their median; every round counted. */
export function judgeRatio(results: Results, workload: WorkloadKey, pair: RatioPair, op: Op, bound: number, target: string): Row {
  const ratios = results.ratios(workload, pair).map((r) => r.ratio);
  if (ratios.length === 0) return notMeasured(target);
  const { median, min, max } = summarize(ratios);
  const rounds = ratios.filter((r) => holds(r, op, bound)).length;
  return row(
    target,
    `median ${fmt(median, 2)}× (${fmt(min, 2)}–${fmt(max, 2)}); ${rounds} of ${ratios.length} rounds ${sign[op]} ${fmt(bound, 2)}`,
    holds(median, op, bound) ? 'met' : 'missed',
  );
}

/** A target on one contender's metric: judged on its median over rounds; every round counted. */
export function judgeMetric(
  results: Results,
  workload: WorkloadKey,
  contender: string,
  metric: string,
  op: Op,
  bound: number,
  target: string,
  unit = '',
): Row {
  const values = results.values(workload, contender, metric);
  if (values.length === 0) return notMeasured(target);
  const { median, min, max } = summarize(values);
  const rounds = values.filter((v) => holds(v, op, bound)).length;
  return row(
    target,
    `median ${fmt(median)}${unit} (${fmt(min)}–${fmt(max)}); ${rounds} of ${values.length} rounds ${sign[op]} ${fmt(bound)}${unit}`,
    holds(median, op, bound) ? 'met' : 'missed',
  );
}

/**
 * W4's independent probe: the most jobs any contender had running at once, in any round. Above
 * the limit is a VIOLATION, whoever the contender.
 */
export function judgeProbe(results: Results, contenders: readonly string[], limit: number): { row: Row; violations: string[] } {
  const target = `W4: never above the limit of ${limit} (independent probe), every contender, every round`;
  const violations: string[] = [];
  let most = -Infinity;
  for (const contender of contenders) {
    for (const m of results.of('W4', contender)) {
      const seen = m.metrics.probeMax;
      if (m.error !== undefined || seen === undefined) continue;
      most = Math.max(most, seen);
      if (seen > limit)
        violations.push(`VIOLATION: ${contender}, round ${m.round + 1}: ${seen} jobs ran at once, above the limit of ${limit}`);
    }
  }
  if (most === -Infinity) return { row: notMeasured(target), violations };
  return { row: row(target, `most seen at once: ${most}`, violations.length > 0 ? 'VIOLATION' : 'met'), violations };
}

/** W6: round trips per pass, the same at every slot count and in every round, per store. */
export function judgeRoundTrips(results: Results, store: string, slotCounts: readonly number[]): Row {
  const target = `W6: round trips per pass independent of the slot count, ${store === 'redis' ? 'Redis' : 'PostgreSQL'} slots`;
  const byCount = slotCounts.map((n) => ({ n, trips: results.values('W6', `${store}-${n}`, 'trips') }));
  const all = byCount.flatMap((c) => c.trips);
  if (all.length === 0) return notMeasured(target);
  const distinct = [...new Set(all)];
  const measured = byCount.map((c) => `${fmt(c.n, 0)}: ${c.trips.length ? [...new Set(c.trips)].join('/') : '-'}`).join(', ');
  return row(target, measured, distinct.length === 1 ? 'met' : 'missed');
}

/** W7: no error in any round (thrown, emitted or logged), per store. */
export function judgeNoErrors(results: Results, contender: string, label: string): Row {
  const target = `W7: no errors, ${label}`;
  const errors = results.values('W7', contender, 'errors');
  if (errors.length === 0) return notMeasured(target);
  const total = errors.reduce((a, b) => a + b, 0);
  return row(target, `${fmt(total, 0)} in ${errors.length} rounds`, total === 0 ? 'met' : 'missed');
}

/** W7: the store's CPU measured in every round. */
export function judgeStoreCpu(results: Results, contender: string, label: string): Row {
  const target = `W7: store CPU reported, ${label}`;
  const rounds = results.of('W7', contender).filter((m) => m.error === undefined);
  if (rounds.length === 0) return notMeasured(target);
  const reported = rounds.filter((m) => Number.isFinite(m.metrics.storeCpu));
  return row(
    target,
    `${reported.length} of ${rounds.length} rounds${reported.length ? `: ${spread(reported.map((m) => m.metrics.storeCpu!))} % of one core` : ''}`,
    reported.length === rounds.length ? 'met' : 'missed',
  );
}

function spread(values: number[]): string {
  const { median, min, max } = summarize(values);
  return `median ${fmt(median, 1)} (${fmt(min, 1)}–${fmt(max, 1)})`;
}

type Check = (results: Results) => Row;
const ratio =
  (workload: WorkloadKey, ours: string, peer: string, metric: string, op: Op, bound: number, target: string): Check =>
  (results) =>
    judgeRatio(results, workload, { ours, peer, metric }, op, bound, target);
const metric =
  (workload: WorkloadKey, contender: string, key: string, op: Op, bound: number, target: string, unit = ''): Check =>
  (results) =>
    judgeMetric(results, workload, contender, key, op, bound, target, unit);
const slotStores = [
  ['ours-redis', 'Redis slots'],
  ['ours-postgres', 'PostgreSQL slots'],
] as const;

/** The checks of each workload but W4's probe, in the order printed. */
function checks(sizes: Sizes): Record<WorkloadKey, Check[]> {
  const t = targets;
  const n = sizes.w5Callers;
  return {
    W1: [
      ratio('W1', 'ours-redis', 'bullmq', 'rate', '>=', t.w1RedisVsBullmq, 'W1: Redis slots ≥ 1.0× BullMQ'),
      ratio(
        'W1',
        'ours-postgres',
        'graphile',
        'rate',
        '>=',
        t.w1PostgresVsGraphile,
        'W1: PostgreSQL slots ≥ 1.0× graphile-worker defaults',
      ),
    ],
    W2: slotStores.map(([c, label]) => metric('W2', c, 'efficiency', '>=', t.w2Efficiency, `W2: efficiency ≥ ${t.w2Efficiency}, ${label}`)),
    W3: [
      metric('W3', 'ours-redis', 'p50', '<=', t.w3P50Ms, `W3: p50 ≤ ${t.w3P50Ms} ms, Redis slots`, ' ms'),
      metric('W3', 'ours-pq', 'p50', '<=', t.w3P50Ms, `W3: p50 ≤ ${t.w3P50Ms} ms, Procrastinate on Redis slots`, ' ms'),
      ...[...slotStores, ['ours-pq', 'Procrastinate on Redis slots'] as const].map(([c, label]) =>
        metric('W3', c, 'p99', '<=', t.w3P99Ms, `W3: p99 ≤ ${t.w3P99Ms} ms, ${label}`, ' ms'),
      ),
    ],
    W4: [
      metric('W4', 'ours-redis', 'efficiency', '>=', t.w4EfficiencyRedis, `W4: efficiency ≥ ${t.w4EfficiencyRedis}, Redis slots`),
      metric(
        'W4',
        'ours-postgres',
        'efficiency',
        '>=',
        t.w4EfficiencyPostgres,
        `W4: efficiency ≥ ${t.w4EfficiencyPostgres}, PostgreSQL slots`,
      ),
      ratio('W4', 'ours-redis', 'redis-semaphore', 'rate', '>=', t.w4VsRedisSemaphore, 'W4: Redis slots ≥ 1.0× redis-semaphore'),
    ],
    W5: [
      ratio('W5', 'ours-1', 'rs-1', 'rate', '>=', t.w5VsRedisSemaphore, 'W5: ≥ 1.0× redis-semaphore, 1 caller'),
      ratio('W5', 'ours-n', 'rs-n', 'rate', '>=', t.w5VsRedisSemaphore, `W5: ≥ 1.0× redis-semaphore, ${n} callers`),
      ratio(
        'W5',
        'ours-contended',
        'rs-contended',
        'p99',
        '<',
        1,
        `W5: acquire p99 below redis-semaphore's, ${n} callers on ${sizes.w5Limit}`,
      ),
    ],
    W6: ['redis', 'postgres'].map((store) => (results: Results) => judgeRoundTrips(results, store, sizes.w6SlotCounts)),
    W7: slotStores.flatMap(([c, label]) => [(r: Results) => judgeNoErrors(r, c, label), (r: Results) => judgeStoreCpu(r, c, label)]),
  };
}

/** Every target of the workloads run, in order; and W4's violations, to be shouted. */
export function judgeAll(results: Results, only: readonly WorkloadKey[], sizes: Sizes): { rows: Row[]; violations: string[] } {
  const rows: Row[] = [];
  let violations: string[] = [];
  const all = checks(sizes);
  for (const workload of only) {
    rows.push(...all[workload].map((check) => check(results)));
    if (workload === 'W4') {
      const probe = judgeProbe(
        results,
        ['ours-redis', 'ours-postgres', 'ours-pg-unlogged', 'redis-semaphore', 'bullmq', 'job-alone'],
        sizes.w4Limit,
      );
      rows.splice(rows.length - 1, 0, probe.row); // before the ratio to redis-semaphore
      violations = probe.violations;
    }
  }
  return { rows, violations };
}
