import { performance } from 'node:perf_hooks';
import type { Backend, TaskContext } from '../contracts/backend.js';
import { expiryOf, type Occupancy, type Reservation, type SlotStore, type StartResult } from '../contracts/store.js';
import type { BackendCallbacks, Notify } from './backend-callbacks.js';
import { callWithTimeout } from '../core/call.js';
import type { SlotConfig } from './config.js';
import type { LocalTasks } from './local-tasks.js';
import { errorFields, type Logger } from '../core/logger.js';
import type { PassPoller } from './pass-poller.js';
import type { KeepaliveOutcome, PassReport, StopOptions, StopOutcomeResult } from '../contracts/results.js';
import type { StoreBatches } from './store-batches.js';

/** A slot to fill: its reservation, or the end that is keeping it (null if that end did not act). */
export interface PendingSlot {
  slotId: string;
  reservation: Reservation | Promise<Reservation | null>;
  /**
   * The local task whose end, still in flight, keeps this slot: while that task still counts
   * against `maxLocalTasks`, its place is this slot's, so the slot needs no room of its own.
   */
  ending?: { taskId: string; token: number };
}

/**
 * How long a backend is asked to wait before offering again a task whose start failed in the
 * store (a broken connection, a store error): long enough not to spin against a store that is
 * down, short enough that a blip costs little. Whether the task started is unknown then; if it
 * did, offering it again meets a `duplicate` that says how long to wait.
 */
export const storeErrorRetryMs = 1000;

/** What the filler needs from its scheduler. */
export interface SlotFillerDeps {
  backends: ReadonlyMap<string, Backend>;
  localTasks: LocalTasks;
  callbacks: BackendCallbacks;
  batches: StoreBatches;
  logger: Logger;
  notify: Notify;
  callbackTimeoutMs: number;
  maxLocalTasks: number;
  /** The store timeout of tasks of a backend that `runsInProcess`, when shorter than their slot's. */
  processLeaseMs: number;
  /** The task context's keepalive and stop: the scheduler's own. */
  keepalive(taskId: string, token: number): Promise<KeepaliveOutcome>;
  stop(taskId: string, options: StopOptions): Promise<StopOutcomeResult>;
  /** Whether the scheduler's stop of this occupancy, now, would keep its slot for a refill here. */
  stopKeepsSlot(taskId: string, token: number): boolean;
  /** Ends an occupancy whose startCallback failed, without refilling its slot at once. */
  startFailed(store: SlotStore, taskId: string, token: number, error: string): Promise<unknown>;
}

/**
 * Fills a scheduler's reserved slots, for its passes and its refill rounds alike: polls each
 * slot's backends in order, starts the first task id returned (the occupancy saved before
 * `startCallback` runs), releases the slots left empty, and keeps count against `maxLocalTasks`.
 */
export class SlotFiller {
  /** Fills under way: with the local tasks, what counts against `maxLocalTasks`. */
  private filling = 0;

  constructor(private readonly deps: SlotFillerDeps) {}

  /** How many more tasks the scheduler may start under `maxLocalTasks` (fills under way count). */
  room(): number {
    return this.deps.maxLocalTasks - this.deps.localTasks.size - this.filling;
  }

