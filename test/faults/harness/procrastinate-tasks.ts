/**
 * The Procrastinate tasks of a fault run: what the feeder defers, what the worker's handlers do,
 * and what the checker expects of each. Some fail on purpose, with and without a retry policy, so
 * that the rules about `failed`, `todo` and `attempts` meet every path of the backend.
 */

/** The queue every job of the run is deferred to, and the only one the fleet serves. */
export const faultQueue = 'faults';

export interface FaultTask {
  name: string;
  /** Its share of the jobs deferred. */
  share: number;
  /**
   * Its retry policy as the backend takes it (Procrastinate's `retry=`): null for none, else the
   * most retries (`maxAttempts`) and the wait before each, in seconds.
   */
  retry: { maxAttempts: number; wait: number } | null;
  /** Whether its handler throws, given the attempts the job shows when it runs. */
  failsAt(attempts: number): boolean;
}

export const faultTasks: readonly FaultTask[] = [
  // Succeeds: ends `succeeded`, attempts 1 (more only when a try was cut short by a fault).
  { name: 'faults.ok', share: 0.55, retry: null, failsAt: () => false },
  // Fails twice, then succeeds on its third run: two retries at once, then `succeeded`.
  { name: 'faults.flaky', share: 0.15, retry: { maxAttempts: 3, wait: 0 }, failsAt: (attempts) => attempts < 2 },
  // Always fails, one retry: `failed` after two runs.
  { name: 'faults.doomed', share: 0.1, retry: { maxAttempts: 1, wait: 0 }, failsAt: () => true },
  // Always fails, no retry: `failed` after one run.
  { name: 'faults.fail', share: 0.1, retry: null, failsAt: () => true },
  // Fails, and its retry is due in an hour: `todo` at the end, per its policy.
  { name: 'faults.later', share: 0.1, retry: { maxAttempts: 1, wait: 3600 }, failsAt: () => true },
];

export const faultTaskNamed = (name: string): FaultTask | undefined => faultTasks.find((task) => task.name === name);

/** Whether a run that threw, after `attempts` finished tries, is retried by the task's policy. */
export const retriesAfter = (task: FaultTask, attempts: number): boolean => task.retry !== null && attempts < task.retry.maxAttempts;

/** The task of a job to defer, by share, from a number in [0, 1). */
export function pickTask(u: number): FaultTask {
  let sum = 0;
  for (const task of faultTasks) {
    sum += task.share;
    if (u < sum) return task;
  }
  return faultTasks[0]!;
}
