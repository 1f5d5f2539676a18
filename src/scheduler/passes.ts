/**
 * A scheduler's passes: one at a time, the calls made during one sharing the next; each reaps and
 * reserves in the store, delivers what it reaped, checks the running slots against this process's
 * tasks, and hands the reserved slots to the task path to fill. Also the pass due when another
 * process's occupancy can be reaped.
 */
import { acquireBackend } from './acquired-tasks.js';
import { performance } from 'node:perf_hooks';
import type { PassReport } from '../contracts/results.js';
import type { KeepaliveResult, Occupancy, SlotStore } from '../contracts/store.js';
import { toError } from '../core/errors.js';
import { errorFields } from '../core/logger.js';
import type { SlotConfig } from './config.js';
import type { LocalTask } from './local-tasks.js';
import type { PassPoller } from './pass-poller.js';
import type { SchedulerParts } from './scheduler-state.js';
import type { StoreClocks } from './store-clocks.js';
import type { TaskPath } from './task-path.js';

export interface PassesParts extends SchedulerParts {
  owner: string;
  storeClocks: StoreClocks;
  path: TaskPath;
}

export class Passes {
  /** The pass under way, and the one queued behind it: overlapping calls share these. */
  private currentPass: Promise<PassReport> | undefined;
  private queuedPass: Promise<PassReport> | undefined;
  /** A pass due when the first occupancy of another process can be reaped, and when. */
  private reapTimer: { timer: NodeJS.Timeout; at: number } | undefined;

  constructor(private readonly parts: PassesParts) {}

  /** A pass now, or the one queued behind the pass under way (see Scheduler.schedule). */
  run(): Promise<PassReport> {
    if (this.queuedPass) return this.queuedPass;
    if (this.currentPass) {
      this.queuedPass = this.currentPass.then(
        () => this.beginPass(),
        () => this.beginPass(),
      );
      return this.queuedPass;
    }
    return this.beginPass();
  }

  /** Asks for a pass, unless not loaded or closing; its failure is logged and emitted as `pass:error`. */
  request(): void {
    const { state, logger, notify } = this.parts;
    if (!state.loaded || state.closing) return;
    this.run().catch((error: unknown) => {
      logger.error('schedule pass failed', errorFields(error));
      notify('pass:error', toError(error));
    });
  }

  /** Stops the reap timer and resolves once no pass is under way or queued. */
  async settle(): Promise<void> {
    clearTimeout(this.reapTimer?.timer);
    await Promise.allSettled([this.currentPass, this.queuedPass]);
  }

  private beginPass(): Promise<PassReport> {
    this.queuedPass = undefined;
    const pass = this.runPass().finally(() => {
      if (this.currentPass === pass) this.currentPass = undefined;
    });
    this.currentPass = pass;
    return pass;
  }

  private runPass(): Promise<PassReport> {
    // The config as the pass began: a load() during the pass takes effect at the next one.
    const config = this.parts.state.slots;
    return this.parts.path.round('pass:end', async (poller, report) => {
      for (const [slotCls, store] of this.parts.state.stores) {
        const slots = [...config.values()].filter((slot) => slot.slotCls === slotCls);
        await this.passOnStore(store, slots, poller, report);
      }
    });
  }

  private async passOnStore(store: SlotStore, slots: SlotConfig[], poller: PassPoller, report: PassReport): Promise<void> {
    // Refills run beside passes: a task they start after this point may be missing from what
    // beginPass reads, and must not be taken for lost.
    const startedBefore = this.parts.localTasks.lastSeq;
    // Before the request goes: the store leases the records it hands out from no earlier than this.
    const sentAt = performance.now();
    // Slots that list no backend (only acquire() fills them) go last, and the pass never reserves them.
    const polled = slots.filter((slot) => slot.backends.length > 0);
    const maxReserve = Math.min(polled.length, Math.max(0, this.parts.path.room()));
    const begin = await store.beginPass({
      // All of them, even at maxLocalTasks: the pass must see the running slots to reconcile them.
      slotIds: [...polled, ...slots.filter((slot) => slot.backends.length === 0)].map((slot) => slot.slotId),
      // Under maxLocalTasks, only what this scheduler may fill: idle slots it holds unused would
      // hide them from the other schedulers' passes.
      ...(maxReserve < slots.length ? { maxReserve } : {}),
      owner: this.parts.owner,
      leaseMs: this.parts.options.reservationTimeoutMs,
      deliverable: this.parts.state.deliverable,
      retentionMs: this.parts.options.endedRetentionMs,
      limit: this.parts.options.reapLimit,
      // What this pass reaps and leaves idle goes to the schedulers with room at once.
      notify: true,
      deliveryLeaseMs: this.parts.options.deliveryLeaseMs,
    });
    this.parts.storeClocks.observe(store, begin.now, sentAt);
    report.ended += begin.ended.length;
    await Promise.all(begin.ended.map((ended) => this.parts.path.deliverLeased(store, ended, sentAt)));
    // A store may leave the slots it just reaped idle until the next pass: make that pass now.
    if (begin.ended.length > 0 || begin.expiredReservations > 0) this.request();
    this.passWhenReapable(begin.running, begin.now);
    const bySlotId = new Map(slots.map((slot) => [slot.slotId, slot]));
    report.ended += await this.reconcile(store, bySlotId, begin.running, startedBefore);

    await this.parts.path.fillReserved(
      store,
      begin.reserved.map((r) => ({ slotId: r.slotId, reservation: r })),
      bySlotId,
      poller,
      report,
    );
  }

