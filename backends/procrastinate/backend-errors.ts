/**
 * Errors the Procrastinate backend hands to job handlers: the `reason` of a handler's fired
 * AbortSignal when Procrastinate (not the slot) asked it to stop, and the error recorded for a job
 * whose task has no handler here. The slot's own reasons (timeout, lost slot, cancel) arrive as the
 * scheduler's `TaskAbortedError`.
 */
import { TaskSemaphoreError } from '../../src/core/errors.js';

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
export class JobAbortedError extends TaskSemaphoreError {
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
export class UnknownTaskError extends TaskSemaphoreError {
  override name = 'UnknownTaskError';
  readonly taskName: string;

  constructor(taskName: string, jobId: string, queue: string, registered: readonly string[]) {
    super(
      'ERR_UNKNOWN_TASK',
      `no handler for task ${JSON.stringify(taskName)} (job ${jobId}, queue ${JSON.stringify(queue)}); ` +
        `registered: ${registered.map((name) => JSON.stringify(name)).join(', ')}. The job is failed without retry; ` +
        'register a handler for the task, or keep its queue out of this backend\'s queues',
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
export class JobArgsError extends TaskSemaphoreError {
  override name = 'JobArgsError';
  constructor(taskName: string, jobId: string, problem: string) {
    super(
      'ERR_JOB_ARGS',
      `job ${jobId} of task ${JSON.stringify(taskName)} has args ${problem}; the job is failed without retry`,
      { backend: 'procrastinate', taskId: jobId },
    );
  }
}
