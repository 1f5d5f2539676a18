/**
 * The task history: one record per occupancy, written by the store in the same atomic step that
 * ends it, and listed (with the occupancies running now) by task id or by filters. Filters work
 * as CodeChecker's do: fields are ANDed, the values of one field ORed, and an empty list matches
 * nothing (unset and empty differ).
 *
 * What every store shares lives here: the record and query types, the outcome of an ended
 * occupancy, the query's validation, and the matching and ordering the stores that filter in
 * JavaScript (memory, Redis) apply. PostgreSQL filters in SQL to the same rules; the conformance
 * suite holds the three to one another.
 */
import * as z from 'zod/mini';
import { checked, falseOr, integer, listOf, parseOptions, strictObject } from '../core/option-schema.js';
import { checkTaskId } from './task-id.js';
import type { EndReason, HistoryOutcome, HistoryRecord, NormalizedHistoryQuery, Occupancy } from './store.js';

export type { HistoryOutcome, HistoryRecord, NormalizedHistoryQuery, PurgeRefused, PurgeResult } from './store.js';

/** Every outcome, in the order error messages list them. */
export const historyOutcomes: readonly HistoryOutcome[] = Object.freeze([
  'running',
  'succeeded',
  'failed',
  'cancelled',
  'timed_out',
  'dropped',
]);

/** Every end reason a record may carry (`lost` never: no store ends an occupancy with it). */
export const endReasons: readonly EndReason[] = Object.freeze([
  'stopped',
  'cancelled',
  'timeout',
  'max_runtime',
  'start_failed',
  'backend_removed',
  'dropped',
  'lost',
]);

/**
 * The outcome of an ended occupancy, the one rule every store applies (PostgreSQL mirrors it in
 * `task_semaphore_history_outcome_v1`, migrate-006.sql; a test holds the two together):
 * - `stopped`: `failed` when an error was reported or the status is `failed`, else `succeeded`;
 * - `cancelled`: `cancelled`; `start_failed`: `failed`;
 * - `timeout`, `max_runtime`: `timed_out`, except a `timeout` of an occupancy held on a process
 *   lease (`processLease`): the process that ran it died, stalled or gave it up, so `dropped`.
 *   A task past its own timeout whose lease then lapsed is `dropped` too: the store cannot tell
 *   the two apart;
 * - `dropped`, `backend_removed`, `lost`: `dropped`.
 */
export function historyOutcome(
  reason: EndReason,
  status: string | null,
  error: string | null,
  processLease: boolean,
): Exclude<HistoryOutcome, 'running'> {
  switch (reason) {
    case 'stopped':
      return error !== null || status === 'failed' ? 'failed' : 'succeeded';
    case 'cancelled':
      return 'cancelled';
    case 'start_failed':
      return 'failed';
    case 'timeout':
      return processLease ? 'dropped' : 'timed_out';
    case 'max_runtime':
      return 'timed_out';
    default:
      return 'dropped';
  }
}

/** The record of an occupancy that runs now. */
export function runningRecord(occupancy: Occupancy, reservedAt: number | null, keepalives: number): HistoryRecord {
  return {
    taskId: occupancy.taskId,
    token: occupancy.token,
    slotId: occupancy.slotId,
    backend: occupancy.backend,
    owner: occupancy.owner,
    reservedAt,
    startedAt: occupancy.startedAt,
    lastKeepaliveAt: occupancy.lastKeepaliveAt,
    keepalives,
    endedAt: null,
    outcome: 'running',
    reason: null,
    status: null,
    error: null,
  };
}

/** A list filter: one value, or several of which any matches. */
type OneOrMany<T> = T | readonly T[];

/**
 * What `history()` lists. Every field is optional; fields are ANDed, the values of a list ORed;
 * an empty list matches nothing. A bound on `endedAt` leaves out the running occupancies, as a
 * filter on `reason` or `status` does (they have none).
 */
export interface HistoryQuery {
  taskId?: OneOrMany<string>;
  outcome?: OneOrMany<HistoryOutcome>;
  reason?: OneOrMany<EndReason>;
  status?: OneOrMany<string>;
  backend?: OneOrMany<string>;
  slotId?: OneOrMany<string>;
  /** The holder: the scheduler instance id. */
  owner?: OneOrMany<string>;
  /** Started at or after this time (store-clock ms, or a Date). */
  startedAfter?: number | Date;
  /** Started before this time. */
  startedBefore?: number | Date;
  /** Ended at or after this time. */
  endedAfter?: number | Date;
  /** Ended before this time. */
  endedBefore?: number | Date;
  /**
   * Most records returned, newest first (by `startedAt`, then token).
   * @defaultValue 100 (at most 10000)
   */
  limit?: number;
}

/** The most records one query returns, and how many it returns unless told. */
export const historyLimits = Object.freeze({ default: 100, max: 10_000 });

const isString = (value: unknown) => (typeof value === 'string' ? undefined : 'allowed: a string');
const among =
  <T extends string>(values: readonly T[]) =>
  (value: unknown) =>
    values.includes(value as T) ? undefined : `allowed: ${values.map((v) => `"${v}"`).join(', ')}`;

/** A time bound: a Date or milliseconds since the epoch, read into ms. */
function timeBound() {
  return z.optional(
    checked<number | Date>((value) =>
      (typeof value === 'number' && Number.isFinite(value)) || (value instanceof Date && !Number.isNaN(value.getTime()))
        ? undefined
        : 'allowed: a Date, or milliseconds since the epoch (a finite number)',
    ),
  );
}

