import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import type { CancelOutcome, KeepaliveOutcome, PassReport, StopOptions, StopOutcomeResult } from '../contracts/results.js';
import type { KeepaliveResult, Occupancy, SlotState, SlotStore, StoreEvent, TaskRef } from '../contracts/store.js';
import { checkTaskId } from '../contracts/task-id.js';
import { ConfigError, SchedulerStateError, toError } from '../core/errors.js';
import { errorFields, type Logger } from '../core/logger.js';
import { BackendCallbacks } from './backend-callbacks.js';
import type { BackendInput } from './backend-input.js';
import { normalizeConfig, type SlotConfig, type SlotConfigInput } from './config.js';
import { startCron, type CronHandle } from './cron.js';
import type { Notify, SchedulerEvents } from './events.js';
import { LocalTasks, type LocalTask } from './local-tasks.js';
import { resolveOptions, type ResolvedOptions, type SchedulerOptions } from './options.js';
import type { PassPoller } from './pass-poller.js';
import { SchedulerState } from './scheduler-state.js';
import type { SlotClass } from './slot-classes.js';
import { StoreBatches } from './store-batches.js';
import { StoreClocks } from './store-clocks.js';
import { TaskPath } from './task-path.js';

export type { BackendInput } from './backend-input.js';

/** A slot as `inspect()` shows it: the store's state plus what this scheduler's config says of it. */
export interface InspectedSlot extends SlotState {
  slotCls: string;
  /** False for a slot that is in the store but no longer in the config: it drains. */
  configured: boolean;
  backends: readonly string[];
}

/**
 * Holds N slots shared by every scheduler of the same name on the same store, fills idle slots
 * from their ordered backends on each `schedule()` pass, and routes `keepalive`, `stop` and
 * `cancel` by task id, from any process.
 */
export class Scheduler extends EventEmitter<SchedulerEvents> {
  readonly name: string;
  /** This instance's id, stored as the owner of the slots it reserves. */
  readonly owner: string;
  private readonly options: ResolvedOptions;
  private readonly logger: Logger;
  /** Backends and slot classes registered, stores, the config: what this class and the task path share. */
  private readonly state: SchedulerState;
  /** Backends whose `open` has run, in order, to close them in reverse. */
  private readonly openedBackends: string[] = [];
  /** Stops listening to each store's events, for stores that publish them. */
  private readonly unsubscribers = new Map<SlotStore, () => Promise<void>>();
  private readonly localTasks = new LocalTasks();
  private readonly storeClocks = new StoreClocks();
  private readonly batches: StoreBatches;
  private readonly path: TaskPath;
  private closing: Promise<void> | undefined;
  private cron: CronHandle | undefined;
  /** Renews the process lease of tasks that run in process (see Backend.runsInProcess). */
  private leaseRenewal: NodeJS.Timeout | undefined;
  private renewingLeases = false;
  /** A pass due when the first occupancy of another process can be reaped, and when. */
  private reapTimer: { timer: NodeJS.Timeout; at: number } | undefined;
  /** The pass under way, and the one queued behind it: overlapping `schedule()` calls share these. */
  private currentPass: Promise<PassReport> | undefined;
  private queuedPass: Promise<PassReport> | undefined;

  constructor(options: SchedulerOptions) {
    super();
    this.options = resolveOptions(options);
    this.name = this.options.name;
    this.owner = this.options.owner;
    this.logger = this.options.logger.child({ scheduler: this.name });
    this.state = new SchedulerState(this.name, this.options);
    const notify: Notify = (event, ...args) => this.notify(event, ...args);
    this.batches = new StoreBatches((error, refs) => {
      // Not lost: sent again until the scheduler closes; should their lease lapse first, the store delivers them again.
      this.logger.warn('acknowledging delivered ends failed; trying again (past their delivery lease they are delivered again)', { ends: refs.length, ...errorFields(error) });
    });
    const parts = { state: this.state, options: this.options, logger: this.logger, notify, localTasks: this.localTasks };
    this.path = new TaskPath({
      ...parts,
      owner: this.owner,
      callbacks: new BackendCallbacks(parts),
      batches: this.batches,
      storeClocks: this.storeClocks,
      requestPass: () => this.scheduleLogged(),
    });
  }

