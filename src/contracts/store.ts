/**
 * The slot-store contract: where the state of one scheduler name's slots lives, and the only
 * operations that may change it.
 *
 * Every method that changes state is ONE atomic compare-and-set in the store (a Lua script, a
 * single SQL statement, a synchronous JS function), and every time it stamps or compares comes
 * from the store's clock, in milliseconds since the epoch. Nothing is read, modified in the
 * caller, and written back.
 *
 * A slot is `idle`, `reserved` (held by one scheduler while it polls backends, until `leaseUntil`)
 * or `running` (holds one task until `deadline`, or `maxDeadline` when set). Each reservation gets
 * a fencing `token` from a counter that only grows (per scheduler name, or wider); the token stays
 * with the occupancy once a task starts in it. A deadline, max deadline or lease has passed when
 * the store's clock reads a value greater than or equal to it. Operations on a task act only while the slot still holds
 * that task id, and that token when the caller gives one.
 *
 * Invariants every store keeps, across any number of processes:
 * - a slot holds at most one task, and a task id occupies at most one slot;
 * - a running occupancy past its deadline (or max deadline) is never renewed, stopped or
 *   cancelled: it is answered `timed_out` until `beginPass` reaps it;
 * - each occupancy ends exactly once, and the one call that ends it returns the ended record
 *   (or, where the caller cannot deliver its callbacks, queues it in the outbox; see `deliverable`);
 * - with a delivery lease in the request (see {@link EndRequest.delivery}), an ended record handed
 *   to a caller stays in the store's delivery log until `acknowledge` removes it, and no other
 *   caller takes it before the lease lapses: its callbacks run exactly once without crashes, and at
 *   least once across them.
 *
 * What the contract leaves out: configuration (it is code, never stored), and running backend
 * callbacks (the scheduler does that with what the store returns).
 */

/** Slot ids are strings in the store; configs may give numbers, which the scheduler turns into strings. */
export type SlotId = string;

/** Why an occupancy ended. */
export type EndReason =
  /** The task called `stop()`. */
  | 'stopped'
  /** The task called `stop()` after a cancel was requested, or with status `cancelled`. */
  | 'cancelled'
  /** No keepalive arrived within `timeoutMs` of the last one (or of the start). */
  | 'timeout'
  /** The task ran longer than `maxRuntimeMs`. */
  | 'max_runtime'
  /** The backend's `startCallback` threw or rejected. */
  | 'start_failed'
  /** The slot's config no longer lists the task's backend. */
  | 'backend_removed'
  /**
   * The process that ran the task gave it up: it shut down, and the task, asked to stop, was still
   * running at the final deadline. The task may have done part of its work; no result exists.
   */
  | 'dropped'
  /**
   * The store no longer knows the occupancy: its state was lost (a Redis restarted without
   * persistence, flushed, or failed over to a replica that lacked it). No store ever ends an
   * occupancy with it: the scheduler that started the task delivers it, when the store answers
   * `unknown` for a task it runs, or a pass no longer finds the task and the store keeps no end of it.
   */
  | 'lost';

/** A task's hold on a slot, as the store has it. Times are store-clock milliseconds. */
export interface Occupancy {
  slotId: SlotId;
  token: number;
  taskId: string;
  backend: string;
  /** The scheduler instance that reserved the slot and started the task. */
  owner: string;
  startedAt: number;
  lastKeepaliveAt: number;
  /** `lastKeepaliveAt + timeoutMs`: the task times out when the store's clock passes it. */
  deadline: number;
  /** `startedAt + maxRuntimeMs`, or null without a runtime cap. */
  maxDeadline: number | null;
  timeoutMs: number;
  maxRuntimeMs: number | null;
  cancelRequested: boolean;
}

