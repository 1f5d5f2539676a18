/**
 * Options of {@link ProcrastinateBackend}: their types, defaults, and the checks the constructor
 * runs, each naming the option, the bad value and what is allowed.
 */
import * as z from 'zod/mini';
import type { Duration } from '../../src/core/duration.js';
import { ConfigError, configErrorsOf, describe } from '../../src/core/errors.js';
import { loggerOption, silentLogger, type Logger } from '../../src/core/logger.js';
import { checkedLater, duration, flag, oneOf, parseOptions, shaped, strictObject } from '../../src/core/option-schema.js';
import type { KeepaliveOutcome } from '../../src/contracts/results.js';
import { checkTaskName } from './job-fields.js';
import { postgresPoolOption, type PostgresOption } from './pool-option.js';
import { maxQueueNameBytes, validateQueues } from './queues.js';
import { normalizeRetry, type RetryOption, type RetryPolicy } from './retry.js';

/** What a handler gets besides its args: the job, its AbortSignal and a keepalive. */
export interface JobContext {
  /** The job id (int8, as a string): also the task id in the slot. */
  id: string;
  taskName: string;
  /** The job's keyword arguments (Python calls `task(**args)`). */
  args: Record<string, unknown>;
  /** Finished tries before this one: 0 on the first run. */
  attempts: number;
  queue: string;
  lock: string | null;
  priority: number;
  /**
   * Fires when the job should stop. `signal.reason` says why: a `TaskAbortedError` from the slot
   * (`abortCause` `timeout`, `max_runtime`, `lost`, `cancel_requested`, `backend_removed`), or a
   * `JobAbortedError` from Procrastinate (`abortReason` `user_request` or `shutdown`). Reading it
   * checks the slot's lease first: after a stall past the lease, the first look says stop.
   */
  signal: AbortSignal;
  /**
   * Renews the slot now. The backend already does so at a third of the slot's timeout while the
   * handler runs; call it to learn sooner whether to stop. `cancelRequested` is also true when
   * Procrastinate asked for an abort; `ok: false` means the slot is lost and the handler must stop.
   */
  keepalive(): Promise<KeepaliveOutcome>;
}

/**
 * Runs one job. Resolving marks it `succeeded`; throwing retries it per the task's policy or marks
 * it `failed`; throwing after its signal fired for an abort marks it `aborted`.
 */
export type JobHandler = (args: Record<string, unknown>, job: JobContext) => unknown;

/** A task's handler, with its retry policy. */
export interface TaskDefinition {
  handler: JobHandler;
  /**
   * As Procrastinate's `retry=`: `false` never, `true` always, `N` up to N retries, or a policy.
   * @defaultValue false (as Python)
   */
  retry?: RetryOption;
}

/** Which finished jobs are deleted (their events with them), as Python's `delete_jobs`. */
export type DeleteJobsPolicy = 'never' | 'successful' | 'always';

/** Options of `new ProcrastinateBackend(options)`. `postgres`, `queues` and `tasks` are required. */
export interface ProcrastinateBackendOptions {
  /**
   * A postgres:// URL (the backend opens and ends its pool) or a pg.Pool (never ended by it),
   * connected with the search_path of the Python side (`options: '-c search_path=<schema>'`).
   * The LISTEN connection is opened with the same settings.
   */
  postgres: PostgresOption;
  /**
   * The queues this backend serves: an explicit list, never "all queues", since fetch cannot
   * filter by task and Python workers' jobs would be taken (and failed as unknown tasks).
   */
  queues: readonly string[];
  /** Handlers by Procrastinate task name (Python's dotted path by default, e.g. `myapp.tasks.send`). */
  tasks: Readonly<Record<string, JobHandler | TaskDefinition>>;
  /** @defaultValue `'never'` */
  deleteJobs?: DeleteJobsPolicy;
  /**
   * What a slot timeout (missed keepalives, max runtime, lost slot) does to its job. `false`:
   * the job is failed, since its handler may still be running; `true`: the task's retry policy
   * applies, at the risk of running the job twice.
   * @defaultValue false
   */
  retryOnTimeout?: boolean;
  /**
   * How long `close()` waits for running handlers before aborting them (reason `shutdown`). Not
   * used after `scheduler.shutdown()`: its graceful and final waits were the handlers' grace, and
   * the handlers it aborted are not waited for again.
   * @defaultValue `'30s'`
   */
  shutdownGrace?: Duration;
  /**
   * Interval of the worker heartbeat. At most 10 s, well below the 30 s after which a Python worker
   * prunes a silent worker (and its jobs look stalled).
   * @defaultValue `'10s'`
   */
  heartbeatInterval?: Duration;
  /**
   * Interval of the poll for abort requests while jobs run, the safety net of the NOTIFY.
   * @defaultValue `'5s'` (Python's `abort_job_polling_interval`)
   */
  abortPollInterval?: Duration;
  /**
   * Interval of the sweep that recovers jobs of our queues whose worker died (no heartbeat for
   * `staleWorkerTimeout`): each is retried per its task's policy, or failed, at most once across
   * every process. 0 turns it off.
   * @defaultValue `'30s'`
   */
  sweepInterval?: Duration;
  /**
   * A worker silent for this long counts as dead; at least 20 s, twice the longest heartbeat
   * interval. Python's `stalled_worker_timeout` is 30 s.
   * @defaultValue `'30s'`
   */
  staleWorkerTimeout?: Duration;
  /**
   * Send the statements of every job's path (fetch, finish) as prepared statements, which
   * PostgreSQL parses and plans once per connection. Turn off behind a pooler that cannot keep
   * them, such as PgBouncer in transaction mode before 1.21 (or without `max_prepared_statements`).
   * @defaultValue true
   */
  preparedStatements?: boolean;
  /** `false` logs nothing. @defaultValue the scheduler's logger, with `backend` set */
  logger?: Logger | false;
}

