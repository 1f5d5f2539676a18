/**
 * The path of a task id through a scheduler, top to bottom: a round fills reserved slots (poll →
 * start → `startCallback`), the task keeps its slot alive, its stop ends the occupancy and keeps
 * the slot for a refill round, and its end is delivered. Passes (reserve, reap, reconcile) are the
 * Scheduler's; they hand their reserved slots to {@link TaskPath.round} and {@link TaskPath.fillReserved}.
 */
import { performance } from 'node:perf_hooks';
import { abortCauseOfEnd, abortCauseOfLost } from '../contracts/abort-cause.js';
import { acquireBackend } from './acquired-tasks.js';
import type { TaskContext } from '../contracts/backend.js';
import type { CancelOutcome, KeepaliveOutcome, LostOutcome, PassReport, StopOptions, StopOutcomeResult } from '../contracts/results.js';
import {
  expiryOf,
  type DeliveryLease,
  type EndedOccupancy,
  type EndRequest,
  type EndResult,
  type KeepaliveResult,
  type Lost,
  type NextStart,
  type Occupancy,
  type Reservation,
  type SlotStore,
  type StartResult,
  type TaskRef,
} from '../contracts/store.js';
import { BatchQueue } from '../core/batch-queue.js';
import { callWithTimeout } from '../core/call.js';
import { ConfigError, preview, toError } from '../core/errors.js';
import { errorFields } from '../core/logger.js';
import { fieldsOf, type BackendCallbacks } from './backend-callbacks.js';
import type { SlotConfig } from './config.js';
import type { LocalTask } from './local-tasks.js';
import { PassPoller } from './pass-poller.js';
import type { SchedulerParts } from './scheduler-state.js';
import type { StoreBatches } from './store-batches.js';
import type { StoreClocks } from './store-clocks.js';

/**
 * How long a backend is asked to wait before offering again a task whose start failed in the
 * store (a broken connection, a store error): long enough not to spin against a store that is
 * down, short enough that a blip costs little. Whether the task started is unknown then; if it
 * did, offering it again meets a `duplicate` that says how long to wait.
 */
export const storeErrorRetryMs = 1000;

/** A slot to fill: its reservation, or the end that is keeping it (null if that end did not act). */
export interface PendingSlot {
  slotId: string;
  reservation: Reservation | Promise<Reservation | null>;
  /**
   * The local task whose end, still in flight, keeps this slot: while that task still counts
   * against `maxLocalTasks`, its place is this slot's, so the slot needs no room of its own.
   */
  ending?: { taskId: string; token: number };
  /** That end, when it waits for the slot's poll to carry the next task (see {@link PendingEnd}). */
  handover?: PendingEnd;
}

/**
 * An end that keeps its slot, held back until the refill round has polled the slot's first
 * backend, so that it carries the task polled (`EndRequest.next`): the end and the next start
 * then cost one round trip. Sent once: with the task polled, or as it is when there is none (or
 * the slot is released, or the round fails); `reservation` and `result` settle after that.
 */
export class PendingEnd {
  private sent: Promise<EndResult> | undefined;
  private settle!: (result: Promise<EndResult>) => void;
  /** The end's result, once sent and answered. */
  readonly result = new Promise<EndResult>((resolve) => (this.settle = resolve));
  /** Settles once the ending task's callbacks ran (or were left to another process): the next task's start waits for it. */
  readonly finished: Promise<void>;
  /** Settles {@link finished}. */
  readonly finish: () => void;

  constructor(private readonly send: (next?: NextStart) => Promise<EndResult>) {
    let finish!: () => void;
    this.finished = new Promise((resolve) => (finish = resolve));
    this.finish = finish;
  }

  get unsent(): boolean {
    return this.sent === undefined;
  }

  /** Set once the refill round asked the slot's backend for its next task: the end may wait a turn for the answer. */
  polling = false;

  /** The store whose refill queue the slot waits in, behind the round under way (see {@link TaskPath.holdBack}). */
  awaitingRound: SlotStore | undefined;

  /** Sends the end, carrying `next` if given; after the first call, the same end. */
  go(next?: NextStart): Promise<EndResult> {
    if (!this.sent) {
      this.sent = this.send(next);
      this.settle(this.sent);
    }
    return this.sent;
  }
}

/** A pending slot's reservation, once known: an end held back for the slot's poll is sent first. */
function reservationOf(slot: PendingSlot): Reservation | Promise<Reservation | null> {
  // Its failure reaches the stop that waits for it, and the reservation reads it as null.
  void slot.handover?.go();
  return slot.reservation;
}

/** What a stop reported, carried to the stopCallback when the occupancy turns out lost. */
export interface StopReport {
  status: string | null;
  error: string | null;
}