/** An occupancy that has ended: what `stopCallback` receives. */
export interface EndedOccupancy extends Occupancy {
  reason: EndReason;
  /**
   * Store-clock ms; for reason `lost` (the store keeps no end), the store's clock as the process
   * that learnt the loss last read it, carried forward on its monotonic clock.
   */
  endedAt: number;
  /** What the task reported to `stop()` (e.g. `succeeded`, `failed`), if anything. */
  status: string | null;
  /** An error message reported to `stop()` or caught from `startCallback`, if any. */
  error: string | null;
  /**
   * Set (true) on a record handed out again because the caller it was leased to did not
   * acknowledge it within its delivery lease (it died or stalled): its callbacks may have run, in
   * full or in part. Absent on a first delivery. Backends use `taskId` and `token` to recognise it.
   */
  redelivered?: boolean;
}

/** Names one ended occupancy in the delivery log: a task id and the token of that occupancy. */
export interface DeliveryRef {
  taskId: string;
  token: number;
}

/** How a caller leases the ended records it will deliver (see {@link EndRequest.delivery}). */
export interface DeliveryLease {
  /** The caller's id, stored with the lease for inspection. */
  owner: string;
  /** How long, from the store's now, no other caller may take the record. */
  leaseMs: number;
}

/** A slot reserved by `beginPass` (or kept by `end` with `reserve`), to be started or released. */
export interface Reservation {
  slotId: SlotId;
  token: number;
}

/** One slot as `inspect()` reads it from the store. */
export interface SlotState {
  slotId: SlotId;
  status: 'idle' | 'reserved' | 'running';
  /** The last token handed out for this slot (0 for a slot never reserved). */
  token: number;
  /** The reserving scheduler instance, for `reserved` and `running` slots. */
  owner: string | null;
  /** For `reserved` slots: when the reservation lapses. */
  leaseUntil: number | null;
  /** For `running` slots. */
  occupancy: Occupancy | null;
  /** A running slot past its deadline or max deadline, not yet reaped. */
  overdue: boolean;
}

export interface BeginPassRequest {
  /** Slots this scheduler may fill, in config order; idle ones among them are reserved. */
  slotIds: readonly SlotId[];
  /** Id of the calling scheduler instance, stored as the reservation's owner. */
  owner: string;
  /** How long a reservation lasts before any scheduler may reclaim it. */
  leaseMs: number;
  /** Backends whose callbacks the caller can run: see {@link EndRequest.deliverable}. */
  deliverable: readonly string[];
  /** How long the record of an ended task is kept for `unknown` vs `timed_out` answers. */
  retentionMs: number;
  /** Most occupancies to reap (and outbox entries and lapsed deliveries to take) in one call; the rest wait for the next. */
  limit: number;
  /**
   * Lease every record this call returns in `ended` to `owner` for this long, in the delivery log
   * (see {@link EndRequest.delivery}), and also take the logged records of deliverable backends
   * whose lease lapsed, re-leased to `owner` and marked `redelivered`. Without it, the store hands
   * out reaped and outbox records without keeping them, as before delivery leases existed.
   */
  deliveryLeaseMs?: number;
  /**
   * Reserve at most this many of the idle slots, the first in `slotIds` order (0: none, only
   * reap and read); the others stay idle for other schedulers. Without it, every idle slot of
   * `slotIds` is reserved.
   */
  maxReserve?: number;
  /**
   * Publish a `freed` event for each slot this call sets idle by reaping (a lapsed reservation or a
   * timed-out occupancy) and leaves idle: a caller at its `maxReserve` cannot refill it, and the
   * schedulers with room would otherwise wait for their next tick.
   */
  notify?: boolean;
}