  /** Registers a backend under a name that slot configs list. Re-registering a name replaces it. */
  registerBackend(name: string, backend: BackendInput): this {
    this.state.registerBackend(name, backend);
    return this;
  }

  /** Registers a slot class: a factory of the store for slots whose config names it. */
  registerSlotClass(name: string, slotClass: SlotClass): this {
    if (typeof name !== 'string' || name.length === 0 || typeof slotClass !== 'function') {
      throw new ConfigError(`registerSlotClass("${String(name)}")`, slotClass, 'allowed: a name and a function returning a SlotStore');
    }
    this.state.slotClasses.set(name, slotClass);
    return this;
  }

  /**
   * Validates a slot config and makes it current: stores are opened and migrated, slots created.
   * May be called again with a new config: removed slots drain (their tasks run on, and they are
   * not refilled); tasks whose backend a slot no longer lists end with `backend_removed`.
   * @throws ConfigError for bad config, StoreUnavailableError when a store cannot be reached
   */
  async load(config: readonly SlotConfigInput[]): Promise<this> {
    this.assertOpen();
    const { state } = this;
    const slots = normalizeConfig(config, {
      slotCls: this.options.defaultSlotClass,
      timeoutMs: this.options.timeoutMs,
      slotClasses: [...state.slotClasses.keys()],
      backends: [...state.backends.keys()],
    });
    for (const slotCls of new Set(slots.map((slot) => slot.slotCls))) {
      const slotIds = slots.filter((slot) => slot.slotCls === slotCls).map((slot) => slot.slotId);
      await (await state.storeOf(slotCls)).init(slotIds);
    }
    for (const name of new Set(slots.flatMap((slot) => slot.backends))) await this.openBackend(name);
    state.slots = new Map(slots.map((slot) => [slot.slotId, slot]));
    state.servedStores = new Set(slots.map((slot) => state.stores.get(slot.slotCls)!));
    for (const store of state.servedStores) await this.subscribe(store);
    state.loaded = true;
    if (!this.leaseRenewal) {
      this.leaseRenewal = setInterval(() => void this.renewLeases(), this.options.processLeaseMs / 3);
      this.leaseRenewal.unref();
    }
    this.logger.info('config loaded', { slots: slots.length, slotClasses: [...state.stores.keys()] });
    return this;
  }

  /**
   * Runs `schedule()` now and on every tick of a node-cron expression (seconds optional), never
   * overlapping itself. Errors of a pass are logged and emitted as `pass:error`.
   * @defaultValue cron `'* * * * *'` (every minute, as the Python original's loop)
   */
  start(options: { cron?: string } = {}): this {
    this.assertLoaded('start');
    // The new tick is made (and its expression validated) before the old one stops.
    const cron = startCron(options.cron ?? '* * * * *', () => this.scheduleLogged(), this.logger);
    this.cron?.stop();
    this.cron = cron;
    this.scheduleLogged();
    return this;
  }

