import { createHash } from 'node:crypto';
import type pg from 'pg';
import * as z from 'zod/mini';
import { postgresOption } from '../../src/core/connection-options.js';
import { ConfigError, StoreConflictError, StoreUnavailableError } from '../../src/core/errors.js';
import { flag, integer, parseOptions, storableText, strictObject } from '../../src/core/option-schema.js';
import { loadPeer } from '../../src/core/peers.js';
import {
  compareSlotIds,
  type AcquireRequest,
  type AcquireResult,
  type BeginPassRequest,
  type BeginPassResult,
  type CancelResult,
  type DeliveryRef,
  type EndReason,
  type EndRequest,
  type EndResult,
  type EndedOccupancy,
  type HistoryOutcome,
  type HistoryRecord,
  type KeepaliveResult,
  type LeaveQueueResult,
  type Lost,
  type NormalizedHistoryQuery,
  type Occupancy,
  type PurgeResult,
  type Reservation,
  type SlotId,
  type SlotState,
  type SlotStore,
  type StartRequest,
  type StartResult,
  type StoreEvent,
  type TaskRef,
} from '../../src/contracts/store.js';
import { checkTaskId } from '../../src/contracts/task-id.js';
import { storeHistoryOption, type StoreHistoryOptions } from '../../src/contracts/history.js';
import { storeDefaults } from '../../src/contracts/store-defaults.js';
import { bindSchema, migrate, PersistenceChangeError } from './migrate.js';
import { PgListener } from '../../src/core/postgres/listener.js';
import { poolFromUrl } from '../../src/core/postgres/pool.js';
import { schemaNameOption } from '../../src/core/postgres/schema-name.js';
import * as statements from './sql.generated.js';
import { storeFailure } from '../store-failure.js';

/** The name of one of the store's statements (a file of sql/). */
type Statement = keyof typeof statements;

/** Options of {@link PostgresSlotStore}. */
export interface PostgresSlotStoreOptions {
  /** Scheduler name: rows of several names share the tables. */
  name: string;
  /** A postgres:// URL (the store creates its pg.Pool and closes it on close()) or a pg.Pool (never closed by the store). */
  postgres: string | pg.Pool;
  /** Schema holding the tables; created if missing. @defaultValue 'public' */
  schema?: string;
  /** Most ended records kept in the outbox per scheduler name; oldest dropped beyond it. @defaultValue 10000 */
  outboxLimit?: number;
  /**
   * The history of ended occupancies (table `task_semaphore_history`): records that started and
   * ended more than `retentionMs` ago are pruned by passes, at most `limit` a pass
   * (`maxEntries` is for stores that keep it by count); `false` writes none.
   * @defaultValue `{ retentionMs: 604800000 }` (7 days)
   */
  history?: StoreHistoryOptions;
  /**
   * Whether the statements go as named prepared statements, which PostgreSQL parses and plans
   * once per connection rather than at every call (begin-pass: 3.2 → 1.3 ms a call). Turn it off
   * behind a pooler that hands each transaction a different server connection without tracking
   * prepared statements (PgBouncer in transaction mode before 1.21, or with
   * `max_prepared_statements = 0`): there a statement prepared on one server connection is
   * missing on the next. The store also turns to unnamed statements by itself at the first sign
   * of such a pooler (see {@link PostgresSlotStore.unpreparedAfter}).
   * @defaultValue true
   */
  preparedStatements?: boolean;
  /**
   * The persistence of the store's tables, set by `init()`: `true` makes them `UNLOGGED` (no
   * write-ahead log: a commit does not wait for a flush to disk), `false` makes them logged again,
   * and leaving it out keeps them as they are. Unlogged, the slots are as durable as in Redis
   * without persistence: a clean restart keeps them, but a crash of PostgreSQL (an immediate
   * shutdown, a killed server process, a power loss) empties them, and a standby never has them.
   * The fleet then goes on as after a Redis restart without persistence; tokens keep growing.
   * @defaultValue undefined (as they are: logged when the store creates them)
   */
  unlogged?: boolean;
}

const defaults = Object.freeze({
  schema: 'public',
  outboxLimit: storeDefaults.outboxLimit,
  preparedStatements: true,
  /** Pool settings when the store opens its own pool from a URL. */
  pool: Object.freeze({ max: 10, connectionTimeoutMillis: 5000 }),
}) satisfies Required<Pick<PostgresSlotStoreOptions, 'schema' | 'outboxLimit' | 'preparedStatements'>> & { pool: pg.PoolConfig };