  /**
   * Fills reserved slots concurrently: polls of one backend still go in slot order (the poller
   * queues them), while the store round trips of different slots overlap. Releases the slots
   * left empty, and those a failure may have left reserved. A slot's reservation may still be on
   * its way (an end that keeps the slot, polled early for a backend that `claimsTasks`).
   */
  async fillReserved(
    store: SlotStore,
    pending: readonly PendingSlot[],
    slots: ReadonlyMap<string, SlotConfig>,
    poller: PassPoller,
    report: PassReport,
  ): Promise<void> {
    // Beyond maxLocalTasks, slots go back at once, before any poll claims work for them.
    let room = Math.max(0, this.room());
    const spare: PendingSlot[] = [];
    pending = pending.filter((slot) => {
      if (this.inheritsPlace(slot)) return true;
      if (room === 0) {
        spare.push(slot);
        return false;
      }
      room--;
      return true;
    });
    if (spare.length > 0) await this.releaseAll(store, spare, report);
    // How many reserved slots list each backend: the most ids a batch poll should ask for.
    const wanted = new Map<string, number>();
    for (const { slotId } of pending) {
      for (const backend of slots.get(slotId)!.backends) wanted.set(backend, (wanted.get(backend) ?? 0) + 1);
    }
    this.filling += pending.length;
    const outcomes = await Promise.allSettled(
      pending.map((slot) => this.fill(store, slot, slots.get(slot.slotId)!, poller, wanted).finally(() => this.filling--)),
    );
    // After an error (e.g. the store failed) the slot may still be reserved: release it too, or it lapses.
    const release = pending.filter((_, i) => outcomes[i]!.status === 'rejected' || (outcomes[i] as PromiseFulfilledResult<string>).value === 'empty');
    report.started += outcomes.filter((o) => o.status === 'fulfilled' && o.value === 'started').length;
    if (release.length > 0) await this.releaseAll(store, release, report);
    const failure = outcomes.find((o): o is PromiseRejectedResult => o.status === 'rejected');
    if (failure) throw failure.reason;
  }

  /**
   * Whether the slot takes the place of a local task that is ending (see {@link PendingSlot.ending}).
   * Once that task is gone, its place is free room like any other, and counted as such.
   */
  private inheritsPlace(slot: PendingSlot): boolean {
    return slot.ending !== undefined && this.deps.localTasks.get(slot.ending.taskId, slot.ending.token) !== undefined;
  }

  /** Releases these slots once their reservations are known (one round trip); counts them. */
  async releaseAll(store: SlotStore, pending: readonly PendingSlot[], report: PassReport): Promise<void> {
    const reservations = (await Promise.all(pending.map((slot) => slot.reservation))).filter((r): r is Reservation => r !== null);
    report.released += reservations.length;
    if (reservations.length > 0) await store.release(reservations);
  }

  /**
   * Polls the slot's backends in order and starts the first task id returned: `started`, or
   * `failed` (its startCallback failed; the slot is already free), or `empty` (nothing to run:
   * release it), or `lost` (the reservation lapsed: not ours to release). Every id polled and not
   * started goes back to its backend, with how long to wait before offering it again; if the store
   * throws on the start, the id goes back (`store_error`) before the error goes on to the pass.
   */
  private async fill(
    store: SlotStore,
    pending: PendingSlot,
    slot: SlotConfig,
    poller: PassPoller,
    wanted: ReadonlyMap<string, number>,
  ): Promise<'started' | 'failed' | 'empty' | 'lost'> {
    for (const backend of slot.backends) {
      for (;;) {
        const taskId = await poller.next(backend, pending.slotId, wanted.get(backend)!);
        if (taskId === null) break;
        const reservation = await pending.reservation;
        if (reservation === null) {
          // Polled early, and the end that was to keep the slot did not act: not ours to fill.
          poller.settled(taskId, 0);
          await this.deps.callbacks.reject(backend, taskId, 'reservation_lost', pending.slotId, 0);
          return 'lost';
        }
        // Before the request goes: the store's deadline is at least this plus the timeout.
        const sentAt = performance.now();
        // A task that runs in process holds its slot on the process lease, which this scheduler
        // renews while the task is within the slot's timeout: a crash frees the slot sooner.
        const inProcess = this.deps.backends.get(backend)!.runsInProcess && this.deps.processLeaseMs < slot.timeoutMs;
        let result: StartResult;
        try {
          result = await this.deps.batches.start(store, {
            ...reservation,
            taskId,
            backend,
            timeoutMs: inProcess ? this.deps.processLeaseMs : slot.timeoutMs,
            maxRuntimeMs: slot.maxRuntimeMs,
          });
        } catch (error) {
          // Claimed, maybe started, surely not launched: the backend must have it back.
          poller.settled(taskId, storeErrorRetryMs);
          await this.deps.callbacks.reject(backend, taskId, 'store_error', pending.slotId, storeErrorRetryMs);
          throw error;
        }
        if (result.ok) {
          poller.settled(taskId, expiryOf(result.occupancy) - result.occupancy.startedAt);
          return this.launch(store, result.occupancy, sentAt, inProcess ? slot.timeoutMs : undefined);
        }
        const retryAfterMs = result.reason === 'duplicate' ? duplicateRetryMs(result) : 0;
        poller.settled(taskId, retryAfterMs);
        await this.deps.callbacks.reject(backend, taskId, result.reason, pending.slotId, retryAfterMs);
        // A lapsed reservation may be someone else's slot now: nothing to fill, nothing to release.
        if (result.reason === 'reservation_lost') return 'lost';
      }
    }
    return 'empty';
  }

