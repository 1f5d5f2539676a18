/** The drain's target, judged from measured figures (no benchmark runs here). */
import { fmt } from '../harness/format.js';

/** The Redis drain's median in tasks/s against the rate it is held to (`--target`). */
export function judgeRedisDrain(median: number, target: number): string {
  const ratio = median / target;
  return ratio >= 1 ? `≥ ${fmt(target, 0)}: met (${fmt(ratio * 100, 0)}%)` : `≥ ${fmt(target, 0)}: missed by ${fmt((1 - ratio) * 100, 1)}%`;
}