const optionsSchema = strictObject(
  {
    name: storableText(/./, 'allowed: a non-empty string'),
    postgres: postgresOption(),
    schema: z._default(schemaNameOption(), defaults.schema),
    outboxLimit: z._default(integer(0), defaults.outboxLimit),
    history: storeHistoryOption(),
    preparedStatements: z._default(flag(), defaults.preparedStatements),
    unlogged: z.optional(flag()),
  },
  'allowed: an object with name and postgres',
);

/**
 * How often a task statement runs again when a concurrent change made its snapshot disagree with
 * the row it locked (see {@link lostFrom}), and how often a call runs again when another
 * transaction made it fail (see {@link PostgresSlotStore.callRetrying}). One retry settles it unless
 * the task is churning. The end function (migrate-002.sql) looks again as often, on its own.
 */
const maxAttempts = 5;

/**
 * SQLSTATEs of a prepared statement missing on the connection (26000) or already there under its
 * name (42P05): what a pooler that does not keep prepared statements causes.
 */
const lostPreparedCodes = new Set(['26000', '42P05']);

/** The unique index that lets only one of two concurrent starts of a task id commit. */
const taskIndex = 'task_semaphore_slots_task_uidx';

/** SQLSTATE of task_semaphore_end_v1 when a task kept changing under every look; DETAIL is its id. */
const churnCode = 'TS001';

/** bigint columns arrive as strings from `pg`, int and float columns as numbers. */
type Int8 = string | number;

/** The occupancy columns of a slot row, snake_case as the statements return them. */
interface OccupancyRow {
  slot_id: string;
  token: Int8;
  task_id: string;
  backend: string;
  owner: string;
  started_at: Int8;
  last_keepalive_at: Int8;
  deadline: Int8;
  max_deadline: Int8 | null;
  timeout_ms: Int8;
  max_runtime_ms: Int8 | null;
  cancel_requested: boolean;
}

/** Where the statement's snapshot has a task it could not act on. */
interface LookupRow {
  acted: boolean;
  cur_slot_id: string | null;
  cur_token: Int8 | null;
  cur_expiry: 'timeout' | 'max_runtime' | null;
  ended_slot_id: string | null;
  ended_token: Int8 | null;
  ended_reason: EndReason | null;
}

type StartRow = {
  reservation_valid: boolean;
  holder: string | null;
  occupancy: Occupancy | null;
  holder_expires_at: Int8 | null;
  now_ms: Int8;
};
type KeepaliveRow = LookupRow & OccupancyRow;
type CancelRow = LookupRow & OccupancyRow & { already_requested: boolean };
type EndRow = LookupRow & {
  ended: EndedOccupancy | null;
  delivered: boolean | null;
  reserved_token: Int8 | null;
  /** Null when the request started no next task; else start-many's columns for it. */
  next_valid: boolean | null;
  next_holder: string | null;
  next_occupancy: Occupancy | null;
  next_expires_at: Int8 | null;
  next_now: Int8 | null;
};
type InspectRow = Nullable<OccupancyRow> & {
  slot_id: string;
  status: SlotState['status'];
  token: Int8;
  lease_until: Int8 | null;
  overdue: boolean;
};
type PassRow = {
  kind: 'pass' | 'ended' | 'reserved' | 'running';
  slot_id: string | null;
  token: Int8 | null;
  record: EndedOccupancy | Occupancy | null;
  now_ms: Int8 | null;
  expired: Int8 | null;
};
type Nullable<T> = { [K in keyof T]: T[K] | null };
type HistoryRow = {
  task_id: string;
  token: Int8;
  slot_id: string;
  backend: string;
  owner: string;
  reserved_at: Int8 | null;
  started_at: Int8;
  last_keepalive_at: Int8;
  keepalives: Int8;
  ended_at: Int8 | null;
  outcome: HistoryOutcome;
  reason: EndReason | null;
  status: string | null;
  error: string | null;
};
type AcquireRow = {
  outcome: 'ok' | 'queued' | 'busy' | 'duplicate';
  occupancy: Occupancy | null;
  queue_position: Int8 | null;
  holder: string | null;
  expires_at: Int8 | null;
  now_ms: Int8;
};
type PurgeRow = {
  purged: boolean;
  slots: Int8;
  busy: Array<{ slotId: string; status: 'running' | 'reserved'; owner: string; taskId: string | null; token: Int8 | null }>;
};

/**
 * Slot state in PostgreSQL, for schedulers in many processes. Every state change is one
 * conditional statement (SQL in `sql/*.sql`), in autocommit, timed by the database's `now()`:
 * nothing is read into Node, changed and written back, so the client clock never matters. Starts
 * and ends go in batches, each one statement calling a function (of migrate-002.sql or
 * migrate-003.sql) that acts on the requests in order: one round trip and one commit per batch.
 * The unique index on `(scheduler, task_id)` keeps a task id in at most one slot even when two
 * starts race; `FOR UPDATE SKIP LOCKED` keeps concurrent passes from reserving or reaping the
 * same slot. The acquire queue (migrate-007.sql) is served by whichever statement leaves a slot
 * idle, in the same transaction: acquire, end, release and begin-pass.
 */
