import { hostname } from 'node:os';
import * as z from 'zod/mini';
import { randomBytes } from 'node:crypto';
import { postgresOption, redisOption, type PgPoolLike, type RedisClientLike } from '../core/connection-options.js';
import type { Duration } from '../core/duration.js';
import { minTaskTimeoutMs } from './config.js';
import { ConfigError } from '../core/errors.js';
import { loggerOption, resolveLogger, type Logger } from '../core/logger.js';
import {
  collectOptions,
  duration,
  durationJson,
  falseOr,
  flag,
  integer,
  optionalDuration,
  storableText,
  strictObject,
  text,
} from '../core/option-schema.js';
import { historyDefaults } from '../contracts/history.js';
import { schemaNameOption } from '../core/postgres/schema-name.js';

/** Options of `new Scheduler(options)`. Only `name` is required. */
export interface SchedulerOptions {
  /**
   * The scheduler name: schedulers with the same name and store share the same slots, across
   * processes and hosts. 1 to 100 letters, digits and `_ . : -`.
   */
  name: string;
  /**
   * Redis for `RedisSlot`: a redis:// or rediss:// URL (the scheduler opens and closes its client;
   * a database index in the path must exist on the server) or an ioredis Redis or Cluster client
   * (never closed by us).
   */
  redis?: string | RedisClientLike;
  /** PostgreSQL for `PostgresSlot`: a postgres:// URL (the scheduler opens and closes its pool) or a pg.Pool (never closed by us). */
  postgres?: string | PgPoolLike;
  /**
   * Schema of the PostgreSQL tables, created if missing.
   * @defaultValue `'public'`
   */
  postgresSchema?: string;
  /**
   * `PostgresSlot`: send the store's statements as named prepared statements, parsed and planned
   * once per connection. Turn off behind a pooler that does not keep them across transactions
   * (PgBouncer in transaction mode before 1.21, or with `max_prepared_statements = 0`); the store
   * also turns them off by itself at the first statement such a pooler loses.
   * @defaultValue `true`
   */
  postgresPreparedStatements?: boolean;
  /**
   * `PostgresSlot`: the persistence of the store's tables, set when the scheduler loads: `true`
   * makes them `UNLOGGED` (no write-ahead log, so a commit waits for no flush to disk), `false`
   * makes them logged again, and leaving it out keeps them as they are (logged when created).
   * Unlogged, the slots are as durable as in Redis without persistence: a clean restart of
   * PostgreSQL keeps them, a crash empties them, a standby never has them (see the README's
   * State loss and persistence).
   */
  postgresUnlogged?: boolean;
  /**
   * Prefix of every Redis key.
   * @defaultValue `'task-semaphore'`
   */
  keyPrefix?: string;
  /**
   * `RedisSlot`: replicas that must have each write before the store acknowledges it (Redis
   * `WAIT`, up to 1 s), so that a failover to one of them loses no acknowledged write. A write
   * they do not confirm fails as StoreUnavailableError.
   * @defaultValue `0` (no wait: replication stays asynchronous)
   */
  redisWaitReplicas?: number;
  /**
   * Slot class of slots whose config gives none.
   * @defaultValue `'RedisSlot'` with `redis`, else `'PostgresSlot'` with `postgres`, else `'MemorySlot'`
   */
  defaultSlotClass?: string;
  /**
   * A winston logger (or one of the same shape), or `false` to log nothing.
   * @defaultValue warnings and errors on stderr, one line each (see {@link defaultLogger})
   */
  logger?: Logger | false;
  /**
   * Keepalive timeout of slots whose config gives none; at least 100 ms.
   * @defaultValue `'5m'`
   */
  timeout?: Duration;
  /**
   * How long a task of a backend that `runsInProcess` keeps its slot once this process stops
   * renewing it (it died or stalled): the slot is then free for other schedulers. Renewed every
   * third of it while the process lives and the task is within its own `timeout`. Shorter than
   * `timeout`, or it changes nothing.
   * @defaultValue `'20s'`
   */
  processLease?: Duration;
  /**
   * Time limit of one `poll` call; a poll that takes longer is abandoned (its signal fires) and the
   * pass goes on with the next backend.
   * @defaultValue `'10s'`
   */
  pollTimeout?: Duration;
  /**
   * Time limit of one callback call (start, stop, timeout, keepalive, reject). A start callback
   * that takes longer counts as a failed start.
   * @defaultValue `'30s'`
   */
  callbackTimeout?: Duration;
  /**
   * How long the end of a task whose callbacks this scheduler runs stays leased to it in the
   * store's delivery log: if the process dies (or stalls) before the callbacks ran and were
   * acknowledged, the next pass of any scheduler of the name with the backend runs them after
   * this. Must exceed twice `callbackTimeout` (a `timeoutCallback` and a `stopCallback`), so that
   * a live process's slow callbacks are never run again elsewhere.
   * @defaultValue 4 × `callbackTimeout` (`'2m'` with the default)
   */
  deliveryLease?: Duration;
  /**
   * How long a slot stays reserved while a pass polls its backends. If the scheduler dies mid-pass,
   * the slot is free again after this. Must exceed `pollTimeout`.
   * @defaultValue `'60s'`
   */
  reservationTimeout?: Duration;
  /**
   * How long the end of a task is remembered, so that a late keepalive or stop learns `timed_out`
   * or `ended` rather than `unknown`.
   * @defaultValue `'1h'`
   */
  endedRetention?: Duration;
  /**
   * Most timed-out occupancies reaped (and outbox entries and lapsed deliveries delivered) per pass;
   * the rest wait for the next.
   * @defaultValue 1000
   */
  reapLimit?: number;
  /**
   * Most tasks this scheduler instance runs at once, across its slots; the fleet-wide bound stays
   * the number of slots. A scheduler refills the slots its own tasks free before any other process
   * sees them, so on a steady backlog the first processes to take slots keep them: set this to
   * spread the slots over processes (e.g. 2 per process for 6 slots on 3 hosts). Its passes
   * reserve only as many idle slots as it may still fill, leaving the others to other schedulers.
   * @defaultValue `Infinity` (no cap beyond the slots)
   */
  maxLocalTasks?: number;
  /**
   * How long `shutdown()` waits for the tasks running in this process (backends that
   * `runsInProcess`) to stop on their own before it aborts them (signal cause `shutdown`). 0
   * aborts at once.
   * @defaultValue `'20s'`
   */
  shutdownGraceful?: Duration;
  /**
   * How long `shutdown()` then waits for the aborted tasks to stop before it gives up on them: each
   * still running is ended `dropped` in the store (its slot free for the fleet) and its
   * `stopCallback` runs here with that reason. With `shutdownGraceful` at its default, the two fit
   * in Kubernetes' default 30 s between SIGTERM and SIGKILL, with time left to close.
   * @defaultValue `'5s'`
   */
  shutdownFinal?: Duration;
  /**
   * Id of this scheduler instance, stored with its reservations for inspection.
   * @defaultValue `<hostname>:<pid>:<random>`
   */
  owner?: string;
  /**
   * The task history (`history()`): each occupancy's record, written by the store in the step that
   * ends it. Redis and memory keep about the last `maxEntries` records (Redis trims its stream
   * approximately: at least that many stay); PostgreSQL keeps those that ended within `retention`,
   * pruned by passes. `false` writes no history at all, and `history()` throws.
   * @defaultValue `{ maxEntries: 10000, retention: '7d' }`
   */
  history?: { maxEntries?: number; retention?: Duration } | false;
}

