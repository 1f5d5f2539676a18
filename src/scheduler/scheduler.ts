import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import type {
  AcquireOutcome,
  CancelOutcome,
  KeepaliveOutcome,
  PassReport,
  RunContext,
  StopOptions,
  StopOutcomeResult,
} from '../contracts/results.js';
import type { HistoryRecord, PurgeResult, SlotState, SlotStore, StoreEvent, TaskRef } from '../contracts/store.js';
import type { HistoryQuery } from '../contracts/history.js';
import { checkTaskId } from '../contracts/task-id.js';
import { settlesWithin } from '../core/call.js';
import { CallTimeoutError, ConfigError, SchedulerStateError } from '../core/errors.js';
import { errorFields, type Logger } from '../core/logger.js';
import { Acquirer, type AcquireOptions } from './acquirer.js';
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
import { historySize, purgeName, readHistory, type HistorySize } from './store-admin.js';
import { TaskPath } from './task-path.js';
import { Passes } from './passes.js';
import { resolveShutdownOptions, Shutdown, type ShutdownOptions, type ShutdownParts } from './shutdown.js';
import type { ShutdownReport } from './shutdown-report.js';

export type { AcquireOptions } from './acquirer.js';
export type { BackendInput } from './backend-input.js';
export type { ShutdownOptions } from './shutdown.js';
export type { DroppedTask, ShutdownReport, ShutdownTask } from './shutdown-report.js';
export type { HistorySize } from './store-admin.js';

/** What `status()` says of a scheduler: its own state, without a store round trip. */
export interface SchedulerStatus {
  /** A config is loaded (`load()`). */
  loaded: boolean;
  /** `start()` runs its cron: the time between two ticks, ms; null before `start()` and once claiming stopped. */
  cronPeriodMs: number | null;
  /** A shutdown or close began: it claims no more tasks. */
  closing: boolean;
  /** Tasks of this process in their slots (backends that `runsInProcess`, and started remote tasks not yet ended here). */
  localTasks: number;
  /** The stores open, by slot class; `listening`: whether its events subscription is live, null where there is none. */
  stores: Array<{ slotClass: string; kind: string; listening: boolean | null }>;
}

/** A slot as `inspect()` shows it: the store's state plus what this scheduler's config says of it. */
export interface InspectedSlot extends SlotState {
  slotCls: string;
  /** False for a slot that is in the store but no longer in the config: it drains. */
  configured: boolean;
  backends: readonly string[];
  /**
   * The store's clock when the slot was read, as this process reckons it: the clock its last pass
   * read, carried forward on this host's monotonic clock (this host's wall clock before any pass).
   * Compare the slot's store-clock times with it, e.g. `storeNow - occupancy.lastKeepaliveAt`.
   */
  storeNow: number;
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
  private readonly acquirer: Acquirer;
  private closing: Promise<void> | undefined;
  /** The shutdown under way or done, from the first `shutdown()` call. */
  private shuttingDown: Shutdown | undefined;
  private cron: CronHandle | undefined;
  /** Renews the process lease of tasks that run in process (see Backend.runsInProcess). */
  private leaseRenewal: NodeJS.Timeout | undefined;