export class PostgresSlotStore implements SlotStore {
  readonly kind = 'postgres';
  private readonly name: string;
  private readonly pool: pg.Pool;
  /** Only a pool the store created is closed by it. */
  private readonly ownsPool: boolean;
  /** Where the pool connects, for errors (redacted by StoreUnavailableError). */
  private readonly target: string;
  private readonly schema: string;
  private readonly schemaIdentifier: string;
  private readonly outboxLimit: number;
  /** How long history records are kept, in ms; null with the history off. */
  private readonly historyRetentionMs: number | null;
  /** The tables' persistence `init()` sets: see the `unlogged` option. */
  private readonly unlogged: boolean | undefined;
  /** The token sequence, passed as a regclass parameter so no schema name sits in a string literal. */
  private readonly tokenSequence: string;
  /** Every statement with the schema bound, once. */
  private readonly sql: typeof statements;
  /**
   * Each statement's name as a prepared statement; null when they go unnamed (see
   * `preparedStatements`), and from the first sign of a pooler that loses them (see {@link unpreparedAfter}).
   */
  private statementNames: Readonly<Record<Statement, string>> | null;
  private closing: Promise<void> | undefined;
  /** NOTIFY channel of the events of every scheduler name in the database; payloads say whose. */
  private readonly channel: string;
  private readonly listeners = new Set<PgListener>();
  /** Every slot `init()` was given: what to recreate should the tables vanish. Null before `init()`. */
  private initialisedSlots: Set<SlotId> | null = null;
  /** The recreation under way, shared by the statements that found the tables missing meanwhile. */
  private recreating: Promise<void> | undefined;

  /**
   * @throws ConfigError when an option is missing, malformed or unknown.
   * @throws MissingPeerError when `pg` is not installed.
   */
  constructor(options: PostgresSlotStoreOptions) {
    const { name, postgres, schema, outboxLimit, history, preparedStatements, unlogged } = parseOptions(
      optionsSchema,
      options,
      'PostgresSlotStoreOptions',
    );
    this.historyRetentionMs = history === false ? null : history.retentionMs;
    this.unlogged = unlogged;
    const pg = loadPeer('pg', 'PostgresSlot');
    if (typeof postgres === 'string') {
      this.pool = poolFromUrl(postgres, defaults.pool, 'PostgresSlot');
      this.ownsPool = true;
      this.target = postgres;
    } else {
      // Checked by shape: a pg.Pool.
      this.pool = postgres as pg.Pool;
      this.ownsPool = false;
      this.target = describePool(this.pool);
    }
    this.name = name;
    this.schema = schema;
    this.schemaIdentifier = pg.escapeIdentifier(schema);
    this.outboxLimit = outboxLimit;
    this.tokenSequence = `${this.schemaIdentifier}.task_semaphore_token`;
    this.channel = `task_semaphore_events:${schema}`.slice(0, 63);
    const bound: Record<string, string> = {};
    for (const [key, text] of Object.entries(statements)) bound[key] = bindSchema(text, this.schemaIdentifier);
    this.sql = bound as typeof statements;
    this.statementNames = preparedStatements ? statementNamesOf(this.sql) : null;
  }

  /**
   * Migrates the schema (creating it if missing), sets the tables' persistence when `unlogged` is
   * given, and adds the missing slots as idle. Safe to run from many processes at once.
   * @throws StoreUnavailableError when no connection can be made.
   */
  async init(slotIds: readonly SlotId[]): Promise<void> {
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (cause) {
      throw new StoreUnavailableError('PostgreSQL', this.target, cause);
    }
    try {
      await checkIsolation(client);
      await migrate(client, this.schema, this.schemaIdentifier, this.unlogged).catch((error: unknown) => {
        if (!(error instanceof PersistenceChangeError)) throw error;
        const asked = `making the store's tables ${this.unlogged ? 'unlogged' : 'logged'} (option unlogged: ${String(this.unlogged)})`;
        throw storeFailure('PostgreSQL', this.target, `init, ${asked}`, error.cause);
      });
      await client.query(this.sql.ensureSlots, [this.name, [...slotIds]]);
      client.release();
      this.initialisedSlots ??= new Set();
      for (const slotId of slotIds) this.initialisedSlots.add(slotId);
    } catch (error) {
      client.release(true); // the connection may be broken: do not pool it again
      throw error;
    }
  }