/** Options with every default applied and every duration in milliseconds. */
export interface ResolvedOptions {
  name: string;
  redis: string | RedisClientLike | undefined;
  postgres: string | PgPoolLike | undefined;
  postgresSchema: string;
  postgresPreparedStatements: boolean;
  postgresUnlogged: boolean | undefined;
  keyPrefix: string;
  redisWaitReplicas: number;
  defaultSlotClass: string;
  logger: Logger;
  timeoutMs: number;
  processLeaseMs: number;
  pollTimeoutMs: number;
  callbackTimeoutMs: number;
  deliveryLeaseMs: number;
  reservationTimeoutMs: number;
  endedRetentionMs: number;
  reapLimit: number;
  maxLocalTasks: number;
  shutdownGracefulMs: number;
  shutdownFinalMs: number;
  owner: string;
  /** What the stores are built with (see `StoreHistoryOptions`): `false`, or the cap and the retention in ms. */
  history: { maxEntries: number; retentionMs: number } | false;
}

export const defaults = Object.freeze({
  postgresSchema: 'public',
  postgresPreparedStatements: true,
  keyPrefix: 'task-semaphore',
  redisWaitReplicas: 0,
  timeout: '5m',
  processLease: '20s',
  pollTimeout: '10s',
  callbackTimeout: '30s',
  reservationTimeout: '60s',
  endedRetention: '1h',
  reapLimit: 1000,
  maxLocalTasks: Number.POSITIVE_INFINITY,
  shutdownGraceful: '20s',
  shutdownFinal: '5s',
} satisfies Partial<SchedulerOptions>);

