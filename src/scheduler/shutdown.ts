/**
 * A scheduler's graceful shutdown, with Procrastinate's semantics and a bound on every wait:
 * stop claiming; wait for the tasks running in this process to stop, up to the graceful
 * deadline; fire their signals (cause `shutdown`); wait up to the final deadline; end those still
 * running `dropped` in the store; close. A second call cuts the graceful wait short.
 *
 * Only tasks of backends that `runsInProcess` are waited for: a task that `startCallback` handed
 * to another process lives there, keeps its slot alive from there, and stays in the store.
 */
import { performance } from 'node:perf_hooks';
import { settlesWithin } from '../core/call.js';
import type { Duration } from '../core/duration.js';
import { CallTimeoutError, toError } from '../core/errors.js';
import { errorFields } from '../core/logger.js';
import { duration, parseOptions, strictObject } from '../core/option-schema.js';
import type { LocalTask } from './local-tasks.js';
import type { SchedulerParts } from './scheduler-state.js';
import type { DroppedTask, ShutdownReport, ShutdownTask } from './shutdown-report.js';
import type { TaskPath } from './task-path.js';

/** Options of `scheduler.shutdown()`. */
export interface ShutdownOptions {
  /**
   * How long to wait for the tasks running in this process to stop on their own before aborting
   * them. On a call made while a shutdown runs, the wait left is cut to this (default 0: abort now).
   * @defaultValue the scheduler's `shutdownGraceful` on the first call, 0 on a later one
   */
  graceful?: Duration;
  /**
   * How long aborted tasks get to stop before they are dropped. On a call made while a shutdown
   * runs, it can only shorten what is left.
   * @defaultValue the scheduler's `shutdownFinal`
   */
  final?: Duration;
}

/** {@link ShutdownOptions} in milliseconds; absent when not given. */
export interface ShutdownTimes {
  gracefulMs?: number;
  finalMs?: number;
}

const schema = strictObject(
  {
    // 0 is allowed: no wait at all.
    graceful: duration(0, { min: 0 }),
    final: duration(0, { min: 0 }),
  },
  'allowed: an object with `graceful` and `final` durations, or nothing',
);

/** @throws ConfigError naming `shutdown(options.graceful)` or `shutdown(options.final)`, the bad value and what is allowed */
export function resolveShutdownOptions(options: ShutdownOptions | undefined): ShutdownTimes {
  const parsed = parseOptions(schema, options ?? {}, (path) => (path ? `shutdown(options.${path})` : 'shutdown(options)'));
  // Read from what was given: the schema fills a missing duration with its fallback.
  return {
    ...(options?.graceful === undefined ? {} : { gracefulMs: parsed.graceful! }),
    ...(options?.final === undefined ? {} : { finalMs: parsed.final! }),
  };
}

/** What a shutdown needs of its scheduler. */
export interface ShutdownParts extends SchedulerParts {
  path: TaskPath;
  /**
   * Stops claiming (no cron tick, no pass or refill from now on: `state.closing`); resolves once
   * the pass and refills under way are over, their reservations released.
   */
  stopClaiming(): Promise<void>;
  /** The scheduler's `close()`, each step bounded by what is left of `boundMs`; rejects with an AggregateError of what failed. */
  close(boundMs: number): Promise<void>;
}

/** The phase a shutdown is in: the graceful wait, the final wait after the abort, or the end (drop and close). */
type Phase = 'graceful' | 'final' | 'ending';

/**
 * One shutdown of a scheduler, built and started by the first `shutdown()` call; later calls
 * {@link hurry} it. {@link done} resolves with its report.
 */
export class Shutdown {
  readonly done: Promise<ShutdownReport>;
  private settle!: { resolve(report: ShutdownReport): void; reject(error: unknown): void };
  private readonly began = performance.now();
  private readonly gracefulMs: number;
  private phase: Phase = 'graceful';
  /** performance.now() of the graceful deadline; a second call moves it closer. */
  private gracefulEnd: number;
  private finalMs: number;
  /** performance.now() of the final deadline, once the abort fired. */
  private finalEnd = Infinity;
  /** Every task running in process that the shutdown met, in the order met, as the report names it. */
  private readonly met = new Map<LocalTask, ShutdownTask>();
  /** Those whose signal the shutdown fired. */
  private readonly abortedHere = new Set<LocalTask>();
  /** Re-judges the wait under way (a task came or went, a deadline moved). */
  private wake: (() => void) | undefined;

  constructor(
    private readonly parts: ShutdownParts,
    times: Required<ShutdownTimes>,
  ) {
    this.gracefulMs = times.gracefulMs;
    this.gracefulEnd = this.began + times.gracefulMs;
    this.finalMs = times.finalMs;
    this.done = new Promise((resolve, reject) => (this.settle = { resolve, reject }));
  }