  async beginPass(request: BeginPassRequest): Promise<BeginPassResult> {
    const rows = await this.callRetrying<PassRow>('beginPass', [
      this.name,
      [...request.slotIds],
      request.owner,
      toInt8(request.leaseMs),
      [...request.deliverable],
      toInt8(request.retentionMs),
      toInt8(request.limit),
      this.outboxLimit,
      this.tokenSequence,
      request.maxReserve === undefined ? null : toInt8(request.maxReserve),
      request.notify === true ? this.channel : null,
      request.deliveryLeaseMs === undefined ? null : toInt8(request.deliveryLeaseMs),
      this.historyRetentionMs,
      this.channel,
    ]);
    const result: BeginPassResult = { now: 0, ended: [], expiredReservations: 0, reserved: [], running: [] };
    // The statement orders rows within each kind as the contract wants them.
    for (const row of rows) {
      if (row.kind === 'pass') {
        result.now = Number(row.now_ms);
        result.expiredReservations = Number(row.expired);
      } else if (row.kind === 'ended') result.ended.push(row.record as EndedOccupancy);
      else if (row.kind === 'reserved') result.reserved.push({ slotId: row.slot_id!, token: Number(row.token) });
      else result.running.push(row.record as Occupancy);
    }
    return result;
  }

  async start(request: StartRequest): Promise<StartResult> {
    return (await this.startMany([request]))[0]!;
  }

  /** All the starts in one call of task_semaphore_start_v4, which acts on them in order. */
  async startMany(requests: readonly StartRequest[]): Promise<StartResult[]> {
    if (requests.length === 0) return []; // nothing to do is not worth a round trip
    // Refused here, before the round trip: PostgreSQL would raise on a NUL or an id too long for
    // the task index, and store a lone surrogate as U+FFFD.
    for (const r of requests) checkTaskId(r.taskId);
    const rows = await this.callRetrying<StartRow>('startMany', [
      this.name,
      requests.map((r) => r.slotId),
      requests.map((r) => r.token),
      requests.map((r) => r.taskId),
      requests.map((r) => r.backend),
      requests.map((r) => toInt8(r.timeoutMs)),
      requests.map((r) => (r.maxRuntimeMs === null ? null : toInt8(r.maxRuntimeMs))),
      requests.map((r) => r.processLease === true),
    ]);
    return rows.map(toStartResult);
  }

  async release(reservations: readonly Reservation[]): Promise<void> {
    if (reservations.length === 0) return;
    await this.callRetrying('release', [
      this.name,
      reservations.map((r) => r.slotId),
      reservations.map((r) => r.token),
      this.tokenSequence,
      this.channel,
    ]);
  }

  async keepalive(ref: TaskRef): Promise<KeepaliveResult> {
    checkTaskId(ref.taskId);
    const found = await this.onTask<KeepaliveRow>('keepalive', [this.name, ref.taskId, ref.token ?? null], ref);
    return 'row' in found ? { ok: true, occupancy: toOccupancy(found.row) } : found;
  }

  async end(request: EndRequest): Promise<EndResult> {
    return (await this.endMany([request]))[0]!;
  }