const namePattern = /^[\w.:-]{1,100}$/;
const nameAllowed = 'allowed: 1 to 100 letters, digits, _ . : -';

/**
 * Every option, checked by shape; the rules between two options are checked after. A config file's
 * `scheduler` section is made of this shape (src/service/config-schema.ts): an option added here
 * is an option of the file too, unless it holds what JSON cannot (the file leaves out `logger`,
 * and takes `redis` and `postgres` as URLs only).
 */
export const schedulerOptionShape = {
  name: text(namePattern, nameAllowed),
  redis: z.optional(redisOption()),
  postgres: z.optional(postgresOption()),
  postgresSchema: z._default(schemaNameOption(), defaults.postgresSchema),
  postgresPreparedStatements: z._default(flag(), defaults.postgresPreparedStatements),
  postgresUnlogged: z.optional(flag()),
  keyPrefix: z._default(text(namePattern, nameAllowed), defaults.keyPrefix),
  redisWaitReplicas: z._default(integer(0, { allowed: 'allowed: a whole number of replicas, 0 for no wait' }), defaults.redisWaitReplicas),
  defaultSlotClass: z.optional(text(/./, 'allowed: the name of a slot class')),
  logger: loggerOption(),
  timeout: duration(defaults.timeout, { min: minTaskTimeoutMs }),
  // Renewed every third of it: below ~100 ms the renewals would be most of the store's work.
  processLease: duration(defaults.processLease, { min: 100 }),
  pollTimeout: duration(defaults.pollTimeout),
  callbackTimeout: duration(defaults.callbackTimeout),
  // Its default depends on callbackTimeout: resolved after the parse.
  deliveryLease: optionalDuration(),
  reservationTimeout: duration(defaults.reservationTimeout),
  endedRetention: duration(defaults.endedRetention),
  reapLimit: z._default(integer(1, { allowed: 'allowed: a positive integer' }), defaults.reapLimit),
  maxLocalTasks: z._default(
    integer(1, { infinity: true, allowed: 'allowed: a positive integer, or Infinity for no cap' }),
    defaults.maxLocalTasks,
  ),
  // 0 is allowed: no graceful wait (abort at once), no final wait (drop at once).
  shutdownGraceful: duration(defaults.shutdownGraceful, { min: 0 }),
  shutdownFinal: duration(defaults.shutdownFinal, { min: 0 }),
  owner: z.optional(storableText(/./, 'allowed: a non-empty string')),
  history: falseOr(
    strictObject(
      {
        maxEntries: z._default(integer(1, { allowed: 'allowed: a positive integer' }), historyDefaults.maxEntries),
        retention: duration(historyDefaults.retentionMs, { max: Number.MAX_SAFE_INTEGER }),
      },
      'allowed: false, or an object with maxEntries and retention, both optional',
    ),
    {
      type: 'object',
      additionalProperties: false,
      properties: {
        maxEntries: { type: 'integer', minimum: 1, description: `records Redis and memory keep (default ${historyDefaults.maxEntries})` },
        retention: { ...durationJson({ max: Number.MAX_SAFE_INTEGER }), description: 'how long PostgreSQL keeps a record (default 7d)' },
      },
    },
  ),
};