/** The parts of a scheduler the task path works with. */
export interface TaskPathParts extends SchedulerParts {
  owner: string;
  callbacks: BackendCallbacks;
  batches: StoreBatches;
  storeClocks: StoreClocks;
  /** Asks for a pass soon (ignored unless loaded and open; never throws). */
  requestPass(): void;
}

/** A slot kept by a local stop, waiting for its refill round. */
interface KeptSlot extends PendingSlot {
  store: SlotStore;
}

export class TaskPath {
  /** Fills under way: with the local tasks, what counts against `maxLocalTasks`. */
  private filling = 0;
  private renewingLeases = false;
  /** Deliveries running their callbacks here, and who waits for none to be left (see {@link deliveriesDone}). */
  private delivering = 0;
  private deliveriesIdle: (() => void) | undefined;
  /** Pass rounds begun so far: a refill learns from it whether one ran while it held its slots. */
  private passesBegun = 0;
  /**
   * Slots that a local task's stop kept reserved for this scheduler, refilled in rounds without a
   * pass, per store: as many rounds at a time as the store has lanes (SlotStore.batchLanes), so
   * that with two this process works on one round's tasks while the other's store call is on its
   * way; the slots freed meanwhile go together in the next round, so their polls and store calls
   * batch. This is the hot path of a busy scheduler: no reserve round trip, and no wait for the
   * pass under way.
   */
  private readonly keptSlots = new Map<SlotStore, BatchQueue<KeptSlot, void>>();
  /** Keepalives, stops and cancels on their way to a store: close() lets them land (see {@link callsSettled}). */
  private readonly callsUnderWay = new Set<Promise<unknown>>();
  /** Ends held back for their slot's poll in this turn of the event loop (see {@link holdBack}). */
  private readonly heldEnds = new Set<PendingEnd>();
  private heldEndsSweep: NodeJS.Immediate | undefined;
  /** How `end` asks a store to keep a freed slot for this scheduler. */
  private readonly reserve: NonNullable<EndRequest['reserve']>;
  /** How `end` asks a store to lease the ended records this scheduler delivers (see EndRequest.delivery). */
  private readonly delivery: DeliveryLease;

  constructor(private readonly parts: TaskPathParts) {
    this.reserve = Object.freeze({ owner: parts.owner, leaseMs: parts.options.reservationTimeoutMs });
    this.delivery = Object.freeze({ owner: parts.owner, leaseMs: parts.options.deliveryLeaseMs });
  }

  /** How many more tasks the scheduler may start under `maxLocalTasks` (fills under way count). */
  room(): number {
    return this.parts.options.maxLocalTasks - this.parts.localTasks.size - this.filling;
  }

  /** Resolves once no refill round is under way or waiting. */
  async refillsDrained(): Promise<void> {
    // A store's first kept slot may make its queue while the others drain.
    for (let seen = -1; seen !== this.keptSlots.size;) {
      seen = this.keptSlots.size;
      await Promise.all([...this.keptSlots.values()].map((queue) => queue.drained()));
    }
  }

  /**
   * Resolves once the keepalives, stops and cancels sent so far have landed (not those sent
   * meanwhile: a process that forwards a stream of them would hold it forever), and the refill
   * rounds their ends began are done (while closing, a round gives its kept slots back): before
   * the stores close, so that a task stopped just before close() ends `stopped`, its slot free,
   * rather than its end failing on a closed connection and the slot left reserved.
   */
  async callsSettled(): Promise<void> {
    await Promise.allSettled([...this.callsUnderWay]);
    await this.refillsDrained();
  }

  /** `call`, counted among the calls under way until it settles. */
  private underWay<T>(call: Promise<T>): Promise<T> {
    this.callsUnderWay.add(call);
    const settled = () => this.callsUnderWay.delete(call);
    call.then(settled, settled);
    return call;
  }

