/**
 * Orders from the harness to one worker process: a file in the run directory, then SIGUSR2 to say
 * it is there. The worker reads it synchronously in its signal handler, so an order arrives
 * whatever the worker is waiting on (but not while it is stopped or blocked: it runs when it wakes).
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Where an armed worker kills itself (SIGKILL): `poll`, in a poll, once it has claimed a task for
 * a reserved slot; `started`, once the store saved an occupancy, before `startCallback`; `stop`,
 * a few milliseconds after a task sent its `stop()`, before or after the store's answer.
 */
export type KillPhase = 'poll' | 'started' | 'stop';
export const killPhases: readonly KillPhase[] = ['poll', 'started', 'stop'];

export type Control =
  /** Die (SIGKILL) at the next occurrence of `phase`. */
  | { action: 'die'; phase: KillPhase }
  /** The next step of a task blocks the event loop for `ms`, if it comes before `before` (monotonic ns). */
  | { action: 'block'; ms: number; before: number };

const controlPath = (runDir: string, pid: number) => join(runDir, `control-${pid}.json`);

/** Sends `control` to worker `pid`. */
export function sendControl(runDir: string, pid: number, control: Control): void {
  writeFileSync(controlPath(runDir, pid), JSON.stringify(control));
  process.kill(pid, 'SIGUSR2');
}

/** The order for this process, if any, taken (the file is removed). */
export function takeControl(runDir: string): Control | undefined {
  const path = controlPath(runDir, process.pid);
  try {
    const control = JSON.parse(readFileSync(path, 'utf8')) as Control;
    rmSync(path, { force: true });
    return control;
  } catch {
    return undefined;
  }
}
