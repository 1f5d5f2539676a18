/**
 * Runs one claimed job in this process and writes its end: the handler gets an AbortSignal and a
 * keepalive, the slot is kept alive while it runs, and once it returns exactly one end is written
 * through the ownership guard and the slot is stopped. The write is queued before the stop, and
 * the claim that refills the slot carries it or waits for it (JobStore), so the job's row is never
 * `doing` beside its slot's next job. A crash before the write lands leaves the job `doing` under
 * a worker whose heartbeat stops, as a crash during the handler would: the sweeper (ours, or
 * Python's stalled-job recovery) requeues or fails it per its task's policy. Nothing is lost, and
 * no handler runs outside a slot.
 */
import { abortCauseOfLost } from '../../src/contracts/abort-cause.js';
import type { TaskContext } from '../../src/contracts/backend.js';
import { describe, TaskAbortedError, toError } from '../../src/core/errors.js';
import { LazyAbortController } from '../../src/core/lazy-abort.js';
import { errorFields, type Logger } from '../../src/core/logger.js';
import type { KeepaliveOutcome } from '../../src/contracts/results.js';
import { JobAbortedError, JobArgsError, UnknownTaskError, type JobAbortReason } from './errors.js';
import { UnreadableArgs } from './job-args-reader.js';
import type { DeleteJobsPolicy, JobContext, ResolvedTask } from './backend-options.js';
import type { EndStatus, FetchedJob, JobStore } from './job-store.js';
import { persist } from './persist.js';
import { retryDelay } from './retry.js';

/** What a runner needs from its backend. */
export interface JobRunnerDeps {
  store: JobStore;
  /** The current worker id: it changes when the worker row is re-registered. */
  workerId(): string | null;
  logger: Logger;
  /** The task's handler and policy; undefined when this backend has no handler for the task. */
  task: ResolvedTask | undefined;
  registeredTasks: readonly string[];
  deleteJobs: DeleteJobsPolicy;
  retryOnTimeout: boolean;
  /** A retry was written: the job is due after `delaySeconds`, and no NOTIFY will say so. */
  onRetried(delaySeconds: number): void;
  /**
   * True while the backend closes: the scheduler then frees a stopped slot to the fleet instead of
   * refilling it here, so the job is written before its slot is stopped.
   */
  closing(): boolean;
}

/** The end to write. */
type Decision = { status: EndStatus; error?: Error } | { status: 'retry'; delaySeconds: number; error: Error };

/**
 * What stopped the handler, first cause only: `user` (a Procrastinate abort request or a slot
 * cancel: the job ends `aborted`), `shutdown` (retry per policy, else `aborted`), `slot` (the
 * slot is gone: the end was already written when the signal fired).
 */
type AbortKind = 'user' | 'shutdown' | 'slot';

/** Causes after which the slot no longer bounds the run: the owner writes the job at once. */
const slotGone = new Set(['timeout', 'max_runtime', 'lost', 'backend_removed', 'start_failed']);

const ignore = (): void => {};

/** One claimed job running in this process. */
export class JobRunner {
  /** Resolves once the job's end was written (or found no longer ours) and the slot told. Never rejects. */
  readonly ended: Promise<void>;
  private resolveEnded!: () => void;
  private ending: Promise<void> | undefined;
  /**
   * The handler's signal. Each look at it first looks at the slot's (through `ctx.onAbort`, which
   * judges the slot's lease as it is read): after a stall past the lease, the handler learns at its
   * first look that its slot is gone, as a task reading `ctx.signal` does, not once a timer runs.
   */
  private readonly controller = new LazyAbortController(() => this.lookAtSlot());
  private abortKind: AbortKind | undefined;
  private userAbortRequested = false;
  /**
   * The scheduler's `shutdown()` told this job to stop (its slot's signal, cause `shutdown`): its
   * graceful and final waits were the job's grace, and the backend's `close()` adds none.
   */
  private stopAskedByShutdown = false;
  private keepaliveTimer: NodeJS.Timeout | undefined;
  private maxRuntimeTimer: NodeJS.Timeout | undefined;
  private keepaliveInFlight = false;
  private childLogger: Logger | undefined;
  /** Stops listening to the slot's abort. */
  private offSlotAbort: (() => void) | undefined;

  constructor(
    readonly job: FetchedJob,
    private readonly ctx: TaskContext,
    private readonly deps: JobRunnerDeps,
  ) {
    this.ended = new Promise((resolve) => (this.resolveEnded = resolve));
  }

  /** The job's logger, made when first needed: a job that runs and succeeds logs nothing above debug. */
  private get logger(): Logger {
    const { job, ctx } = this;
    this.childLogger ??= this.deps.logger.child({
      taskId: job.id,
      slotId: ctx.slotId,
      token: ctx.token,
      jobId: job.id,
      taskName: job.task_name,
    });
    return this.childLogger;
  }