  /**
   * One pass: reap timed-out slots, deliver their callbacks, then fill every idle slot of the
   * config from its backends in order. Calls made while a pass runs share one queued pass.
   */
  schedule(): Promise<PassReport> {
    this.assertLoaded('schedule');
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

  /**
   * Renews the task's slot: its deadline moves to now + timeout, by the store's clock. Works from
   * any process that shares the store. A `{ ok: false }` answer means the task lost its slot and
   * must stop; `cancelRequested` on an `ok` answer asks it to stop.
   */
  async keepalive(taskId: string, options: { token?: number } = {}): Promise<KeepaliveOutcome> {
    return this.path.keepalive(this.taskRef(taskId, options.token));
  }

  /**
   * Ends the task's occupancy and frees its slot, which this scheduler refills at once. One
   * `stopCallback` follows per occupancy, here if this process has the backend, else in the next
   * pass of a scheduler that has it; again elsewhere only if this process dies (or stalls past
   * `deliveryLease`) before it ran.
   */
  async stop(taskId: string, options: StopOptions = {}): Promise<StopOutcomeResult> {
    return this.path.stop(this.taskRef(taskId, options.token), options);
  }

  /**
   * Asks the task to stop, cooperatively: its next keepalive answers `cancelRequested: true`, and a
   * task running in this process sees its AbortSignal fire. The task then calls `stop()`, which
   * ends it with reason `cancelled`.
   */
  async cancel(taskId: string, options: { token?: number } = {}): Promise<CancelOutcome> {
    return this.path.cancel(this.taskRef(taskId, options.token));
  }

  /** Every slot of this scheduler name in its stores, read from the stores (not from memory). */
  async inspect(): Promise<InspectedSlot[]> {
    await this.state.ensureStore();
    const out: InspectedSlot[] = [];
    for (const [slotCls, store] of this.state.stores) {
      for (const state of await store.inspect()) {
        const config = this.state.slots.get(state.slotId);
        const configured = config?.slotCls === slotCls;
        out.push({ ...state, slotCls, configured, backends: configured ? config.backends : [] });
      }
    }
    return out;
  }

  /**
   * Stops the cron tick, waits for the pass under way, closes the backends (whose `close` may end
   * their running tasks: `stop` and `keepalive` work until the stores close), sends the pending
   * acknowledgements of ends delivered here, then closes the stores (and the connections they
   * opened; never a client you passed in). Tasks still running stay tracked in the store.
   * Idempotent.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.state.closing = true;
      this.cron?.stop();
      clearTimeout(this.reapTimer?.timer);
      await Promise.allSettled([...this.unsubscribers.values()].map((unsubscribe) => unsubscribe()));
      await Promise.allSettled([this.currentPass, this.queuedPass, this.path.refillsDrained()]);
      const failures: unknown[] = [];
      // Backends close in the reverse order of opening, before the stores they may still use.
      for (const name of this.openedBackends.reverse()) {
        try {
          await this.state.backends.get(name)!.close();
        } catch (error) {
          failures.push(error);
        }
      }
      clearInterval(this.leaseRenewal);
      // What the backends' last stops delivered is acknowledged before the stores close.
      await this.batches.acknowledged();
      this.state.storesClosed = true;
      const results = await Promise.allSettled([...this.state.stores.values()].map((store) => store.close()));
      failures.push(...results.flatMap((r) => (r.status === 'rejected' ? [r.reason] : [])));
      if (failures.length) throw new AggregateError(failures, 'closing the scheduler stores failed');
    })();
    return this.closing;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  // --- the pass ---------------------------------------------------------------------------

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
    const config = this.state.slots;
    return this.path.round('pass:end', async (poller, report) => {
      for (const [slotCls, store] of this.state.stores) {
        const slots = [...config.values()].filter((slot) => slot.slotCls === slotCls);
        await this.passOnStore(store, slots, poller, report);
      }
    });
  }

  private async passOnStore(store: SlotStore, slots: SlotConfig[], poller: PassPoller, report: PassReport): Promise<void> {
    // Refills run beside passes: a task they start after this point may be missing from what
    // beginPass reads, and must not be taken for lost.
    const startedBefore = this.localTasks.lastSeq;
    const begin = await store.beginPass({
      // All of them, even at maxLocalTasks: the pass must see the running slots to reconcile them.
      slotIds: slots.map((slot) => slot.slotId),
      // Under maxLocalTasks, only what this scheduler may fill: idle slots it holds unused would
      // hide them from the other schedulers' passes.
      ...(Number.isFinite(this.path.room()) ? { maxReserve: Math.max(0, this.path.room()) } : {}),
      owner: this.owner,
      leaseMs: this.options.reservationTimeoutMs,
      deliverable: this.state.deliverable,
      retentionMs: this.options.endedRetentionMs,
      limit: this.options.reapLimit,
      // What this pass reaps and leaves idle goes to the schedulers with room at once.
      notify: true,
      deliveryLeaseMs: this.options.deliveryLeaseMs,
    });
    this.storeClocks.observe(store, begin.now);
    report.ended += begin.ended.length;
    await Promise.all(begin.ended.map((ended) => this.path.deliver(store, ended)));
    // A store may leave the slots it just reaped idle until the next pass: make that pass now.
    if (begin.ended.length > 0 || begin.expiredReservations > 0) this.scheduleLogged();
    this.passWhenReapable(begin.running, begin.now);
    const bySlotId = new Map(slots.map((slot) => [slot.slotId, slot]));
    report.ended += await this.reconcile(store, bySlotId, begin.running, startedBefore);

    await this.path.fillReserved(store, begin.reserved.map((r) => ({ slotId: r.slotId, reservation: r })), bySlotId, poller, report);
  }

  /**
   * Checks the running slots the pass found against this process's view: local tasks (started
   * before the pass read the store) that lost their slot, cancels requested from elsewhere, and tasks whose backend the slot no longer lists.
   * Returns how many occupancies it ended.
   */
  private async reconcile(store: SlotStore, slots: ReadonlyMap<string, SlotConfig>, running: Occupancy[], startedBefore: number): Promise<number> {
    const bySlot = new Map(running.map((occupancy) => [occupancy.slotId, occupancy]));
    const missing = this.localTasks
      .inSlots(slots)
      .filter((local) => !local.stopping && local.seq <= startedBefore && bySlot.get(local.slotId)?.token !== local.token);
    await Promise.all(missing.map((local) => this.askAfterMissing(store, local)));
    // Forgotten tasks free room under maxLocalTasks that this pass could not reserve with: pass again.
    if (missing.some((local) => this.localTasks.get(local.taskId, local.token) !== local)) this.scheduleLogged();
    let ended = 0;
    for (const occupancy of running) {
      const local = this.localTasks.get(occupancy.taskId, occupancy.token);
      if (local && occupancy.cancelRequested) this.localTasks.abort(local, 'cancel_requested');
      if (!slots.get(occupancy.slotId)!.backends.includes(occupancy.backend)) {
        this.logger.warn('backend removed from slot config; ending its task', {
          slotId: occupancy.slotId,
          taskId: occupancy.taskId,
          backend: occupancy.backend,
          token: occupancy.token,
          reason: 'backend_removed',
        });
        const result = await this.path.end({ taskId: occupancy.taskId, token: occupancy.token, reason: 'backend_removed' }, store);
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
      this.logger.warn('cannot ask the store about a task the pass did not find running', { taskId: local.taskId, token: local.token, ...errorFields(error) });
      return;
    }
    if (answer.ok) local.occupancy = answer.occupancy;
    else await this.path.forgetLost(local, answer);
  }

  // --- leases and reaping ------------------------------------------------------------------------

  /**
   * Renews the process lease of this process's tasks that run in process, while each is within
   * its own timeout (see LocalTasks.leasesToRenew). A renewal the store refuses tells the task it
   * lost its slot; one that fails leaves the lease to lapse, and the task is told before the store
   * can reap it. Never throws; never two rounds at once.
   */
  private async renewLeases(): Promise<void> {
    if (this.renewingLeases || this.state.storesClosed) return;
    this.renewingLeases = true;
    try {
      await Promise.all(
        this.localTasks.leasesToRenew().map(async (local) => {
          const sentAt = this.localTasks.renewalSent(local);
          let result: KeepaliveResult;
          try {
            result = await this.state.firstAnswer((store) => store.keepalive({ taskId: local.taskId, token: local.token }));
          } catch (error) {
            this.localTasks.renewalFailedToAnswer(local);
            this.logger.warn('process lease renewal failed', { taskId: local.taskId, slotId: local.slotId, token: local.token, ...errorFields(error) });
            return;
          }
          this.localTasks.renewalAnswered(local, sentAt, result.ok);
          if (!result.ok) await this.path.lost(local.taskId, result, local.token);
          else if (result.occupancy.cancelRequested) this.localTasks.abort(local, 'cancel_requested');
        }),
      );
    } finally {
      this.renewingLeases = false;
    }
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
      if (occupancy.owner === this.owner) continue; // ours: this process knows when its own tasks end
      first = Math.min(first, occupancy.deadline, occupancy.maxDeadline ?? Infinity);
    }
    if (!Number.isFinite(first)) return;
    // A little after the deadline, as the store reaps once its clock has passed it.
    const at = performance.now() + Math.min(Math.max(0, first - storeNow) + 50, 2 ** 31 - 1);
    if (this.reapTimer && this.reapTimer.at <= at) return;
    clearTimeout(this.reapTimer?.timer);
    const timer = setTimeout(() => {
      this.reapTimer = undefined;
      this.scheduleLogged();
    }, at - performance.now());
    timer.unref();
    this.reapTimer = { timer, at };
  }

  // --- helpers -------------------------------------------------------------------------------

  /** Runs a backend's `open` once, handing it a way to ask for passes. */
  private async openBackend(name: string): Promise<void> {
    if (this.openedBackends.includes(name)) return;
    const logger = this.logger.child({ backend: name });
    await this.state.backends.get(name)!.open({ name, scheduler: this.name, logger, requestPass: () => this.scheduleLogged() });
    this.openedBackends.push(name);
  }

  /** Listens to a store's events, once: best effort, as passes remain the safety net. */
  private async subscribe(store: SlotStore): Promise<void> {
    if (!store.subscribe || this.unsubscribers.has(store)) return;
    try {
      this.unsubscribers.set(store, await store.subscribe((event) => this.onStoreEvent(event)));
    } catch (error) {
      this.logger.warn('cannot listen to store events; freed slots refill at the next tick', { store: store.kind, ...errorFields(error) });
    }
  }

  /**
   * A slot freed elsewhere (a stop, a reap) refills here at once, if this scheduler has room under
   * maxLocalTasks; a cancel requested elsewhere reaches the task's signal.
   */
  private onStoreEvent(event: StoreEvent): void {
    if (event.type === 'freed') {
      if (this.state.slots.has(event.slotId) && this.path.room() > 0) this.scheduleLogged();
      return;
    }
    const local = this.localTasks.get(event.taskId, event.token);
    if (local) this.localTasks.abort(local, 'cancel_requested');
  }

  /** @throws {TaskIdError} for an id outside the task-id grammar, ConfigError for a bad token */
  private taskRef(taskId: string, token: number | undefined): TaskRef {
    checkTaskId(taskId);
    if (token !== undefined && !Number.isSafeInteger(token)) {
      throw new ConfigError('token', token, 'allowed: an integer fencing token, as given to startCallback');
    }
    return token === undefined ? { taskId } : { taskId, token };
  }

  private scheduleLogged(): void {
    if (!this.state.loaded || this.closing) return;
    this.schedule().catch((error: unknown) => {
      this.logger.error('schedule pass failed', errorFields(error));
      this.notify('pass:error', toError(error));
    });
  }

  /** Emits an event; a listener that throws is logged, never allowed to break the scheduler. */
  private notify<K extends keyof SchedulerEvents>(event: K, ...args: SchedulerEvents[K]): void {
    try {
      (this.emit as (event: K, ...args: SchedulerEvents[K]) => boolean)(event, ...args);
    } catch (error) {
      this.logger.error('event listener threw', { event, ...errorFields(error) });
    }
  }

  private assertOpen(): void {
    if (this.closing) throw new SchedulerStateError(`scheduler "${this.name}" is closed`);
  }

  private assertLoaded(method: string): void {
    this.assertOpen();
    if (!this.state.loaded) throw new SchedulerStateError(`${method}() needs a config: call load() first`);
  }
}