  /** All the ends in one call of task_semaphore_end_v6, which acts on them in order, each starting the next task it carries. */
  async endMany(requests: readonly EndRequest[]): Promise<EndResult[]> {
    if (requests.length === 0) return []; // nothing to do is not worth a round trip
    for (const r of requests) {
      checkTaskId(r.taskId);
      if (r.next) checkTaskId(r.next.taskId);
    }
    const rows = await this.callRetrying<EndRow>('endMany', [
      this.name,
      requests.map((r) => r.taskId),
      requests.map((r) => r.token ?? null),
      requests.map((r) => r.reason),
      requests.map((r) => r.status ?? null),
      requests.map((r) => r.error ?? null),
      // One JSON array per request: PostgreSQL arrays of arrays must all have one length.
      requests.map((r) => JSON.stringify(r.deliverable)),
      requests.map((r) => r.notify === true),
      requests.map((r) => r.reserve?.owner ?? null),
      requests.map((r) => (r.reserve ? toInt8(r.reserve.leaseMs) : null)),
      this.outboxLimit,
      this.channel,
      this.tokenSequence,
      requests.map((r) => r.delivery?.owner ?? null),
      requests.map((r) => (r.delivery ? toInt8(r.delivery.leaseMs) : null)),
      // The acknowledgements of every request together: each names a record of an earlier call.
      requests.flatMap((r) => r.acknowledge?.map((ref) => ref.taskId) ?? []),
      requests.flatMap((r) => r.acknowledge?.map((ref) => ref.token) ?? []),
      // With it, history is written (and pruned past it); null writes none.
      this.historyRetentionMs,
      // The next tasks, started in the same statement in the slots their ends keep.
      requests.map((r) => (r.reserve && r.next ? r.next.taskId : null)),
      requests.map((r) => r.next?.backend ?? null),
      requests.map((r) => (r.next ? toInt8(r.next.timeoutMs) : null)),
      requests.map((r) => (r.next && r.next.maxRuntimeMs !== null ? toInt8(r.next.maxRuntimeMs) : null)),
      requests.map((r) => r.next?.processLease === true),
    ]);
    return rows.map((row, i): EndResult => {
      const request = requests[i]!;
      if (!row.acted) {
        // The function looks again while the task shows live and matching, and raises TS001 rather
        // than return such a row: lostFrom finds why it did not act.
        const lost = lostFrom(row, request);
        if (lost) return lost;
        throw churnError(request.taskId);
      }
      const ended = row.ended!;
      const result = { ok: true as const, ended, delivered: row.delivered === true };
      const token = row.reserved_token;
      if (token === null) return result;
      const reserved = { slotId: ended.slotId, token: Number(token) };
      if (row.next_valid === null) return { ...result, reserved };
      const next = toStartResult({
        reservation_valid: row.next_valid,
        holder: row.next_holder,
        occupancy: row.next_occupancy,
        holder_expires_at: row.next_expires_at,
        now_ms: row.next_now!,
      });
      return { ...result, reserved, next };
    });
  }

  /**
   * One call of task_semaphore_acquire_v1 (sql/acquire.sql): an idle slot taken, a place in the
   * queue, or why neither; the idle slots it finds go to earlier waiters first.
   */
  async acquire(request: AcquireRequest): Promise<AcquireResult> {
    checkTaskId(request.taskId);
    const [row] = await this.callRetrying<AcquireRow>('acquire', [
      this.name,
      request.taskId,
      request.backend,
      request.owner,
      request.slots.map((s) => s.slotId),
      request.slots.map((s) => toInt8(s.timeoutMs)),
      request.slots.map((s) => (s.maxRuntimeMs === null ? null : toInt8(s.maxRuntimeMs))),
      request.processLease === true,
      request.wait ? toInt8(request.wait.leaseMs) : null,
      this.tokenSequence,
      this.channel,
    ]);
    const now = Number(row!.now_ms);
    switch (row!.outcome) {
      case 'ok':
        return { ok: true, occupancy: row!.occupancy! };
      case 'queued':
        return { ok: false, reason: 'queued', position: Number(row!.queue_position), now };
      case 'busy':
        return { ok: false, reason: 'busy', now };
      default:
        return { ok: false, reason: 'duplicate', slotId: row!.holder, expiresAt: Number(row!.expires_at), now };
    }
  }

  /** One call of task_semaphore_leave_queue_v1 (sql/leave-queue.sql). */
  async leaveQueue(request: { taskId: string; owner: string }): Promise<LeaveQueueResult> {
    checkTaskId(request.taskId);
    const { rows } = await this.query<{ left_queue: boolean; occupancy: Occupancy | null }>('leaveQueue', [
      this.name,
      request.taskId,
      request.owner,
      this.tokenSequence,
    ]);
    return rows[0]!.left_queue ? { left: true } : { left: false, occupancy: rows[0]!.occupancy };
  }

  /** Removes delivered records from the delivery log in one statement (retried as a batch is, on a deadlock). */
  async acknowledge(refs: readonly DeliveryRef[]): Promise<void> {
    if (refs.length === 0) return; // nothing to do is not worth a round trip
    await this.callRetrying('acknowledge', [this.name, refs.map((r) => r.taskId), refs.map((r) => r.token)]);
  }

  async requestCancel(ref: TaskRef): Promise<CancelResult> {
    checkTaskId(ref.taskId);
    const found = await this.onTask<CancelRow>('requestCancel', [this.name, ref.taskId, ref.token ?? null, this.channel], ref);
    if (!('row' in found)) return found;
    return { ok: true, occupancy: toOccupancy(found.row), alreadyRequested: found.row.already_requested };
  }