  /** True once an end is being written: the job is no longer this runner's to touch. */
  get isEnding(): boolean {
    return this.ending !== undefined;
  }

  /** True once the scheduler's `shutdown()` aborted the job through its slot (see {@link stopAskedByShutdown}). */
  get abortedByShutdown(): boolean {
    return this.stopAskedByShutdown;
  }

  /** The fencing token of the job's slot occupancy. */
  get token(): number {
    return this.ctx.token;
  }

  /** Fails a job whose handler cannot run, without retry, logging why. */
  private failUnrun(error: Error): void {
    this.logger.error(error.message, errorFields(error));
    void this.end({ status: 'failed', error });
  }

  /** Launches the handler and returns at once. */
  start(): void {
    const { task } = this.deps;
    if (!task) return this.failUnrun(new UnknownTaskError(this.job.task_name, this.job.id, this.job.queue_name, this.deps.registeredTasks));
    const args = this.job.args;
    if (!isKeywordArgs(args)) return this.failUnrun(new JobArgsError(this.job.task_name, this.job.id, argsProblem(args)));
    // Not through ctx.signal: listening here makes no AbortSignal, and the signal fires only
    // when the slot is lost or a cancel asks, so this listener never runs for most jobs.
    this.offSlotAbort = this.ctx.onAbort((reason) => this.onSlotAbort(reason));
    // Aborted before the handler could start (the listener ran at once): it never starts.
    if (this.controller.aborted || this.ending) return;
    this.startKeepalive();
    const controller = this.controller;
    const context: JobContext = {
      id: this.job.id,
      taskName: this.job.task_name,
      args,
      attempts: this.job.attempts,
      queue: this.job.queue_name,
      lock: this.job.lock,
      priority: this.job.priority,
      get signal() {
        return controller.signal;
      },
      keepalive: () => this.keepalive(),
    };
    // A microtask later, so that a handler doing synchronous work does not run inside startCallback.
    Promise.resolve()
      .then(() => task.handler(args, context))
      .then(
        () => this.onSettled(undefined),
        (thrown: unknown) => this.onSettled(toError(thrown)),
      );
  }

  /** Procrastinate asks the job to stop: fires the handler's signal (once; later requests are no-ops). */
  requestAbort(reason: JobAbortReason): void {
    if (reason === 'user_request') this.userAbortRequested = true;
    this.abortHandler(new JobAbortedError(reason, this.job.id), reason === 'user_request' ? 'user' : 'shutdown');
  }

  /**
   * Shutdown, after the grace and the abort: writes the end now, whatever the handler does
   * (`aborted` if an abort was requested, else requeued if the task's policy allows, else
   * `aborted`), once: a handler that settles later changes nothing. Returns the write under way
   * if any.
   * @param stopSlot - false when the slot already ended (the scheduler's shutdown dropped it)
   */
  forceEnd(stopSlot = true): Promise<void> {
    if (this.ending) return this.ending;
    const reason = new JobAbortedError('shutdown', this.job.id);
    this.abortHandler(reason, 'shutdown');
    this.logger.warn('handler still running after the shutdown abort; writing the end of its job now', {
      jobId: this.job.id,
      slotDropped: !stopSlot,
    });
    return this.end(this.abortKind === 'user' ? { status: 'aborted', error: reason } : this.retryOr('aborted', reason), stopSlot);
  }

  // --- the handler's signal ---------------------------------------------------------------------

  /** Judges the slot's lease now; if it lapsed, onSlotAbort fires the handler's signal before this returns. */
  private lookAtSlot(): void {
    // Only while the handler listens to the slot: before start() and after the end there is nothing to tell.
    if (this.offSlotAbort === undefined || this.controller.aborted) return;
    this.ctx.onAbort(ignore)();
  }

  private abortHandler(reason: Error, kind: AbortKind): void {
    if (this.controller.aborted) return;
    this.abortKind = kind;
    this.logger.info('aborting the job handler', { jobId: this.job.id, reason: reason.message });
    this.controller.abort(reason);
  }

  /**
   * The scheduler's signal fired: a cancel (the handler decides), its shutdown (the handler
   * decides, then the job is retried per policy or aborted, as a Procrastinate worker's shutdown
   * does), or the slot is gone (write now).
   */
  private onSlotAbort(reason: unknown): void {
    const cause = reason instanceof TaskAbortedError ? reason.abortCause : 'lost';
    if (cause === 'shutdown') {
      this.stopAskedByShutdown = true;
      this.abortHandler(new JobAbortedError('shutdown', this.job.id), 'shutdown');
      return;
    }
    const error = reason instanceof Error ? reason : new TaskAbortedError('lost', { taskId: this.job.id });
    if (!slotGone.has(cause)) {
      this.abortHandler(error, 'user');
      return;
    }
    this.abortHandler(error, 'slot');
    if (this.ending) return;
    // The handler may ignore its signal and run on, outside any slot: requeueing could run the
    // job twice, so by default it is failed. Its own end, if it ever comes, is then a no-op.
    this.logger.warn('slot lost while the job ran; writing the end of its job now', { jobId: this.job.id, reason: cause });
    const decision: Decision = this.deps.retryOnTimeout ? this.retryOr('failed', error) : { status: 'failed', error };
    void this.end(decision, false);
  }

