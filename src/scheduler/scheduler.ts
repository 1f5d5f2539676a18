import { EventEmitter } from 'node:events';
import type { CancelOutcome, KeepaliveOutcome, PassReport, StopOptions, StopOutcomeResult } from '../contracts/results.js';
import type { SlotState, SlotStore, StoreEvent, TaskRef } from '../contracts/store.js';
import { checkTaskId } from '../contracts/task-id.js';
import { ConfigError, SchedulerStateError } from '../core/errors.js';
import { errorFields, type Logger } from '../core/logger.js';
import { BackendCallbacks } from './backend-callbacks.js';
import type { BackendInput } from './backend-input.js';
import { normalizeConfig, type SlotConfigInput } from './config.js';
import { defaultCron, startCron, type CronHandle } from './cron.js';
import type { Notify, SchedulerEvents } from './events.js';
import { LocalTasks } from './local-tasks.js';
import { resolveOptions, type ResolvedOptions, type SchedulerOptions } from './options.js';
import { SchedulerState } from './scheduler-state.js';
import type { SlotClass } from './slot-classes.js';
import { StoreBatches } from './store-batches.js';
import { StoreClocks } from './store-clocks.js';
import { TaskPath } from './task-path.js';
import { Passes } from './passes.js';

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
  private readonly passes: Passes;
  private closing: Promise<void> | undefined;
  private cron: CronHandle | undefined;
  /** Renews the process lease of tasks that run in process (see Backend.runsInProcess). */
  private leaseRenewal: NodeJS.Timeout | undefined;

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
      this.logger.warn('acknowledging delivered ends failed; trying again (past their delivery lease they are delivered again)', {
        ends: refs.length,
        ...errorFields(error),
      });
    });
    const parts = { state: this.state, options: this.options, logger: this.logger, notify, localTasks: this.localTasks };
    this.path = new TaskPath({
      ...parts,
      owner: this.owner,
      callbacks: new BackendCallbacks(parts),
      batches: this.batches,
      storeClocks: this.storeClocks,
      requestPass: () => this.passes.request(),
    });
    this.passes = new Passes({ ...parts, owner: this.owner, storeClocks: this.storeClocks, path: this.path });
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
      this.leaseRenewal = setInterval(() => void this.path.renewLeases(), this.options.processLeaseMs / 3);
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
    const cron = startCron(options.cron ?? defaultCron, () => this.passes.request(), this.logger);
    this.cron?.stop();
    this.cron = cron;
    this.passes.request();
    return this;
  }

  /**
   * One pass: reap timed-out slots, deliver their callbacks, then fill every idle slot of the
   * config from its backends in order. Calls made while a pass runs share one queued pass.
   */
  schedule(): Promise<PassReport> {
    this.assertLoaded('schedule');
    return this.passes.run();
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
      await Promise.allSettled([...this.unsubscribers.values()].map((unsubscribe) => unsubscribe()));
      await Promise.allSettled([this.passes.settle(), this.path.refillsDrained()]);
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

  // --- helpers -------------------------------------------------------------------------------

  /** Runs a backend's `open` once, handing it a way to ask for passes. */
  private async openBackend(name: string): Promise<void> {
    if (this.openedBackends.includes(name)) return;
    const logger = this.logger.child({ backend: name });
    await this.state.backends.get(name)!.open({ name, scheduler: this.name, logger, requestPass: () => this.passes.request() });
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
      if (this.state.slots.has(event.slotId) && this.path.room() > 0) this.passes.request();
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