  /** One statement (sql/history.sql), which filters and orders as src/contracts/history.ts does. */
  async history(query: NormalizedHistoryQuery): Promise<HistoryRecord[]> {
    const { rows } = await this.query<HistoryRow>('history', [
      this.name,
      query.taskId,
      query.outcome,
      query.reason,
      query.status,
      query.backend,
      query.slotId,
      query.owner,
      nullableInt8(query.startedAfter),
      nullableInt8(query.startedBefore),
      nullableInt8(query.endedAfter),
      nullableInt8(query.endedBefore),
      query.limit,
    ]);
    return rows.map((row) => ({
      taskId: row.task_id,
      token: Number(row.token),
      slotId: row.slot_id,
      backend: row.backend,
      owner: row.owner,
      reservedAt: nullableNumber(row.reserved_at),
      startedAt: Number(row.started_at),
      lastKeepaliveAt: Number(row.last_keepalive_at),
      keepalives: Number(row.keepalives),
      endedAt: nullableNumber(row.ended_at),
      outcome: row.outcome,
      reason: row.reason,
      status: row.status,
      error: row.error,
    }));
  }

  /** One statement (sql/history-size.sql), which counts no row past the limit. */
  async historySize(limit: number): Promise<number> {
    const { rows } = await this.query<{ records: string }>('historySize', [this.name, limit]);
    return Number(rows[0]!.records);
  }

  /** One statement (sql/purge.sql): every row of the name, or none. */
  async purge(options: { force: boolean }): Promise<PurgeResult> {
    const row = (await this.query<PurgeRow>('purge', [this.name, options.force])).rows[0]!;
    const running = row.busy.filter((b) => b.status === 'running');
    if (row.purged)
      return { purged: true, slots: Number(row.slots), dropped: running.map((b) => ({ taskId: b.taskId!, token: Number(b.token) })) };
    return {
      purged: false,
      running: running.map((b) => ({ taskId: b.taskId!, token: Number(b.token), slotId: b.slotId, owner: b.owner })),
      reserved: row.busy.filter((b) => b.status === 'reserved').map((b) => ({ slotId: b.slotId, owner: b.owner })),
    };
  }

  async inspect(): Promise<SlotState[]> {
    const { rows } = await this.query<InspectRow>('inspect', [this.name]);
    return rows
      .sort((a, b) => compareSlotIds(a.slot_id, b.slot_id))
      .map((row) => ({
        slotId: row.slot_id,
        status: row.status,
        token: Number(row.token),
        owner: row.owner,
        leaseUntil: nullableNumber(row.lease_until),
        occupancy: row.status === 'running' ? toOccupancy(row as OccupancyRow) : null,
        overdue: row.overdue,
      }));
  }

  /**
   * LISTENs on a connection of its own (outside the pool, reconnecting by itself) and passes on
   * the events of this scheduler name.
   */
  async subscribe(listener: (event: StoreEvent) => void): Promise<() => Promise<void>> {
    const pgListener = new PgListener({
      connection: (this.pool as pg.Pool & { options: pg.ClientConfig }).options,
      channels: [this.channel],
      onNotification: (_channel, payload) => {
        try {
          const { scheduler, ...event } = JSON.parse(payload) as StoreEvent & { scheduler: string };
          if (scheduler === this.name) listener(event as StoreEvent);
        } catch {
          // Malformed: events are hints, never trusted for state.
        }
      },
    });
    // Known before it connects: a close() meanwhile stops it, rather than leave it listening.
    this.listeners.add(pgListener);
    try {
      await pgListener.start();
    } catch (error) {
      this.listeners.delete(pgListener);
      throw error;
    }
    return async () => {
      this.listeners.delete(pgListener);
      await pgListener.stop();
    };
  }

  listening(): boolean {
    return [...this.listeners].every((listener) => listener.listening);
  }

  /** Ends the pool the store created from a URL; a pool passed in is left open. Idempotent. */
  async close(): Promise<void> {
    // A subscribe() begun meanwhile adds its listener while these stop: stop it too.
    while (this.listeners.size > 0) {
      const listeners = [...this.listeners];
      this.listeners.clear();
      await Promise.all(listeners.map((listener) => listener.stop()));
    }
    if (!this.ownsPool) return;
    this.closing ??= this.pool.end();
    await this.closing;
  }

