/**
 * Errors of the Procrastinate backend, client and deferrer. Each is a {@link TaskSemaphoreError},
 * so callers branch on `code` and errors from two copies of the package still match
 * `isTaskSemaphoreError`. Those a job handler meets (its signal's reason when Procrastinate, not
 * the slot, asks it to stop) are here too; the slot's own reasons (timeout, lost slot, cancel)
 * arrive as the scheduler's `TaskAbortedError`.
 */
import { TaskSemaphoreError } from '../../src/core/errors.js';

/**
 * Every code of the Procrastinate backend's own errors: README's Procrastinate error table lists
 * each. `ERR_QUEUE_NAME` is a `ConfigError`'s; the others have a class of their own, below.
 */
export const procrastinateErrorCodes = [
  'ERR_PROCRASTINATE_SCHEMA',
  'ERR_ALREADY_ENQUEUED',
  'ERR_QUEUE_NAME',
  'ERR_JOB_ABORTED',
  'ERR_UNKNOWN_TASK',
  'ERR_JOB_ARGS',
] as const;
export type ProcrastinateErrorCode = (typeof procrastinateErrorCodes)[number];

/** What a schema error knows about the culprit; each field is set only where it is known. */
export interface ProcrastinateSchemaErrorDetails {
  /** The Procrastinate version that introduced the missing object, e.g. `'3.1'`. */
  level?: string;
  /** The missing or outdated object, e.g. `table procrastinate_workers`. */
  object?: string;
  /** The connection's search_path, where the object was looked for. */
  searchPath?: string;
  cause?: unknown;
}

/**
 * The database lacks the Procrastinate schema this library needs (level 3.4, Procrastinate
 * 3.4.0 to 3.9.0), has an older one, or holds part of it. The message names the missing object,
 * the version that introduced it, and what to run: Procrastinate's migrations for an existing
 * schema, `applySchema()` for an empty one.
 */
export class ProcrastinateSchemaError extends TaskSemaphoreError<'ERR_PROCRASTINATE_SCHEMA'> {
  override name = 'ProcrastinateSchemaError';
  declare readonly level?: string;
  declare readonly object?: string;
  declare readonly searchPath?: string;

  constructor(message: string, details: ProcrastinateSchemaErrorDetails = {}) {
    super('ERR_PROCRASTINATE_SCHEMA', message, { backend: 'procrastinate', cause: details.cause });
    // Only the fields given exist on the instance, as in the base class.
    for (const key of ['level', 'object', 'searchPath'] as const) {
      if (details[key] !== undefined) Object.defineProperty(this, key, { value: details[key], enumerable: true });
    }
  }
}

/** The unique index that allows one queued (`todo`) job per queueing lock. */
export const queueingLockIndex = 'procrastinate_jobs_queueing_lock_idx_v1';

/**
 * True for the unique violation Procrastinate maps to `AlreadyEnqueued`: SQLSTATE 23505 on
 * {@link queueingLockIndex}. Any other 23505 is a different problem and must be rethrown. Read
 * by shape, not `instanceof`, since a pool passed in may come from another copy of `pg`.
 */
export function isQueueingLockConflict(error: unknown): boolean {
  const { code, constraint } = (error ?? {}) as { code?: unknown; constraint?: unknown };
  return code === '23505' && constraint === queueingLockIndex;
}

/**
 * The queueing lock a conflict names, read from the error detail
 * `Key (queueing_lock)=(…) already exists.`; null when the server sent no such detail (it omits
 * it when the role may not read the column).
 */
export function conflictingQueueingLock(error: unknown): string | null {
  const { detail } = (error ?? {}) as { detail?: unknown };
  if (typeof detail !== 'string') return null;
  const match = /^Key \(queueing_lock\)=\((.*)\) already exists\.?$/s.exec(detail);
  return match?.[1] ?? null;
}

