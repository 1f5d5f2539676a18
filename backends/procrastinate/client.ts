/**
 * Deferring and managing Procrastinate jobs from Node: the same SQL functions Python's client
 * calls, so a job deferred here is indistinguishable from one deferred by `task.defer()`.
 */
import type pg from 'pg';
import { ConfigError } from '../../src/core/errors.js';
import { AlreadyEnqueuedError, conflictingQueueingLock, isQueueingLockConflict } from './errors.js';
import { argsJson } from './job-args.js';
import { checkJobId, checkLock, checkPriority, checkScheduleAt, checkTaskName, type JobId } from './job-fields.js';
import { openPool, postgresPoolOption, type PostgresOption } from './pool-option.js';
import { checkedLater, parseOptions, strictObject } from '../../src/core/option-schema.js';
import { validateQueueName } from './queues.js';
import { clientCancelJob, clientDeferJob, clientDeferJobs, clientGetEvents, clientGetJob } from './sql.generated.js';

/** Options of {@link ProcrastinateClient}. */
export interface ProcrastinateClientOptions {
  /**
   * A postgres:// URL (the client opens a pool and ends it on `close()`) or a pg.Pool (never
   * ended by the client). Connect with the search_path of the Python side.
   */
  postgres: PostgresOption;
}

/** How to defer a job; every field has Procrastinate's default. */
export interface DeferOptions {
  /** Queue, at most 40 bytes in UTF-8. @defaultValue 'default' */
  queue?: string;
  /** Jobs sharing a lock run one at a time, in priority then id order. @defaultValue null */
  lock?: string | null;
  /** At most one queued (`todo`) job per queueing lock; another defer throws {@link AlreadyEnqueuedError}. @defaultValue null */
  queueingLock?: string | null;
  /** Larger runs first; may be negative. @defaultValue 0 */
  priority?: number;
  /** Not run before this time. @defaultValue null (as soon as possible) */
  scheduleAt?: Date | null;
}

/** One job of {@link ProcrastinateClient.deferMany}. */
export interface JobToDefer extends DeferOptions {
  /** Task name as the Python worker knows it (by default the dotted path `module.function`). */
  taskName: string;
  /** Keyword arguments: a plain JSON object. @defaultValue {} */
  args?: Record<string, unknown>;
}

/** Job statuses; `aborting` is legacy (never written since Procrastinate 3.0). */
export type JobStatus = 'todo' | 'doing' | 'succeeded' | 'failed' | 'cancelled' | 'aborting' | 'aborted';

/** Event types the schema's triggers write (see PROCRASTINATE.md §6). */
export type JobEventType =
  | 'deferred'
  | 'started'
  | 'deferred_for_retry'
  | 'failed'
  | 'succeeded'
  | 'cancelled'
  | 'abort_requested'
  | 'aborted'
  | 'scheduled'
  | 'retried';

/** A job as stored. Ids are strings: `pg` returns int8 as strings. */
export interface ProcrastinateJob {
  id: string;
  queue: string;
  taskName: string;
  priority: number;
  lock: string | null;
  queueingLock: string | null;
  args: Record<string, unknown>;
  status: JobStatus;
  scheduledAt: Date | null;
  /** Finished tries: 0 during the first run. */
  attempts: number;
  abortRequested: boolean;
  /** The Procrastinate worker that claimed it; null when none did or it unregistered. */
  workerId: string | null;
}

/** One entry of a job's history. */
export interface JobEvent {
  type: JobEventType;
  /** When it happened; for `scheduled`, the time the job is scheduled for. */
  at: Date | null;
}

/** How {@link ProcrastinateClient.cancel} acts. */
export interface CancelOptions {
  /** Also ask the worker running a `doing` job to stop (it sees `abort_requested`). @defaultValue false */
  abort?: boolean;
  /** Delete a queued job (and its events) instead of marking it `cancelled`. @defaultValue false */
  delete?: boolean;
}