  // --- keepalive ----------------------------------------------------------------------------

  /** The handler's keepalive: renews the slot; `cancelRequested` also reports a Procrastinate abort. */
  private async keepalive(): Promise<KeepaliveOutcome> {
    const outcome = await this.ctx.keepalive();
    this.onKeepalive(outcome);
    return outcome.ok && this.userAbortRequested ? { ...outcome, cancelRequested: true } : outcome;
  }

  private startKeepalive(): void {
    // At a third of the slot's timeout, so that one lost keepalive never times the slot out.
    const timeoutMs = this.ctx.deadline - this.ctx.startedAt;
    const everyMs = Number.isFinite(timeoutMs) && timeoutMs > 0 ? Math.max(20, timeoutMs / 3) : 1000;
    this.keepaliveTimer = setInterval(() => void this.keepaliveQuietly(), everyMs);
    this.keepaliveTimer.unref();
    // Keepalives cannot outlast a max runtime; one just after it makes the slot report it now,
    // rather than at the next pass, so the handler's signal fires on time.
    if (this.ctx.maxDeadline !== null) {
      const afterMs = this.ctx.maxDeadline - this.ctx.startedAt + 50;
      this.maxRuntimeTimer = setTimeout(() => void this.keepaliveQuietly(), Math.max(0, afterMs));
      this.maxRuntimeTimer.unref();
    }
  }

  private stopKeepalive(): void {
    clearInterval(this.keepaliveTimer);
    clearTimeout(this.maxRuntimeTimer);
    this.offSlotAbort?.();
    this.offSlotAbort = undefined;
  }

  /**
   * A timer's keepalive: skipped while one is pending; failures (store down, closing) are logged.
   * Should they last until the slot's deadline, the scheduler fires the slot's abort (cause
   * `lost`), and the job ends as a timed-out one.
   */
  private async keepaliveQuietly(): Promise<void> {
    if (this.keepaliveInFlight || this.ending) return;
    this.keepaliveInFlight = true;
    try {
      this.onKeepalive(await this.ctx.keepalive());
    } catch (error) {
      this.logger.debug('automatic keepalive failed', { jobId: this.job.id, ...errorFields(error) });
    } finally {
      this.keepaliveInFlight = false;
    }
  }

  /** A lost slot or a cancel fires the handler's signal (the scheduler usually did already). */
  private onKeepalive(outcome: KeepaliveOutcome): void {
    if (outcome.ok) {
      if (outcome.cancelRequested) this.onSlotAbort(new TaskAbortedError('cancel_requested', { taskId: this.job.id }));
      return;
    }
    // The scheduler's shutdown gave up on the handler (its stopCallback says the same): a shutdown end, not a lost slot.
    if (outcome.endReason === 'dropped') {
      void this.forceEnd(false);
      return;
    }
    this.onSlotAbort(new TaskAbortedError(abortCauseOfLost(outcome), { taskId: this.job.id, slotId: outcome.slotId }));
  }

  // --- the end ------------------------------------------------------------------------------

  private onSettled(error: Error | undefined): void {
    this.stopKeepalive();
    if (this.ending) {
      this.logger.debug('handler settled after the end of its job was written; ignored', {
        jobId: this.job.id,
        handlerError: error?.message,
      });
      return;
    }
    if (error === undefined) {
      void this.end({ status: 'succeeded' });
    } else if (this.abortKind === 'user') {
      void this.end({ status: 'aborted', error });
    } else if (this.abortKind === 'shutdown') {
      void this.end(this.retryOr('aborted', error));
    } else {
      void this.end(this.retryOr('failed', error));
    }
  }

  /** A retry when the task's policy allows one for this error, else `otherwise`. */
  private retryOr(otherwise: 'failed' | 'aborted', error: Error): Decision {
    const delaySeconds = retryDelay(this.deps.task?.retry ?? null, this.job.attempts, error);
    return delaySeconds === null ? { status: otherwise, error } : { status: 'retry', delaySeconds, error };
  }

