/**
 * Options of {@link ProcrastinateBackend}: their types, defaults, and the checks the constructor
 * runs, each naming the option, the bad value and what is allowed.
 */
import { ConfigError } from '../../src/errors.js';
import type { Logger } from '../../src/logger.js';
import type { KeepaliveOutcome } from '../../src/results.js';
import { checkTaskName } from './job-fields.js';
import { checkPostgresOption, type PostgresOption } from './pool-option.js';
import { validateQueues } from './queues.js';
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
   * `JobAbortedError` from Procrastinate (`abortReason` `user_request` or `shutdown`).
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
   * How long `close()` waits for running handlers before aborting them (reason `shutdown`).
   * @defaultValue 30_000
   */
  shutdownGraceMs?: number;
  /**
   * Interval of the worker heartbeat. At most 10 s, well below the 30 s after which a Python worker
   * prunes a silent worker (and its jobs look stalled).
   * @defaultValue 10_000
   */
  heartbeatMs?: number;
  /**
   * Interval of the poll for abort requests while jobs run, the safety net of the NOTIFY.
   * @defaultValue 5_000 (Python's `abort_job_polling_interval`)
   */
  abortPollMs?: number;
  /**
   * Interval of the sweep that recovers jobs of our queues whose worker died (no heartbeat for
   * `staleWorkerSeconds`): each is retried per its task's policy, or failed, at most once across
   * every process. 0 turns it off.
   * @defaultValue 30_000
   */
  sweepMs?: number;
  /**
   * A worker silent for this long counts as dead. Python's `stalled_worker_timeout` is 30 s.
   * @defaultValue 30
   */
  staleWorkerSeconds?: number;
  /**
   * Send the statements of every job's path (fetch, finish) as prepared statements, which
   * PostgreSQL parses and plans once per connection. Turn off behind a pooler that cannot keep
   * them, such as PgBouncer in transaction mode before 1.21 (or without `max_prepared_statements`).
   * @defaultValue true
   */
  preparedStatements?: boolean;
  /** @defaultValue the scheduler's logger, with `backend` set */
  logger?: Logger;
}

/** Defaults of the optional options. */
export const backendDefaults = Object.freeze({
  deleteJobs: 'never',
  retryOnTimeout: false,
  shutdownGraceMs: 30_000,
  heartbeatMs: 10_000,
  abortPollMs: 5_000,
  sweepMs: 30_000,
  staleWorkerSeconds: 30,
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
  logger: Logger | undefined;
}

const optionKeys = ['postgres', 'queues', 'tasks', 'deleteJobs', 'retryOnTimeout', 'shutdownGraceMs', 'heartbeatMs', 'abortPollMs', 'sweepMs', 'staleWorkerSeconds', 'preparedStatements', 'logger'];
const deletePolicies: readonly DeleteJobsPolicy[] = ['never', 'successful', 'always'];
/** Above this a Python worker's default `stalled_worker_timeout` (30 s) comes too close. */
const maxHeartbeatMs = 10_000;

/** Applies defaults and checks every option. @throws ConfigError */
export function resolveBackendOptions(options: ProcrastinateBackendOptions): ResolvedBackendOptions {
  if (typeof options !== 'object' || options === null) {
    throw new ConfigError('options', options, 'allowed: an object with postgres, queues and tasks');
  }
  for (const key of Object.keys(options)) {
    if (!optionKeys.includes(key)) throw new ConfigError(key, (options as unknown as Record<string, unknown>)[key], `unknown option; allowed: ${optionKeys.join(', ')}`);
  }
  const deleteJobs = options.deleteJobs ?? backendDefaults.deleteJobs;
  if (!deletePolicies.includes(deleteJobs)) {
    throw new ConfigError('deleteJobs', deleteJobs, `allowed: ${deletePolicies.map((p) => `"${p}"`).join(', ')}`);
  }
  const retryOnTimeout = options.retryOnTimeout ?? backendDefaults.retryOnTimeout;
  if (typeof retryOnTimeout !== 'boolean') throw new ConfigError('retryOnTimeout', retryOnTimeout, 'allowed: true or false');
  const preparedStatements = options.preparedStatements ?? backendDefaults.preparedStatements;
  if (typeof preparedStatements !== 'boolean') throw new ConfigError('preparedStatements', preparedStatements, 'allowed: true or false');
  const logger = options.logger;
  if (logger !== undefined && !(['error', 'warn', 'info', 'debug', 'child'] as const).every((m) => typeof logger?.[m] === 'function')) {
    throw new ConfigError('logger', logger, 'allowed: a winston logger or an object with error, warn, info, debug and child');
  }
  return {
    postgres: checkPostgresOption(options.postgres, 'postgres'),
    queues: validateQueues(options.queues, 'queues'),
    tasks: resolveTasks(options.tasks),
    deleteJobs,
    retryOnTimeout,
    shutdownGraceMs: milliseconds(options.shutdownGraceMs ?? backendDefaults.shutdownGraceMs, 'shutdownGraceMs', 0, Infinity),
    heartbeatMs: milliseconds(options.heartbeatMs ?? backendDefaults.heartbeatMs, 'heartbeatMs', 1, maxHeartbeatMs),
    abortPollMs: milliseconds(options.abortPollMs ?? backendDefaults.abortPollMs, 'abortPollMs', 1, Infinity),
    sweepMs: milliseconds(options.sweepMs ?? backendDefaults.sweepMs, 'sweepMs', 0, 2 ** 31 - 1),
    // Below the heartbeat interval, live workers would look dead.
    staleWorkerSeconds: staleSeconds(options.staleWorkerSeconds ?? backendDefaults.staleWorkerSeconds),
    preparedStatements,
    logger,
  };
}

function resolveTasks(tasks: unknown): Map<string, ResolvedTask> {
  if (typeof tasks !== 'object' || tasks === null || Array.isArray(tasks) || Object.keys(tasks).length === 0) {
    throw new ConfigError('tasks', tasks, 'allowed: a non-empty object of handlers by task name, e.g. { "myapp.tasks.send": async (args, job) => {} }');
  }
  const resolved = new Map<string, ResolvedTask>();
  for (const [name, spec] of Object.entries(tasks as Record<string, unknown>)) {
    const field = `tasks[${JSON.stringify(name)}]`;
    checkTaskName(name, field);
    if (typeof spec === 'function') {
      resolved.set(name, { handler: spec as JobHandler, retry: null });
      continue;
    }
    if (typeof spec !== 'object' || spec === null || typeof (spec as TaskDefinition).handler !== 'function') {
      throw new ConfigError(field, spec, 'allowed: a handler function, or { handler, retry? }');
    }
    for (const key of Object.keys(spec)) {
      if (key !== 'handler' && key !== 'retry') throw new ConfigError(`${field}.${key}`, (spec as Record<string, unknown>)[key], 'unknown field; allowed: handler, retry');
    }
    const { handler, retry } = spec as TaskDefinition;
    resolved.set(name, { handler, retry: normalizeRetry(retry, `${field}.retry`) });
  }
  return resolved;
}

function milliseconds(value: unknown, field: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
    const range = max === Infinity ? `>= ${min}` : `from ${min} to ${max}`;
    throw new ConfigError(field, value, `allowed: a number of milliseconds ${range}`);
  }
  return value;
}

/** Above the longest heartbeat interval, or live workers would look dead. */
function staleSeconds(value: unknown): number {
  const min = (2 * maxHeartbeatMs) / 1000;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min) {
    throw new ConfigError('staleWorkerSeconds', value, `allowed: a number of seconds >= ${min} (twice the longest heartbeat interval)`);
  }
  return value;
}
