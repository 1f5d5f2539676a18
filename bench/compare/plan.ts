/** The order of a run's measurements: rounds, then workloads, then contenders rotated each round. */
import type { WorkloadInfo, WorkloadKey } from './model.js';

/** `items` started at `round` (mod its length): round 0 A B C, round 1 B C A, round 2 C A B. */
export function rotate<T>(items: readonly T[], round: number): T[] {
  if (items.length === 0) return [];
  const start = round % items.length;
  return [...items.slice(start), ...items.slice(0, start)];
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
