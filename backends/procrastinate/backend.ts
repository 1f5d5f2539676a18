/**
 * A Backend that runs Procrastinate jobs in slots, side by side with Python workers: it claims
 * jobs of its queues through `procrastinate_fetch_job_v2` under a registered worker id, runs
 * their handlers in this process, and writes their ends the way a Python worker does (statuses,
 * attempts, events, retries), so that Python tools and workers see nothing unusual.
 */
import type pg from 'pg';
import {
  Backend,
  type BackendContext,
  type BatchPolling,
  type PollContext,
  type RejectInfo,
  type StopOutcome,
  type TaskContext,
  type TimeoutInfo,
} from '../../src/contracts/backend.js';
import { settlesWithin } from '../../src/core/call.js';
import { preview, SchedulerStateError } from '../../src/core/errors.js';
import { defaultLogger, errorFields, type Logger } from '../../src/core/logger.js';
import { PgListener } from '../../src/core/postgres/listener.js';
import { resolveBackendOptions, type ProcrastinateBackendOptions, type ResolvedBackendOptions } from './backend-options.js';
import { JobRunner } from './job-runner.js';
import { HandBackDelays } from './hand-back-delays.js';
import { JobStore, type FetchedJob } from './job-store.js';
import { persist } from './persist.js';
import { openPool } from './pool-option.js';
import { checkSchemaLevel } from './schema.js';
import { recoverStalledJobs } from './sweeper.js';
import { retryDelay } from './retry.js';
import { WorkerRegistration } from './worker.js';

/** How long `close()` waits, after aborting the handlers still running, for them to write their jobs. */
const shutdownAbortWaitMs = 2000;
/** Retry wake-ups further away than this are left to the cron tick (setTimeout's limit is ~24.8 days). */
const maxWakeMs = 2 ** 31 - 1;

/**
 * Runs Procrastinate jobs of explicit queues in slots. Register one instance per scheduler:
 * `scheduler.registerBackend('Procrastinate', new ProcrastinateBackend({ postgres, queues, tasks }))`.
 * The task id of a slot is the job id.
 *
 * What it leaves out: deferring jobs (the client), periodic defers, and recovering the jobs of dead
 * workers (the sweeper).
 */
export class ProcrastinateBackend extends Backend implements BatchPolling {
  /** fetch_job_v2 claims the job it returns: a slot may be polled while its last job's stop is in flight. */
  override readonly claimsTasks = true;
  /** Handlers run in this process: after a crash their slots free within the process lease. */
  override readonly runsInProcess = true;
  private readonly options: ResolvedBackendOptions;
  /** The task names with a handler, for the error of a job that has none (read once, not per job). */
  private readonly taskNames: readonly string[];
  private logger: Logger;
  private pool: pg.Pool | undefined;
  private ownsPool = false;
  private jobs: JobStore | undefined;
  private worker: WorkerRegistration | undefined;
  private listener: PgListener | undefined;
  private context: BackendContext | undefined;
  /** Jobs claimed by a poll and not yet started or rejected, by job id. */
  private readonly claimed = new Map<string, FetchedJob>();
  /** Jobs running here whose end is not written yet, by job id. */
  private readonly runners = new Map<string, JobRunner>();
  private abortPollTimer: NodeJS.Timeout | undefined;
  private sweepTimer: NodeJS.Timeout | undefined;
  private sweeping = false;
  private abortPolling = false;
  /** How long each job handed back must wait before it is due again. */
  private readonly handBackDelays = new HandBackDelays();
  /** Passes asked for when a retried job becomes due: no NOTIFY announces it. */
  private readonly wakeTimers = new Set<NodeJS.Timeout>();
  private opened = false;
  private closing: Promise<void> | undefined;

  /** @throws ConfigError naming the option, the bad value and what is allowed */
  constructor(options: ProcrastinateBackendOptions) {
    super();
    this.options = resolveBackendOptions(options);
    this.taskNames = Object.freeze([...this.options.tasks.keys()]);
    this.logger = this.options.logger ?? defaultLogger();
  }