export interface BeginPassResult {
  /** The store's clock when the pass began. */
  now: number;
  /**
   * Occupancies this call ended (reason `timeout` or `max_runtime`, any slot of the scheduler
   * name, not only `slotIds`) whose backend is deliverable, then, with `deliveryLeaseMs`, logged
   * records of deliverable backends whose lease lapsed (oldest due first, `redelivered`), then
   * entries taken from the outbox for deliverable backends; at most `limit` in all. The caller
   * runs their callbacks. Reaped occupancies of other backends went to the outbox.
   */
  ended: EndedOccupancy[];
  /** How many lapsed reservations were set idle (no task had started in them). */
  expiredReservations: number;
  /**
   * The slots of `slotIds` that were idle and are now reserved by this call, in `slotIds` order.
   * A slot this same call reaped may be among them or may stay idle until the next pass. Idle
   * slots go to the acquire queue's waiters first (see {@link SlotStore.acquire}): those granted
   * are not among them.
   */
  reserved: Reservation[];
  /** The occupancies now running in slots of `slotIds` (after reaping). */
  running: Occupancy[];
}

export interface StartRequest {
  slotId: SlotId;
  token: number;
  taskId: string;
  backend: string;
  timeoutMs: number;
  maxRuntimeMs: number | null;
  /**
   * `timeoutMs` is the process lease of a task that runs in the caller's process, not the task's
   * own timeout: the store keeps the flag with the occupancy, and its history tells a `timeout`
   * of it as `dropped` (the process died, stalled or gave the task up). Absent: false.
   */
  processLease?: boolean;
}

/** A start that rides on an end, in the slot the end keeps (see {@link EndRequest.next}). */
export type NextStart = Omit<StartRequest, 'slotId' | 'token'>;

/** Why an operation on a task id could not act. */
export type LostReason =
  /**
   * The store knows nothing of the occupancy asked about: no slot holds the task (under the token
   * given, if any) and no record of that occupancy's end is kept. Either its end is older than
   * `retentionMs`, or the store lost the state that held it. Ends are kept per occupancy, so a task
   * that ran again under a later token does not hide the end of an earlier one.
   */
  | 'unknown'
  /** The task is past its deadline or max deadline, or ended by `timeout`/`max_runtime`. */
  | 'timed_out'
  /** The task ended for another reason (stopped, cancelled, start_failed, backend_removed). */
  | 'ended';

export interface Lost {
  ok: false;
  reason: LostReason;
  /** For `timed_out` and `ended`: the slot, token and end reason of the occupancy asked about (without a token, the task's last). */
  slotId?: SlotId;
  token?: number;
  endReason?: EndReason;
}

export type StartResult =
  | { ok: true; occupancy: Occupancy }
  /** `duplicate`: the task id already occupies `slotId`. `reservation_lost`: the token no longer holds the slot. */
  | {
      ok: false;
      reason: 'duplicate';
      slotId: SlotId;
      /**
       * When the occupancy holding the task id can end by itself, by the store's clock: the
       * earlier of its deadline and max deadline, as the store had them when it answered. With
       * `now`, it tells the caller how long a task handed back as a duplicate would stay one
       * unless its holder stops (a dead process's occupancy lasts that long). The conformance
       * suite checks both.
       */
      expiresAt: number;
      /** The store's clock when it answered. */
      now: number;
    }
  | { ok: false; reason: 'reservation_lost' };

/** Identifies a task; with `token`, one particular occupancy of it. */
export interface TaskRef {
  taskId: string;
  token?: number;
}

export type KeepaliveResult = { ok: true; occupancy: Occupancy } | Lost;

