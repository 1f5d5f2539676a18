/**
 * The Procrastinate workload's targets, judged from figures measured in the same run: ratios of
 * our drains to the SQL ceiling and to graphile-worker's defaults, and the latency's percentiles.
 * Pure functions: they run no benchmark, so they can be tested alone.
 */
import { fmt } from '../harness/format.js';

/** Our drains (Redis or PostgreSQL slots) against the same run's peers; latency in ms. */
export const targets = {
  /** Our median ÷ the SQL ceiling's. */
  ofSqlCeiling: 0.9,
  /** Our median ÷ graphile-worker's with its defaults. */
  ofGraphileDefaults: 1,
  latencyP50Ms: 2,
  latencyP99Ms: 10,
} as const;

const verdict = (met: boolean) => (met ? 'met' : 'missed');

/**
 * One of our drains: its median against the SQL ceiling's and graphile-worker defaults' medians
 * of the same run. Nothing to judge without the ceiling; graphile-worker is left out when it did
 * not run.
 */
export function judgeOurs(median: number, ceiling: number | undefined, graphileDefaults: number | undefined): string {
  if (!ceiling) return '';
  const ratio = median / ceiling;
  const parts = [
    `≥ ${fmt(targets.ofSqlCeiling * 100, 0)} % of SQL ceiling: ${verdict(ratio >= targets.ofSqlCeiling)} (${fmt(ratio * 100, 0)} %)`,
  ];
  if (graphileDefaults) {
    const vs = median / graphileDefaults;
    parts.push(`≥ ${fmt(targets.ofGraphileDefaults, 1)}× graphile defaults: ${verdict(vs >= targets.ofGraphileDefaults)} (${fmt(vs, 2)}×)`);
  }
  return parts.join('; ');
}

/**
 * A slot store's ceiling (the SQL lockstep plus the store's batch calls) is no target but a
 * yardstick: how much of it ours reaches on that store, and how it compares to graphile-worker.
 */
export function compareSlotCeiling(
  median: number,
  ours: { label: string; median: number | undefined },
  graphileDefaults: number | undefined,
): string {
  const parts: string[] = [];
  if (ours.median) parts.push(`ours (${ours.label}) reach ${fmt((ours.median / median) * 100, 0)} % of it`);
  if (graphileDefaults) parts.push(`it is ${fmt(median / graphileDefaults, 2)}× graphile defaults`);
  return parts.join('; ');
}

/** defer → handler start, from `defer` returning, in ms. */
export function judgeLatency(p50: number, p99: number): string {
  return `p50 ≤ ${targets.latencyP50Ms} ms: ${verdict(p50 <= targets.latencyP50Ms)}; p99 ≤ ${targets.latencyP99Ms} ms: ${verdict(p99 <= targets.latencyP99Ms)}`;
}