interface JobRow {
  id: string;
  queue_name: string;
  task_name: string;
  priority: number;
  lock: string | null;
  queueing_lock: string | null;
  args: Record<string, unknown>;
  status: JobStatus;
  scheduled_at: Date | null;
  attempts: number;
  abort_requested: boolean;
  worker_id: string | null;
}

/** A job checked and ready to send: the parameters of client-defer-job.sql, in order. */
type DeferRow = [
  queue: string,
  taskName: string,
  priority: number,
  lock: string | null,
  queueingLock: string | null,
  args: string,
  scheduledAt: Date | null,
];

const optionsSchema = strictObject({ postgres: postgresPoolOption() }, 'allowed: an object with postgres');

/** The keys of a job to defer, checked one by one by {@link deferRow}. */
const jobKeys = strictObject(
  {
    taskName: checkedLater(),
    args: checkedLater(),
    queue: checkedLater(),
    lock: checkedLater(),
    queueingLock: checkedLater(),
    priority: checkedLater(),
    scheduleAt: checkedLater(),
  },
  'allowed: a job: { taskName, args?, queue?, ... }',
  'field',
);

/**
 * Defers, cancels and reads Procrastinate jobs. Every call is one statement on the pool; nothing
 * runs in the background, so a client needs no `start()`. Options are checked before anything
 * is sent, and errors are {@link ConfigError}s naming the field.
 *
 * @example
 * const client = new ProcrastinateClient({ postgres: 'postgres://app@db/app' });
 * const id = await client.defer('myapp.tasks.send_email', { to: 'a@b.c' }, { queue: 'emails' });
 */
export class ProcrastinateClient {
  private readonly pool: pg.Pool;
  private readonly ownsPool: boolean;
  private closing: Promise<void> | undefined;

  /**
   * @throws ConfigError when `postgres` is neither a URL nor a pool, or an option is unknown
   * @throws MissingPeerError for a URL when `pg` is not installed
   */
  constructor(options: ProcrastinateClientOptions) {
    const { postgres } = parseOptions(optionsSchema, options, 'ProcrastinateClientOptions');
    ({ pool: this.pool, owned: this.ownsPool } = openPool(postgres));
  }

  /**
   * Defers one job, as Python's `task.defer(**args)`.
   * @returns the job id (a string)
   * @throws ConfigError for a bad argument (a queue name over 40 bytes: code `ERR_QUEUE_NAME`)
   * @throws {@link AlreadyEnqueuedError} when a queued job holds `queueingLock`
   */
  async defer(taskName: string, args: Record<string, unknown> = {}, options: DeferOptions = {}): Promise<string> {
    const row = deferRow({ ...options, taskName, args }, (key) =>
      key === 'taskName' || key === 'args' ? `defer(${key})` : `defer(options.${key})`,
    );
    try {
      const result = await this.pool.query<{ id: string }>(clientDeferJob, row);
      return result.rows[0]!.id;
    } catch (error) {
      if (isQueueingLockConflict(error)) throw new AlreadyEnqueuedError(row[4], error);
      throw error;
    }
  }

  /**
   * Defers several jobs in one statement: all of them, or none when one fails.
   * @returns the ids, in the order of `jobs`
   * @throws ConfigError naming the bad job, e.g. `deferMany(jobs[2].queue)`
   * @throws {@link AlreadyEnqueuedError} naming the queueing lock already held (by a queued job,
   *   or by an earlier job of the same batch) and the jobs that asked for it
   */
  async deferMany(jobs: readonly JobToDefer[]): Promise<string[]> {
    if (!Array.isArray(jobs)) throw new ConfigError('deferMany(jobs)', jobs, 'expected an array of jobs');
    const rows = jobs.map((job, i) => deferRow(job, (key) => `deferMany(jobs[${i}]${key === undefined ? '' : `.${key}`})`));
    if (rows.length === 0) return [];
    // Parallel arrays, one per field: one round trip whatever the batch size.
    const columns = [0, 1, 2, 3, 4, 5, 6].map((field) => rows.map((row) => row[field]));
    try {
      const result = await this.pool.query<{ id: string }>(clientDeferJobs, columns);
      return result.rows.map((r) => r.id);
    } catch (error) {
      if (!isQueueingLockConflict(error)) throw error;
      const lock = conflictingQueueingLock(error);
      const indexes = rows.flatMap((row, i) => (row[4] !== null && row[4] === lock ? [i] : []));
      const which = lock === null ? "one of the batch's queueing locks" : `queueing lock ${JSON.stringify(lock)}`;
      throw new AlreadyEnqueuedError(
        lock,
        error,
        `deferMany: ${which} is already held by a queued job` +
          (indexes.length > 0 ? ` (asked for by jobs[${indexes.join('], jobs[')}])` : '') +
          '; no job of the batch was deferred',
      );
    }
  }