export interface EndRequest extends TaskRef {
  reason: EndReason;
  status?: string | null;
  error?: string | null;
  /**
   * Backends whose callbacks the caller can run. If the ended occupancy's backend is not among
   * them, the store appends the ended record to the scheduler name's outbox in the same atomic
   * step, and a later `beginPass` from a scheduler that has the backend takes it.
   */
  deliverable: readonly string[];
  /**
   * Publish a `freed` event when this ends an occupancy: set it when the caller will not refill
   * the slot itself, so that a scheduler that serves the slot refills it at once.
   */
  notify?: boolean;
  /**
   * Keep the freed slot for the caller: when set and the end acts, the slot becomes `reserved` by
   * `owner` under a fresh token (from the same counter as beginPass) until now + `leaseMs` (store clock),
   * in the same atomic step, exactly as beginPass would reserve it; the result names the reservation.
   * No `freed` event is published then, whatever `notify` says: the slot is not free.
   */
  reserve?: { owner: string; leaseMs: number };
  /**
   * With `reserve`: a task to start in the kept slot, in the same call, exactly as `start` would
   * with the reservation: one round trip between two tasks where an end then a start take two.
   * The result's `next` says how that start went; one refused (`duplicate`) leaves the slot
   * reserved under `reserved`, as a refused `start` does. Nothing starts when the end does not
   * act or a waiter takes the slot (no `reserved` then). A store may send the start as a second
   * round trip; the outcome is the same.
   */
  next?: NextStart;
  /**
   * Lease the ended record to the caller in the delivery log, in the same atomic step, when the
   * end acts and its backend is deliverable: the record stays there, due at now + `leaseMs`
   * (store clock), until `acknowledge` names it. A `beginPass` with `deliveryLeaseMs` takes it
   * only once the lease lapsed. Without it (or in a store without `acknowledge`) nothing is logged.
   */
  delivery?: DeliveryLease;
  /**
   * Records to remove from the delivery log, as {@link SlotStore.acknowledge} would, in the same
   * atomic step, whether or not the end acts: the acknowledgements of a busy caller then ride on
   * its ends at no cost of their own. Only stores that have `acknowledge` are sent any.
   */
  acknowledge?: readonly DeliveryRef[];
  /**
   * How long ends are kept, as {@link BeginPassRequest.retentionMs} (0 or more; with 0, the ends
   * of the call itself go). A store that prunes the ends kept a bounded number per pass (Redis)
   * also prunes, with each end call, up to twice as many due ends as the call has requests, taking
   * the longest retention its requests give: a name that ends more tasks between two passes than
   * a pass may prune would otherwise keep ever more of them. Without it an end prunes no ends kept.
   */
  retentionMs?: number;
}

/**
 * News from the store that a scheduler may act on at once rather than at its next pass. Best
 * effort: an event can be lost (a connection drops), so passes stay the safety net.
 * - `freed`: a process that does not serve the slot ended its task (see {@link EndRequest.notify}),
 *   or a pass reaped it and left it idle (see {@link BeginPassRequest.notify});
 * - `cancel`: a cancel was requested for the occupancy;
 * - `granted`: a slot was given to a waiter of the acquire queue (see {@link SlotStore.acquire}):
 *   its occupancy now runs under `token`, and the process waiting for it may go on.
 */
export type StoreEvent =
  | { type: 'freed'; slotId: SlotId }
  | { type: 'cancel'; taskId: string; token: number }
  | { type: 'granted'; taskId: string; token: number; slotId: SlotId };

export type EndResult =
  | {
      ok: true;
      ended: EndedOccupancy;
      delivered: boolean;
      /** The slot kept for the caller, when the request had `reserve` and no waiter took the slot. */
      reserved?: Reservation;
      /**
       * How the request's `next` started in the kept slot, when `reserved` is set and the request
       * had `next`; absent if the store could not start it with the end (the caller then calls `start`).
       */
      next?: StartResult;
    }
  | Lost;

/** A slot an {@link AcquireRequest} may take, with the limits its occupancy gets there. */
export interface AcquireSlot {
  slotId: SlotId;
  timeoutMs: number;
  maxRuntimeMs: number | null;
}

/**
 * Takes a slot for a task the caller already holds, in one step: no reservation, no poll (see
 * {@link SlotStore.acquire}).
 */