  constructor(options: SchedulerOptions) {
    super();
    this.options = resolveOptions(options);
    this.name = this.options.name;
    this.owner = this.options.owner;
    this.logger = this.options.logger.child({ scheduler: this.name });
    this.state = new SchedulerState(this.name, this.options, {
      watched: () => this.listenerCount('store:call') > 0,
      told: (call) => this.notify('store:call', call),
    });
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
    this.acquirer = new Acquirer({ ...parts, owner: this.owner, path: this.path });
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
      backends: state.registeredBackends(),
    });
    for (const slotCls of new Set(slots.map((slot) => slot.slotCls))) {
      const slotIds = slots.filter((slot) => slot.slotCls === slotCls).map((slot) => slot.slotId);
      await state.prepare(slotCls, slotIds);
    }
    // A close() that ran while the stores prepared has closed them: open no backend, LISTEN on nothing.
    this.assertOpen();
    for (const name of new Set(slots.flatMap((slot) => slot.backends))) await this.openBackend(name);
    this.assertOpen();
    state.slots = new Map(slots.map((slot) => [slot.slotId, slot]));
    state.servedStores = new Set(slots.map((slot) => state.stores.get(slot.slotCls)!));
    for (const store of state.servedStores) await this.subscribe(store);
    state.loaded = true;
    if (!this.leaseRenewal) {
      this.leaseRenewal = setInterval(() => {
        void this.path.renewLeases();
        void this.acquirer.renewWaits();
      }, this.options.processLeaseMs / 3);
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
   * Takes a slot for a task this process already holds, without a backend: one store round trip
   * when a slot is free; else, unless `wait` is false, the call waits in the store's queue, first
   * come first served across every process of the name, and is woken by the store when a slot is
   * granted to it. The task then runs as a remote task does: it calls `keepalive` within its
   * slot's timeout and `stop` when done (which frees the slot, for the next waiter first).
   * @returns the occupancy (`ok`), or `busy` (no slot, and no wait or the wait ran out), or `duplicate`
   * @throws ConfigError for bad options or a slot not in the config; SchedulerStateError before
   * `load()` or once closing; rejects with the signal's reason when `signal` aborts the wait
   */
  async acquire(taskId: string, options: AcquireOptions = {}): Promise<AcquireOutcome> {
    return this.acquirer.acquire(taskId, options, false);
  }

  /**
   * Takes a slot for `taskId` as `acquire` does (waiting by default), runs `fn` in this process
   * while holding it, then stops the task (status `succeeded`, or `failed` with the error `fn`
   * threw) and returns what `fn` returned, or throws what it threw. The slot is held on the
   * process lease, renewed while `fn` runs (a crash frees it within `processLease`), up to the
   * slot's max runtime; `context.signal` fires when `fn` must stop: a cancel, the slot lost, the
   * max runtime, a shutdown (which waits for it as for any task that runs in process).
   * @throws TaskNotAcquiredError (`ERR_NOT_ACQUIRED`) when no slot was taken (`busy` or `duplicate`)
   */
  async run<T>(taskId: string, fn: (context: RunContext) => T | Promise<T>, options: AcquireOptions = {}): Promise<T> {
    return this.acquirer.run(taskId, fn, options);
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

  /**
   * Opens the stores of these slot classes without loading a config, so that `keepalive`, `stop`,
   * `cancel` and `inspect` reach each of them: for a process that only reports or watches (the CLI
   * given a config file). Without it, such a process opens only the `defaultSlotClass` store.
   * @throws ConfigError for an unregistered slot class, StoreUnavailableError when a store cannot be reached
   */
  async openStores(slotClasses: readonly string[]): Promise<void> {
    await this.state.openStores(slotClasses);
  }

  /** This scheduler's own state, read from memory: for health checks. */
  status(): SchedulerStatus {
    const { state } = this;
    return {
      loaded: state.loaded,
      cronPeriodMs: this.cron && !state.closing ? this.cron.periodMs() : null,
      closing: state.closing,
      localTasks: this.localTasks.size,
      stores: [...state.stores].map(([slotClass, store]) => ({
        slotClass,
        kind: store.kind,
        // A served store whose subscription failed does not listen; one only read from, or without events, has none.
        listening:
          !store.subscribe || !state.servedStores.has(store) ? null : this.unsubscribers.has(store) && (store.listening?.() ?? true),
      })),
    };
  }

  /** Every slot of this scheduler name in its stores, read from the stores (not from memory). */
  async inspect(): Promise<InspectedSlot[]> {
    await this.state.ensureStore();
    const out: InspectedSlot[] = [];
    for (const [slotCls, store] of this.state.stores) {
      const slots = await store.inspect();
      const storeNow = this.storeClocks.now(store);
      for (const state of slots) {
        const config = this.state.slots.get(state.slotId);
        const configured = config?.slotCls === slotCls;
        out.push({ ...state, slotCls, configured, backends: configured ? config.backends : [], storeNow });
      }
    }
    return out;
  }

  /**
   * Graceful shutdown, bounded: what a process does on SIGTERM. Stops claiming (no tick, pass or
   * refill; the pass under way finishes, its reservations released); waits up to `graceful` for
   * the tasks running in this process (backends that `runsInProcess`) to stop; fires the signals
   * of those still running (a TaskAbortedError, cause `shutdown`); waits up to `final` for them;
   * ends those still running in the store with reason `dropped` (their slots free for the fleet,
   * their stopCallbacks run here); then closes as `close()` does. `keepalive`, `stop` and
   * `cancel` work throughout, so tasks can finish and report. Tasks a backend handed to other
   * processes are left running in the store, untouched.
   *
   * Never hangs: it resolves within `graceful` + `final` + 2 × `callbackTimeout` whatever the
   * tasks, backends and stores do (dropping is bounded by one `callbackTimeout`, closing by
   * another); with a reachable store and prompt callbacks, within `graceful` + `final` and a few
   * round trips.
   *
   * A call while a shutdown runs (a second signal) cuts the graceful wait left to its own
   * `graceful` (0 when not given: abort now) and may shorten the final wait; it resolves with the
   * same report, as does a call after the shutdown ended.
   * @defaultValue graceful: the `shutdownGraceful` option; final: the `shutdownFinal` option
   * @throws ConfigError for bad options; SchedulerStateError after `close()`
   */
  async shutdown(options?: ShutdownOptions): Promise<ShutdownReport> {
    const times = resolveShutdownOptions(options);
    if (this.shuttingDown) {
      this.shuttingDown.hurry(times);
      return this.shuttingDown.done;
    }
    if (this.closing) throw new SchedulerStateError(`scheduler "${this.name}" is closed`);
    const parts: ShutdownParts = {
      state: this.state,
      options: this.options,
      logger: this.logger,
      notify: (event, ...args) => this.notify(event, ...args),
      localTasks: this.localTasks,
      path: this.path,
      stopClaiming: async () => {
        this.state.closing = true;
        this.cron?.stop();
        await Promise.allSettled([this.acquirer.closeAll(), this.passes.settle(), this.path.refillsDrained()]);
      },
      close: (boundMs) => this.closeWithin(boundMs),
    };
    const shutdown = new Shutdown(parts, {
      gracefulMs: times.gracefulMs ?? this.options.shutdownGracefulMs,
      finalMs: times.finalMs ?? this.options.shutdownFinalMs,
    });
    this.shuttingDown = shutdown;
    shutdown.start();
    return shutdown.done;
  }

  /**
   * The task history of this scheduler name, newest first (by start, then token): the record of
   * each ended occupancy the stores keep (see the option `history`) and the occupancies running
   * now (outcome `running`), that match `query` (fields ANDed, list values ORed, an empty list
   * matches nothing). Works from any process that shares the store, as `keepalive` does.
   * @throws {ConfigError} naming the field of a bad query (e.g. `history(query.outcome[1])`)
   * @throws {SchedulerStateError} when the option `history` is false
   */
  async history(query?: HistoryQuery): Promise<HistoryRecord[]> {
    return readHistory(this.state, this.options, query);
  }

  /**
   * How many history records each store keeps for this scheduler name, by slot class, counted no
   * further than `limit`: a bounded count, cheap on a large PostgreSQL table too. A store that
   * cannot count them (a slot class of your own without `historySize`) is left out. Works from any
   * process that shares the store, as `history` does.
   * @defaultValue limit 100000
   * @throws {ConfigError} for a bad limit
   */
  async historySize(options?: { limit?: number }): Promise<HistorySize[]> {
    return historySize(this.state, options);
  }

  /**
   * Removes everything the store keeps of this scheduler name (slots, ended records, outbox,
   * delivery log, history) in one atomic step; refuses, changing nothing, while a slot is running
   * or reserved, unless `force` (the tasks removed are listed as `dropped`, and their processes
   * learn `unknown`). An admin call: from a scheduler that never loaded a config.
   * @throws {SchedulerStateError} on a scheduler that has loaded a config
   */
  async purge(options?: { force?: boolean }): Promise<PurgeResult> {
    return purgeName(this.state, this.options, options);
  }

  /**
   * Stops the cron tick, waits for the pass under way and for the keepalive, stop and cancel calls
   * already sent (those up to `callbackTimeout`), closes the backends (whose `close` may end their
   * running tasks: `stop`, `keepalive` and `cancel` work until the stores close), sends the pending
   * acknowledgements of ends delivered here, then closes the stores (and the connections they
   * opened; never a client you passed in). Tasks still running stay tracked in the store.
   * Idempotent. During a `shutdown()`, cuts it short (abort and drop at once) and resolves once it
   * has closed; after one, resolves at once: what failed is in the shutdown's report.
   */
  close(): Promise<void> {
    if (this.shuttingDown) {
      this.shuttingDown.hurry({ gracefulMs: 0, finalMs: 0 });
      return this.shuttingDown.done.then(() => undefined);
    }
    return this.closeWithin(Infinity);
  }

  /**
   * The close sequence, once. Each step waits no longer than what is left of `boundMs` (a
   * shutdown's bound; Infinity for `close()`): one that hangs is reported as a CallTimeoutError,
   * and the steps after it still run, so the stores close even behind a backend that never does.
   */
  private closeWithin(boundMs: number): Promise<void> {
    this.closing ??= (async () => {
      const end = performance.now() + boundMs;
      const failures: unknown[] = [];
      // A step waits no longer than `withinMs`, nor than what is left of the bound.
      const step = async (what: string, work: Promise<unknown>, withinMs = Infinity): Promise<void> => {
        const leftMs = Math.min(withinMs, end - performance.now());
        if (!(await settlesWithin(work, leftMs))) failures.push(new CallTimeoutError(what, Math.round(Math.min(withinMs, boundMs)), {}));
        else await work.catch((error: unknown) => failures.push(error));
      };
      // Keepalives, stops and cancels sent before close() land first, their stop callbacks run
      // while the backends are open, and the slots their ends kept go back to the fleet. A store
      // that does not answer holds them up to callbackTimeout, and then the stores close anyway.
      const callsLanded = () =>
        step('the keepalive, stop and cancel calls under way', this.path.callsSettled(), this.options.callbackTimeoutMs);
      this.state.closing = true;
      this.cron?.stop();
      await step('giving up the waits of acquire()', this.acquirer.closeAll());
      // Awaited just before the stores close: a store that does not answer must not hold the backends back.
      const unsubscribing = Promise.allSettled([...this.unsubscribers.values()].map((off) => off()));
      await Promise.all([
        step('the pass under way', Promise.allSettled([this.passes.settle(), this.path.refillsDrained()])),
        callsLanded(),
      ]);
      // Backends close in the reverse order of opening, before the stores they may still use.
      for (const name of this.openedBackends.reverse()) {
        await step(
          `backend "${name}" close`,
          Promise.resolve().then(() => this.state.backends.get(name)!.close()),
        );
      }
      clearInterval(this.leaseRenewal);
      // The stops a backend sent while closing (it may end its tasks there) land before the stores close.
      await callsLanded();
      // What the backends' last stops delivered is acknowledged before the stores close.
      await step('acknowledging delivered ends', this.batches.acknowledged());
      await step('unsubscribing from store events', unsubscribing);
      this.state.storesClosed = true;
      await Promise.all([...this.state.stores.values()].map((store) => step(`closing the ${store.kind} store`, store.close())));
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
    if (event.type === 'granted') return this.acquirer.onStoreEvent(event);
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
    if (this.shuttingDown) throw new SchedulerStateError(`scheduler "${this.name}" is shutting down`);
  }

  private assertLoaded(method: string): void {
    this.assertOpen();
    if (!this.state.loaded) throw new SchedulerStateError(`${method}() needs a config: call load() first`);
  }
}
