/** The order of a run's measurements: rounds, then workloads, then contenders rotated each round. */
import type { WorkloadInfo, WorkloadKey } from './model.js';

/** `items` started at `round` (mod its length): round 0 A B C, round 1 B C A, round 2 C A B. */
export function rotate<T>(items: readonly T[], round: number): T[] {
  if (items.length === 0) return [];
  const start = round % items.length;
  return [...items.slice(start), ...items.slice(0, start)];
}

/**
 * The workloads with only the contenders named (all when `names` is undefined), and only the
 * ratios between two of them; a workload left with none is dropped. Throws naming a key no
 * selected workload has, and the keys they have.
 */
export function selectContenders(workloads: readonly WorkloadInfo[], names: readonly string[] | undefined): WorkloadInfo[] {
  if (names === undefined) return [...workloads];
  const known = new Set(workloads.flatMap((info) => info.contenders.map((c) => c.key)));
  const unknown = names.filter((name) => !known.has(name));
  if (unknown.length > 0) {
    throw new Error(`--contenders: no selected workload has ${unknown.map((n) => `"${n}"`).join(', ')}; known: ${[...known].join(', ')}`);
  }
  return workloads
    .map((info) => ({
      ...info,
      contenders: info.contenders.filter((c) => names.includes(c.key)),
      pairs: info.pairs.filter((pair) => names.includes(pair.ours) && names.includes(pair.peer)),
    }))
    .filter((info) => info.contenders.length > 0);
}

export interface Step {
  round: number;
  workload: WorkloadKey;
  contender: string;
}

/**
 * Every measurement of a run in order: each round runs each workload's contenders one after the
 * other (so that ours and the peers alternate and meet the same machine), starting one contender
 * later than the round before, so that none always goes first on a quiet machine or always right
 * after the same other.
 */
export function plan(workloads: readonly WorkloadInfo[], rounds: number): Step[] {
  const steps: Step[] = [];
  for (let round = 0; round < rounds; round++) {
    for (const info of workloads) {
      for (const contender of rotate(info.contenders, round)) steps.push({ round, workload: info.key, contender: contender.key });
    }
  }
  return steps;
}