/** What is allowed when the options are no object at all. */
export const schedulerOptionsAllowed = 'allowed: an object with at least `name`';

const schema = strictObject(schedulerOptionShape, schedulerOptionsAllowed);

/** The slot class of slots whose config names none: `defaultSlotClass`, else the store given. */
export function defaultSlotClassOf(options: Pick<SchedulerOptions, 'defaultSlotClass' | 'redis' | 'postgres'>): string {
  return options.defaultSlotClass ?? (options.redis ? 'RedisSlot' : options.postgres ? 'PostgresSlot' : 'MemorySlot');
}

/**
 * Applies defaults and validates, naming the option, the bad value and what is allowed.
 * @throws ConfigError: the first problem {@link checkOptions} finds
 */
export function resolveOptions(options: SchedulerOptions): ResolvedOptions {
  const checked = checkOptions(options);
  if (checked.resolved === undefined) throw checked.errors[0]!;
  return checked.resolved;
}

/**
 * Applies defaults and validates, collecting every problem: the options resolved, or the errors
 * (each naming the option, the bad value and what is allowed).
 * @param section - where the options are, prepended to each option's name in errors (`scheduler` gives `scheduler.timeout`)
 */
export function checkOptions(options: SchedulerOptions, section?: string): { resolved?: ResolvedOptions; errors: ConfigError[] } {
  const collected = collectOptions(schema, options, section);
  const prefix = section === undefined ? '' : `${section}.`;
  if (!collected.ok) return { errors: collected.errors };
  const parsed = collected.data;
  const errors: ConfigError[] = [];
  if (parsed.reservationTimeout <= parsed.pollTimeout) {
    errors.push(
      new ConfigError(
        `${prefix}reservationTimeout`,
        options.reservationTimeout ?? defaults.reservationTimeout,
        `allowed: longer than pollTimeout (${parsed.pollTimeout} ms), so a reservation outlives the poll made under it`,
      ),
    );
  }
  const deliveryLeaseMs = options.deliveryLease === undefined ? 4 * parsed.callbackTimeout : parsed.deliveryLease!;
  if (deliveryLeaseMs <= 2 * parsed.callbackTimeout) {
    errors.push(
      new ConfigError(
        `${prefix}deliveryLease`,
        options.deliveryLease,
        `allowed: longer than twice callbackTimeout (${2 * parsed.callbackTimeout} ms), so that callbacks still running here are never run again elsewhere`,
      ),
    );
  }
  if (errors.length > 0) return { errors };
  return {
    errors,
    resolved: {
      name: parsed.name,
      redis: parsed.redis,
      postgres: parsed.postgres,
      postgresSchema: parsed.postgresSchema,
      postgresPreparedStatements: parsed.postgresPreparedStatements,
      postgresUnlogged: parsed.postgresUnlogged,
      keyPrefix: parsed.keyPrefix,
      redisWaitReplicas: parsed.redisWaitReplicas,
      defaultSlotClass: defaultSlotClassOf(parsed),
      logger: resolveLogger(parsed.logger),
      timeoutMs: parsed.timeout,
      processLeaseMs: parsed.processLease,
      pollTimeoutMs: parsed.pollTimeout,
      callbackTimeoutMs: parsed.callbackTimeout,
      deliveryLeaseMs,
      reservationTimeoutMs: parsed.reservationTimeout,
      endedRetentionMs: parsed.endedRetention,
      reapLimit: parsed.reapLimit,
      maxLocalTasks: parsed.maxLocalTasks,
      shutdownGracefulMs: parsed.shutdownGraceful,
      shutdownFinalMs: parsed.shutdownFinal,
      owner: parsed.owner ?? `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`,
      history: parsed.history === false ? false : { maxEntries: parsed.history.maxEntries, retentionMs: parsed.history.retention },
    },
  };
}