  /**
   * Runs `startCallback`: `started`; or `failed` when it throws, rejects or hangs (the occupancy
   * then ends with `start_failed`); or `lost` when the occupancy may have lapsed before it could
   * run (this process stalled), so the task is never started: its backend gets it back
   * (`lapsed`), and the store reaps the slot.
   * @param ownTimeoutMs - for a task that runs in process: its slot's timeout (the store has the lease)
   */
  private async launch(store: SlotStore, occupancy: Occupancy, sentAt: number, ownTimeoutMs?: number): Promise<'started' | 'failed' | 'lost'> {
    const { taskId, slotId, token } = occupancy;
    const backend = this.deps.backends.get(occupancy.backend)!;
    const local = this.deps.localTasks.add(
      { taskId, slotId, token, backend: occupancy.backend, occupancy },
      { sentAt, timeoutMs: occupancy.timeoutMs, maxRuntimeMs: occupancy.maxRuntimeMs, ...(ownTimeoutMs === undefined ? {} : { ownTimeoutMs }) },
    );
    const context: TaskContext = {
      taskId,
      slotId,
      token,
      backend: occupancy.backend,
      startedAt: occupancy.startedAt,
      deadline: occupancy.deadline,
      maxDeadline: occupancy.maxDeadline,
      get signal() {
        return local.controller.signal;
      },
      onAbort: (listener) => local.controller.onAbort(listener as (reason: unknown) => void),
      keepalive: () => this.deps.keepalive(taskId, token),
      stop: (options) => this.deps.stop(taskId, { ...options, token }),
      stopKeepsSlot: () => this.deps.stopKeepsSlot(taskId, token),
    };
    // One object for the log line and the error context: this runs for every task.
    const fields = { slotId, taskId, backend: occupancy.backend, token };
    this.deps.logger.info('task started', fields);
    this.deps.notify('task:start', occupancy);
    // Judged on the start's send time, as the lease is: a start whose reply (or this point) came
    // after the store's deadline may be in a slot another task holds by now.
    if (performance.now() >= sentAt + occupancy.timeoutMs - local.lease.marginMs) {
      this.deps.localTasks.remove(taskId, token);
      this.deps.logger.warn('task not started: its slot lapsed before startCallback could run (the process stalled)', fields);
      await this.deps.callbacks.reject(occupancy.backend, taskId, 'lapsed', slotId, 0);
      return 'lost';
    }
    try {
      await callWithTimeout(() => backend.startCallback(taskId, context), this.deps.callbackTimeoutMs, 'startCallback', fields);
    } catch (error) {
      // Told before the end is sent: once the store frees the slot another task may take it, and
      // anything the callback launched must already see its signal fired.
      this.deps.localTasks.abort(local, 'start_failed');
      this.deps.logger.error('start callback failed', { ...fields, ...errorFields(error) });
      this.deps.notify('callback:error', { backend: occupancy.backend, callback: 'startCallback', taskId, error: error as Error });
      await this.deps.startFailed(store, taskId, token, (error as Error).message);
      return 'failed';
    }
    return 'started';
  }
}

/** How long until the occupancy holding a duplicate's id can end by itself, by the store's clock. */
function duplicateRetryMs(result: Extract<StartResult, { reason: 'duplicate' }>): number {
  return Math.max(0, result.expiresAt - result.now);
}
