import { EventEmitter } from 'node:events';
import * as z from 'zod/mini';
import { integer, parseOptions, shaped, strictObject } from '../../src/core/option-schema.js';
import {
  compareSlotIds,
  expiryOf,
  type AcquireRequest,
  type AcquireResult,
  type AcquireSlot,
  type BeginPassRequest,
  type BeginPassResult,
  type CancelResult,
  type DeliveryLease,
  type DeliveryRef,
  type EndRequest,
  type EndResult,
  type EndReason,
  type EndedOccupancy,
  type HistoryRecord,
  type KeepaliveResult,
  type LeaveQueueResult,
  type Lost,
  type NormalizedHistoryQuery,
  type Occupancy,
  type PurgeRefused,
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
import {
  historyOutcome,
  matchesHistoryQuery,
  newestHistory,
  runningRecord,
  storeHistoryOption,
  type StoreHistoryOptions,
} from '../../src/contracts/history.js';
import { storeDefaults } from '../../src/contracts/store-defaults.js';

/** A slot as held in memory. `occupancy` is set only while running. */
interface MemorySlot {
  status: 'idle' | 'reserved' | 'running';
  token: number;
  owner: string | null;
  leaseUntil: number | null;
  occupancy: Occupancy | null;
  /** For the history: when the slot was reserved under `token`, the keepalives that renewed its occupancy, and whether it runs on a process lease. */
  reservedAt: number | null;
  keepalives: number;
  processLease: boolean;
}

/**
 * What is kept of an occupancy after it ended, to answer `timed_out` or `ended` rather than
 * `unknown`. One per occupancy, not per task id: a task that ran again under a later token keeps
 * the end of the earlier one, so that its holder learns it ended rather than that it was lost.
 */
interface Tombstone {
  taskId: string;
  slotId: SlotId;
  token: number;
  reason: EndReason;
  endedAt: number;
}

/** An ended record leased to the caller delivering its callbacks, until acknowledged or due. */
interface Delivery {
  record: EndedOccupancy;
  owner: string;
  dueAt: number;
}

/** A request waiting in the acquire queue for one of its slots. */
interface Waiter {
  taskId: string;
  owner: string;
  backend: string;
  slots: readonly AcquireSlot[];
  processLease: boolean;
  /** Store-clock ms: the entry lapses then unless its owner asks again. */
  leaseUntil: number;
}

/** Options of {@link MemorySlotStore}. */
export interface MemorySlotStoreOptions {
  /**
   * The clock, in milliseconds. The store's clock for every transition, as Redis `TIME` and
   * PostgreSQL `now()` are for theirs; tests may pass a fake one.
   * @defaultValue `Date.now`
   */
  now?: () => number;
  /**
   * Most ended records kept in the outbox; the oldest are dropped beyond it.
   * @defaultValue 10000
   */
  outboxLimit?: number;
  /**
   * The history of ended occupancies: at most `maxEntries` records, the oldest dropped beyond
   * (`retentionMs` is for stores that keep it by time), or `false` to keep none.
   * @defaultValue `{ maxEntries: 10000 }`
   */
  history?: StoreHistoryOptions;
}

const optionsSchema = strictObject(
  {
    now: z._default(
      shaped<() => number>((value) => typeof value === 'function', 'allowed: a function returning milliseconds'),
      () => Date.now,
    ),
    outboxLimit: z._default(integer(1), storeDefaults.outboxLimit),
    history: storeHistoryOption(),
  },
  'allowed: an object with now, outboxLimit and history, all optional',
);

/**
 * Slot state in the memory of one process: no server, for a single process (the embedded
 * default), and the reference the Redis and PostgreSQL stores are checked against. Every method
 * runs synchronously up to its return, so each transition is atomic among all schedulers of
 * the process that share the instance.
 */
export class MemorySlotStore implements SlotStore {
  readonly kind = 'memory';
  private readonly now: () => number;
  private readonly outboxLimit: number;
  private readonly slots = new Map<SlotId, MemorySlot>();
  /** taskId → slotId of every running occupancy: the uniqueness index of task ids. */
  private readonly tasks = new Map<string, SlotId>();
  /** By occupancyKey, in end order (which pruning relies on). */
  private readonly tombstones = new Map<string, Tombstone>();
  /** The token of each task id's last ended occupancy: what a call without a token is answered by. */
  private readonly lastEnded = new Map<string, number>();
  private readonly outbox: EndedOccupancy[] = [];
  /** The delivery log: records handed to a caller and not yet acknowledged, by {@link occupancyKey}. */
  private readonly deliveries = new Map<string, Delivery>();
  private lastToken = 0;
  /** The records of ended occupancies, oldest first; null when the history is off. */
  private readonly ended: HistoryRecord[] | null;
  private readonly historyMax: number;
  private readonly events = new EventEmitter<{ event: [StoreEvent] }>();
  /** The acquire queue by task id; a Map keeps arrival order, and a renewal keeps its place. */
  private readonly waiters = new Map<string, Waiter>();

  /** @throws ConfigError when an option is malformed or unknown. */
  constructor(options: MemorySlotStoreOptions = {}) {
    const parsed = parseOptions(optionsSchema, options, 'MemorySlotStoreOptions');
    ({ now: this.now, outboxLimit: this.outboxLimit } = parsed);
    this.ended = parsed.history === false ? null : [];
    this.historyMax = parsed.history === false ? 0 : parsed.history.maxEntries;
  }

  async init(slotIds: readonly SlotId[]): Promise<void> {
    for (const slotId of slotIds) this.slot(slotId);
  }

  async beginPass(request: BeginPassRequest): Promise<BeginPassResult> {
    const now = this.now();
    const ended: EndedOccupancy[] = [];
    let budget = request.limit;
    let expiredReservations = 0;
    const reaped: SlotId[] = [];
    const lease = request.deliveryLeaseMs === undefined ? undefined : { owner: request.owner, leaseMs: request.deliveryLeaseMs };

    for (const [slotId, slot] of this.slots) {
      if (budget <= 0) break;
      if (slot.status === 'reserved' && slot.leaseUntil !== null && slot.leaseUntil <= now) {
        this.setIdle(slot);
        reaped.push(slotId);
        expiredReservations++;
        budget--;
      } else if (slot.occupancy && expiryReason(slot.occupancy, now)) {
        const record = this.endOccupancy(slotId, slot, expiryReason(slot.occupancy, now)!, null, null, now);
        reaped.push(slotId);
        if (request.deliverable.includes(record.backend)) ended.push(this.lease(record, lease, now));
        else this.pushOutbox(record);
        budget--;
      }
    }

    if (lease) {
      // Records whose deliverer did not acknowledge them in time (it died or stalled), oldest due first.
      const lapsed = [...this.deliveries.values()]
        .filter((d) => d.dueAt <= now && request.deliverable.includes(d.record.backend))
        .sort((a, b) => a.dueAt - b.dueAt)
        .slice(0, Math.max(0, budget));
      for (const delivery of lapsed) {
        ended.push(this.lease({ ...delivery.record, redelivered: true }, lease, now));
        budget--;
      }
    }

    for (let i = 0; i < this.outbox.length && budget > 0;) {
      if (request.deliverable.includes(this.outbox[i]!.backend)) {
        ended.push(this.lease(this.outbox.splice(i, 1)[0]!, lease, now));
        budget--;
      } else i++;
    }

    for (const [key, tombstone] of this.tombstones) {
      if (tombstone.endedAt > now - request.retentionMs) break; // insertion order is end order
      this.tombstones.delete(key);
      if (this.lastEnded.get(tombstone.taskId) === tombstone.token) this.lastEnded.delete(tombstone.taskId);
    }

    for (const slotId of reaped) this.grant(slotId, this.slots.get(slotId)!, now);

    const reserved: Reservation[] = [];
    const running: Occupancy[] = [];
    for (const slotId of request.slotIds) {
      const slot = this.slot(slotId);
      if (slot.status === 'idle') this.grant(slotId, slot, now);
      if (slot.status === 'idle') {
        if (reserved.length < (request.maxReserve ?? Number.POSITIVE_INFINITY))
          reserved.push(this.reserve(slotId, slot, request.owner, now, request.leaseMs));
      } else if (slot.occupancy) {
        running.push({ ...slot.occupancy });
      }
    }
    if (request.notify) {
      for (const slotId of reaped) if (this.slots.get(slotId)!.status === 'idle') this.publish({ type: 'freed', slotId });
    }
    return { now, ended, expiredReservations, reserved, running };
  }

  async start(request: StartRequest): Promise<StartResult> {
    checkTaskId(request.taskId);
    const now = this.now();
    const slot = this.slots.get(request.slotId);
    if (!slot || slot.status !== 'reserved' || slot.token !== request.token || slot.leaseUntil! <= now) {
      return { ok: false, reason: 'reservation_lost' };
    }
    const holder = this.tasks.get(request.taskId);
    if (holder !== undefined) {
      const expiresAt = expiryOf(this.slots.get(holder)!.occupancy!);
      return { ok: false, reason: 'duplicate', slotId: holder, expiresAt, now };
    }

    const occupancy = this.startIn(request.slotId, slot, request, now);
    return { ok: true, occupancy: { ...occupancy } };
  }

  async release(reservations: readonly Reservation[]): Promise<void> {
    const now = this.now();
    for (const { slotId, token } of reservations) {
      const slot = this.slots.get(slotId);
      if (slot && slot.status === 'reserved' && slot.token === token) {
        this.setIdle(slot);
        this.grant(slotId, slot, now);
      }
    }
  }

  async keepalive(ref: TaskRef): Promise<KeepaliveResult> {
    checkTaskId(ref.taskId);
    const now = this.now();
    const found = this.resolve(ref, now);
    if (!found.ok) return found;
    const occupancy = found.slot.occupancy!;
    found.slot.keepalives++;
    occupancy.lastKeepaliveAt = now;
    occupancy.deadline = now + occupancy.timeoutMs;
    return { ok: true, occupancy: { ...occupancy } };
  }

  async end(request: EndRequest): Promise<EndResult> {
    checkTaskId(request.taskId);
    if (request.next) checkTaskId(request.next.taskId);
    if (request.acknowledge) this.forget(request.acknowledge);
    const now = this.now();
    const found = this.resolve(request, now);
    if (!found.ok) return found;
    const { slot } = found;
    const cancelled = request.reason === 'stopped' && (slot.occupancy!.cancelRequested || request.status === 'cancelled');
    const record = this.endOccupancy(
      slot.occupancy!.slotId,
      slot,
      cancelled ? 'cancelled' : request.reason,
      request.status ?? null,
      request.error ?? null,
      now,
    );
    const delivered = request.deliverable.includes(record.backend);
    if (!delivered) this.pushOutbox(record);
    const ended = delivered ? this.lease(record, request.delivery, now) : record;
    // A waiter comes before the caller's refill: granted, the slot is neither kept nor free.
    if (this.grant(record.slotId, slot, now)) return { ok: true, ended, delivered };
    if (request.reserve) {
      // Kept for the caller, so not free: no `freed` event, whatever `notify` says.
      const { owner, leaseMs } = request.reserve;
      const reserved = this.reserve(record.slotId, slot, owner, now, leaseMs);
      if (!request.next) return { ok: true, ended, delivered, reserved };
      return { ok: true, ended, delivered, reserved, next: await this.start({ ...request.next, ...reserved }) };
    }
    if (request.notify) this.publish({ type: 'freed', slotId: record.slotId });
    return { ok: true, ended, delivered };
  }

  async acquire(request: AcquireRequest): Promise<AcquireResult> {
    checkTaskId(request.taskId);
    if (request.slots.length === 0) throw new Error('acquire: a request lists at least one slot');
    const now = this.now();
    const held = this.heldBy(request, now);
    if (held) return held;
    const own = this.waiters.get(request.taskId);
    if (own && own.owner !== request.owner && own.leaseUntil > now) {
      return { ok: false, reason: 'duplicate', slotId: null, expiresAt: own.leaseUntil, now };
    }
    for (const { slotId } of request.slots) {
      const slot = this.slots.get(slotId);
      if (!slot || slot.status !== 'idle') continue;
      // Earlier waiters first (this request's own entry among them, in its place).
      this.grant(slotId, slot, now);
      if (slot.status === 'idle') {
        this.waiters.delete(request.taskId);
        return { ok: true, occupancy: { ...this.occupy(slotId, slot, toWaiter(request, now), now) } };
      }
      const granted = this.heldBy(request, now);
      if (granted) return granted;
    }
    if (!request.wait) return { ok: false, reason: 'busy', now };
    const leaseUntil = now + request.wait.leaseMs;
    if (own && own.owner === request.owner && own.leaseUntil > now) own.leaseUntil = leaseUntil;
    else {
      this.waiters.delete(request.taskId);
      this.waiters.set(request.taskId, { ...toWaiter(request, now), leaseUntil });
    }
    let position = 0;
    for (const waiter of this.waiters.values()) {
      if (waiter.leaseUntil > now) position++;
      if (waiter.taskId === request.taskId) break;
    }
    return { ok: false, reason: 'queued', position, now };
  }

  async leaveQueue(request: { taskId: string; owner: string }): Promise<LeaveQueueResult> {
    checkTaskId(request.taskId);
    const now = this.now();
    const waiter = this.waiters.get(request.taskId);
    if (waiter && waiter.owner === request.owner) {
      this.waiters.delete(request.taskId);
      if (waiter.leaseUntil > now) return { left: true };
    }
    const slotId = this.tasks.get(request.taskId);
    const occupancy = slotId === undefined ? null : this.slots.get(slotId)!.occupancy;
    return { left: false, occupancy: occupancy && occupancy.owner === request.owner ? { ...occupancy } : null };
  }

  async acknowledge(refs: readonly DeliveryRef[]): Promise<void> {
    this.forget(refs);
  }

  async requestCancel(ref: TaskRef): Promise<CancelResult> {
    checkTaskId(ref.taskId);
    const found = this.resolve(ref, this.now());
    if (!found.ok) return found;
    const occupancy = found.slot.occupancy!;
    const alreadyRequested = occupancy.cancelRequested;
    occupancy.cancelRequested = true;
    this.publish({ type: 'cancel', taskId: occupancy.taskId, token: occupancy.token });
    return { ok: true, occupancy: { ...occupancy }, alreadyRequested };
  }

  async subscribe(listener: (event: StoreEvent) => void): Promise<() => Promise<void>> {
    this.events.on('event', listener);
    return async () => void this.events.off('event', listener);
  }

  async inspect(): Promise<SlotState[]> {
    const now = this.now();
    return [...this.slots.entries()]
      .sort(([a], [b]) => compareSlotIds(a, b))
      .map(([slotId, slot]) => ({
        slotId,
        status: slot.status,
        token: slot.token,
        owner: slot.owner,
        leaseUntil: slot.leaseUntil,
        occupancy: slot.occupancy ? { ...slot.occupancy } : null,
        overdue: slot.occupancy !== null && expiryReason(slot.occupancy, now) !== null,
      }));
  }

  async history(query: NormalizedHistoryQuery): Promise<HistoryRecord[]> {
    const running: HistoryRecord[] = [];
    for (const slot of this.slots.values()) {
      if (slot.occupancy) running.push(runningRecord(slot.occupancy, slot.reservedAt, slot.keepalives));
    }
    const matching = [...running, ...(this.ended ?? [])].filter((record) => matchesHistoryQuery(record, query));
    return newestHistory([matching], query.limit).map((record) => ({ ...record }));
  }

  async historySize(limit: number): Promise<number> {
    return Math.min(this.ended?.length ?? 0, limit);
  }

  async purge(options: { force: boolean }): Promise<PurgeResult> {
    const now = this.now();
    const running: PurgeRefused['running'] = [];
    const reserved: PurgeRefused['reserved'] = [];
    for (const [slotId, slot] of this.slots) {
      const { occupancy } = slot;
      if (occupancy) running.push({ taskId: occupancy.taskId, token: occupancy.token, slotId, owner: occupancy.owner });
      else if (slot.status === 'reserved' && slot.leaseUntil! > now) reserved.push({ slotId, owner: slot.owner! });
    }
    if (!options.force && (running.length > 0 || reserved.length > 0)) return { purged: false, running, reserved };
    const slots = this.slots.size;
    // Everything of the name but the token counter, so that tokens keep growing.
    for (const map of [this.slots, this.tasks, this.tombstones, this.lastEnded, this.deliveries, this.waiters]) map.clear();
    this.outbox.length = 0;
    if (this.ended) this.ended.length = 0;
    return { purged: true, slots, dropped: running.map(({ taskId, token }) => ({ taskId, token })) };
  }

  async close(): Promise<void> {}

  private slot(slotId: SlotId): MemorySlot {
    let slot = this.slots.get(slotId);
    if (!slot) {
      slot = {
        status: 'idle',
        token: 0,
        owner: null,
        leaseUntil: null,
        occupancy: null,
        reservedAt: null,
        keepalives: 0,
        processLease: false,
      };
      this.slots.set(slotId, slot);
    }
    return slot;
  }

  /** Finds the running, unexpired occupancy a task reference names, or says why there is none. */
  private resolve(ref: TaskRef, now: number): { ok: true; slot: MemorySlot } | Lost {
    const slotId = this.tasks.get(ref.taskId);
    const slot = slotId === undefined ? undefined : this.slots.get(slotId)!;
    const occupancy = slot?.occupancy;
    if (!slot || !occupancy || (ref.token !== undefined && ref.token !== occupancy.token)) {
      const token = ref.token ?? this.lastEnded.get(ref.taskId);
      const tombstone = token === undefined ? undefined : this.tombstones.get(occupancyKey({ taskId: ref.taskId, token }));
      if (!tombstone) return { ok: false, reason: 'unknown' };
      const { slotId: endedIn, reason } = tombstone;
      return { ok: false, reason: isTimeout(reason) ? 'timed_out' : 'ended', slotId: endedIn, token: tombstone.token, endReason: reason };
    }
    const expired = expiryReason(occupancy, now);
    if (expired) return { ok: false, reason: 'timed_out', slotId, token: occupancy.token, endReason: expired };
    return { ok: true, slot };
  }

  private endOccupancy(
    slotId: SlotId,
    slot: MemorySlot,
    reason: EndReason,
    status: string | null,
    error: string | null,
    now: number,
  ): EndedOccupancy {
    const occupancy = slot.occupancy!;
    if (this.ended) {
      this.ended.push({
        ...runningRecord(occupancy, slot.reservedAt, slot.keepalives),
        endedAt: now,
        outcome: historyOutcome(reason, status, error, slot.processLease),
        reason,
        status,
        error,
      });
      if (this.ended.length > this.historyMax) this.ended.shift();
    }
    this.setIdle(slot);
    this.tasks.delete(occupancy.taskId);
    // An occupancy ends once, so its key is new and insertion order stays end order.
    this.tombstones.set(occupancyKey(occupancy), { taskId: occupancy.taskId, slotId, token: occupancy.token, reason, endedAt: now });
    this.lastEnded.set(occupancy.taskId, occupancy.token);
    return { ...occupancy, reason, endedAt: now, status, error };
  }

  /**
   * The answer to an acquire of a task id that holds a slot: `ok` to its owner while the occupancy
   * has not lapsed, else `duplicate`; undefined when the task id holds none.
   */
  private heldBy(request: AcquireRequest, now: number): AcquireResult | undefined {
    const slotId = this.tasks.get(request.taskId);
    if (slotId === undefined) return undefined;
    const occupancy = this.slots.get(slotId)!.occupancy!;
    if (occupancy.owner === request.owner && !expiryReason(occupancy, now)) return { ok: true, occupancy: { ...occupancy } };
    return { ok: false, reason: 'duplicate', slotId, expiresAt: expiryOf(occupancy), now };
  }

  /**
   * Gives an idle slot to the first live waiter whose request lists it, dropping lapsed entries on
   * the way; publishes `granted`. Returns whether it did.
   */
  private grant(slotId: SlotId, slot: MemorySlot, now: number): boolean {
    for (const waiter of this.waiters.values()) {
      if (waiter.leaseUntil <= now) {
        this.waiters.delete(waiter.taskId);
        continue;
      }
      // A waiter whose task id holds a slot already (a pass started it meanwhile) keeps its place.
      if (!waiter.slots.some((s) => s.slotId === slotId) || this.tasks.has(waiter.taskId)) continue;
      this.waiters.delete(waiter.taskId);
      const occupancy = this.occupy(slotId, slot, waiter, now);
      this.publish({ type: 'granted', taskId: occupancy.taskId, token: occupancy.token, slotId });
      return true;
    }
    return false;
  }

  /** Starts a waiter's (or an acquire's) occupancy in an idle slot, reserved and started now under the next token. */
  private occupy(slotId: SlotId, slot: MemorySlot, waiter: Waiter, now: number): Occupancy {
    const limits = waiter.slots.find((s) => s.slotId === slotId)!;
    this.reserve(slotId, slot, waiter.owner, now, 0);
    return this.startIn(slotId, slot, { ...waiter, ...limits }, now);
  }

  /** Turns the slot's reservation into a running occupancy of the task: what `start` and a grant both do. */
  private startIn(
    slotId: SlotId,
    slot: MemorySlot,
    task: Pick<StartRequest, 'taskId' | 'backend' | 'timeoutMs' | 'maxRuntimeMs' | 'processLease'>,
    now: number,
  ): Occupancy {
    const occupancy: Occupancy = {
      slotId,
      token: slot.token,
      taskId: task.taskId,
      backend: task.backend,
      owner: slot.owner!,
      startedAt: now,
      lastKeepaliveAt: now,
      deadline: now + task.timeoutMs,
      maxDeadline: task.maxRuntimeMs === null ? null : now + task.maxRuntimeMs,
      timeoutMs: task.timeoutMs,
      maxRuntimeMs: task.maxRuntimeMs,
      cancelRequested: false,
    };
    slot.status = 'running';
    slot.leaseUntil = null;
    slot.occupancy = occupancy;
    slot.keepalives = 0;
    slot.processLease = task.processLease === true;
    this.tasks.set(task.taskId, slotId);
    return occupancy;
  }

  /** Reserves an idle slot for `owner` under the next token: how beginPass and `end` with `reserve` both do it. */
  private reserve(slotId: SlotId, slot: MemorySlot, owner: string, now: number, leaseMs: number): Reservation {
    slot.status = 'reserved';
    slot.token = ++this.lastToken;
    slot.owner = owner;
    slot.leaseUntil = now + leaseMs;
    slot.reservedAt = now;
    return { slotId, token: slot.token };
  }

  private setIdle(slot: MemorySlot): void {
    slot.status = 'idle';
    slot.owner = null;
    slot.leaseUntil = null;
    slot.occupancy = null;
    slot.reservedAt = null;
    slot.keepalives = 0;
    slot.processLease = false;
  }

  /** Delivered after the current call returns, as a store on a server would deliver it. */
  private publish(event: StoreEvent): void {
    setImmediate(() => this.events.emit('event', event));
  }

  /**
   * Logs a record handed to a caller, leased to it until now + leaseMs (replacing an earlier lease
   * of the same record); without a lease, nothing is logged. Returns a copy for the caller, so that
   * what it does to the record never changes the logged one.
   */
  private lease(record: EndedOccupancy, lease: DeliveryLease | undefined, now: number): EndedOccupancy {
    if (lease) this.deliveries.set(occupancyKey(record), { record, owner: lease.owner, dueAt: now + lease.leaseMs });
    return { ...record };
  }

  /** Removes delivered records from the log (synchronously: `end` does it in its own atomic step). */
  private forget(refs: readonly DeliveryRef[]): void {
    for (const ref of refs) this.deliveries.delete(occupancyKey(ref));
  }

  private pushOutbox(record: EndedOccupancy): void {
    this.outbox.push(record);
    if (this.outbox.length > this.outboxLimit) this.outbox.shift();
  }
}

/** An acquire request as a waiter (`leaseUntil` set by the caller when it queues). */
function toWaiter(request: AcquireRequest, now: number): Waiter {
  const { taskId, owner, backend, slots } = request;
  return { taskId, owner, backend, slots, processLease: request.processLease === true, leaseUntil: now };
}

/** `max_runtime` or `timeout` if the occupancy has passed that deadline at `now`, else null. */
function expiryReason(occupancy: Occupancy, now: number): 'timeout' | 'max_runtime' | null {
  if (occupancy.maxDeadline !== null && occupancy.maxDeadline <= now) return 'max_runtime';
  if (occupancy.deadline <= now) return 'timeout';
  return null;
}

/** The key of an occupancy in the delivery log and the tombstones: its task id and token, which no other occupancy shares. */
function occupancyKey(ref: DeliveryRef): string {
  return JSON.stringify([ref.taskId, ref.token]);
}

function isTimeout(reason: EndReason): boolean {
  return reason === 'timeout' || reason === 'max_runtime';
}