  /** This backend's worker id in `procrastinate_workers` (int8, as a string), or null when not open. */
  get workerId(): string | null {
    return this.worker?.id ?? null;
  }

  /**
   * Checks the schema level (fails fast), registers the worker and starts its heartbeat, LISTENs
   * on the queues' channels and starts the abort poll. On failure, undoes what it did.
   * @throws ProcrastinateSchemaError when the schema is missing or older than 3.4
   */
  override async open(context: BackendContext): Promise<void> {
    if (this.opened || this.closing)
      throw new SchedulerStateError('ProcrastinateBackend is already open (or closed): register one instance per scheduler');
    this.context = context;
    this.logger = (this.options.logger ?? context.logger).child({ backend: context.name });
    const { pool, owned } = openPool(this.options.postgres);
    this.pool = pool;
    this.ownsPool = owned;
    this.jobs = new JobStore(pool, this.options.queues, this.options.preparedStatements);
    try {
      await checkSchemaLevel(pool);
      this.worker = new WorkerRegistration({
        pool,
        logger: this.logger,
        heartbeatMs: this.options.heartbeatMs,
        runningJobIds: () => [...this.runners.keys()],
      });
      await this.worker.register();
      this.listener = new PgListener({
        // Same settings as the pool (search_path is irrelevant to channels, which are per database).
        // TCP keepalive so a half-open connection is eventually noticed (upstream PR #1596).
        connection: { ...(pool as pg.Pool & { options: pg.ClientConfig }).options, keepAlive: true },
        channels: this.options.queues.map((queue) => `procrastinate_queue_v1#${queue}`),
        onNotification: (_channel, payload) => this.onNotification(payload),
        // Notifications sent while disconnected are lost: look now rather than at the next tick.
        onReconnect: () => context.requestPass(),
      });
      await this.listener.start();
    } catch (error) {
      await this.teardown().catch(() => {});
      throw error;
    }
    this.abortPollTimer = setInterval(() => void this.pollAbortRequests(), this.options.abortPollMs);
    this.abortPollTimer.unref();
    if (this.options.sweepMs > 0) {
      this.sweepTimer = setInterval(() => void this.sweep(), this.options.sweepMs);
      this.sweepTimer.unref();
    }
    this.opened = true;
    this.logger.info('procrastinate backend open', { queues: this.options.queues, workerId: this.workerId });
  }

  /** Claims the next job of our queues; its id is the task id. Null once closing. */
  override async poll(context: PollContext): Promise<string | null> {
    const [job] = await this.claim(context, (workerId) => this.jobs!.fetch(workerId).then((j) => (j ? [j] : [])));
    return job ?? null;
  }

  /** Claims up to `max` jobs in one round trip, with the finishes queued (sql/job-finish-and-claim.sql). */
  async pollBatch(max: number, context: PollContext): Promise<string[]> {
    return this.claim(context, (workerId) => this.jobs!.fetchBatch(workerId, max));
  }

  /** Starts the claimed job's handler and returns at once. */
  override startCallback(taskId: string, ctx: TaskContext): void {
    const job = this.claimed.get(taskId);
    if (!job) throw new Error(`job ${taskId} was not claimed by this backend's poll`);
    this.claimed.delete(taskId);
    this.handBackDelays.started(job.id);
    const task = this.options.tasks.get(job.task_name);
    const runner = new JobRunner(job, ctx, {
      store: this.jobs!,
      workerId: () => this.workerId,
      logger: this.logger,
      task,
      registeredTasks: this.taskNames,
      deleteJobs: this.options.deleteJobs,
      retryOnTimeout: this.options.retryOnTimeout,
      onRetried: (delaySeconds) => this.wakeAfter(delaySeconds),
      closing: () => this.closing !== undefined,
    });
    this.runners.set(job.id, runner);
    void runner.ended.then(() => {
      if (this.runners.get(job.id) === runner) this.runners.delete(job.id);
      // The job's write freed its lock, and the other slots may have been polled before it landed:
      // look again, as nothing notifies it.
      if (job.lock !== null && !this.closing) this.context?.requestPass();
    });
    runner.start();
  }

