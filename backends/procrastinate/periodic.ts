/**
 * Periodic tasks deferred from Node, as Python's `@app.periodic(cron=…)`: every process runs the
 * same schedules, and `procrastinate_defer_periodic_job_v2` lets one of them per tick defer the
 * job, so N processes (Node or Python) defer each tick once. The cron expressions are read as
 * Procrastinate reads them (periodic-cron.ts), in UTC by default as Python ticks, so that a
 * schedule means the same instants on both sides.
 */
import cron, { type ScheduledTask, type TaskContext } from 'node-cron';
import type pg from 'pg';
import * as z from 'zod/mini';
import type { Duration } from '../../src/core/duration.js';
import { ConfigError } from '../../src/core/errors.js';
import { errorFields, loggerOption, resolveLogger, type Logger } from '../../src/core/logger.js';
import { checked, checkedLater, duration, parseOptions, strictObject } from '../../src/core/option-schema.js';
import { AlreadyEnqueuedError, isQueueingLockConflict } from './errors.js';
import { argsJson } from './job-args.js';
import { checkLock, checkPriority, checkTaskName } from './job-fields.js';
import { openPool, postgresPoolOption, type PoolHandle, type PostgresOption } from './pool-option.js';
import { validateQueueName } from './queues.js';
import { toNodeCron } from './periodic-cron.js';
import { periodicDefer } from './sql.generated.js';

/** One periodic task. The pair (taskName, periodicId) identifies its ticks fleet-wide. */
export interface PeriodicTask {
  /** Task name as the Python worker knows it. */
  taskName: string;
  /**
   * Procrastinate's cron syntax, as in `@app.periodic(cron=…)`: 5 fields, or 6 with the seconds
   * LAST (`'* * * * * *\/10'`: every 10 seconds). node-cron's seconds-first form is refused.
   */
  cron: string;
  /** Keyword arguments; `timestamp` (the tick in Unix seconds) is added to them. @defaultValue {} */
  args?: Record<string, unknown>;
  /** @defaultValue 'default' */
  queue?: string;
  /** @defaultValue null */
  lock?: string | null;
  /** A tick whose queueing lock is held by a queued job is not deferred (logged at info). @defaultValue null */
  queueingLock?: string | null;
  /** @defaultValue 0 */
  priority?: number;
  /** Tells apart several schedules of one task; must match across processes. @defaultValue '' */
  periodicId?: string;
}

/** Options of {@link PeriodicDeferrer}. */
export interface PeriodicDeferrerOptions {
  /**
   * A postgres:// URL (a pool is opened on `start()` and ended on `stop()`) or a pg.Pool (never
   * ended). Connect with the search_path of the Python side.
   */
  postgres: PostgresOption;
  tasks: readonly PeriodicTask[];
  /**
   * Gets tick failures (error), skipped ticks (warn/info) and node-cron's messages (debug); `false`
   * logs nothing. @defaultValue warnings and errors on stderr, as the Scheduler's default
   */
  logger?: Logger | false;
  /**
   * A tick that fires later than this is skipped, as Python's `max_delay` (which is in seconds:
   * `max_delay=600` is `'10m'` here). @defaultValue `'10m'`
   */
  maxLateness?: Duration;
  /**
   * IANA time zone the cron expressions are read in. Python's deferrer reads them in UTC: another
   * zone makes Node defer other ticks than Python for the same schedule.
   * @defaultValue 'UTC'
   */
  timezone?: string;
}

const defaults = Object.freeze({ maxLateness: '10m', timezone: 'UTC' }) satisfies Required<
  Pick<PeriodicDeferrerOptions, 'maxLateness' | 'timezone'>
>;

/** The keys of a task entry, each checked by {@link resolveTask}. */
const taskSchema = strictObject(
  {
    taskName: checkedLater(),
    cron: checkedLater(),
    args: checkedLater(),
    queue: checkedLater(),
    lock: checkedLater(),
    queueingLock: checkedLater(),
    priority: checkedLater(),
    periodicId: checkedLater(),
  },
  'expected { taskName, cron, ... }',
  'field',
);

const optionsSchema = strictObject(
  {
    postgres: postgresPoolOption(),
    tasks: z.array(z.unknown(), 'expected an array of { taskName, cron, ... }'),
    logger: loggerOption(),
    maxLateness: duration(defaults.maxLateness, { min: 0 }),
    timezone: z.optional(
      checked<string>((value) => (isTimeZone(value) ? undefined : "expected an IANA time zone such as 'UTC' or 'Europe/Paris'")),
    ),
  },
  'expected an object with postgres and tasks',
);