export interface AcquireRequest {
  taskId: string;
  /** Recorded as the occupancy's backend, as `start` records it. */
  backend: string;
  /** The caller's scheduler instance: the occupancy's owner, and the waiter's. */
  owner: string;
  /** The slots the task may take, in order of preference. At least one. */
  slots: readonly AcquireSlot[];
  /** As {@link StartRequest.processLease}. */
  processLease?: boolean;
  /**
   * Wait in the name's queue when no slot is free: the store keeps the request as a waiter until
   * now + `leaseMs`, and a later acquire of the same task id by the same owner renews it (and
   * answers whether a slot was granted meanwhile), or, the entry having lapsed, queues it anew at
   * the end. Without it, the answer is `busy`.
   */
  wait?: { leaseMs: number };
}

export type AcquireResult =
  /** The task holds a slot: taken now, or granted to this owner while it waited. */
  | { ok: true; occupancy: Occupancy }
  /** Queued (or still queued): `position` 1 is next among the waiters. */
  | { ok: false; reason: 'queued'; position: number; now: number }
  /** No slot of the request is free (or every free one goes to an earlier waiter), and the request did not wait. */
  | { ok: false; reason: 'busy'; now: number }
  /**
   * The task id runs in `slotId` for another owner, or waits in another owner's queue entry
   * (`slotId` null); `expiresAt` is when that holder or entry lapses unless renewed.
   */
  | { ok: false; reason: 'duplicate'; slotId: SlotId | null; expiresAt: number; now: number };

/**
 * What {@link SlotStore.leaveQueue} did: the waiter left the queue; or it was not there, because
 * a slot was granted to it (`occupancy`, still running, for the caller to end) or its entry
 * lapsed (`occupancy` null).
 */
export type LeaveQueueResult = { left: true } | { left: false; occupancy: Occupancy | null };

export type CancelResult = { ok: true; occupancy: Occupancy; alreadyRequested: boolean } | Lost;

/**
 * A store for the slots of one scheduler name. Implementations: MemorySlotStore (one process),
 * RedisSlotStore, PostgresSlotStore; users may write their own and check it with the exported
 * conformance suite.
 *
 * Every method given a task id (start, keepalive, end, requestCancel and their batches) refuses
 * one outside the task-id grammar (`checkTaskId` in `src/contracts/task-id.ts`) by throwing its
 * `TaskIdError`, before any round trip: so an id one store takes, every store takes unchanged.
 */
