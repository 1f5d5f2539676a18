import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import type { Backend } from '../contracts/backend.js';
import type {
  DeliveryLease,
  EndedOccupancy,
  EndRequest,
  EndResult,
  KeepaliveResult,
  Lost,
  Occupancy,
  SlotState,
  SlotStore,
  StoreEvent,
  TaskRef,
} from '../contracts/store.js';
import { checkTaskId } from '../contracts/task-id.js';
import { BackendCallbacks, fieldsOf, type Notify } from './backend-callbacks.js';
import { abortCauseOfEnd, abortCauseOfLost } from '../contracts/abort-cause.js';
import { toBackend, type BackendInput } from './backend-input.js';
import { BatchQueue } from '../core/batch-queue.js';
import { normalizeConfig, unknownSlotClass, type SlotConfig, type SlotConfigInput } from './config.js';
import { startCron, type CronHandle } from './cron.js';
import { ConfigError, SchedulerStateError, preview, toError } from '../core/errors.js';
import type { SchedulerEvents } from './events.js';
import { LocalTasks, type LocalTask } from './local-tasks.js';
import { errorFields, type Logger } from '../core/logger.js';
import { resolveOptions, type ResolvedOptions, type SchedulerOptions } from './options.js';
import { PassPoller } from './pass-poller.js';
import type { CancelOutcome, KeepaliveOutcome, LostOutcome, PassReport, StopOptions, StopOutcomeResult } from '../contracts/results.js';
import { builtinSlotClasses, type SlotClass } from './slot-classes.js';
import { SlotFiller, type PendingSlot } from './slot-filler.js';
import { StoreBatches } from './store-batches.js';
import { StoreClocks } from './store-clocks.js';

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
  private readonly slotClasses = new Map<string, SlotClass>(Object.entries(builtinSlotClasses));
  private readonly backends = new Map<string, Backend>();
  /** Backends whose `open` has run, in order, to close them in reverse. */
  private readonly openedBackends: string[] = [];
  /** One store per slot class in use, built on first use, closed by `close()`. */
  private readonly stores = new Map<string, SlotStore>();
  private slots = new Map<string, SlotConfig>();
  /** Stores holding at least one slot of the config: this scheduler refills what they free. */
  private servedStores = new Set<SlotStore>();
  /** Stops listening to each store's events, for stores that publish them. */
  private readonly unsubscribers = new Map<SlotStore, () => Promise<void>>();
  private readonly localTasks = new LocalTasks();
  private readonly storeClocks = new StoreClocks();
  private readonly callbacks: BackendCallbacks;
  private readonly batches: StoreBatches;
  private readonly filler: SlotFiller;
  private loaded = false;
  private closing: Promise<void> | undefined;
  /** Set once the stores close: until then, keepalive/stop/cancel still work, so backends can end their tasks while closing. */
  private storesClosed = false;
  private cron: CronHandle | undefined;
  /** Renews the process lease of tasks that run in process (see Backend.runsInProcess). */
  private leaseRenewal: NodeJS.Timeout | undefined;
  private renewingLeases = false;
  /** A pass due when the first occupancy of another process can be reaped, and when. */
  private reapTimer: { timer: NodeJS.Timeout; at: number } | undefined;
  /** The pass under way, and the one queued behind it: overlapping `schedule()` calls share these. */
  private currentPass: Promise<PassReport> | undefined;
  private queuedPass: Promise<PassReport> | undefined;
  /** Passes begun so far: a refill learns from it whether one ran while it held its slots. */
  private passesBegun = 0;
  /**
   * Slots that a local task's stop kept reserved for this scheduler, refilled in rounds without a
   * pass: one round at a time, and the slots freed during a round go together in the next, so
   * their polls batch. This is the hot path of a busy scheduler: no reserve round trip, and no
   * wait for the pass under way.
   */
  private readonly keptSlots = new BatchQueue<KeptSlot, void>((kept) => this.refill(kept));
  /** The names of the registered backends: what an end may deliver here (kept, not rebuilt per end). */
  private deliverable: readonly string[] = [];
  /** How `end` asks a store to keep a freed slot for this scheduler. */
  private readonly reserve: NonNullable<EndRequest['reserve']>;
  /** How `end` asks a store to lease the ended records this scheduler delivers (see EndRequest.delivery). */
  private readonly delivery: DeliveryLease;

  constructor(options: SchedulerOptions) {
    super();
    this.options = resolveOptions(options);
    this.name = this.options.name;
    this.owner = this.options.owner;
    this.logger = this.options.logger.child({ scheduler: this.name });
    this.reserve = Object.freeze({ owner: this.owner, leaseMs: this.options.reservationTimeoutMs });
    this.delivery = Object.freeze({ owner: this.owner, leaseMs: this.options.deliveryLeaseMs });
    const notify: Notify = (event, ...args) => this.notify(event, ...args);
    this.batches = new StoreBatches((error, refs) => {
      // Not lost: sent again until the scheduler closes; should their lease lapse first, the store delivers them again.
      this.logger.warn('acknowledging delivered ends failed; trying again (past their delivery lease they are delivered again)', { ends: refs.length, ...errorFields(error) });
    });
    this.callbacks = new BackendCallbacks({
      backends: this.backends,
      localTasks: this.localTasks,
      logger: this.logger,
      callbackTimeoutMs: this.options.callbackTimeoutMs,
      notify,
    });
    this.filler = new SlotFiller({
      backends: this.backends,
      localTasks: this.localTasks,
      callbacks: this.callbacks,
      batches: this.batches,
      logger: this.logger,
      notify,
      callbackTimeoutMs: this.options.callbackTimeoutMs,
      maxLocalTasks: this.options.maxLocalTasks,
      processLeaseMs: this.options.processLeaseMs,
      keepalive: (taskId, token) => this.keepalive(taskId, { token }),
      stop: (taskId, options) => this.stop(taskId, options),
      stopKeepsSlot: (taskId, token) => this.keepable({ taskId, token }) !== undefined,
      // No instant refill: a source that keeps handing out a task that cannot start would spin.
      // The slot waits for the next tick (the Python original's defect 11).
      startFailed: (store, taskId, token, error) => this.end({ taskId, token, reason: 'start_failed', error }, store, false),
    });
  }

  /** Registers a backend under a name that slot configs list. Re-registering a name replaces it. */
  registerBackend(name: string, backend: BackendInput): this {
    this.backends.set(name, toBackend(name, backend));
    this.deliverable = Object.freeze([...this.backends.keys()]);
    return this;
  }

  /** Registers a slot class: a factory of the store for slots whose config names it. */
  registerSlotClass(name: string, slotClass: SlotClass): this {
    if (typeof name !== 'string' || name.length === 0 || typeof slotClass !== 'function') {
      throw new ConfigError(`registerSlotClass("${String(name)}")`, slotClass, 'allowed: a name and a function returning a SlotStore');
    }
    this.slotClasses.set(name, slotClass);
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
    const slots = normalizeConfig(config, {
      slotCls: this.options.defaultSlotClass,
      timeoutMs: this.options.timeoutMs,
      slotClasses: [...this.slotClasses.keys()],
      backends: [...this.backends.keys()],
    });
    for (const slotCls of new Set(slots.map((slot) => slot.slotCls))) {
      const slotIds = slots.filter((slot) => slot.slotCls === slotCls).map((slot) => slot.slotId);
      await (await this.storeOf(slotCls)).init(slotIds);
    }
    for (const name of new Set(slots.flatMap((slot) => slot.backends))) await this.openBackend(name);
    this.slots = new Map(slots.map((slot) => [slot.slotId, slot]));
    this.servedStores = new Set(slots.map((slot) => this.stores.get(slot.slotCls)!));
    for (const store of this.servedStores) await this.subscribe(store);
    this.loaded = true;
    if (!this.leaseRenewal) {
      this.leaseRenewal = setInterval(() => void this.renewLeases(), this.options.processLeaseMs / 3);
      this.leaseRenewal.unref();
    }
    this.logger.info('config loaded', { slots: slots.length, slotClasses: [...this.stores.keys()] });
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
    const ref = this.taskRef(taskId, options.token);
    const renewing = this.localTasks.get(taskId, options.token);
    const sentAt = renewing ? this.localTasks.renewalSent(renewing) : 0;
    let result: KeepaliveResult;
    try {
      result = await this.firstAnswer((store) => store.keepalive(ref));
    } catch (error) {
      if (renewing) this.localTasks.renewalFailedToAnswer(renewing);
      throw error;
    }
    if (renewing) {
      this.localTasks.renewalAnswered(renewing, sentAt, result.ok);
      if (result.ok) this.localTasks.ownKeepalive(renewing, sentAt);
    }
    if (!result.ok) return this.lost(taskId, result, options.token);
    const { occupancy } = result;
    const local = this.localTasks.get(taskId, occupancy.token);
    if (local) {
      local.occupancy = occupancy;
      if (occupancy.cancelRequested) this.localTasks.abort(local, 'cancel_requested');
    }
    const backend = this.backends.get(occupancy.backend);
    if (backend) await this.callbacks.run('keepaliveCallback', occupancy, () => backend.keepaliveCallback(taskId, occupancy));
    return { ok: true, ...occupancy };
  }

  /**
   * Ends the task's occupancy and frees its slot, which this scheduler refills at once. One
   * `stopCallback` follows per occupancy, here if this process has the backend, else in the next
   * pass of a scheduler that has it; again elsewhere only if this process dies (or stalls past
   * `deliveryLease`) before it ran.
   */
  async stop(taskId: string, options: StopOptions = {}): Promise<StopOutcomeResult> {
    const ref = this.taskRef(taskId, options.token);
    if (options.status !== undefined && typeof options.status !== 'string') {
      throw new ConfigError('stop(options.status)', options.status, 'allowed: a string such as "succeeded" or "failed"');
    }
    const local = this.localTasks.get(taskId, options.token);
    if (local) local.stopping = true;
    const report = { status: options.status ?? null, error: options.error instanceof Error ? options.error.message : (options.error ?? null) };
    try {
      const result = await this.end({ ...ref, reason: 'stopped', ...report });
      if (!result.ok) return await this.lost(taskId, result, options.token, report);
      return { ok: true, delivered: result.delivered, ...result.ended };
    } catch (error) {
      // Unanswered, like a failed keepalive: should the lease end so, the task was cut off (`lost`).
      if (local) this.localTasks.renewalFailedToAnswer(local, false);
      throw error;
    } finally {
      // Ended or not, the stop is over: a stop that failed (the store unreachable) leaves the task
      // to the passes, which find what became of it, rather than stuck against maxLocalTasks.
      if (local) local.stopping = false;
    }
  }

  /**
   * Asks the task to stop, cooperatively: its next keepalive answers `cancelRequested: true`, and a
   * task running in this process sees its AbortSignal fire. The task then calls `stop()`, which
   * ends it with reason `cancelled`.
   */
  async cancel(taskId: string, options: { token?: number } = {}): Promise<CancelOutcome> {
    const ref = this.taskRef(taskId, options.token);
    const result = await this.firstAnswer((store) => store.requestCancel(ref));
    if (!result.ok) return this.lost(taskId, result, options.token);
    const local = this.localTasks.get(taskId, result.occupancy.token);
    if (local) this.localTasks.abort(local, 'cancel_requested');
    this.logger.info('cancel requested', { taskId, slotId: result.occupancy.slotId, token: result.occupancy.token });
    return { ok: true, alreadyRequested: result.alreadyRequested, ...result.occupancy };
  }

  /** Every slot of this scheduler name in its stores, read from the stores (not from memory). */
  async inspect(): Promise<InspectedSlot[]> {
    await this.ensureStore();
    const out: InspectedSlot[] = [];
    for (const [slotCls, store] of this.stores) {
      for (const state of await store.inspect()) {
        const config = this.slots.get(state.slotId);
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
      this.cron?.stop();
      clearTimeout(this.reapTimer?.timer);
      await Promise.allSettled([...this.unsubscribers.values()].map((unsubscribe) => unsubscribe()));
      await Promise.allSettled([this.currentPass, this.queuedPass, this.keptSlots.drained()]);
      const failures: unknown[] = [];
      // Backends close in the reverse order of opening, before the stores they may still use.
      for (const name of this.openedBackends.reverse()) {
        try {
          await this.backends.get(name)!.close();
        } catch (error) {
          failures.push(error);
        }
      }
      clearInterval(this.leaseRenewal);
      // What the backends' last stops delivered is acknowledged before the stores close.
      await this.batches.acknowledged();
      this.storesClosed = true;
      const results = await Promise.allSettled([...this.stores.values()].map((store) => store.close()));
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
    this.passesBegun++;
    const pass = this.runPass().finally(() => {
      if (this.currentPass === pass) this.currentPass = undefined;
    });
    this.currentPass = pass;
    return pass;
  }

  private runPass(): Promise<PassReport> {
    // The config as the pass began: a load() during the pass takes effect at the next one.
    const config = this.slots;
    return this.round('pass:end', async (poller, report) => {
      for (const [slotCls, store] of this.stores) {
        const slots = [...config.values()].filter((slot) => slot.slotCls === slotCls);
        await this.passOnStore(store, slots, poller, report);
      }
    });
  }

  /**
   * Runs one pass or refill round with its own poller: afterwards, hands back the ids polled and
   * not started, and emits the report.
   */
  private async round(event: 'pass:end' | 'refill:end', fill: (poller: PassPoller, report: PassReport) => Promise<void>): Promise<PassReport> {
    const began = performance.now();
    const report: PassReport = { started: 0, ended: 0, released: 0, polls: 0, durationMs: 0 };
    const poller = this.newPoller();
    try {
      await fill(poller, report);
    } finally {
      for (const { backend, taskId, slotId, reason, retryAfterMs, problem } of poller.unstarted()) {
        if (problem) this.logger.warn('polled task id breaks the task-id grammar', { backend, slotId, taskId: preview(taskId), problem });
        await this.callbacks.reject(backend, taskId, reason, slotId, retryAfterMs);
      }
      report.polls = poller.polls;
      report.durationMs = performance.now() - began;
    }
    // A backend that does not mark its tasks until startCallback repeats ids within a round; now
    // that those started, it may have more: pass again. Only after progress, so this cannot spin.
    if (poller.sawRepeat && report.started > 0) this.scheduleLogged();
    this.notify(event, report);
    return report;
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
      ...(Number.isFinite(this.filler.room()) ? { maxReserve: Math.max(0, this.filler.room()) } : {}),
      owner: this.owner,
      leaseMs: this.options.reservationTimeoutMs,
      deliverable: this.deliverable,
      retentionMs: this.options.endedRetentionMs,
      limit: this.options.reapLimit,
      // What this pass reaps and leaves idle goes to the schedulers with room at once.
      notify: true,
      deliveryLeaseMs: this.options.deliveryLeaseMs,
    });
    this.storeClocks.observe(store, begin.now);
    report.ended += begin.ended.length;
    await Promise.all(begin.ended.map((ended) => this.deliver(store, ended)));
    // A store may leave the slots it just reaped idle until the next pass: make that pass now.
    if (begin.ended.length > 0 || begin.expiredReservations > 0) this.scheduleLogged();
    this.passWhenReapable(begin.running, begin.now);
    const bySlotId = new Map(slots.map((slot) => [slot.slotId, slot]));
    report.ended += await this.reconcile(store, bySlotId, begin.running, startedBefore);

    await this.filler.fillReserved(store, begin.reserved.map((r) => ({ slotId: r.slotId, reservation: r })), bySlotId, poller, report);
  }

  /**
   * One round over slots kept reserved by local stops: like a pass's fill, minus the reserve
   * round trip, the reaping and the reconcile (the cron's passes still do those). Slots no longer
   * in the config, or kept while closing, are released. Never throws: failures are logged and
   * emitted as `pass:error`, and the slots' leases are the safety net.
   */
  private async refill(kept: readonly KeptSlot[]): Promise<void[]> {
    const config = this.slots;
    const passesBefore = this.passesBegun;
    const report = await this.round('refill:end', async (poller, report) => {
      try {
        for (const store of new Set(kept.map((k) => k.store))) {
          const mine = kept.filter((k) => k.store === store);
          const fillable = this.closing ? [] : mine.filter((k) => config.get(k.slotId)?.slotCls !== undefined && this.stores.get(config.get(k.slotId)!.slotCls) === store);
          const dropped = mine.filter((k) => !fillable.includes(k));
          if (dropped.length > 0) await this.filler.releaseAll(store, dropped, report);
          await this.filler.fillReserved(store, fillable, config, poller, report);
        }
      } catch (error) {
        this.logger.error('refill of freed slots failed', errorFields(error));
        this.notify('pass:error', toError(error));
      }
    });
    // A pass that ran meanwhile (a wake-up: new work) found these slots held, and a poll here may
    // have looked before that work was visible: look again now that they are free.
    if (report.released > 0 && this.passesBegun !== passesBefore) this.scheduleLogged();
    return kept.map(() => undefined);
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
        const result = await this.end({ taskId: occupancy.taskId, token: occupancy.token, reason: 'backend_removed' }, store);
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
    else await this.forgetLost(local, answer);
  }

  // --- ending occupancies and running callbacks -------------------------------------------------

  /**
   * Ends an occupancy in its store (or the first store that knows the task), then delivers the
   * callbacks here when the store says this process can, and refills the freed slot.
   */
  private async end(request: Omit<EndRequest, 'deliverable' | 'delivery' | 'reserve'>, store?: SlotStore, refill = true): Promise<EndResult> {
    // A task that runs here in a slot of the config: its store keeps the slot for us to refill.
    const keep = refill ? this.keepable(request) : undefined;
    const full: EndRequest = { ...request, deliverable: this.deliverable, delivery: this.delivery, ...(keep ? { reserve: this.reserve } : {}) };
    // The store that ended it, which the delivery is acknowledged to.
    let endedIn = keep?.store ?? store;
    let early = false;
    let result: EndResult;
    if (keep) {
      const ending = this.batches.end(keep.store, full);
      // A first backend that claims what it polls may be polled now, beside the end (Backend.claimsTasks).
      early = this.backends.get(keep.slot.backends[0]!)?.claimsTasks === true;
      if (early) {
        const reservation = ending.then((r) => (r.ok && r.reserved) || null, () => null);
        // The ending task's place is the kept slot's before the end lands, at maxLocalTasks too.
        const { taskId, token } = keep.local;
        void this.keptSlots.push({ store: keep.store, slotId: keep.slot.slotId, reservation, ending: { taskId, token } });
      }
      result = await ending;
    } else {
      // A store this scheduler does not serve must tell the schedulers that do, so they refill at once.
      const endIn = (s: SlotStore) => ((endedIn = s), s.end({ ...full, notify: !this.servedStores.has(s) }));
      result = store ? await endIn(store) : await this.firstAnswer(endIn);
    }
    if (!result.ok) return result;
    // Callbacks first: a backend may mark the task done in stopCallback, and a poll before that
    // could hand out the same task again.
    if (result.delivered) await this.deliver(endedIn!, result.ended);
    else {
      this.localTasks.remove(result.ended.taskId, result.ended.token, abortCauseOfEnd(result.ended.reason));
      this.logger.info('task ended; callbacks left to a scheduler with its backend', fieldsOf(result.ended));
    }
    if (keep && result.reserved) {
      if (!early) void this.keptSlots.push({ store: keep.store, slotId: result.reserved.slotId, reservation: result.reserved });
    } else if (refill && this.slots.has(result.ended.slotId)) this.scheduleLogged();
    return result;
  }

  /**
   * Runs the callbacks of an ended record a store handed to this scheduler, then acknowledges it
   * (on the store's next ends, not awaited): the store's delivery log then forgets it. Whatever the
   * callbacks threw, the record counts as delivered; only a crash before the acknowledgement makes
   * the store hand it out again, once its delivery lease lapses.
   */
  private async deliver(store: SlotStore, ended: EndedOccupancy): Promise<void> {
    await this.callbacks.deliver(ended);
    this.batches.acknowledge(store, { taskId: ended.taskId, token: ended.token });
  }

  // --- leases and reaping ------------------------------------------------------------------------

  /**
   * Renews the process lease of this process's tasks that run in process, while each is within
   * its own timeout (see LocalTasks.leasesToRenew). A renewal the store refuses tells the task it
   * lost its slot; one that fails leaves the lease to lapse, and the task is told before the store
   * can reap it. Never throws; never two rounds at once.
   */
  private async renewLeases(): Promise<void> {
    if (this.renewingLeases || this.storesClosed) return;
    this.renewingLeases = true;
    try {
      await Promise.all(
        this.localTasks.leasesToRenew().map(async (local) => {
          const sentAt = this.localTasks.renewalSent(local);
          let result: KeepaliveResult;
          try {
            result = await this.firstAnswer((store) => store.keepalive({ taskId: local.taskId, token: local.token }));
          } catch (error) {
            this.localTasks.renewalFailedToAnswer(local);
            this.logger.warn('process lease renewal failed', { taskId: local.taskId, slotId: local.slotId, token: local.token, ...errorFields(error) });
            return;
          }
          this.localTasks.renewalAnswered(local, sentAt, result.ok);
          if (!result.ok) await this.lost(local.taskId, result, local.token);
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

  /**
   * The store of a task running here in a slot of the config, unless closing or over
   * `maxLocalTasks` (the ending task still counts, so 0 room means its slot may be refilled): where
   * `end` may keep the slot.
   */
  private keepable(request: TaskRef): { store: SlotStore; slot: SlotConfig; local: LocalTask } | undefined {
    if (this.closing || !this.loaded || this.filler.room() < 0) return undefined;
    const local = this.localTasks.get(request.taskId, request.token);
    const slot = local && this.slots.get(local.slotId);
    const store = slot && this.stores.get(slot.slotCls);
    return store ? { store, slot, local: local! } : undefined;
  }

  private newPoller(): PassPoller {
    return new PassPoller(this.backends, this.options.pollTimeoutMs, (backend, slotId, error) => {
      this.logger.error('poll failed', { backend, slotId, ...errorFields(error) });
      this.notify('poll:error', { backend, slotId, error });
    });
  }

  /** Runs a backend's `open` once, handing it a way to ask for passes. */
  private async openBackend(name: string): Promise<void> {
    if (this.openedBackends.includes(name)) return;
    const logger = this.logger.child({ backend: name });
    await this.backends.get(name)!.open({ name, scheduler: this.name, logger, requestPass: () => this.scheduleLogged() });
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
      if (this.slots.has(event.slotId) && this.filler.room() > 0) this.scheduleLogged();
      return;
    }
    const local = this.localTasks.get(event.taskId, event.token);
    if (local) this.localTasks.abort(local, 'cancel_requested');
  }

  private async storeOf(slotCls: string): Promise<SlotStore> {
    let store = this.stores.get(slotCls);
    if (!store) {
      // Only defaultSlotClass can be unregistered here: load() checked the classes its config names.
      const slotClass = this.slotClasses.get(slotCls);
      if (!slotClass) throw unknownSlotClass('defaultSlotClass', slotCls, [...this.slotClasses.keys()]);
      store = await slotClass({ name: this.name, options: this.options });
      this.stores.set(slotCls, store);
    }
    return store;
  }

  /** keepalive/stop/cancel work in a process that never loaded a config: they open the default slot class. */
  private async ensureStore(): Promise<void> {
    // While closing, backends may still end their tasks (a graceful shutdown), on the stores already open.
    if (this.storesClosed || (this.closing && this.stores.size === 0)) {
      throw new SchedulerStateError(`scheduler "${this.name}" is closed`);
    }
    if (this.stores.size === 0) {
      const store = await this.storeOf(this.options.defaultSlotClass);
      await store.init([]);
    }
  }

  /** Asks each store in turn; the first answer other than `unknown` wins (usually there is one store). */
  private async firstAnswer<T extends { ok: true } | Lost>(ask: (store: SlotStore) => Promise<T>): Promise<T> {
    await this.ensureStore();
    let answer: T | undefined;
    for (const store of this.stores.values()) {
      answer = await ask(store);
      if (answer.ok || answer.reason !== 'unknown') return answer;
    }
    return answer!;
  }

  /**
   * Turns a store's "lost" answer to a call about `asked` (the token the caller gave, if any) into
   * the public one, after telling the local task (if any) that it lost its slot.
   */
  private async lost(taskId: string, lost: Lost, asked: number | undefined, report?: StopReport): Promise<LostOutcome> {
    // The occupancy the caller asked about; without a token, the one the store names, or (unknown) any.
    const token = asked ?? lost.token;
    const local = token === undefined ? this.localTasks.get(taskId) : this.localTasks.get(taskId, token);
    if (local) await this.forgetLost(local, lost, report);
    // An overdue task is reaped by the next pass; run it now rather than at the next tick.
    if (lost.reason === 'timed_out' && this.loaded && !this.closing) this.scheduleLogged();
    return { taskId, ...lost };
  }

  /**
   * A local task whose occupancy the store no longer holds. `unknown`: the store keeps no end of
   * it, so its state was lost and no other process will deliver its end: the stopCallback runs
   * here, with reason `lost` (and what a stop reported). Otherwise another process ended it and
   * delivers its callbacks: here the signal fires and the task is forgotten. Either way it stops
   * counting against maxLocalTasks. A task already forgotten is left alone, so the end is told once.
   */
  private async forgetLost(local: LocalTask, lost: Lost, report?: StopReport): Promise<void> {
    if (this.localTasks.get(local.taskId, local.token) !== local) return;
    // A task that is stopping has finished: its signal has nothing left to stop.
    const cause = local.stopping ? undefined : abortCauseOfLost(lost);
    if (lost.reason !== 'unknown') {
      this.localTasks.remove(local.taskId, local.token, cause);
      return;
    }
    // Stamped on the store's clock as last read: the store keeps no end to stamp, and this host's may be off.
    const store = this.stores.get(this.slots.get(local.slotId)?.slotCls ?? '');
    const ended: EndedOccupancy = { ...local.occupancy, reason: 'lost', endedAt: this.storeClocks.now(store), status: report?.status ?? null, error: report?.error ?? null };
    this.logger.warn('the store no longer knows the occupancy of a task running here: its state was lost', fieldsOf(ended));
    if (!cause) this.localTasks.remove(local.taskId, local.token);
    await this.callbacks.deliver(ended);
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
    if (!this.loaded || this.closing) return;
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
    if (!this.loaded) throw new SchedulerStateError(`${method}() needs a config: call load() first`);
  }
}

/** What a stop reported, carried to the stopCallback when the occupancy turns out lost. */
interface StopReport {
  status: string | null;
  error: string | null;
}

/** A slot kept by a local stop, waiting for its refill round. */
interface KeptSlot extends PendingSlot {
  store: SlotStore;
}
