import { performance } from 'node:perf_hooks';
import type { Backend, TaskContext } from '../backends/backend.js';
import type { Occupancy, Reservation, SlotStore } from '../slots/store.js';
import type { BackendCallbacks, Notify } from './backend-callbacks.js';
import { callWithTimeout } from './call.js';
import type { SlotConfig } from './config.js';
import type { LocalTasks } from './local-tasks.js';
import { errorFields, type Logger } from './logger.js';
import type { PassPoller } from './pass-poller.js';
import type { KeepaliveOutcome, PassReport, StopOptions, StopOutcomeResult } from './results.js';
import type { StoreBatches } from './store-batches.js';

/** A slot to fill: its reservation, or the end that is keeping it (null if that end did not act). */
export interface PendingSlot {
  slotId: string;
  reservation: Reservation | Promise<Reservation | null>;
}

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
  /** The task context's keepalive and stop: the scheduler's own. */
  keepalive(taskId: string, token: number): Promise<KeepaliveOutcome>;
  stop(taskId: string, options: StopOptions): Promise<StopOutcomeResult>;
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
    const room = Math.max(0, this.room());
    const spare = pending.slice(room);
    pending = pending.slice(0, room);
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

  /** Releases these slots once their reservations are known (one round trip); counts them. */
  async releaseAll(store: SlotStore, pending: readonly PendingSlot[], report: PassReport): Promise<void> {
    const reservations = (await Promise.all(pending.map((slot) => slot.reservation))).filter((r): r is Reservation => r !== null);
    report.released += reservations.length;
    if (reservations.length > 0) await store.release(reservations);
  }

  /**
   * Polls the slot's backends in order and starts the first task id returned: `started`, or
   * `failed` (its startCallback failed; the slot is already free), or `empty` (nothing to run:
   * release it), or `lost` (the reservation lapsed: not ours to release).
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
          await this.deps.callbacks.reject(backend, taskId, 'reservation_lost', pending.slotId);
          return 'lost';
        }
        // Before the request goes: the store's deadline is at least this plus the timeout.
        const sentAt = performance.now();
        const request = { ...reservation, taskId, backend, timeoutMs: slot.timeoutMs, maxRuntimeMs: slot.maxRuntimeMs };
        const result = await this.deps.batches.start(store, request).catch(async (error: unknown) => {
          // The store went away (a restart, a partition): the polled id must go back to its
          // backend, or it is lost. Should the start have landed, its occupancy times out by then.
          await this.deps.callbacks.reject(backend, taskId, 'store_error', pending.slotId, slot.timeoutMs);
          throw error;
        });
        if (result.ok) {
          return (await this.launch(store, result.occupancy, sentAt)) ? 'started' : 'failed';
        }
        await this.deps.callbacks.reject(backend, taskId, result.reason, pending.slotId);
        // A lapsed reservation may be someone else's slot now: nothing to fill, nothing to release.
        if (result.reason === 'reservation_lost') return 'lost';
      }
    }
    return 'empty';
  }

  /**
   * Runs `startCallback`; if it throws, rejects or hangs, the occupancy ends with `start_failed`.
   * True if the task started.
   */
  private async launch(store: SlotStore, occupancy: Occupancy, sentAt: number): Promise<boolean> {
    const { taskId, slotId, token } = occupancy;
    const backend = this.deps.backends.get(occupancy.backend)!;
    const local = this.deps.localTasks.add(
      { taskId, slotId, token, backend: occupancy.backend, occupancy },
      { sentAt, timeoutMs: occupancy.timeoutMs, maxRuntimeMs: occupancy.maxRuntimeMs },
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
    };
    // One object for the log line and the error context: this runs for every task.
    const fields = { slotId, taskId, backend: occupancy.backend, token };
    this.deps.logger.info('task started', fields);
    this.deps.notify('task:start', occupancy);
    try {
      await callWithTimeout(() => backend.startCallback(taskId, context), this.deps.callbackTimeoutMs, 'startCallback', fields);
    } catch (error) {
      this.deps.logger.error('start callback failed', { ...fields, ...errorFields(error) });
      this.deps.notify('callback:error', { backend: occupancy.backend, callback: 'startCallback', taskId, error: error as Error });
      await this.deps.startFailed(store, taskId, token, (error as Error).message);
      return false;
    }
    return true;
  }
}