export interface SlotStore {
  /** A short label for logs and errors, e.g. `redis` or `postgres`. */
  readonly kind: string;
  /**
   * Optional: how many batches of a scheduler's refills (and of their ends) may be on their way to
   * this store at once. More than one pays where a batch mostly waits for the round trip, and the
   * scheduler can work on one batch's tasks while the other is on its way (Redis); one where each
   * call costs the server more work than the wait, so that smaller batches only add work
   * (PostgreSQL). @defaultValue 1
   */
  readonly batchLanes?: number;
  /** Prepare the store (connect, migrate) and make sure these slots exist. Idempotent. */
  init(slotIds: readonly SlotId[]): Promise<void>;
  /**
   * One round trip that starts a `schedule()` pass: reap lapsed reservations and timed-out
   * occupancies of the whole scheduler name, take deliverable records whose delivery lease lapsed
   * (with `deliveryLeaseMs`) and deliverable outbox entries, prune records of ended tasks older
   * than `retentionMs`, then reserve every idle slot of `slotIds`.
   */
  beginPass(request: BeginPassRequest): Promise<BeginPassResult>;
  /** Turn a reservation (slot and token still match, not lapsed) into a running occupancy of `taskId`. */
  start(request: StartRequest): Promise<StartResult>;
  /**
   * Optional: several starts in one round trip. Each acts exactly as `start` would on its own, in
   * the order given (so a later request sees the effect of an earlier one, e.g. a duplicate task
   * id); the results come back in the same order. No requests resolve to [] without a round trip.
   */
  startMany?(requests: readonly StartRequest[]): Promise<StartResult[]>;
  /** Set idle the slots still reserved under these tokens; others are left alone. One round trip. */
  release(reservations: readonly Reservation[]): Promise<void>;
  /** Renew a running occupancy: `lastKeepaliveAt = now`, `deadline = now + timeoutMs`. */
  keepalive(ref: TaskRef): Promise<KeepaliveResult>;
  /**
   * End a running occupancy (stop, start failure, backend removal), freeing its slot, or keeping it
   * reserved for the caller with {@link EndRequest.reserve}.
   */
  end(request: EndRequest): Promise<EndResult>;
  /**
   * Optional: several ends in one round trip; each acts exactly as `end` would on its own, in order;
   * results in order. No requests resolve to [] without a round trip.
   */
  endMany?(requests: readonly EndRequest[]): Promise<EndResult[]>;
  /**
   * Optional: removes these records from the delivery log, once their callbacks ran; refs the log
   * does not hold are ignored. One round trip; no refs resolve without one. A store without it
   * keeps no log, and its callers deliver at most once (a crash between the end and the
   * callbacks loses them).
   */
  acknowledge?(refs: readonly DeliveryRef[]): Promise<void>;
  /**
   * Optional, with `leaveQueue`: takes a slot for a task in one round trip, first come first
   * served. It grants the request's first idle slot (in the request's order) that no earlier live
   * waiter may take: the occupancy starts at once, under a fresh fencing token, owned by
   * `owner`, reserved and started at the same instant. Failing that, with `wait`, it queues the
   * request (or renews its entry); else it answers `busy`. A task id that holds a slot answers
   * `ok` to its owner (a grant it may not have heard of) and `duplicate` to anyone else.
   *
   * The queue: whenever a slot turns idle (an `end`, a `release`, a `beginPass` reaping it or
   * finding it idle, an acquire finding it idle) the store gives it, in the same atomic step, to
   * the first waiter, in arrival order, whose request lists it and whose entry has not lapsed;
   * lapsed entries are dropped as they are met. The occupancy starts as the waiter's own acquire
   * would have, a `granted` event is published, and the slot is neither reserved for the caller
   * (an `end` with `reserve` then names no reservation) nor reserved by the pass.
   * @throws TaskIdError for a task id outside the grammar, before any round trip
   */
  acquire?(request: AcquireRequest): Promise<AcquireResult>;
  /** Optional, with `acquire`: removes the owner's waiter entry of the task id (a wait given up). One round trip. */
  leaveQueue?(request: { taskId: string; owner: string }): Promise<LeaveQueueResult>;
  /** Flag a running occupancy so that its next keepalive reports `cancelRequested`. */
  requestCancel(ref: TaskRef): Promise<CancelResult>;
  /**
   * Optional: calls `listener` with the {@link StoreEvent}s of this scheduler name: every
   * `freed` published by an `end` with `notify`, and every successful `requestCancel`. Resolves
   * once listening; the function it returns stops listening. Listening survives reconnects.
   */
  subscribe?(listener: (event: StoreEvent) => void): Promise<() => Promise<void>>;
  /**
   * Optional, with `subscribe`: whether every subscription made is connected and listening now
   * (false while one reconnects: its events are lost until then). Read by health checks.
   */
  listening?(): boolean;
  /** Every slot of the scheduler name the store knows, sorted by slot id. */
  inspect(): Promise<SlotState[]>;
  /**
   * Optional: the history of the scheduler name (see `src/contracts/history.ts`): the records of
   * ended occupancies the store keeps, and the occupancies running now (outcome `running`), that
   * match `query`, newest first, at most `query.limit`. Read only. A store that has it writes
   * each ended occupancy's record in the same atomic step that ends it (every `end`, `endMany`
   * and `beginPass` reap), unless built with its history off; a keepalive only counts.
   */
  history?(query: NormalizedHistoryQuery): Promise<HistoryRecord[]>;
  /**
   * Optional, with `history`: how many records of ended occupancies the store keeps for the
   * scheduler name (running occupancies are none), counted no further than `limit`: the smaller of
   * the two. Read only, one round trip, and bounded by `limit` however large the history: cheap
   * enough to ask on every metrics scrape.
   */
  historySize?(limit: number): Promise<number>;
  /**
   * Optional: removes everything the store keeps for the scheduler name (slots, token counter
   * where it is the name's own, ended records, outbox, delivery log, history, acquire queue) in one atomic
   * step, and nothing of other names. Refuses, changing nothing, while a slot is running (overdue
   * or not) or reserved under a lease that has not lapsed, unless `force`; with `force`, the
   * running occupancies removed are listed as `dropped`. Tokens handed out afterwards still grow
   * past those handed out before, and calls with an old token answer `unknown`.
   */
  purge?(options: { force: boolean }): Promise<PurgeResult>;
  /** Release connections this store opened; never those the caller passed in. Idempotent. */
  close(): Promise<void>;
}