  /**
   * Checks the running slots the pass found against this process's view: local tasks (started
   * before the pass read the store) that lost their slot, cancels requested from elsewhere, and tasks whose backend the slot no longer lists.
   * Returns how many occupancies it ended.
   */
  private async reconcile(
    store: SlotStore,
    slots: ReadonlyMap<string, SlotConfig>,
    running: Occupancy[],
    startedBefore: number,
  ): Promise<number> {
    const bySlot = new Map(running.map((occupancy) => [occupancy.slotId, occupancy]));
    const missing = this.parts.localTasks
      .inSlots(slots)
      .filter((local) => !local.stopping && local.seq <= startedBefore && bySlot.get(local.slotId)?.token !== local.token);
    await Promise.all(missing.map((local) => this.askAfterMissing(store, local)));
    // Forgotten tasks free room under maxLocalTasks that this pass could not reserve with: pass again.
    if (missing.some((local) => this.parts.localTasks.get(local.taskId, local.token) !== local)) this.request();
    let ended = 0;
    for (const occupancy of running) {
      const local = this.parts.localTasks.get(occupancy.taskId, occupancy.token);
      if (local && occupancy.cancelRequested) this.parts.localTasks.abort(local, 'cancel_requested');
      if (occupancy.backend !== acquireBackend && !slots.get(occupancy.slotId)!.backends.includes(occupancy.backend)) {
        this.parts.logger.warn('backend removed from slot config; ending its task', {
          slotId: occupancy.slotId,
          taskId: occupancy.taskId,
          backend: occupancy.backend,
          token: occupancy.token,
          reason: 'backend_removed',
        });
        const result = await this.parts.path.end({ taskId: occupancy.taskId, token: occupancy.token, reason: 'backend_removed' }, store);
        if (result.ok) ended++;
      }
    }
    return ended;
  }

  /**
   * A local task the pass did not find running: asks the store what became of it. Ended by another
   * process (a timeout reaped elsewhere, a stop from elsewhere), it is forgotten here and its
   * stopCallback comes from there; unknown to the store, its state was lost and it ends here as
   * `lost`. The question is a keepalive, and it cannot renew anything: the task's occupancy was
   * saved before the pass read the store, which no longer had it running, and an occupancy that
   * has ended never runs again under its token. A store that cannot answer leaves the task to the
   * next pass.
   */
  private async askAfterMissing(store: SlotStore, local: LocalTask): Promise<void> {
    let answer: KeepaliveResult;
    try {
      answer = await store.keepalive({ taskId: local.taskId, token: local.token });
    } catch (error) {
      this.parts.logger.warn('cannot ask the store about a task the pass did not find running', {
        taskId: local.taskId,
        token: local.token,
        ...errorFields(error),
      });
      return;
    }
    if (answer.ok) local.occupancy = answer.occupancy;
    else await this.parts.path.forgetLost(local, answer);
  }

  /**
   * Asks for a pass when the first occupancy of another process may be reaped (its deadline or max
   * deadline, by the store's clock as this pass read it): a slot whose task died is then refilled
   * within its timeout and one pass, whatever the cron says. Renewed occupancies are simply seen
   * again by that pass, which looks further.
   */
  private passWhenReapable(running: readonly Occupancy[], storeNow: number): void {
    let first = Infinity;
    for (const occupancy of running) {
      if (occupancy.owner === this.parts.owner) continue; // ours: this process knows when its own tasks end
      first = Math.min(first, occupancy.deadline, occupancy.maxDeadline ?? Infinity);
    }
    if (!Number.isFinite(first)) return;
    // A little after the deadline, as the store reaps once its clock has passed it.
    const at = performance.now() + Math.min(Math.max(0, first - storeNow) + 50, 2 ** 31 - 1);
    if (this.reapTimer && this.reapTimer.at <= at) return;
    clearTimeout(this.reapTimer?.timer);
    const timer = setTimeout(() => {
      this.reapTimer = undefined;
      this.request();
    }, at - performance.now());
    timer.unref();
    this.reapTimer = { timer, at };
  }
}
