/**
 * Orders from the harness to one worker process: a file in the run directory, then SIGUSR2 to say
 * it is there. The worker reads it synchronously in its signal handler, so an order arrives
 * whatever the worker is waiting on (but not while it is stopped or blocked: it runs when it wakes).
 * Each order has a file of its own: two lanes may order the same worker before it reads either.
 */
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Where an armed worker kills itself (SIGKILL): `poll`, in a poll, once it has claimed a task for
 * a reserved slot; `started`, once the store saved an occupancy, before `startCallback`; `stop`,
 * a few milliseconds after a task sent its `stop()`, before or after the store's answer.
 */
export type KillPhase = 'poll' | 'started' | 'stop';
export const killPhases: readonly KillPhase[] = ['poll', 'started', 'stop'];

/** Backend calls the harness can make misbehave, one call at a time. */
export type MisbehavingCall = 'poll' | 'startCallback' | 'stopCallback' | 'rejectCallback';
export const misbehavingCalls: readonly MisbehavingCall[] = ['poll', 'startCallback', 'stopCallback', 'rejectCallback'];

/**
 * How a call misbehaves: `slow`, it settles past its time limit (pollTimeout, callbackTimeout);
 * `hang`, it never settles; `hang-signal`, it settles only once its signal fires (a poll's, or the
 * started task's); `throw`, it throws synchronously; `reject`, its promise rejects. A misbehaving
 * call still does its job where a backend must (a claim taken over or given back, a task queued
 * again), so that what the checker judges is the scheduler's answer, not a task the backend lost.
 */
export type Misbehaviour = 'slow' | 'hang' | 'hang-signal' | 'throw' | 'reject';
export const misbehaviours: readonly Misbehaviour[] = ['slow', 'hang', 'hang-signal', 'throw', 'reject'];

export type Control =
  /** Die (SIGKILL) at the next occurrence of `phase`. */
  | { action: 'die'; phase: KillPhase }
  /** The next step of a task blocks the event loop for `ms`, if it comes before `before` (monotonic ns). */
  | { action: 'block'; ms: number; before: number }
  /**
   * The next `call` of the worker misbehaves as `how` (`slow`: it takes `ms`), if it comes before
   * `before` (monotonic ns): an order taken after the last fault would blur the recovery.
   */
  | { action: 'misbehave'; call: MisbehavingCall; how: Misbehaviour; ms: number; before: number }
  /** The next poll, if before `before`, returns the id of a task that holds a slot (in any process) instead of claiming one. */
  | { action: 'duplicate'; before: number };

let sent = 0;
const controlPrefix = (pid: number) => `control-${pid}-`;

/** Sends `control` to worker `pid`. */
export function sendControl(runDir: string, pid: number, control: Control): void {
  writeFileSync(join(runDir, `${controlPrefix(pid)}${process.pid}-${++sent}.json`), JSON.stringify(control));
  process.kill(pid, 'SIGUSR2');
}

/** The orders for this process, taken (their files are removed), oldest first. */
export function takeControls(runDir: string): Control[] {
  const files = readdirSync(runDir)
    .filter((name) => name.startsWith(controlPrefix(process.pid)))
    .sort((a, b) => Number(a.split('-').at(-1)!.split('.')[0]) - Number(b.split('-').at(-1)!.split('.')[0]));
  const controls: Control[] = [];
  for (const name of files) {
    const path = join(runDir, name);
    try {
      controls.push(JSON.parse(readFileSync(path, 'utf8')) as Control);
    } catch {
      // Half written when the signal came: its own signal follows and it is read then.
      continue;
    }
    rmSync(path, { force: true });
  }
  return controls;
}