/**
 * A job could not be deferred (or put back to `todo`) because another queued job holds the same
 * queueing lock: Procrastinate's `AlreadyEnqueued`. Nothing was written; in a batch, no job of
 * the batch was. Branch on `code === 'ERR_ALREADY_ENQUEUED'`; the PostgreSQL error is the `cause`.
 */
export class AlreadyEnqueuedError extends TaskSemaphoreError<'ERR_ALREADY_ENQUEUED'> {
  override name = 'AlreadyEnqueuedError';
  /** The queueing lock already held by a queued job; null if the server did not say which. */
  readonly queueingLock: string | null;

  constructor(queueingLock: string | null, cause: unknown, message?: string) {
    super(
      'ERR_ALREADY_ENQUEUED',
      message ??
        `a job with queueing lock ${queueingLock === null ? '(unknown)' : JSON.stringify(queueingLock)} is already queued; ` +
          'defer again once it has started, or defer without a queueingLock',
      { backend: 'procrastinate', cause },
    );
    this.queueingLock = queueingLock;
  }
}

/**
 * Why Procrastinate asked a job to stop, as Python's `AbortReason`: `user_request`, an abort
 * requested through `procrastinate_cancel_job_v1(id, abort => true)` (the job ends `aborted` when
 * the handler gives up); `shutdown`, this worker is closing (the job is retried if its policy
 * allows, else ends `aborted`).
 */
export type JobAbortReason = 'user_request' | 'shutdown';

/**
 * The `signal.reason` of a job handler's AbortSignal when an abort was requested or the backend
 * is shutting down. Throwing it (or any error) from the handler honours the abort.
 */
export class JobAbortedError extends TaskSemaphoreError<'ERR_JOB_ABORTED'> {
  override name = 'JobAbortedError';
  readonly abortReason: JobAbortReason;
  /** The Procrastinate job id (int8, as a string). */
  readonly jobId: string;

  constructor(abortReason: JobAbortReason, jobId: string) {
    super(
      'ERR_JOB_ABORTED',
      abortReason === 'user_request'
        ? `job ${jobId} should stop: an abort was requested`
        : `job ${jobId} should stop: the worker is shutting down`,
      { backend: 'procrastinate', taskId: jobId },
    );
    this.abortReason = abortReason;
    this.jobId = jobId;
  }
}

/**
 * A job was claimed whose task name has no handler in this backend. It is failed at once, without
 * retry, as Python fails a `TaskNotFound`. Fix: register the task, or route its queue to workers
 * that have it (queues are the only routing: fetch cannot filter by task).
 */
export class UnknownTaskError extends TaskSemaphoreError<'ERR_UNKNOWN_TASK'> {
  override name = 'UnknownTaskError';
  readonly taskName: string;

  constructor(taskName: string, jobId: string, queue: string, registered: readonly string[]) {
    super(
      'ERR_UNKNOWN_TASK',
      `no handler for task ${JSON.stringify(taskName)} (job ${jobId}, queue ${JSON.stringify(queue)}); ` +
        `registered: ${registered.map((name) => JSON.stringify(name)).join(', ')}. The job is failed without retry; ` +
        "register a handler for the task, or keep its queue out of this backend's queues",
      { backend: 'procrastinate', taskId: jobId },
    );
    this.taskName = taskName;
  }
}

/**
 * A job was claimed whose args the handler cannot be given: no JSON object (an array, a string,
 * null: something other than Procrastinate's clients deferred it; Python fails it too, calling
 * `task(**args)`), or holding an integer a JavaScript number cannot hold exactly. It is failed at
 * once, without retry, and the handler never runs.
 */
export class JobArgsError extends TaskSemaphoreError<'ERR_JOB_ARGS'> {
  override name = 'JobArgsError';
  constructor(taskName: string, jobId: string, problem: string) {
    super('ERR_JOB_ARGS', `job ${jobId} of task ${JSON.stringify(taskName)} has args ${problem}; the job is failed without retry`, {
      backend: 'procrastinate',
      taskId: jobId,
    });
  }
}