  /**
   * Begins: claiming stops before this returns. Apart from the constructor, so that the scheduler
   * holds the shutdown before any of its events runs a listener (which may call `shutdown()`).
   */
  start(): void {
    this.run().then(this.settle.resolve, this.settle.reject);
  }

  /**
   * A later `shutdown()` call (a second signal): the graceful wait left is cut to `gracefulMs`
   * (0 when not given: abort now), and a `finalMs` given shortens the final wait. Never lengthens
   * either.
   */
  hurry(times: ShutdownTimes): void {
    if (this.phase === 'ending') return;
    const now = performance.now();
    this.gracefulEnd = Math.min(this.gracefulEnd, now + (times.gracefulMs ?? 0));
    if (times.finalMs !== undefined) {
      this.finalMs = Math.min(this.finalMs, times.finalMs);
      this.finalEnd = Math.min(this.finalEnd, now + times.finalMs);
    }
    this.parts.logger.info('shutdown hurried', {
      phase: this.phase,
      gracefulLeftMs: Math.max(0, Math.round(this.gracefulEnd - now)),
      finalMs: this.finalMs,
    });
    this.wake?.();
  }

  private async run(): Promise<ShutdownReport> {
    this.parts.localTasks.onChange = () => this.onTasksChanged();
    try {
      return await this.steps();
    } finally {
      this.parts.localTasks.onChange = undefined;
    }
  }

  private async steps(): Promise<ShutdownReport> {
    const { localTasks, logger, notify } = this.parts;
    const { gracefulMs } = this;
    // (a) Nothing more is claimed; the pass under way ends within the graceful wait, or is left to the close.
    let claimingStopped = false;
    void this.parts.stopClaiming().then(() => {
      claimingStopped = true;
      this.wake?.();
    });
    const running = this.meetNewTasks();
    const remote = localTasks
      .all()
      .filter((local) => !local.runsInProcess)
      .map(taskOf);
    logger.info('shutting down: no new tasks; waiting for the tasks running here', {
      running: running.length,
      remote: remote.length,
      gracefulMs,
      finalMs: this.finalMs,
    });
    notify('shutdown:begin', { running, remote, gracefulMs, finalMs: this.finalMs });

    // (b) The graceful wait.
    await this.until(
      () => claimingStopped && this.running().length === 0,
      () => this.gracefulEnd,
    );

    // (c) and (d): abort, then the final wait.
    this.phase = 'final';
    if (this.running().length > 0) {
      this.finalEnd = Math.min(this.finalEnd, performance.now() + this.finalMs);
      const told = this.running().filter((local) => this.abort(local));
      logger.warn('graceful shutdown wait over: aborting the tasks still running here', {
        tasks: told.length,
        finalMs: this.finalMs,
      });
      notify('shutdown:abort', { tasks: told.map((local) => this.meet(local)), finalMs: this.finalMs });
      await this.until(
        () => this.running().length === 0,
        () => this.finalEnd,
      );
    }

    // (e) Drop what still runs, then (f) close.
    this.phase = 'ending';
    this.wake = undefined;
    const dropped = await this.dropAll(this.running());
    const errors = await this.close();
    const report = this.report(dropped, remote, errors);
    const fields = {
      finished: report.finished.length,
      aborted: report.aborted.length,
      dropped: report.dropped.length,
      errors: report.errors.length,
      durationMs: Math.round(report.durationMs),
    };
    if (report.dropped.length > 0 || report.errors.length > 0) logger.warn('shut down, not cleanly', fields);
    else logger.info('shut down', fields);
    notify('shutdown:end', report);
    return report;
  }

  /** The tasks running in this process, as tracked now. */
  private running(): LocalTask[] {
    return this.parts.localTasks.all().filter((local) => local.runsInProcess);
  }

  /** Meets the tasks running in process not met yet (started by the pass under way); returns those running. */
  private meetNewTasks(): ShutdownTask[] {
    return this.running().map((local) => this.meet(local));
  }

  /** The task as the report names it, met now if it was not yet. */
  private meet(local: LocalTask): ShutdownTask {
    let task = this.met.get(local);
    if (!task) {
      this.met.set(local, (task = taskOf(local)));
      // Started after the abort (a start sent before the shutdown began): told at once.
      if (this.phase !== 'graceful') this.abort(local);
    }
    return task;
  }

  private onTasksChanged(): void {
    this.meetNewTasks();
    this.wake?.();
  }

  /**
   * Fires the task's signal, cause `shutdown`; true if it did. A task already told to stop (a
   * cancel, a lost slot) or already stopping is left to finish as it is.
   */
  private abort(local: LocalTask): boolean {
    if (local.stopping || local.controller.aborted) return false;
    this.parts.localTasks.abort(local, 'shutdown');
    this.abortedHere.add(local);
    return true;
  }