  /**
   * Runs a statement that locks several rows (start-many, end-many, acknowledge, and those that
   * may grant slots to waiters: begin-pass, release, acquire) and returns its rows. The statement
   * is one transaction, so when the call fails nothing of it was applied, and it runs again as a
   * whole when another transaction was in its way:
   * - 23505 on the task index: a start of one of the task ids (or a waiter's task) committed after
   *   the statement looked for a holder. The next call sees the holder and answers `duplicate`, as
   *   `start` alone would, or leaves that waiter be.
   * - 40P01: PostgreSQL broke a deadlock by failing this call. A batch holds the locks of several
   *   rows (slots, index entries of the task ids it starts, delivery records it removes) until it
   *   commits, so two batches that take them in different orders can wait for each other, where a
   *   lone start or end could not; an acquire locks the slots it lists in slot id order.
   * - 40001: an acquire found the queue entry it was renewing gone (see migrate-007.sql); run
   *   again, it queues anew.
   */
  private async callRetrying<R extends pg.QueryResultRow>(operation: Statement, values: unknown[]): Promise<R[]> {
    for (let attempt = 1; ; attempt++) {
      const statement = this.statement(operation, values);
      try {
        return (await this.pool.query<R>(statement)).rows;
      } catch (error) {
        if ((isTaskConflict(error) || isTransient(error)) && attempt < maxAttempts) continue;
        if (this.unpreparedAfter(error, statement)) {
          attempt--;
          continue;
        }
        if (attempt === 1 && (await this.recreatedAfter(error))) continue;
        const { code, detail } = (error ?? {}) as { code?: unknown; detail?: unknown };
        if (code === churnCode) throw churnError(String(detail));
        throw storeFailure('PostgreSQL', this.target, operation, error);
      }
    }
  }

  /**
   * True when `error` says a connection lacks a statement this store prepared, or has one of its
   * name already: a pooler handing each transaction a different server connection (PgBouncer in
   * transaction mode before 1.21). Nothing ran; from then on the statements go unnamed, and the
   * caller sends this one again. Every named statement already on its way may fail so, not only
   * the first: each is sent again.
   */
  private unpreparedAfter(error: unknown, sent: pg.QueryConfig): boolean {
    if (sent.name === undefined || !lostPreparedCodes.has((error as { code?: unknown } | null)?.code as string)) return false;
    this.statementNames = null;
    return true;
  }

  /** One call of a statement: named, so that each connection prepares it once, unless turned off. */
  private statement(operation: Statement, values: unknown[]): pg.QueryConfig {
    const name = this.statementNames?.[operation];
    return name === undefined ? { text: this.sql[operation], values } : { name, text: this.sql[operation], values };
  }

  /** Runs one of the store's statements; a failure reaches the caller explained (see storeFailure). */
  private async query<R extends pg.QueryResultRow>(operation: Statement, values: unknown[]): Promise<pg.QueryResult<R>> {
    for (let attempt = 1; ; attempt++) {
      const statement = this.statement(operation, values);
      try {
        return await this.pool.query<R>(statement);
      } catch (error) {
        if (this.unpreparedAfter(error, statement)) {
          attempt--;
          continue;
        }
        if (attempt === 1 && (await this.recreatedAfter(error))) continue;
        throw storeFailure('PostgreSQL', this.target, operation, error);
      }
    }
  }

  /**
   * True when `error` says the schema, a table or a function of the store is missing (the schema
   * dropped, a database restored empty) and the store recreated them, with every slot `init()`
   * was given, idle: the caller runs its statement once more. From then on it is a store that lost
   * its state, as a Redis restarted without persistence (README, "State loss and persistence").
   * False, leaving the caller to report its own error, when recreating failed too.
   */
  private async recreatedAfter(error: unknown): Promise<boolean> {
    const slots = this.initialisedSlots;
    if (slots === null || this.closing || !missingObjectCodes.has((error as { code?: unknown } | null)?.code as string)) return false;
    this.recreating ??= this.init([...slots]).finally(() => (this.recreating = undefined));
    return this.recreating.then(
      () => true,
      () => false,
    );
  }

  /**
   * Runs a statement that acts on a task id (keepalive, request-cancel). Each run is one
   * atomic statement; it runs again only when its snapshot showed the task live yet the row it
   * locked had changed (ended or reaped by a transaction that committed meanwhile), since only a
   * new snapshot shows what became of it.
   */
  private async onTask<R extends LookupRow>(operation: Statement, values: unknown[], ref: TaskRef): Promise<{ row: R } | Lost> {
    for (let attempt = 1; ; attempt++) {
      const row = (await this.query<R>(operation, values)).rows[0]!;
      if (row.acted) return { row };
      const lost = lostFrom(row, ref);
      if (lost) return lost;
      if (attempt >= maxAttempts) throw churnError(ref.taskId);
    }
  }
}

/** A start-many row (or an end's next_* columns) as a StartResult. */
function toStartResult(row: StartRow): StartResult {
  if (row.occupancy !== null) return { ok: true, occupancy: row.occupancy };
  if (row.reservation_valid && row.holder !== null) {
    return { ok: false, reason: 'duplicate', slotId: row.holder, expiresAt: Number(row.holder_expires_at), now: Number(row.now_ms) };
  }
  // Either the reservation had lapsed or moved on, or it was valid when read but released,
  // reaped or started before the update could lock it: lost either way.
  return { ok: false, reason: 'reservation_lost' };
}

