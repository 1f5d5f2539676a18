/**
 * Today's table, built from measurements: each contender's median and min–max over rounds, and
 * each ratio ours ÷ peer taken within a round, with the median and min–max of those ratios. Pure
 * functions of measured figures: no benchmark runs here.
 */
import { fmt, type Row } from '../harness/format.js';
import { summarize } from '../harness/stats.js';
import type { MetricDef, Measurement, RatioPair, WorkloadInfo, WorkloadKey } from './model.js';

/** The measurements of a run, looked up by workload, contender and metric. */
export class Results {
  constructor(readonly measurements: readonly Measurement[]) {}

  /** Every measurement of a contender, in round order, failed ones included. */
  of(workload: WorkloadKey, contender: string): Measurement[] {
    return this.measurements.filter((m) => m.workload === workload && m.contender === contender).sort((a, b) => a.round - b.round);
  }

  /** A metric's value in each round that measured it, in round order. */
  values(workload: WorkloadKey, contender: string, metric: string): number[] {
    return this.of(workload, contender).flatMap((m) =>
      m.error === undefined && Number.isFinite(m.metrics[metric]) ? [m.metrics[metric]!] : [],
    );
  }

  /** `pair.ours` ÷ `pair.peer` in each round where both measured the metric. */
  ratios(workload: WorkloadKey, pair: RatioPair): { round: number; ratio: number }[] {
    const peer = new Map(this.of(workload, pair.peer).map((m) => [m.round, m]));
    return this.of(workload, pair.ours).flatMap((ours) => {
      const theirs = peer.get(ours.round);
      const a = ours.error === undefined ? ours.metrics[pair.metric] : undefined;
      const b = theirs?.error === undefined ? theirs?.metrics[pair.metric] : undefined;
      return a !== undefined && b !== undefined && Number.isFinite(a) && Number.isFinite(b) && b !== 0
        ? [{ round: ours.round, ratio: a / b }]
        : [];
    });
  }
}

/** `median (min–max)` of some values, or `-` without any. */
export function spread(values: readonly number[], decimals?: number): string {
  if (values.length === 0) return '-';
  const { median, min, max } = summarize(values);
  return min === max ? fmt(median, decimals) : `${fmt(median, decimals)} (${fmt(min, decimals)}–${fmt(max, decimals)})`;
}

/** One row per contender: each metric's median (min–max) over rounds, and the rounds measured. */
export function contenderRows(info: WorkloadInfo, results: Results): Row[] {
  return info.contenders.map((contender) => {
    const all = results.of(info.key, contender.key);
    const ok = all.filter((m) => m.error === undefined).length;
    const row: Row = { contender: contender.label };
    for (const metric of info.metrics)
      row[`${metric.label}, median (min–max)`] = spread(results.values(info.key, contender.key, metric.key), metric.decimals);
    row.rounds = ok === all.length ? String(ok) : `${ok} of ${all.length}`;
    return row;
  });
}

/** Which way a ratio ours ÷ peer is better. */
export const betterWhen = (metric: MetricDef) => (metric.better === 'higher' ? '> 1' : '< 1');

/** One row per pair: the ratio in each round, and its median and min–max. */
export function ratioRows(info: WorkloadInfo, results: Results): Row[] {
  const short = (key: string) => info.contenders.find((c) => c.key === key)?.short ?? key;
  return info.pairs.map((pair) => {
    const metric = info.metrics.find((m) => m.key === pair.metric)!;
    const ratios = results.ratios(info.key, pair);
    const values = ratios.map((r) => r.ratio);
    const summary = summarize(values);
    return {
      'ours ÷ peer, same round': `${short(pair.ours)} ÷ ${short(pair.peer)}`,
      of: metric.label,
      'per round': ratios.length === 0 ? '-' : ratios.map((r) => fmt(r.ratio, 2)).join(' · '),
      median: values.length === 0 ? '-' : fmt(summary.median, 2),
      'min–max': values.length === 0 ? '-' : `${fmt(summary.min, 2)}–${fmt(summary.max, 2)}`,
      'ours better when': betterWhen(metric),
    };
  });
}

/** Lines under a workload's tables: each contender's details (last round) and every failure. */
export function detailLines(info: WorkloadInfo, results: Results): string[] {
  const lines: string[] = [];
  for (const contender of info.contenders) {
    const all = results.of(info.key, contender.key);
    const last = all.filter((m) => m.error === undefined).at(-1);
    if (last?.details?.length) lines.push(`- ${contender.label}: ${last.details.join('; ')}`);
    for (const failed of all.filter((m) => m.error !== undefined))
      lines.push(`- ${contender.label}, round ${failed.round + 1} FAILED: ${failed.error}`);
  }
  return lines;
}