  /**
   * Resolves once `done()` holds or `deadline()` has passed, judged again whenever {@link wake}
   * is called: a task came or went, or a later call moved the deadline.
   */
  private until(done: () => boolean, deadline: () => number): Promise<void> {
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const judge = (): void => {
        clearTimeout(timer);
        const left = deadline() - performance.now();
        if (done() || left <= 0) {
          this.wake = undefined;
          resolve();
          return;
        }
        // Not unref'd: a shutdown under way keeps the process alive until it ends.
        timer = setTimeout(judge, left);
      };
      this.wake = judge;
      judge();
    });
  }

  /**
   * Ends each task still running `dropped`, all at once, within `callbackTimeout` (the store's
   * answer and the stopCallback together): a drop not done by then counts as not recorded.
   */
  private async dropAll(stubborn: LocalTask[]): Promise<DroppedTask[]> {
    if (stubborn.length === 0) return [];
    const { logger, notify, options } = this.parts;
    const tasks = stubborn.map((local) => this.meet(local));
    logger.warn('tasks still running past the final shutdown deadline: dropping them', {
      tasks: tasks.map(({ taskId, token }) => ({ taskId, token })),
    });
    notify('shutdown:drop', { tasks });
    const recorded = new Map<LocalTask, boolean>();
    const drops = stubborn.map(async (local) => recorded.set(local, await this.drop(local)));
    if (!(await settlesWithin(Promise.all(drops), options.callbackTimeoutMs))) {
      logger.error('dropping tasks did not finish within callbackTimeout; closing anyway', {
        pending: stubborn.filter((local) => !recorded.has(local)).map((local) => local.taskId),
        callbackTimeoutMs: options.callbackTimeoutMs,
      });
    }
    return tasks.map((task, i) => ({ ...task, recorded: recorded.get(stubborn[i]!) ?? false }));
  }

  /**
   * Ends one task `dropped`: its slot frees for the fleet, and its stopCallback runs here with that
   * reason. True if the store recorded it so.
   */
  private async drop(local: LocalTask): Promise<boolean> {
    const { state, path, logger } = this.parts;
    const { taskId, token } = local;
    try {
      const result = await path.end({ taskId, token, reason: 'dropped' }, state.storeOfSlot(local.slotId), false);
      if (result.ok) return true;
      // It ended some other way meanwhile (timed out, stopped elsewhere) or the store lost it: told as such.
      await path.lost(taskId, result, token);
      return false;
    } catch (error) {
      logger.error('could not end a dropped task in the store; its slot frees when its process lease lapses', {
        taskId,
        token,
        slotId: local.slotId,
        ...errorFields(error),
      });
      return false;
    }
  }

  /**
   * Waits for the callbacks still running here, then closes as `close()` does: all of it within
   * `callbackTimeout`. Returns what failed.
   */
  private async close(): Promise<Error[]> {
    const boundMs = this.parts.options.callbackTimeoutMs;
    const end = performance.now() + boundMs;
    const errors: Error[] = [];
    if (!(await settlesWithin(this.parts.path.deliveriesDone(), boundMs))) {
      errors.push(new CallTimeoutError('the callbacks of ended tasks', boundMs, {}));
    }
    const closing = this.parts.close(Math.max(0, end - performance.now()));
    // A close() called earlier runs unbounded: the shutdown still ends on time, and says so.
    const closed = await settlesWithin(closing, Math.max(0, end - performance.now()) + 100);
    if (!closed) errors.push(new CallTimeoutError('closing the scheduler', boundMs, {}));
    else await closing.catch((error: unknown) => errors.push(...(error instanceof AggregateError ? error.errors : [error]).map(toError)));
    for (const error of errors) this.parts.logger.error('closing the scheduler during shutdown failed', errorFields(error));
    return errors;
  }

  private report(dropped: DroppedTask[], remote: ShutdownTask[], errors: Error[]): ShutdownReport {
    const droppedIds = new Set(dropped.map((task) => `${task.token}:${task.taskId}`));
    const finished: ShutdownTask[] = [];
    const aborted: ShutdownTask[] = [];
    for (const [local, task] of this.met) {
      if (droppedIds.has(`${task.token}:${task.taskId}`)) continue;
      (this.abortedHere.has(local) ? aborted : finished).push(task);
    }
    return { finished, aborted, dropped, remote, errors, durationMs: performance.now() - this.began };
  }
}

function taskOf(local: LocalTask): ShutdownTask {
  return { taskId: local.taskId, token: local.token, slotId: local.slotId, backend: local.backend };
}