  /**
   * The slot could not take the claimed job: hand it back, without counting an attempt, due when
   * the cause may have cleared (see HandBackDelays), so that it is never claimed and refused in a
   * loop. An id no slot can ever take (`invalid_id`) fails the job instead.
   */
  override async rejectCallback(taskId: string, info: RejectInfo): Promise<void> {
    const job = this.claimed.get(taskId);
    if (!job) return; // not claimed here, or already started: nothing to give back
    this.claimed.delete(taskId);
    if (info.reason === 'invalid_id') return this.failUnstartable(job, `the slot store refused its task id (${info.reason})`);
    await this.handBack(job, info.reason, this.handBackDelays.next(job.id, info));
  }

  /**
   * Only logs: the process that ran the job wrote its end when the slot's signal fired there, and
   * this callback may run in another process, which must not touch a job it does not run.
   */
  override timeoutCallback(taskId: string, info: TimeoutInfo): void {
    this.logger.warn('procrastinate job slot timed out', {
      taskId,
      slotId: info.slotId,
      reason: info.reason,
      runsHere: this.runners.has(taskId),
    });
  }

  /**
   * A slot the scheduler's `shutdown()` ended `dropped` (its handler ran on past the final
   * deadline) whose job runs here: its end is written now, once (retried per the task's policy,
   * else `aborted`), and the callback resolves when it landed. Every other end was written by the
   * job's runner, or belongs to another process: nothing to do, synchronously.
   */
  override stopCallback(taskId: string, outcome: StopOutcome): Promise<void> | void {
    if (outcome.reason !== 'dropped') return;
    const runner = this.runners.get(taskId);
    // A redelivery elsewhere, or a job run again since: not this runner's slot.
    if (runner?.token !== outcome.token) return;
    return runner.forceEnd(false);
  }

  /**
   * Graceful shutdown, bounded: stops claiming; waits up to `shutdownGraceMs` for running handlers;
   * aborts the rest (reason `shutdown`) and waits briefly for their writes; requeues or marks
   * `aborted` the jobs still ours; stops timers and the listener; unregisters the worker last (it
   * nulls worker_id on our jobs); ends the pool if it opened it. Idempotent. After the scheduler's
   * `shutdown()`, whose graceful and final waits were the handlers' grace, nothing is left to wait
   * for: a job it aborted that still runs here (its drop did not reach the slot store) is written
   * at once.
   */
  override close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  // --- claiming --------------------------------------------------------------------------------

  private async claim(context: PollContext, fetch: (workerId: string) => Promise<FetchedJob[]>): Promise<string[]> {
    if (this.closing || !this.opened) return [];
    let jobs: FetchedJob[];
    try {
      jobs = await fetch(this.workerId!);
    } catch (error) {
      // 23503: our worker row is gone (pruned) and the claim could not name it. Re-register and try once more.
      if ((error as { code?: unknown }).code !== '23503') throw error;
      await this.worker!.recover('fetch found no worker row');
      jobs = await fetch(this.workerId!);
    }
    if (context.signal.aborted || this.closing) {
      // The scheduler gave up on this poll (pollTimeout) or we are closing: nobody will start these.
      await Promise.all(jobs.map((job) => this.handBack(job, context.signal.aborted ? 'poll abandoned' : 'closing', 0)));
      return [];
    }
    for (const job of jobs) this.claimed.set(job.id, job);
    return jobs.map((job) => job.id);
  }

  /**
   * Puts a claimed, never-started job back in the queue, due in `delayMs`, if it is still ours,
   * and asks for a pass when it is due (a pass at once would only claim it again too early).
   */
  private async handBack(job: FetchedJob, reason: string, delayMs: number): Promise<void> {
    let result;
    try {
      result = await persist(() => this.jobs!.handBack(job, this.workerId!, delayMs / 1000), this.keepTrying);
    } catch (error) {
      if ((error as { code?: unknown }).code === '23505') {
        // Another queued job holds its queueing lock (upstream #1446): it cannot go back to todo.
        return this.failUnstartable(job, 'another queued job holds its queueing lock, so it cannot go back to the queue', error);
      }
      this.logger.error('could not hand a claimed job back; it stays doing until a sweeper recovers it', {
        jobId: job.id,
        reason,
        ...errorFields(error),
      });
      return;
    }
    this.logger.warn('claimed job handed back to the queue', { jobId: job.id, reason, result, delayMs });
    if (result !== 'requeued') return;
    if (delayMs > 0) this.wakeAfter(delayMs / 1000);
    else this.context?.requestPass();
  }