  /**
   * Writes the end once (the first decision wins) and stops the slot (unless it is gone). The
   * write is queued first, synchronously: the stop lets the scheduler poll for the slot at once,
   * and the claim that poll makes takes the write along, finish first, in one statement (or, for
   * a retry already sent, waits for it). So the write stays off the slot's critical path, and the
   * jobs `doing` in the table never outnumber the slots.
   */
  private end(decision: Decision, stopSlot = true): Promise<void> {
    this.ending ??= (async () => {
      this.stopKeepalive();
      // Runs synchronously up to the store call, which queues the finish or sends the retry.
      const write = this.write(decision);
      // A slot this stop frees to the fleet could be claimed elsewhere before the write lands,
      // and the doing rows would outnumber the slots: write first. A slot kept for a refill here
      // is filled by this scheduler alone, and its claims carry the finish first.
      if (stopSlot && (this.deps.closing() || !this.ctx.stopKeepsSlot())) await write;
      if (stopSlot) {
        const status = decision.status === 'retry' ? 'retried' : decision.status;
        try {
          await this.ctx.stop({ status, ...(decision.error ? { error: decision.error } : {}) });
        } catch (error) {
          // The scheduler is closing, or its store is down: the slot frees at its timeout.
          this.logger.debug('could not stop the slot of a finished job', { jobId: this.job.id, ...errorFields(error) });
        }
      }
      await write;
    })().finally(() => this.resolveEnded());
    return this.ending;
  }

  /** Writes the decision through the guard. Never throws: a failure is logged, and the job stays `doing` for recovery. */
  private async write(decision: Decision): Promise<void> {
    const { store, deleteJobs } = this.deps;
    const fields = { jobId: this.job.id, attempts: this.job.attempts };
    try {
      if (decision.status === 'retry') {
        let result;
        try {
          result = await persist(() => store.retry(this.job, this.deps.workerId()!, decision.delaySeconds), this.keepTrying);
        } catch (error) {
          if ((error as { code?: unknown }).code !== '23505') throw error;
          // Another queued job holds its queueing lock (upstream #1446): it cannot go back to todo.
          this.logger.error('retry refused: another queued job holds the queueing lock; failing the job', {
            ...fields,
            ...errorFields(error),
          });
          await this.finish('failed', false, decision.error);
          return;
        }
        if (result === 'not_ours') return this.notOurs('retried');
        if (result === 'failed_flagged') {
          this.logger.warn('job failed with an abort request: failed, not retried', { ...fields, ...errorFields(decision.error) });
          return;
        }
        this.logger.warn('job failed; retrying', { ...fields, delaySeconds: decision.delaySeconds, ...errorFields(decision.error) });
        this.deps.onRetried(decision.delaySeconds);
        return;
      }
      const deleteJob = deleteJobs === 'always' || (deleteJobs === 'successful' && decision.status === 'succeeded');
      await this.finish(decision.status, deleteJob, decision.error);
    } catch (error) {
      this.logger.error('could not write the end of the job; it stays doing until a sweeper recovers it once this worker is gone', {
        ...fields,
        ...errorFields(error),
      });
    }
  }

  private async finish(status: EndStatus, deleteJob: boolean, error: Error | undefined): Promise<void> {
    const written = await persist(() => this.deps.store.finish(this.job, this.deps.workerId()!, status, deleteJob), this.keepTrying);
    if (!written) return this.notOurs(status);
    if (status === 'failed') this.logger.error('job failed', { jobId: this.job.id, status, deleted: deleteJob, ...errorFields(error) });
    else if (status === 'aborted')
      this.logger.info('job aborted', { jobId: this.job.id, status, deleted: deleteJob, ...(error ? { error: error.message } : {}) });
    // Not through this.logger: the common case should not build a child logger per job.
    else
      this.deps.logger.debug('job succeeded', {
        jobId: this.job.id,
        status,
        deleted: deleteJob,
        taskName: this.job.task_name,
        slotId: this.ctx.slotId,
        token: this.ctx.token,
      });
  }

  /** A write that failed for want of a connection is tried again while the backend is open (persist.ts). */
  private readonly keepTrying = (): boolean => !this.deps.closing();

  private notOurs(status: string): void {
    this.logger.warn('job is no longer ours (finished, requeued or claimed elsewhere); left alone', { jobId: this.job.id, wanted: status });
  }
}

/** True for a JSON object: what Python's `task(**args)` and a handler's `args` expect. */
function isKeywordArgs(args: unknown): args is Record<string, unknown> {
  return typeof args === 'object' && args !== null && !Array.isArray(args) && !(args instanceof UnreadableArgs);
}

/** What is wrong with args that are no keyword arguments, for the error. */
function argsProblem(args: unknown): string {
  if (args instanceof UnreadableArgs) return `holding ${args.reason}`;
  return `${describe(args)}, which are not a JSON object of keyword arguments (defer jobs with args such as {"to": "a@b.c"})`;
}