/**
 * Why a task statement could not act, as the memory store's `resolve` answers it, from the
 * statement's snapshot; null when the snapshot shows the task live and matching, which means a
 * concurrent transaction changed the row after the snapshot was taken.
 */
function lostFrom(row: LookupRow, ref: TaskRef): Lost | null {
  if (row.cur_slot_id !== null && (ref.token === undefined || ref.token === Number(row.cur_token))) {
    const slotId = row.cur_slot_id;
    const token = Number(row.cur_token);
    if (row.cur_expiry !== null) return { ok: false, reason: 'timed_out', slotId, token, endReason: row.cur_expiry };
    return null;
  }
  // The lookup read the end of the occupancy asked about (by token; without one, the task's last).
  if (row.ended_slot_id === null || row.ended_reason === null) return { ok: false, reason: 'unknown' };
  const slotId = row.ended_slot_id;
  const token = Number(row.ended_token);
  const endReason = row.ended_reason;
  const timedOut = endReason === 'timeout' || endReason === 'max_runtime';
  return { ok: false, reason: timedOut ? 'timed_out' : 'ended', slotId, token, endReason };
}

function toOccupancy(row: OccupancyRow): Occupancy {
  return {
    slotId: row.slot_id,
    token: Number(row.token),
    taskId: row.task_id,
    backend: row.backend,
    owner: row.owner,
    startedAt: Number(row.started_at),
    lastKeepaliveAt: Number(row.last_keepalive_at),
    deadline: Number(row.deadline),
    maxDeadline: nullableNumber(row.max_deadline),
    timeoutMs: Number(row.timeout_ms),
    maxRuntimeMs: nullableNumber(row.max_runtime_ms),
    cancelRequested: row.cancel_requested,
  };
}

/** A time bound as a bigint parameter, or null for none. */
function nullableInt8(value: number | null): number | null {
  return value === null ? null : toInt8(value);
}

function nullableNumber(value: Int8 | null): number | null {
  return value === null ? null : Number(value);
}

/** A duration or count as a bigint parameter: a whole number, infinities clamped to safe integers. */
function toInt8(value: number): number {
  if (value === Infinity) return Number.MAX_SAFE_INTEGER;
  if (value === -Infinity) return -Number.MAX_SAFE_INTEGER;
  return Math.round(value);
}

/** SQLSTATEs of a statement whose schema (3F000), table (42P01) or function (42883) does not exist. */
const missingObjectCodes = new Set(['3F000', '42P01', '42883']);

/** The unique index refused a start: another start of the same task id committed first. */
function isTaskConflict(error: unknown): boolean {
  const { code, constraint } = (error ?? {}) as { code?: unknown; constraint?: unknown };
  return code === '23505' && constraint === taskIndex;
}

/** PostgreSQL failed this transaction to break a deadlock (40P01), or the statement asked to run again (40001). */
function isTransient(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === '40P01' || code === '40001';
}

/** A task whose row changed under every attempt to act on it. */
function churnError(taskId: string): StoreConflictError {
  return new StoreConflictError(taskId, maxAttempts);
}

/**
 * The statements rely on READ COMMITTED: each statement of the batch functions takes a fresh
 * snapshot that sees what committed meanwhile. Under a stricter default, concurrent schedulers
 * would fail with serialization errors instead: refuse such connections at init.
 */
async function checkIsolation(client: pg.ClientBase): Promise<void> {
  const { rows } = await client.query<{ level: string }>("SELECT current_setting('default_transaction_isolation') AS level");
  const level = rows[0]?.level;
  if (level !== 'read committed') {
    throw new ConfigError(
      'PostgresSlotStoreOptions.postgres (default_transaction_isolation)',
      level,
      "expected connections whose default_transaction_isolation is 'read committed' (PostgreSQL's default)",
    );
  }
}

/** The pool's connection string, or host, port and database when it was configured by fields. */
function describePool(pool: pg.Pool): string {
  const options = pool.options ?? {};
  if (options.connectionString) return options.connectionString;
  return `postgres://${options.host ?? 'localhost'}:${options.port ?? 5432}/${options.database ?? ''}`;
}

/**
 * A prepared statement's name for each statement: its text's digest, so that stores of other
 * schemas, or of another version of this package, sharing a connection never share a name
 * (node-postgres refuses one name for two texts).
 */
function statementNamesOf(sql: typeof statements): Record<Statement, string> {
  const names: Record<string, string> = {};
  for (const [key, text] of Object.entries(sql)) {
    names[key] = `task_semaphore_${createHash('sha256').update(text).digest('hex').slice(0, 16)}`;
  }
  return names as Record<Statement, string>;
}