  /** A job write that failed for want of a connection is tried again while we are open (persist.ts). */
  private readonly keepTrying = (): boolean => this.closing === undefined;

  /** Fails a claimed job that no slot can take (logged), through the ownership guard. */
  private async failUnstartable(job: FetchedJob, why: string, cause?: unknown): Promise<void> {
    const fields = { jobId: job.id, taskName: job.task_name, ...(cause === undefined ? {} : errorFields(cause)) };
    try {
      const written = await persist(
        () => this.jobs!.finish(job, this.workerId!, 'failed', this.options.deleteJobs === 'always'),
        this.keepTrying,
      );
      this.logger.error(`claimed job failed without running: ${why}`, { ...fields, written });
    } catch (error) {
      this.logger.error(`could not fail a claimed job (${why}); it stays doing until a sweeper recovers it`, {
        ...fields,
        ...errorFields(error),
      });
    }
  }

  /** A retried or handed-back job is due after the delay: ask for a pass then, since nothing notifies. */
  private wakeAfter(delaySeconds: number): void {
    const ms = Math.ceil(delaySeconds * 1000);
    if (this.closing || ms > maxWakeMs) return;
    const timer = setTimeout(() => {
      this.wakeTimers.delete(timer);
      this.context?.requestPass();
    }, ms);
    timer.unref();
    this.wakeTimers.add(timer);
  }

  // --- notifications and abort requests -------------------------------------------------------------

  private onNotification(payload: string): void {
    const message = procrastinateMessage(payload);
    if (!message) {
      // Anyone may NOTIFY on the channel: notifications are hints, never trusted for state.
      this.logger.debug("ignored a notification that is not Procrastinate's", { payload: preview(payload) });
      return;
    }
    if (message.type === 'job_inserted') {
      if (!this.closing) this.context?.requestPass();
    } else if (message.type === 'abort_job_requested') {
      // job_id is a JSON number; ids are int8 strings here (beyond 2^53 the poll still finds it).
      // Confirmed in the database before acting: channels are per database, not per schema, so a
      // schema beside ours (same queue name, its own job ids) notifies us too.
      const id = String(message.job_id);
      if (this.runners.has(id)) void this.abortConfirmed([id]);
    }
  }

  /** The poll behind the NOTIFY (lost while the LISTEN connection is down): every `abortPollMs` while jobs run. */
  private async pollAbortRequests(): Promise<void> {
    if (this.abortPolling || this.runners.size === 0) return;
    this.abortPolling = true;
    try {
      await this.abortConfirmed([...this.runners.keys()]);
    } finally {
      this.abortPolling = false;
    }
  }

  /** Fires the AbortSignal of those of these running jobs whose abort the database confirms. Never throws. */
  private async abortConfirmed(jobIds: string[]): Promise<void> {
    try {
      for (const id of await this.jobs!.abortRequested(jobIds)) this.runners.get(id)?.requestAbort('user_request');
    } catch (error) {
      this.logger.warn('abort request check failed', errorFields(error));
    }
  }