  /**
   * Resolves once no end is having its callbacks run here (each is bounded by `callbackTimeout`)
   * and acknowledged: what a shutdown waits for before it closes the backends and stores.
   */
  deliveriesDone(): Promise<void> {
    if (this.delivering === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const before = this.deliveriesIdle;
      this.deliveriesIdle = () => {
        before?.();
        resolve();
      };
    });
  }

  // --- rounds: poll → start → startCallback ------------------------------------------------------

  /**
   * Runs one pass or refill round with its own poller: afterwards, hands back the ids polled and
   * not started, and emits the report.
   */
  async round(event: 'pass:end' | 'refill:end', fill: (poller: PassPoller, report: PassReport) => Promise<void>): Promise<PassReport> {
    const { state, options, logger, notify, callbacks } = this.parts;
    if (event === 'pass:end') this.passesBegun++;
    const began = performance.now();
    const report: PassReport = { started: 0, ended: 0, released: 0, polls: 0, durationMs: 0 };
    const poller = new PassPoller(state.backends, options.pollTimeoutMs, {
      answered: (end) => notify('poll:end', end),
      failed: (backend, slotId, error) => {
        logger.error('poll failed', { backend, slotId, ...errorFields(error) });
        notify('poll:error', { backend, slotId, error });
      },
    });
    try {
      await fill(poller, report);
    } finally {
      for (const { backend, taskId, slotId, reason, retryAfterMs, problem } of poller.unstarted()) {
        if (problem) logger.warn('polled task id breaks the task-id grammar', { backend, slotId, taskId: preview(taskId), problem });
        await callbacks.reject(backend, taskId, reason, slotId, retryAfterMs);
      }
      report.polls = poller.polls;
      report.durationMs = performance.now() - began;
    }
    // A backend that does not mark its tasks until startCallback repeats ids within a round; now
    // that those started, it may have more: pass again. Only after progress, so this cannot spin.
    if (poller.sawRepeat && report.started > 0) this.parts.requestPass();
    notify(event, report);
    return report;
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
    // Counted now: a round running beside this one sees the room these slots take.
    this.filling += pending.length;
    try {
      if (spare.length > 0) await this.releaseAll(store, spare, report);
    } catch (error) {
      this.filling -= pending.length;
      throw error;
    }
    // How many reserved slots list each backend: the most ids a batch poll should ask for.
    const wanted = new Map<string, number>();
    for (const { slotId } of pending) {
      for (const backend of slots.get(slotId)!.backends) wanted.set(backend, (wanted.get(backend) ?? 0) + 1);
    }
    const outcomes = await Promise.allSettled(
      pending.map((slot) => this.fill(store, slot, slots.get(slot.slotId)!, poller, wanted).finally(() => this.filling--)),
    );
    // After an error (e.g. the store failed) the slot may still be reserved: release it too, or it lapses.
    const release = pending.filter(
      (_, i) => outcomes[i]!.status === 'rejected' || (outcomes[i] as PromiseFulfilledResult<string>).value === 'empty',
    );
    report.started += outcomes.filter((o) => o.status === 'fulfilled' && o.value === 'started').length;
    if (release.length > 0) await this.releaseAll(store, release, report);
    const failure = outcomes.find((o): o is PromiseRejectedResult => o.status === 'rejected');
    if (failure) throw failure.reason;
  }

  /** Releases these slots once their reservations are known (one round trip); counts them. */
  async releaseAll(store: SlotStore, pending: readonly PendingSlot[], report: PassReport): Promise<void> {
    const reservations = (await Promise.all(pending.map(reservationOf))).filter((r): r is Reservation => r !== null);
    report.released += reservations.length;
    if (reservations.length > 0) await store.release(reservations);
  }

  /**
   * Whether the slot takes the place of a local task that is ending (see {@link PendingSlot.ending}).
   * Once that task is gone, its place is free room like any other, and counted as such.
   */
  private inheritsPlace(slot: PendingSlot): boolean {
    return slot.ending !== undefined && this.parts.localTasks.get(slot.ending.taskId, slot.ending.token) !== undefined;
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
    const { state, options, callbacks, batches } = this.parts;
    for (const backend of slot.backends) {
      // Only a backend that claims what it polls is polled before the end that keeps the slot:
      // another may still offer the ending task, until its callbacks ran (a stopCallback may mark it done).
      if (pending.handover && !state.backends.get(backend)!.claimsTasks) {
        void reservationOf(pending);
        await pending.handover.finished;
      }
      for (;;) {
        // A shutdown began: nothing more is claimed, and the slot goes back (released as empty).
        if (state.closing) return 'empty';
        if (pending.handover?.unsent) pending.handover.polling = true;
        const taskId = await poller.next(backend, pending.slotId, wanted.get(backend)!);
        if (taskId === null) break;
        if (state.closing) {
          poller.settled(taskId, 0);
          await callbacks.reject(backend, taskId, 'unused', pending.slotId, 0);
          return 'empty';
        }
        // A task that runs in process holds its slot on the process lease, which this scheduler
        // renews while the task is within the slot's timeout: a crash frees the slot sooner.
        const inProcess = state.backends.get(backend)!.runsInProcess && options.processLeaseMs < slot.timeoutMs;
        const next: NextStart = {
          taskId,
          backend,
          timeoutMs: inProcess ? options.processLeaseMs : slot.timeoutMs,
          maxRuntimeMs: slot.maxRuntimeMs,
          // The store's history tells a lapsed process lease (`dropped`) from the task's own timeout.
          processLease: inProcess,
        };
        // Before the request goes: the store's deadline is at least this plus the timeout.
        const sentAt = performance.now();
        let result: StartResult | undefined;
        let reservation: Reservation | null;
        const handover = pending.handover?.unsent ? pending.handover : undefined;
        if (handover) {
          // The end that keeps the slot goes now, with this task to start in it. Its answer is
          // read after the stop's own reading of it: the ending task's callbacks begin first.
          void handover.go(next);
          let ended: EndResult;
          try {
            ended = await handover.result;
          } catch (error) {
            // The end failed, the task with it maybe started: the backend must have it back.
            poller.settled(taskId, storeErrorRetryMs);
            await callbacks.reject(backend, taskId, 'store_error', pending.slotId, storeErrorRetryMs);
            throw error;
          }
          reservation = (ended.ok && ended.reserved) || null;
          if (ended.ok) result = ended.next;
        } else reservation = await reservationOf(pending);
        if (reservation === null) {
          // Polled before the end that was to keep the slot, and that end did not act (or failed): not ours to fill.
          poller.settled(taskId, 0);
          await callbacks.reject(backend, taskId, 'reservation_lost', pending.slotId, 0);
          return 'lost';
        }
        try {
          // Unless it started with the end: a store may leave that to a start of its own.
          result ??= await batches.start(store, { ...reservation, ...next });
        } catch (error) {
          // Claimed, maybe started, surely not launched: the backend must have it back.
          poller.settled(taskId, storeErrorRetryMs);
          await callbacks.reject(backend, taskId, 'store_error', pending.slotId, storeErrorRetryMs);
          throw error;
        }
        if (result.ok) {
          poller.settled(taskId, expiryOf(result.occupancy) - result.occupancy.startedAt);
          return this.launch(store, result.occupancy, sentAt, inProcess ? slot.timeoutMs : undefined);
        }
        // The holder of a duplicate ends by itself by then, by the store's clock.
        const retryAfterMs = result.reason === 'duplicate' ? Math.max(0, result.expiresAt - result.now) : 0;
        poller.settled(taskId, retryAfterMs);
        await callbacks.reject(backend, taskId, result.reason, pending.slotId, retryAfterMs);
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
  private async launch(
    store: SlotStore,
    occupancy: Occupancy,
    sentAt: number,
    ownTimeoutMs?: number,
  ): Promise<'started' | 'failed' | 'lost'> {
    const { state, options, logger, notify, localTasks, callbacks } = this.parts;
    const { taskId, slotId, token } = occupancy;
    const backend = state.backends.get(occupancy.backend)!;
    const local = localTasks.add(
      { taskId, slotId, token, backend: occupancy.backend, runsInProcess: backend.runsInProcess, occupancy },
      {
        sentAt,
        timeoutMs: occupancy.timeoutMs,
        maxRuntimeMs: occupancy.maxRuntimeMs,
        ...(ownTimeoutMs === undefined ? {} : { ownTimeoutMs }),
      },
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
      keepalive: () => this.keepalive({ taskId, token }),
      stop: (stopOptions) => this.stop({ taskId, token }, stopOptions ?? {}),
      stopKeepsSlot: () => this.keepable({ taskId, token }) !== undefined,
    };
    // One object for the log line and the error context: this runs for every task.
    const fields = { slotId, taskId, backend: occupancy.backend, token };
    logger.info('task started', fields);
    notify('task:start', occupancy);
    // Judged on the start's send time, as the lease is: a start whose reply (or this point) came
    // after the store's deadline may be in a slot another task holds by now.
    if (performance.now() >= sentAt + occupancy.timeoutMs - local.lease.marginMs) {
      localTasks.remove(taskId, token);
      logger.warn('task not started: its slot lapsed before startCallback could run (the process stalled)', fields);
      await callbacks.reject(occupancy.backend, taskId, 'lapsed', slotId, 0);
      return 'lost';
    }
    try {
      await callWithTimeout(() => backend.startCallback(taskId, context), options.callbackTimeoutMs, 'startCallback', fields);
    } catch (error) {
      // Told before the end is sent: once the store frees the slot another task may take it, and
      // anything the callback launched must already see its signal fired.
      localTasks.abort(local, 'start_failed');
      logger.error('start callback failed', { ...fields, ...errorFields(error) });
      notify('callback:error', { backend: occupancy.backend, callback: 'startCallback', taskId, error: error as Error });
      // No instant refill: a source that keeps handing out a task that cannot start would spin.
      // The slot waits for the next tick (the Python original's defect 11).
      await this.end({ taskId, token, reason: 'start_failed', error: (error as Error).message }, store, false);
      return 'failed';
    }
    return 'started';
  }

  // --- keepalive, stop, cancel --------------------------------------------------------------------

  /** The Scheduler's `keepalive`, for a reference it checked. */
  keepalive(ref: TaskRef): Promise<KeepaliveOutcome> {
    return this.underWay(this.sendKeepalive(ref));
  }

  private async sendKeepalive(ref: TaskRef): Promise<KeepaliveOutcome> {
    const { state, localTasks, callbacks } = this.parts;
    const renewing = localTasks.get(ref.taskId, ref.token);
    const sentAt = renewing ? localTasks.renewalSent(renewing) : 0;
    let result: KeepaliveResult;
    try {
      result = await state.firstAnswer((store) => store.keepalive(ref));
    } catch (error) {
      if (renewing) localTasks.renewalFailedToAnswer(renewing);
      throw error;
    }
    if (renewing) {
      localTasks.renewalAnswered(renewing, sentAt, result.ok);
      if (result.ok) localTasks.ownKeepalive(renewing, sentAt);
    }
    if (!result.ok) return this.lost(ref.taskId, result, ref.token);
    const { occupancy } = result;
    const local = localTasks.get(ref.taskId, occupancy.token);
    if (local) {
      local.occupancy = occupancy;
      if (occupancy.cancelRequested) localTasks.abort(local, 'cancel_requested');
    }
    const backend = state.backends.get(occupancy.backend);
    if (backend) await callbacks.run('keepaliveCallback', occupancy, () => backend.keepaliveCallback(ref.taskId, occupancy));
    return { ok: true, ...occupancy };
  }

  /** The Scheduler's `stop`, for a reference it checked, and a task context's. */
  stop(ref: TaskRef, options: StopOptions): Promise<StopOutcomeResult> {
    return this.underWay(this.sendStop(ref, options));
  }

  private async sendStop(ref: TaskRef, options: StopOptions): Promise<StopOutcomeResult> {
    if (options.status !== undefined && typeof options.status !== 'string') {
      throw new ConfigError('stop(options.status)', options.status, 'allowed: a string such as "succeeded" or "failed"');
    }
    const { localTasks } = this.parts;
    const local = localTasks.get(ref.taskId, ref.token);
    if (local) local.stopping = true;
    const report = {
      status: options.status ?? null,
      error: options.error instanceof Error ? options.error.message : (options.error ?? null),
    };
    try {
      const result = await this.end({ ...ref, reason: 'stopped', ...report });
      if (!result.ok) return await this.lost(ref.taskId, result, ref.token, report);
      return { ok: true, delivered: result.delivered, ...result.ended };
    } catch (error) {
      // Unanswered, like a failed keepalive: should the lease end so, the task was cut off (`lost`).
      if (local) localTasks.renewalFailedToAnswer(local, false);
      throw error;
    } finally {
      // Ended or not, the stop is over: a stop that failed (the store unreachable) leaves the task
      // to the passes, which find what became of it, rather than stuck against maxLocalTasks.
      if (local) local.stopping = false;
    }
  }

  /** The Scheduler's `cancel`, for a reference it checked. */
  cancel(ref: TaskRef): Promise<CancelOutcome> {
    return this.underWay(this.sendCancel(ref));
  }

  private async sendCancel(ref: TaskRef): Promise<CancelOutcome> {
    const { state, localTasks, logger } = this.parts;
    const result = await state.firstAnswer((store) => store.requestCancel(ref));
    if (!result.ok) return this.lost(ref.taskId, result, ref.token);
    const local = localTasks.get(ref.taskId, result.occupancy.token);
    if (local) localTasks.abort(local, 'cancel_requested');
    logger.info('cancel requested', { taskId: ref.taskId, slotId: result.occupancy.slotId, token: result.occupancy.token });
    return { ok: true, alreadyRequested: result.alreadyRequested, ...result.occupancy };
  }

  /**
   * Renews the process lease of this process's tasks that run in process, while each is within
   * its own timeout (see LocalTasks.leasesToRenew). A renewal the store refuses tells the task it
   * lost its slot; one that fails leaves the lease to lapse, and the task is told before the store
   * can reap it. Never throws; never two rounds at once.
   */
  async renewLeases(): Promise<void> {
    if (this.renewingLeases || this.parts.state.storesClosed) return;
    this.renewingLeases = true;
    try {
      await Promise.all(
        this.parts.localTasks.leasesToRenew().map(async (local) => {
          const sentAt = this.parts.localTasks.renewalSent(local);
          let result: KeepaliveResult;
          try {
            result = await this.parts.state.firstAnswer((store) => store.keepalive({ taskId: local.taskId, token: local.token }));
          } catch (error) {
            this.parts.localTasks.renewalFailedToAnswer(local);
            this.parts.logger.warn('process lease renewal failed', {
              taskId: local.taskId,
              slotId: local.slotId,
              token: local.token,
              ...errorFields(error),
            });
            return;
          }
          this.parts.localTasks.renewalAnswered(local, sentAt, result.ok);
          if (!result.ok) await this.lost(local.taskId, result, local.token);
          else if (result.occupancy.cancelRequested) this.parts.localTasks.abort(local, 'cancel_requested');
        }),
      );
    } finally {
      this.renewingLeases = false;
    }
  }

  // --- ends: the store's end, the callbacks, the refill --------------------------------------------

  /**
   * Ends an occupancy in its store (or the first store that knows the task), then delivers the
   * callbacks here when the store says this process can, and refills the freed slot.
   */
  async end(
    request: Omit<EndRequest, 'deliverable' | 'delivery' | 'reserve' | 'retentionMs'>,
    store?: SlotStore,
    refill = true,
  ): Promise<EndResult> {
    const { state, localTasks } = this.parts;
    // A task that runs here in a slot of the config: its store keeps the slot for us to refill.
    const keep = refill ? this.keepable(request) : undefined;
    const local = localTasks.get(request.taskId, request.token);
    // The end of a task acquired here has no callbacks to lease: no delivery log entry, no acknowledgement.
    const leased = local?.backend !== acquireBackend;
    const full: EndRequest = {
      ...request,
      deliverable: state.deliverable,
      retentionMs: this.parts.options.endedRetentionMs,
      ...(leased ? { delivery: this.delivery } : {}),
      ...(keep ? { reserve: this.reserve } : {}),
    };
    // An end held back for the refill's poll (see PendingEnd): finished once its callbacks ran.
    let handover: PendingEnd | undefined;
    try {
      return await this.endAndDeliver(request, full, keep, store, refill, (h) => (handover = h));
    } finally {
      handover?.finish();
    }
  }

  /** {@link end}'s body; `held` is told of an end held back for the refill's poll. */
  private async endAndDeliver(
    request: Omit<EndRequest, 'deliverable' | 'delivery' | 'reserve' | 'retentionMs'>,
    full: EndRequest,
    keep: ReturnType<TaskPath['keepable']>,
    store: SlotStore | undefined,
    refill: boolean,
    held: (handover: PendingEnd) => void,
  ): Promise<EndResult> {
    const { state, batches, localTasks, logger } = this.parts;
    const local = localTasks.get(request.taskId, request.token);
    const leased = full.delivery !== undefined;
    // The store that ended it, which the delivery is acknowledged to.
    let endedIn = keep?.store ?? store;
    let early = false;
    let result: EndResult;
    // Before the request goes: the store leases the ended record from no earlier than this.
    const sentAt = performance.now();
    if (keep) {
      // A first backend that claims what it polls may be polled before the end (Backend.claimsTasks),
      // which then waits for that poll to carry the task polled: one round trip between two tasks.
      early = state.backends.get(keep.slot.backends[0]!)?.claimsTasks === true;
      if (early) {
        const handover = new PendingEnd((next) => batches.end(keep.store, next ? { ...full, next } : full));
        held(handover);
        const reservation = handover.result.then(
          (r) => (r.ok && r.reserved) || null,
          () => null,
        );
        // The ending task's place is the kept slot's before the end lands, at maxLocalTasks too.
        const { taskId, token } = keep.local;
        handover.awaitingRound = keep.store;
        void this.keepSlot({ store: keep.store, slotId: keep.slot.slotId, reservation, ending: { taskId, token }, handover });
        this.holdBack(handover);
        result = await handover.result;
      } else result = await batches.end(keep.store, full);
    } else {
      // A store this scheduler does not serve must tell the schedulers that do, so they refill at
      // once; so must any store while this scheduler closes, as it refills nothing any more.
      const notify = (s: SlotStore) => state.closing || !state.servedStores.has(s);
      const endIn = (s: SlotStore) => ((endedIn = s), s.end({ ...full, notify: notify(s) }));
      // A task that runs here is in a known store: its end joins the batch of the ends under way there.
      const localStore = !store && local ? state.storeOfSlot(local.slotId) : undefined;
      if (localStore) {
        await state.ensureStore(); // closed: throws, as for any task
        result = await batches.end((endedIn = localStore), { ...full, notify: notify(localStore) });
      } else result = store ? await endIn(store) : await state.firstAnswer(endIn);
    }
    if (!result.ok) return result;
    // Callbacks first: a backend may mark the task done in stopCallback, and a poll before that
    // could hand out the same task again.
    if (!result.delivered) {
      localTasks.remove(result.ended.taskId, result.ended.token, abortCauseOfEnd(result.ended.reason));
      logger.info('task ended; callbacks left to a scheduler with its backend', fieldsOf(result.ended));
    } else if (!leased) await this.parts.callbacks.deliver(result.ended);
    else if (!(await this.deliverLeased(endedIn!, result.ended, sentAt))) result = { ...result, delivered: false };
    if (keep && result.reserved) {
      if (!early) void this.keepSlot({ store: keep.store, slotId: result.reserved.slotId, reservation: result.reserved });
    } else if (refill && (state.slots.get(result.ended.slotId)?.backends.length ?? 0) > 0) this.parts.requestPass();
    return result;
  }

  /** Queues a kept slot for its store's next refill round. */
  private keepSlot(kept: KeptSlot): Promise<void> {
    let queue = this.keptSlots.get(kept.store);
    if (!queue)
      this.keptSlots.set(kept.store, (queue = new BatchQueue((slots) => this.refill(kept.store, slots), kept.store.batchLanes ?? 1)));
    return queue.push(kept);
  }

  /**
   * Holds an end back for its slot's poll: to the end of this turn of the event loop, and one
   * turn more for an end whose poll is under way, since the replies that came in while this turn
   * ran (a Redis LPOP's, say) are read in the next. A poll that answers by then rides on the end;
   * one that answers later (a database claim) would only delay it, so the ends still unsent then
   * go alone, beside their polls, and their slots' starts follow. They go together, in one batch.
   */
  private holdBack(handover: PendingEnd): void {
    this.heldEnds.add(handover);
    this.heldEndsSweep ??= setImmediate(() => {
      this.heldEndsSweep = undefined;
      const polling: PendingEnd[] = [];
      for (const held of this.heldEnds) {
        // Its slot's round waits behind the one under way. While the store's ends are all on
        // their way (that round's, say), an end sent alone would only wait behind them, and its
        // start follow as a call of its own: it waits for its round, which holds it back again
        // for its poll. No longer than that, since the round under way may wait for it (a task
        // that stops itself in its startCallback): once a lane is free, a turn later, it goes.
        const busy = held.awaitingRound && held.unsent ? this.parts.batches.endsBusy(held.awaitingRound) : undefined;
        if (busy) {
          void busy.then(() => setImmediate(() => held.awaitingRound && void held.go()));
          continue;
        }
        if (held.polling && held.unsent) polling.push(held);
        else void held.go();
      }
      this.heldEnds.clear();
      if (polling.length > 0) setImmediate(() => polling.forEach((held) => void held.go()));
    });
  }

  /**
   * Delivers an end that `store` leased to this scheduler by a call sent at `sentAt` (an end, or a
   * pass), if the lease still outlasts its callbacks (`timeoutCallback` and `stopCallback`, each up
   * to `callbackTimeout`). The store leased it from no earlier than `sentAt`: a call held up on the
   * way (a stalled store, a lock, a starved process) can answer with a lease about to lapse, or
   * lapsed, and another scheduler's pass may then take the record and run the callbacks too. Such
   * an end is left in the store's delivery log, for the pass that takes it once the lease lapses:
   * later, but once. A store without a delivery log never hands an end out again: it is run here.
   * Returns whether the callbacks ran here.
   */
  async deliverLeased(store: SlotStore, ended: EndedOccupancy, sentAt: number): Promise<boolean> {
    const { callbackTimeoutMs, deliveryLeaseMs } = this.parts.options;
    const callbacksMs = (ended.reason === 'timeout' || ended.reason === 'max_runtime' ? 2 : 1) * callbackTimeoutMs;
    const waitedMs = performance.now() - sentAt;
    if (store.acknowledge && waitedMs + callbacksMs >= deliveryLeaseMs) {
      this.parts.localTasks.remove(ended.taskId, ended.token, abortCauseOfEnd(ended.reason));
      this.parts.logger.warn('end left to redelivery: the store answered too late to run its callbacks within their delivery lease', {
        ...fieldsOf(ended),
        waitedMs: Math.round(waitedMs),
        deliveryLeaseMs,
      });
      return false;
    }
    await this.deliver(store, ended);
    return true;
  }

  /**
   * Runs the callbacks of an ended record a store handed to this scheduler, then acknowledges it
   * (on the store's next ends, not awaited): the store's delivery log then forgets it. Whatever the
   * callbacks threw, the record counts as delivered; only a crash before the acknowledgement makes
   * the store hand it out again, once its delivery lease lapses.
   */
  async deliver(store: SlotStore, ended: EndedOccupancy): Promise<void> {
    this.delivering++;
    try {
      await this.parts.callbacks.deliver(ended);
      this.parts.batches.acknowledge(store, { taskId: ended.taskId, token: ended.token });
    } finally {
      if (--this.delivering === 0 && this.deliveriesIdle) {
        const idle = this.deliveriesIdle;
        this.deliveriesIdle = undefined;
        idle();
      }
    }
  }

  /**
   * One round over slots kept reserved by local stops: like a pass's fill, minus the reserve
   * round trip, the reaping and the reconcile (the cron's passes still do those). Slots no longer
   * in the config, or kept while closing, are released. Never throws: failures are logged and
   * emitted as `pass:error`, and the slots' leases are the safety net.
   */
  private async refill(store: SlotStore, kept: readonly KeptSlot[]): Promise<void[]> {
    const { state, logger, notify } = this.parts;
    const config = state.slots;
    const passesBefore = this.passesBegun;
    for (const k of kept) {
      if (!k.handover?.awaitingRound) continue;
      k.handover.awaitingRound = undefined;
      this.holdBack(k.handover);
    }
    const report = await this.round('refill:end', async (poller, report) => {
      try {
        const fillable = state.closing
          ? []
          : kept.filter((k) => config.get(k.slotId)?.slotCls !== undefined && state.stores.get(config.get(k.slotId)!.slotCls) === store);
        const dropped = kept.filter((k) => !fillable.includes(k));
        if (dropped.length > 0) await this.releaseAll(store, dropped, report);
        await this.fillReserved(store, fillable, config, poller, report);
      } catch (error) {
        logger.error('refill of freed slots failed', errorFields(error));
        notify('pass:error', toError(error));
      }
    });
    // Every end held back for a poll is sent by now (the fill or the release sends it); should the
    // round have failed before either, it goes as it is rather than leave its stop waiting.
    for (const k of kept) void k.handover?.go();
    // A pass that ran meanwhile (a wake-up: new work) found these slots held, and a poll here may
    // have looked before that work was visible: look again now that they are free.
    if (report.released > 0 && this.passesBegun !== passesBefore) this.parts.requestPass();
    return kept.map(() => undefined);
  }

  /**
   * The store of a task running here in a slot of the config, unless closing or over
   * `maxLocalTasks` (the ending task still counts, so 0 room means its slot may be refilled): where
   * `end` may keep the slot.
   */
  private keepable(ref: TaskRef): { store: SlotStore; slot: SlotConfig; local: LocalTask } | undefined {
    const { state, localTasks } = this.parts;
    if (state.closing || !state.loaded || this.room() < 0) return undefined;
    const local = localTasks.get(ref.taskId, ref.token);
    const slot = local && state.slots.get(local.slotId);
    // A slot no backend polls is not worth keeping: the next waiter or acquire takes it.
    const store = slot && slot.backends.length > 0 ? state.stores.get(slot.slotCls) : undefined;
    return store ? { store, slot: slot!, local: local! } : undefined;
  }

  // --- lost slots ---------------------------------------------------------------------------------

  /**
   * Turns a store's "lost" answer to a call about `asked` (the token the caller gave, if any) into
   * the public one, after telling the local task (if any) that it lost its slot.
   */
  async lost(taskId: string, lost: Lost, asked: number | undefined, report?: StopReport): Promise<LostOutcome> {
    const { localTasks } = this.parts;
    // The occupancy the caller asked about; without a token, the one the store names, or (unknown) any.
    const token = asked ?? lost.token;
    const local = token === undefined ? localTasks.get(taskId) : localTasks.get(taskId, token);
    if (local) await this.forgetLost(local, lost, report);
    // An overdue task is reaped by the next pass; run it now rather than at the next tick.
    if (lost.reason === 'timed_out') this.parts.requestPass();
    return { taskId, ...lost };
  }

  /**
   * A local task whose occupancy the store no longer holds. `unknown`: the store keeps no end of
   * it, so its state was lost and no other process will deliver its end: the stopCallback runs
   * here, with reason `lost` (and what a stop reported). Otherwise another process ended it and
   * delivers its callbacks: here the signal fires and the task is forgotten. Either way it stops
   * counting against maxLocalTasks. A task already forgotten is left alone, so the end is told once.
   */
  async forgetLost(local: LocalTask, lost: Lost, report?: StopReport): Promise<void> {
    const { state, localTasks, storeClocks, logger, callbacks } = this.parts;
    if (localTasks.get(local.taskId, local.token) !== local) return;
    // A task that is stopping has finished: its signal has nothing left to stop.
    const cause = local.stopping ? undefined : abortCauseOfLost(lost);
    if (lost.reason !== 'unknown') {
      localTasks.remove(local.taskId, local.token, cause);
      return;
    }
    // Stamped on the store's clock as last read: the store keeps no end to stamp, and this host's may be off.
    const ended: EndedOccupancy = {
      ...local.occupancy,
      reason: 'lost',
      endedAt: storeClocks.now(state.storeOfSlot(local.slotId)),
      status: report?.status ?? null,
      error: report?.error ?? null,
    };
    logger.warn('the store no longer knows the occupancy of a task running here: its state was lost', fieldsOf(ended));
    if (!cause) localTasks.remove(local.taskId, local.token);
    await callbacks.deliver(ended);
  }
}