/** A task checked once: the parameters of periodic-defer.sql, except the tick. */
interface ResolvedTask {
  taskName: string;
  cron: string;
  /** The node-cron expressions whose ticks are the cron's (two for croniter's either-day rule). */
  schedules: readonly string[];
  queue: string;
  lock: string | null;
  queueingLock: string | null;
  priority: number;
  periodicId: string;
  args: Record<string, unknown>;
}

/**
 * Defers periodic tasks on their cron ticks. Options are checked in the constructor;
 * `start()` schedules, `stop()` unschedules and waits for ticks under way. Ticks never throw:
 * failures are logged, and the next tick tries again.
 *
 * @example
 * const periodic = new PeriodicDeferrer({ postgres: pool, tasks: [{ taskName: 'app.cleanup', cron: '0 * * * *' }] });
 * periodic.start();
 */
export class PeriodicDeferrer {
  private readonly postgres: PostgresOption;
  private readonly tasks: readonly ResolvedTask[];
  private readonly log: Logger;
  /** In milliseconds. */
  private readonly maxLatenessMs: number;
  private readonly timezone: string;
  /** Opened on first use; a pool we opened is ended by stop() and opened again when needed. */
  private handle: PoolHandle | undefined;
  private crons: ScheduledTask[] = [];
  /** Ticks under way, awaited by stop(). */
  private readonly inFlight = new Set<Promise<unknown>>();

  /**
   * @throws ConfigError naming the bad option or task entry, e.g. `tasks[1].cron`
   * @throws MissingPeerError on the first tick, for a URL, when `pg` is not installed
   */
  constructor(options: PeriodicDeferrerOptions) {
    const { postgres, tasks, logger, maxLateness, timezone } = parseOptions(optionsSchema, options, 'PeriodicDeferrerOptions');
    this.postgres = postgres;
    this.tasks = tasks.map((task, i) => resolveTask(task as PeriodicTask, `PeriodicDeferrerOptions.tasks[${i}]`));
    // Two entries with one identity would share ticks: only the first to call would defer.
    const seen = new Map<string, number>();
    this.tasks.forEach((task, i) => {
      const key = JSON.stringify([task.taskName, task.periodicId]);
      const first = seen.get(key);
      if (first !== undefined) {
        throw new ConfigError(
          `PeriodicDeferrerOptions.tasks[${i}].periodicId`,
          task.periodicId,
          `tasks[${first}] already schedules task "${task.taskName}" with this periodicId; give each schedule of a task its own periodicId`,
        );
      }
      seen.set(key, i);
    });
    this.log = resolveLogger(logger).child({ backend: 'procrastinate', component: 'periodic' });
    this.maxLatenessMs = maxLateness;
    this.timezone = timezone ?? defaults.timezone;
  }

  /** True between `start()` and `stop()`. */
  get isRunning(): boolean {
    return this.crons.length > 0;
  }

  /** Schedules every task. Idempotent. */
  start(): void {
    if (this.isRunning) return;
    this.crons = this.tasks.flatMap((task) =>
      task.schedules.map((schedule) =>
        cron.schedule(schedule, (context) => this.onTick(task, context), {
          name: `procrastinate-periodic:${task.taskName}:${task.periodicId}:${schedule}`,
          timezone: this.timezone,
          // A tick still deferring when the next comes skips that one, rather than piling up on a slow database.
          noOverlap: true,
          logger: cronLogger(this.log),
        }),
      ),
    );
    this.log.info('periodic deferrer started', { tasks: this.tasks.map((t) => t.taskName) });
  }

  /** Unschedules every task, waits for ticks under way, and ends a pool opened from a URL. Idempotent. */
  async stop(): Promise<void> {
    const crons = this.crons;
    this.crons = [];
    await Promise.all(crons.map((task) => task.destroy()));
    await Promise.allSettled([...this.inFlight]);
    const handle = this.handle;
    this.handle = undefined;
    if (handle?.owned) await handle.pool.end();
    if (crons.length > 0) this.log.info('periodic deferrer stopped');
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }

  /**
   * Defers one tick of a task now, as a cron tick would (without the `maxLateness` check); for tests
   * and for catching up by hand. Needs no `start()`; a pool it opens from a URL is ended by `stop()`.
   * @param timestamp - the tick, in Unix seconds; it becomes `args.timestamp`
   * @returns the job id, or null when this tick of the task was already deferred
   * @throws ConfigError for a bad task or timestamp
   * @throws {@link AlreadyEnqueuedError} when a queued job holds the task's queueing lock
   */
  async deferTick(task: PeriodicTask, timestamp: number): Promise<string | null> {
    const resolved = resolveTask(task, 'deferTick(task)');
    if (!Number.isSafeInteger(timestamp) || timestamp < 0) {
      throw new ConfigError('deferTick(timestamp)', timestamp, 'expected whole Unix seconds >= 0');
    }
    return this.defer(resolved, timestamp);
  }

  private async defer(task: ResolvedTask, timestamp: number): Promise<string | null> {
    this.handle ??= openPool(this.postgres);
    const pool: pg.Pool = this.handle.pool;
    // Python passes the tick as the keyword argument `timestamp`.
    const args = JSON.stringify({ ...task.args, timestamp });
    try {
      const result = await pool.query<{ id: string | null }>(periodicDefer, [
        task.queue,
        task.lock,
        task.queueingLock,
        task.taskName,
        task.priority,
        task.periodicId,
        timestamp,
        args,
      ]);
      return result.rows[0]?.id ?? null;
    } catch (error) {
      if (isQueueingLockConflict(error)) throw new AlreadyEnqueuedError(task.queueingLock, error);
      throw error;
    }
  }

  /** A cron tick: defers it unless too late; logs instead of throwing, since nobody awaits it. */
  private async onTick(task: ResolvedTask, context: TaskContext): Promise<void> {
    // context.date is the tick node-cron planned (whole seconds), the same in every process,
    // whereas the wall clock at run time differs: only the planned tick deduplicates.
    const timestamp = Math.floor(context.date.getTime() / 1000);
    const fields = { taskName: task.taskName, periodicId: task.periodicId, timestamp };
    const lateMs = Date.now() - timestamp * 1000;
    if (lateMs > this.maxLatenessMs) {
      this.log.warn('periodic tick skipped: too late', { ...fields, lateMs: Math.round(lateMs), maxLatenessMs: this.maxLatenessMs });
      return;
    }
    const run = this.defer(task, timestamp).then(
      (id) => this.log.debug(id === null ? 'periodic tick already deferred' : 'periodic job deferred', { ...fields, jobId: id }),
      (error: unknown) => {
        if (error instanceof AlreadyEnqueuedError) {
          this.log.info('periodic tick not deferred: a queued job holds its queueing lock', { ...fields, queueingLock: task.queueingLock });
        } else {
          this.log.error('periodic tick failed', { ...fields, ...errorFields(error) });
        }
      },
    );
    this.inFlight.add(run);
    try {
      await run;
    } finally {
      this.inFlight.delete(run);
    }
  }
}

/** Checks one task entry. @throws ConfigError naming `field` and the entry */
function resolveTask(task: PeriodicTask, field: string): ResolvedTask {
  parseOptions(taskSchema, task, field);
  const taskName = checkTaskName(task.taskName, `${field}.taskName`);
  const schedules = toNodeCron(task.cron, `${field}.cron`);
  const args = JSON.parse(argsJson(task.args, `${field}.args`)) as Record<string, unknown>;
  if ('timestamp' in args) {
    throw new ConfigError(
      `${field}.args.timestamp`,
      args.timestamp,
      'reserved: each tick sets args.timestamp to its Unix seconds, as Python does',
    );
  }
  const periodicId = task.periodicId ?? '';
  if (typeof periodicId !== 'string' || [...periodicId].length > 128) {
    throw new ConfigError(`${field}.periodicId`, periodicId, 'expected a string of at most 128 characters');
  }
  return {
    taskName,
    cron: task.cron,
    schedules,
    queue: validateQueueName(task.queue ?? 'default', `${field}.queue`),
    lock: checkLock(task.lock, `${field}.lock`),
    queueingLock: checkLock(task.queueingLock, `${field}.queueingLock`),
    priority: checkPriority(task.priority, `${field}.priority`),
    periodicId,
    args,
  };
}

/** node-cron's messages (missed or overlapping ticks) go to our logger, never the console. */
function cronLogger(log: Logger) {
  const text = (message: string | Error) => (message instanceof Error ? message.message : message);
  return {
    info: (message: string) => log.debug(message),
    warn: (message: string) => log.warn(message),
    error: (message: string | Error, error?: Error) => log.error(text(message), errorFields(error ?? message)),
    debug: (message: string | Error) => log.debug(text(message)),
  };
}

function isTimeZone(value: unknown): boolean {
  if (typeof value !== 'string' || value === '') return false;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: value });
    return true;
  } catch {
    return false;
  }
}