  /**
   * Recovers jobs of our queues whose worker died (a crashed or killed process): retried per their
   * task's policy, else failed. Never our own running jobs; never two sweeps at once here, and
   * at most once across processes (row locks in recoverStalledJobs).
   */
  async sweep(): Promise<void> {
    if (this.sweeping || !this.pool || this.closing) return;
    this.sweeping = true;
    try {
      const result = await recoverStalledJobs(this.pool, {
        queues: this.options.queues,
        staleSeconds: this.options.staleWorkerSeconds,
        exclude: new Set(this.runners.keys()),
        decide: (job) => {
          const delay = retryDelay(this.options.tasks.get(job.taskName)?.retry ?? null, job.attempts, new Error('worker died'));
          // Counted from the database's clock: this process's may be off, and the database judges when the job is due.
          return delay === null ? null : { retryInSeconds: delay };
        },
      });
      const recovered = result.retried.length + result.failed.length;
      if (recovered > 0) {
        this.logger.warn('recovered jobs of dead workers', {
          retried: result.retried.map((j) => j.id),
          failed: result.failed.map((j) => j.id),
        });
        if (result.retried.length > 0) this.context?.requestPass();
      }
      for (const { id, error } of result.errors) this.logger.error('could not recover a stalled job', { jobId: id, ...errorFields(error) });
    } catch (error) {
      this.logger.error('stalled-job sweep failed', errorFields(error));
    } finally {
      this.sweeping = false;
    }
  }

  // --- shutdown --------------------------------------------------------------------------------

  private async shutdown(): Promise<void> {
    if (!this.opened) return this.teardown();
    const running = () => [...this.runners.values()];
    // Handlers no shutdown has told to stop yet; the others are written, or written below at once.
    const untold = () => running().filter((r) => !r.isEnding && !r.abortedByShutdown);
    if (untold().length > 0) {
      this.logger.info('waiting for running jobs before closing', { running: untold().length, graceMs: this.options.shutdownGraceMs });
      await settledWithin(
        untold().map((r) => r.ended),
        this.options.shutdownGraceMs,
      );
    }
    if (untold().length > 0) {
      const aborting = untold();
      this.logger.warn('aborting jobs still running after the shutdown grace', { running: aborting.length });
      for (const runner of aborting) runner.requestAbort('shutdown');
      await settledWithin(
        aborting.map((r) => r.ended),
        shutdownAbortWaitMs,
      );
    }
    // Handlers that ignore their signal: their jobs are written now, so none is left doing. The
    // slots of those the scheduler's shutdown aborted are its own to end (dropped, or left to lapse
    // if the slot store does not answer): only their jobs are written.
    await settledWithin(
      running().map((r) => r.forceEnd(!r.abortedByShutdown)),
      shutdownAbortWaitMs * 2,
    );
    // Claimed by a poll the scheduler never followed up (should not happen): give them back.
    await Promise.all([...this.claimed.values()].map((job) => this.handBack(job, 'closing', 0)));
    this.claimed.clear();
    await this.teardown();
  }

  /** Stops timers and the listener, unregisters the worker, ends our pool; keeps the first error. */
  private async teardown(): Promise<void> {
    clearInterval(this.abortPollTimer);
    clearInterval(this.sweepTimer);
    for (const timer of this.wakeTimers) clearTimeout(timer);
    this.wakeTimers.clear();
    this.worker?.stopHeartbeat();
    const failures: unknown[] = [];
    for (const step of [
      () => this.listener?.stop(),
      () => this.worker?.unregister(),
      () => (this.ownsPool ? this.pool?.end() : undefined),
    ]) {
      try {
        await step();
      } catch (error) {
        failures.push(error);
      }
    }
    if (failures.length) {
      this.logger.error('closing the procrastinate backend failed', errorFields(failures[0]));
      throw failures.length === 1 ? failures[0] : new AggregateError(failures, 'closing the procrastinate backend failed');
    }
    this.logger.info('procrastinate backend closed');
  }
}

/** Waits for every promise to settle, or `ms`, whichever comes first. Never rejects. */
async function settledWithin(promises: Promise<unknown>[], ms: number): Promise<void> {
  if (promises.length > 0) await settlesWithin(Promise.allSettled(promises), ms);
}

/**
 * The JSON object Procrastinate's triggers send (`{"type": ..., "job_id": ...}`), or undefined for
 * anything else: text that is not JSON, or JSON that is no object (`null` included).
 */
function procrastinateMessage(payload: string): { type: string; job_id?: unknown } | undefined {
  let message: unknown;
  try {
    message = JSON.parse(payload);
  } catch {
    return undefined;
  }
  if (typeof message !== 'object' || message === null || typeof (message as { type?: unknown }).type !== 'string') return undefined;
  return message as { type: string; job_id?: unknown };
}