const querySchema = strictObject(
  {
    taskId: z.optional(listOf<string>(isString)),
    outcome: z.optional(listOf<HistoryOutcome>(among(historyOutcomes))),
    reason: z.optional(listOf<EndReason>(among(endReasons))),
    status: z.optional(listOf<string>(isString)),
    backend: z.optional(listOf<string>(isString)),
    slotId: z.optional(listOf<string>(isString)),
    owner: z.optional(listOf<string>(isString)),
    startedAfter: timeBound(),
    startedBefore: timeBound(),
    endedAfter: timeBound(),
    endedBefore: timeBound(),
    limit: z._default(
      integer(1, { allowed: `allowed: an integer from 1 to ${historyLimits.max}` }).check(
        z.refine((n) => n <= historyLimits.max, `allowed: an integer from 1 to ${historyLimits.max}`),
      ),
      historyLimits.default,
    ),
  },
  'allowed: an object of filters (taskId, outcome, reason, status, backend, slotId, owner, startedAfter, startedBefore, endedAfter, endedBefore, limit)',
  'field',
);

/**
 * Checks a query and puts it in the shape stores take.
 * @throws {ConfigError} naming the field (`history(query.outcome[1])`), the bad value and what is allowed;
 *   {@link TaskIdError} for a task id outside the grammar
 */
export function normalizeHistoryQuery(query: HistoryQuery = {}): NormalizedHistoryQuery {
  const field = (path: string) => `history(query${path ? (path.startsWith('[') ? path : `.${path}`) : ''})`;
  const parsed = parseOptions(querySchema, query ?? {}, field);
  parsed.taskId?.forEach((id, i) => checkTaskId(id, field(Array.isArray(query.taskId) ? `taskId[${i}]` : 'taskId')));
  const ms = (value: number | Date | undefined) => (value === undefined ? null : value instanceof Date ? value.getTime() : value);
  return {
    taskId: parsed.taskId ?? null,
    outcome: parsed.outcome ?? null,
    reason: parsed.reason ?? null,
    status: parsed.status ?? null,
    backend: parsed.backend ?? null,
    slotId: parsed.slotId ?? null,
    owner: parsed.owner ?? null,
    startedAfter: ms(parsed.startedAfter),
    startedBefore: ms(parsed.startedBefore),
    endedAfter: ms(parsed.endedAfter),
    endedBefore: ms(parsed.endedBefore),
    limit: parsed.limit,
  };
}

/** Whether `record` passes every filter of `query`: the rule stores that filter in JavaScript apply. */
export function matchesHistoryQuery(record: HistoryRecord, query: NormalizedHistoryQuery): boolean {
  const anyOf = <T>(values: readonly T[] | null, value: T | null) => values === null || (value !== null && values.includes(value));
  return (
    anyOf(query.taskId, record.taskId) &&
    anyOf(query.outcome, record.outcome) &&
    anyOf(query.reason, record.reason) &&
    anyOf(query.status, record.status) &&
    anyOf(query.backend, record.backend) &&
    anyOf(query.slotId, record.slotId) &&
    anyOf(query.owner, record.owner) &&
    within(record.startedAt, query.startedAfter, query.startedBefore) &&
    (record.endedAt === null
      ? query.endedAfter === null && query.endedBefore === null
      : within(record.endedAt, query.endedAfter, query.endedBefore))
  );
}

/** `after` inclusive, `before` exclusive, so that windows laid end to end never count a record twice. */
function within(time: number, after: number | null, before: number | null): boolean {
  return (after === null || time >= after) && (before === null || time < before);
}

/** Newest first: by `startedAt`, then by token. */
export function compareHistory(a: HistoryRecord, b: HistoryRecord): number {
  return b.startedAt - a.startedAt || b.token - a.token;
}

/**
 * The first `limit` records of several lists, newest first; where two lists hold the same
 * occupancy (it ended between two reads), the ended record wins.
 */
export function newestHistory(lists: readonly (readonly HistoryRecord[])[], limit: number): HistoryRecord[] {
  const byOccupancy = new Map<string, HistoryRecord>();
  for (const record of lists.flat()) {
    const key = `${record.token}:${record.taskId}`;
    const seen = byOccupancy.get(key);
    if (!seen || (seen.endedAt === null && record.endedAt !== null)) byOccupancy.set(key, record);
  }
  return [...byOccupancy.values()].sort(compareHistory).slice(0, limit);
}

/**
 * How a store keeps its history, as stores take it: `false` writes none. Memory and Redis keep
 * at most about `maxEntries` ended records (Redis trims its stream approximately, keeping at least
 * that many); PostgreSQL keeps those ended within `retentionMs`, pruned by passes.
 */
export type StoreHistoryOptions = false | { maxEntries?: number; retentionMs?: number };

/** The defaults of {@link StoreHistoryOptions}, shared by the stores and the scheduler option `history`. */
export const historyDefaults = Object.freeze({ maxEntries: 10_000, retentionMs: 7 * 86_400_000 });

/** The store option `history`, resolved: `false`, or both numbers. */
export function storeHistoryOption() {
  return falseOr(
    strictObject(
      {
        maxEntries: z._default(integer(1, { allowed: 'allowed: a positive integer' }), historyDefaults.maxEntries),
        retentionMs: z._default(integer(1, { allowed: 'allowed: a positive number of milliseconds' }), historyDefaults.retentionMs),
      },
      'allowed: false, or an object with maxEntries and retentionMs, both optional',
    ),
  );
}