  /**
   * Cancels a queued job (status `cancelled`, or deleted with `delete`); with `abort`, also asks
   * the worker running a `doing` job to stop. Running jobs are never stopped by the database: the
   * worker must notice the flag.
   * @returns true if the job changed, false if it was in no state this call acts on (finished,
   *   unknown, or running without `abort`)
   */
  async cancel(jobId: JobId, options: CancelOptions = {}): Promise<boolean> {
    const id = checkJobId(jobId, 'cancel(jobId)');
    const { abort = false, delete: remove = false } = options ?? {};
    if (typeof abort !== 'boolean') throw new ConfigError('cancel(options.abort)', abort, 'expected a boolean');
    if (typeof remove !== 'boolean') throw new ConfigError('cancel(options.delete)', remove, 'expected a boolean');
    const result = await this.pool.query<{ id: string | null }>(clientCancelJob, [id, abort, remove]);
    return result.rows[0]?.id != null;
  }

  /** Same as `cancel(jobId, { abort: true })`: cancels a queued job, flags a running one. */
  async abort(jobId: JobId): Promise<boolean> {
    return this.cancel(jobId, { abort: true });
  }

  /** Reads a job. @returns the job, or null when there is no such job */
  async getJob(jobId: JobId): Promise<ProcrastinateJob | null> {
    const id = checkJobId(jobId, 'getJob(jobId)');
    const row = (await this.pool.query<JobRow>(clientGetJob, [id])).rows[0];
    if (row === undefined) return null;
    return {
      id: row.id,
      queue: row.queue_name,
      taskName: row.task_name,
      priority: row.priority,
      lock: row.lock,
      queueingLock: row.queueing_lock,
      args: row.args,
      status: row.status,
      scheduledAt: row.scheduled_at,
      attempts: row.attempts,
      abortRequested: row.abort_requested,
      workerId: row.worker_id,
    };
  }

  /** Reads a job's history, oldest first; empty for an unknown (or deleted) job. */
  async getEvents(jobId: JobId): Promise<JobEvent[]> {
    const id = checkJobId(jobId, 'getEvents(jobId)');
    return (await this.pool.query<JobEvent>(clientGetEvents, [id])).rows.map(({ type, at }) => ({ type, at }));
  }

  /** Ends the pool the client opened from a URL; a pool passed in is left open. Idempotent. */
  async close(): Promise<void> {
    if (!this.ownsPool) return;
    this.closing ??= this.pool.end();
    await this.closing;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/**
 * Checks one job to defer and returns its statement parameters. `field` names a key as the
 * caller wrote it (`defer(options.queue)`, `deferMany(jobs[2].queue)`); no key: the job itself.
 * @throws ConfigError
 */
function deferRow(job: JobToDefer, field: (key?: keyof JobToDefer) => string): DeferRow {
  if (typeof job !== 'object' || job === null) throw new ConfigError(field(), job, 'expected a job: { taskName, args?, queue?, ... }');
  parseOptions(jobKeys, job, (path) => field(path as keyof JobToDefer));
  return [
    validateQueueName(job.queue ?? 'default', field('queue')),
    checkTaskName(job.taskName, field('taskName')),
    checkPriority(job.priority, field('priority')),
    checkLock(job.lock, field('lock')),
    checkLock(job.queueingLock, field('queueingLock')),
    argsJson(job.args, field('args')),
    checkScheduleAt(job.scheduleAt, field('scheduleAt')),
  ];
}
