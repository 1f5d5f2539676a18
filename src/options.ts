import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { Redis, Cluster } from 'ioredis';
import type pg from 'pg';
import { parseDuration, type Duration } from './duration.js';
import { ConfigError } from './errors.js';
import { silentLogger, type Logger } from './logger.js';

/** Options of `new Scheduler(options)`. Only `name` is required. */
export interface SchedulerOptions {
  /**
   * The scheduler name: schedulers with the same name and store share the same slots, across
   * processes and hosts. Letters, digits and `_ . : -`.
   */
  name: string;
  /** Redis for `RedisSlot`: a redis:// URL (the scheduler opens and closes its client) or an ioredis client (never closed by us). */
  redis?: string | Redis | Cluster;
  /** PostgreSQL for `PostgresSlot`: a postgres:// URL (the scheduler opens and closes its pool) or a pg.Pool (never closed by us). */
  postgres?: string | pg.Pool;
  /**
   * Schema of the PostgreSQL tables, created if missing.
   * @defaultValue `'public'`
   */
  postgresSchema?: string;
  /**
   * Prefix of every Redis key.
   * @defaultValue `'task-semaphore'`
   */
  keyPrefix?: string;
  /**
   * Slot class of slots whose config gives none.
   * @defaultValue `'RedisSlot'` with `redis`, else `'PostgresSlot'` with `postgres`, else `'MemorySlot'`
   */
  defaultSlotClass?: string;
  /**
   * A winston logger (or one of the same shape). Library code never writes to the console.
   * @defaultValue a logger that drops everything
   */
  logger?: Logger;
  /**
   * Keepalive timeout of slots whose config gives none.
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
   * Id of this scheduler instance, stored with its reservations for inspection.
   * @defaultValue `<hostname>:<pid>:<random>`
   */
  owner?: string;
}

/** Options with every default applied and every duration in milliseconds. */
export interface ResolvedOptions {
  name: string;
  redis: string | Redis | Cluster | undefined;
  postgres: string | pg.Pool | undefined;
  postgresSchema: string;
  keyPrefix: string;
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
  owner: string;
}

export const defaults = Object.freeze({
  postgresSchema: 'public',
  keyPrefix: 'task-semaphore',
  timeout: '5m',
  processLease: '20s',
  pollTimeout: '10s',
  callbackTimeout: '30s',
  reservationTimeout: '60s',
  endedRetention: '1h',
  reapLimit: 1000,
  maxLocalTasks: Number.POSITIVE_INFINITY,
} satisfies Partial<SchedulerOptions>);

const namePattern = /^[\w.:-]{1,100}$/;

/** Applies defaults and validates, naming the option, the bad value and what is allowed. */
export function resolveOptions(options: SchedulerOptions): ResolvedOptions {
  if (typeof options !== 'object' || options === null) {
    throw new ConfigError('options', options, 'allowed: an object with at least `name`');
  }
  if (typeof options.name !== 'string' || !namePattern.test(options.name)) {
    throw new ConfigError('name', options.name, 'allowed: 1 to 100 letters, digits, _ . : -');
  }
  const keyPrefix = options.keyPrefix ?? defaults.keyPrefix;
  if (typeof keyPrefix !== 'string' || !namePattern.test(keyPrefix)) {
    throw new ConfigError('keyPrefix', keyPrefix, 'allowed: 1 to 100 letters, digits, _ . : -');
  }
  const postgresSchema = options.postgresSchema ?? defaults.postgresSchema;
  if (typeof postgresSchema !== 'string' || !/^[A-Za-z_][\w]{0,62}$/.test(postgresSchema)) {
    throw new ConfigError('postgresSchema', postgresSchema, 'allowed: a PostgreSQL identifier (letters, digits, _; up to 63)');
  }
  for (const key of ['redis', 'postgres'] as const) {
    const value = options[key];
    if (value !== undefined && !(typeof value === 'string' ? value.length > 0 : typeof value === 'object' && value !== null)) {
      throw new ConfigError(key, value, `allowed: a ${key}:// URL or a ${key === 'redis' ? 'ioredis client' : 'pg.Pool'}`);
    }
  }
  const reapLimit = options.reapLimit ?? defaults.reapLimit;
  if (!Number.isSafeInteger(reapLimit) || reapLimit < 1) {
    throw new ConfigError('reapLimit', reapLimit, 'allowed: a positive integer');
  }
  const maxLocalTasks = options.maxLocalTasks ?? defaults.maxLocalTasks;
  if (!(Number.isSafeInteger(maxLocalTasks) && maxLocalTasks >= 1) && maxLocalTasks !== Number.POSITIVE_INFINITY) {
    throw new ConfigError('maxLocalTasks', maxLocalTasks, 'allowed: a positive integer, or Infinity for no cap');
  }
  const callbackTimeoutMs = parseDuration(options.callbackTimeout ?? defaults.callbackTimeout, 'callbackTimeout');
  const deliveryLeaseMs = options.deliveryLease === undefined ? 4 * callbackTimeoutMs : parseDuration(options.deliveryLease, 'deliveryLease');
  if (deliveryLeaseMs <= 2 * callbackTimeoutMs) {
    throw new ConfigError(
      'deliveryLease',
      options.deliveryLease,
      `allowed: longer than twice callbackTimeout (${2 * callbackTimeoutMs} ms), so that callbacks still running here are never run again elsewhere`,
    );
  }
  const pollTimeoutMs = parseDuration(options.pollTimeout ?? defaults.pollTimeout, 'pollTimeout');
  const reservationTimeoutMs = parseDuration(options.reservationTimeout ?? defaults.reservationTimeout, 'reservationTimeout');
  if (reservationTimeoutMs <= pollTimeoutMs) {
    throw new ConfigError(
      'reservationTimeout',
      options.reservationTimeout ?? defaults.reservationTimeout,
      `allowed: longer than pollTimeout (${pollTimeoutMs} ms), so a reservation outlives the poll made under it`,
    );
  }
  return {
    name: options.name,
    redis: options.redis,
    postgres: options.postgres,
    postgresSchema,
    keyPrefix,
    defaultSlotClass:
      options.defaultSlotClass ?? (options.redis ? 'RedisSlot' : options.postgres ? 'PostgresSlot' : 'MemorySlot'),
    logger: options.logger ?? silentLogger(),
    timeoutMs: parseDuration(options.timeout ?? defaults.timeout, 'timeout'),
    // Renewed every third of it: below ~100 ms the renewals would be most of the store's work.
    processLeaseMs: parseDuration(options.processLease ?? defaults.processLease, 'processLease', { min: 100 }),
    pollTimeoutMs,
    callbackTimeoutMs,
    deliveryLeaseMs,
    reservationTimeoutMs,
    endedRetentionMs: parseDuration(options.endedRetention ?? defaults.endedRetention, 'endedRetention'),
    reapLimit,
    maxLocalTasks,
    owner: options.owner ?? `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`,
  };
}