/** Defaults of the optional options. */
export const backendDefaults = Object.freeze({
  deleteJobs: 'never',
  retryOnTimeout: false,
  shutdownGrace: '30s',
  heartbeatInterval: '10s',
  abortPollInterval: '5s',
  sweepInterval: '30s',
  staleWorkerTimeout: '30s',
  preparedStatements: true,
} satisfies Partial<ProcrastinateBackendOptions>);

/** A task as the backend keeps it: its handler and its checked retry policy. */
export interface ResolvedTask {
  handler: JobHandler;
  retry: RetryPolicy | null;
}

/** Options with defaults applied and every value checked. */
export interface ResolvedBackendOptions {
  postgres: PostgresOption;
  queues: string[];
  tasks: ReadonlyMap<string, ResolvedTask>;
  deleteJobs: DeleteJobsPolicy;
  retryOnTimeout: boolean;
  shutdownGraceMs: number;
  heartbeatMs: number;
  abortPollMs: number;
  sweepMs: number;
  staleWorkerSeconds: number;
  preparedStatements: boolean;
  /** The logger given, none for `false`, or undefined for the scheduler's. */
  logger: Logger | undefined;
}

const deletePolicies: readonly DeleteJobsPolicy[] = ['never', 'successful', 'always'];
/** Above this a Python worker's default `stalled_worker_timeout` (30 s) comes too close. */
const maxHeartbeatMs = 10_000;

/**
 * Every option, checked by shape; queues and tasks are checked after, entry by entry. A config
 * file's `procrastinate` backend is made of this shape (src/service/config-schema.ts): an option
 * added here is an option of the file too.
 */
export const backendOptionShape = {
  postgres: postgresPoolOption(),
  queues: checkedLater({
    type: 'array',
    items: { type: 'string', minLength: 1 },
    minItems: 1,
    description: `the queues this backend serves (each at most ${maxQueueNameBytes} bytes in UTF-8); never all queues`,
  }),
  tasks: checkedLater(),
  deleteJobs: z._default(oneOf(deletePolicies), backendDefaults.deleteJobs),
  retryOnTimeout: z._default(flag(), backendDefaults.retryOnTimeout),
  shutdownGrace: duration(backendDefaults.shutdownGrace, { min: 0 }),
  heartbeatInterval: duration(backendDefaults.heartbeatInterval, { max: maxHeartbeatMs }),
  abortPollInterval: duration(backendDefaults.abortPollInterval),
  sweepInterval: duration(backendDefaults.sweepInterval, { min: 0 }),
  // Below twice the longest heartbeat interval, live workers would look dead.
  staleWorkerTimeout: duration(backendDefaults.staleWorkerTimeout, { min: 2 * maxHeartbeatMs }),
  preparedStatements: z._default(flag(), backendDefaults.preparedStatements),
  logger: loggerOption(),
};

const optionsSchema = strictObject(backendOptionShape, 'allowed: an object with postgres, queues and tasks');

/** Applies defaults and checks every option. @throws ConfigError */
export function resolveBackendOptions(options: ProcrastinateBackendOptions): ResolvedBackendOptions {
  const parsed = parseOptions(optionsSchema, options);
  return {
    postgres: parsed.postgres,
    queues: validateQueues(parsed.queues, 'queues'),
    tasks: resolveTasks(parsed.tasks),
    deleteJobs: parsed.deleteJobs,
    retryOnTimeout: parsed.retryOnTimeout,
    shutdownGraceMs: parsed.shutdownGrace,
    heartbeatMs: parsed.heartbeatInterval,
    abortPollMs: parsed.abortPollInterval,
    sweepMs: parsed.sweepInterval,
    staleWorkerSeconds: parsed.staleWorkerTimeout / 1000,
    preparedStatements: parsed.preparedStatements,
    logger: parsed.logger === false ? silentLogger() : parsed.logger,
  };
}

const taskSchema = strictObject(
  { handler: shaped<JobHandler>((value) => typeof value === 'function', 'allowed: a function (args, job) => …'), retry: checkedLater() },
  'allowed: a handler function, or { handler, retry? }',
  'field',
);

function resolveTasks(tasks: unknown): Map<string, ResolvedTask> {
  checkTasksObject(tasks);
  return new Map(Object.entries(tasks).map(([name, spec]) => [name, resolveTask(name, spec)]));
}

/**
 * Every problem of a `tasks` option, one ConfigError each (fields `tasks[…]`), where the
 * constructor throws the first: a config file names them all at once.
 */
export function tasksProblems(tasks: unknown): ConfigError<string>[] {
  const whole = configErrorsOf(() => checkTasksObject(tasks));
  if (whole.length > 0) return whole;
  return Object.entries(tasks as object).flatMap(([name, spec]) => configErrorsOf(() => resolveTask(name, spec)));
}

function checkTasksObject(tasks: unknown): asserts tasks is Record<string, unknown> {
  if (typeof tasks !== 'object' || tasks === null || Array.isArray(tasks) || Object.keys(tasks).length === 0) {
    throw new ConfigError(
      'tasks',
      tasks,
      'allowed: a non-empty object of handlers by task name, e.g. { "myapp.tasks.send": async (args, job) => {} }',
    );
  }
}

function resolveTask(name: string, spec: unknown): ResolvedTask {
  const field = `tasks[${describe(name)}]`;
  checkTaskName(name, field);
  if (typeof spec === 'function') return { handler: spec as JobHandler, retry: null };
  const { handler, retry } = parseOptions(taskSchema, spec, field);
  return { handler, retry: normalizeRetry(retry as RetryOption | undefined, `${field}.retry`) };
}
