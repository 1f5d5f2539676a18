/**
 * The Procrastinate workload's tables, built from the drains measured: one row per contender with
 * its rounds, median and costs, and the verdicts of targets.ts; and where our drains spend their
 * time. Pure functions: no benchmark runs here.
 */
import { fmt, type Row } from '../harness/format.js';
import { summarize } from '../harness/stats.js';
import type { Contender, Drain } from './drain.js';
import { compareSlotCeiling, judgeOurs } from './targets.js';

/** The median jobs/s of each contender's rounds. */
export function mediansOf(runs: ReadonlyMap<string, readonly Drain[]>): Map<string, number> {
  return new Map([...runs].map(([key, drains]) => [key, summarize(drains.map((d) => d.jobsPerSec)).median]));
}

/** Each slot store's ceiling contender, and our contender on that store. */
const slotCeilings = new Map([
  ['sql-redis-slots', { key: 'redis', label: 'Redis slots' }],
  ['sql-pg-slots', { key: 'postgres', label: 'PostgreSQL slots' }],
]);

/** One row per contender, in the order given; `runs` holds every round of each, by key. */
export function drainRows(
  contenders: readonly Pick<Contender, 'key' | 'label'>[],
  runs: ReadonlyMap<string, readonly Drain[]>,
  jobs: number,
): Row[] {
  const medians = mediansOf(runs);
  const ceiling = medians.get('sql');
  const graphileDefaults = medians.get('graphile');
  const oursOnRedis = medians.get('redis');
  return contenders.map((contender) => {
    const mine = runs.get(contender.key)!;
    const median = medians.get(contender.key)!;
    const isOurs = contender.key === 'redis' || contender.key === 'postgres';
    const slotCeiling = slotCeilings.get(contender.key);
    return {
      contender: contender.label,
      jobs: fmt(jobs, 0),
      'jobs/s per round': mine.map((d) => fmt(d.jobsPerSec, 0)).join(', '),
      'jobs/s median': fmt(median, 0),
      '÷ SQL ceiling': ceiling ? fmt(median / ceiling, 2) : '-',
      'ours (Redis slots) ÷ this': oursOnRedis && !isOurs ? fmt(oursOnRedis / median, 2) : '',
      'requests/job (last round)': mine.at(-1)!.requests,
      'Node CPU ms/job': fmt(summarize(mine.map((d) => d.cpuMs / jobs)).median, 3),
      'machine CPU ms/job (steal %)': mine.every((d) => d.machine)
        ? `${fmt(summarize(mine.map((d) => d.machine!.busyMs / jobs)).median, 3)} (${mine.map((d) => fmt(d.machine!.stealPercent, 0)).join(', ')})`
        : '-',
      'load 1 min before → after': mine.map((d) => `${fmt(d.loadBefore, 2)} → ${fmt(d.loadAfter, 2)}`).join('; '),
      target: isOurs
        ? judgeOurs(median, ceiling, graphileDefaults)
        : slotCeiling
          ? compareSlotCeiling(median, { label: slotCeiling.label, median: medians.get(slotCeiling.key) }, graphileDefaults)
          : '',
    };
  });
}

/** Where our drains spent their time: the profile of each one's last round. */
export function profileRows(runs: ReadonlyMap<string, readonly Drain[]>): Row[] {
  return [...runs.values()].flatMap((drains) => (drains.at(-1)?.profile ? [drains.at(-1)!.profile!] : []));
}