/** Sorts slot ids numerically where both are numbers, else as strings: 2 before 10, "a" before "b". */
export function compareSlotIds(a: SlotId, b: SlotId): number {
  return a.localeCompare(b, 'en', { numeric: true });
}

/** When an occupancy ends unless renewed or stopped, store-clock ms: the earlier of its deadline and max deadline. */
export function expiryOf(occupancy: Occupancy): number {
  return occupancy.maxDeadline === null ? occupancy.deadline : Math.min(occupancy.deadline, occupancy.maxDeadline);
}

// --- History and purge (the rules and the query's validation: src/contracts/history.ts) ---

/** What became of an occupancy: `running` while it holds its slot, else how it ended. */
export type HistoryOutcome = 'running' | 'succeeded' | 'failed' | 'cancelled' | 'timed_out' | 'dropped';

/** One occupancy of a slot by a task, as the history keeps it. Times are store-clock ms. */
export interface HistoryRecord {
  taskId: string;
  /** The fencing token of the occupancy: with the task id, it names the occupancy. */
  token: number;
  slotId: SlotId;
  backend: string;
  /** The holder: the scheduler instance that reserved the slot and started the task (`<host>:<pid>:<rand>` by default). */
  owner: string;
  /** When the slot was reserved under this token; null when the store did not record it (a reservation of an older release). */
  reservedAt: number | null;
  startedAt: number;
  lastKeepaliveAt: number;
  /** How many keepalive calls renewed the occupancy (the scheduler's process-lease renewals included). */
  keepalives: number;
  /** Null while it runs. */
  endedAt: number | null;
  outcome: HistoryOutcome;
  /** Why it ended; null while it runs. */
  reason: EndReason | null;
  /** What the task reported to `stop()`, if anything. */
  status: string | null;
  /** The error reported to `stop()` or caught from `startCallback`, if any. */
  error: string | null;
}

/** A validated {@link HistoryQuery}, as stores receive it: lists everywhere, null for unset, times in ms. */
export interface NormalizedHistoryQuery {
  taskId: readonly string[] | null;
  outcome: readonly HistoryOutcome[] | null;
  reason: readonly EndReason[] | null;
  status: readonly string[] | null;
  backend: readonly string[] | null;
  slotId: readonly string[] | null;
  owner: readonly string[] | null;
  startedAfter: number | null;
  startedBefore: number | null;
  endedAfter: number | null;
  endedBefore: number | null;
  limit: number;
}

/** The refusal of a purge: what still holds slots of the name. */
export interface PurgeRefused {
  purged: false;
  /** The occupancies running (overdue ones too: their ends were never delivered). */
  running: Array<TaskRef & { slotId: SlotId; owner: string }>;
  /** The slots reserved under a lease that has not lapsed (a scheduler is polling for them). */
  reserved: Array<{ slotId: SlotId; owner: string }>;
}

/** What `purge` did: everything of the name removed, or nothing, and why. */
export type PurgeResult =
  | {
      purged: true;
      /** How many slots were removed. */
      slots: number;
      /** The running occupancies removed by force: their tasks hold no slot any more, and no end of them is kept. */
      dropped: TaskRef[];
    }
  | PurgeRefused;
