import type { Backend } from '../contracts/backend.js';
import type { Lost, SlotStore } from '../contracts/store.js';
import { ConfigError, SchedulerStateError } from '../core/errors.js';
import { AcquiredTasks, acquireBackend } from './acquired-tasks.js';
import { toBackend, type BackendInput } from './backend-input.js';
import { unknownSlotClass, type SlotConfig } from './config.js';
import type { Logger } from '../core/logger.js';
import type { Notify } from './events.js';
import type { LocalTasks } from './local-tasks.js';
import type { ResolvedOptions } from './options.js';
import { builtinSlotClasses, type SlotClass } from './slot-classes.js';
import { timedStore, type StoreCallWatch } from './timed-store.js';

/**
 * What a Scheduler and its task path share: the registered backends and slot classes, the stores
 * built for them, the current config, and whether the scheduler is loaded or closing. The
 * Scheduler changes it (registering, `load`, `close`); the task path reads it. It also finds the
 * store that answers for a task id.
 */
export class SchedulerState {
  /** The registered backends, and the built-in one of acquired tasks. */
  readonly backends = new Map<string, Backend>([[acquireBackend, new AcquiredTasks()]]);
  /** The names of the registered backends: what an end may deliver here (kept, not rebuilt per end). */
  deliverable: readonly string[] = [acquireBackend];
  readonly slotClasses = new Map<string, SlotClass>(Object.entries(builtinSlotClasses));
  /** One store per slot class in use, built on first use, closed by `close()`. */
  readonly stores = new Map<string, SlotStore>();
  /** Stores being built, so that calls that come meanwhile share the one store (and its client). */
  private readonly building = new Map<string, Promise<SlotStore>>();
  /** Stores whose `init` has succeeded: ready for calls. */
  private readonly prepared = new Set<SlotStore>();
  /** The default store's preparation by {@link ensureStore}, which the calls that come meanwhile wait for. */
  private openingDefault: Promise<unknown> | undefined;
  /** The config: slots by id. */
  slots = new Map<string, SlotConfig>();
  /** Stores holding at least one slot of the config: this scheduler refills what they free. */
  servedStores = new Set<SlotStore>();
  loaded = false;
  closing = false;
  /** Set once the stores close: until then, keepalive/stop/cancel still work, so backends can end their tasks while closing. */
  storesClosed = false;

  /** @param storeCalls - who hears of each call to the stores built here (`store:call`) */
  constructor(
    readonly name: string,
    private readonly options: ResolvedOptions,
    private readonly storeCalls: StoreCallWatch,
  ) {}

  /** Registers a backend under a name that slot configs list. Re-registering a name replaces it. */
  registerBackend(name: string, backend: BackendInput): void {
    if (name === acquireBackend)
      throw new ConfigError('registerBackend(name)', name, 'reserved for the tasks of acquire() and run(); allowed: any other name');
    this.backends.set(name, toBackend(name, backend));
    this.deliverable = Object.freeze([...this.backends.keys()]);
  }

  /** The names slot configs may list: the registered backends. */
  registeredBackends(): string[] {
    return [...this.backends.keys()].filter((name) => name !== acquireBackend);
  }

  /** The store of a slot of the config, if the slot is there. */
  storeOfSlot(slotId: string): SlotStore | undefined {
    const slot = this.slots.get(slotId);
    return slot && this.stores.get(slot.slotCls);
  }

  /**
   * The store of a slot class, built on first use, its calls timed (see timed-store.ts). Calls that
   * come while it is being built get the same store: each build opens a client that only `close()`
   * would end, and `close()` closes the stores of the map.
   */
  storeOf(slotCls: string): Promise<SlotStore> {
    const store = this.stores.get(slotCls);
    if (store) return Promise.resolve(store);
    let building = this.building.get(slotCls);
    if (!building) {
      building = this.build(slotCls).finally(() => this.building.delete(slotCls));
      this.building.set(slotCls, building);
    }
    return building;
  }

  private async build(slotCls: string): Promise<SlotStore> {
    // Only defaultSlotClass can be unregistered here: load() checked the classes its config names.
    const slotClass = this.slotClasses.get(slotCls);
    if (!slotClass) throw unknownSlotClass('defaultSlotClass', slotCls, [...this.slotClasses.keys()]);
    const store = timedStore(await slotClass({ name: this.name, options: this.options }), slotCls, this.storeCalls);
    // Built after close() closed the stores of the map: nobody else would close this one.
    if (this.storesClosed) {
      await store.close().catch(() => undefined);
      throw new SchedulerStateError(`scheduler "${this.name}" is closed`);
    }
    this.stores.set(slotCls, store);
    return store;
  }

  /** The store of a slot class, built if need be, prepared (`init`: migrations, and these slots). */
  async prepare(slotCls: string, slotIds: readonly string[]): Promise<SlotStore> {
    const store = await this.storeOf(slotCls);
    await store.init(slotIds);
    this.prepared.add(store);
    return store;
  }

  /**
   * keepalive/stop/cancel work in a process that never loaded a config: until a store is prepared,
   * they prepare the default slot class's, once for all the calls that come meanwhile (a failed
   * preparation is tried again by the next call).
   */
  async ensureStore(): Promise<void> {
    // While closing, backends may still end their tasks (a graceful shutdown), on the stores already open.
    if (this.storesClosed || (this.closing && this.stores.size === 0)) {
      throw new SchedulerStateError(`scheduler "${this.name}" is closed`);
    }
    if (this.prepared.size > 0) return;
    this.openingDefault ??= this.prepare(this.options.defaultSlotClass, []).finally(() => (this.openingDefault = undefined));
    await this.openingDefault;
  }

  /** Opens and prepares the stores of these slot classes, for a process that loads no config. */
  async openStores(slotClasses: readonly string[]): Promise<void> {
    if (this.storesClosed || this.closing) throw new SchedulerStateError(`scheduler "${this.name}" is closed`);
    for (const slotCls of slotClasses) {
      const built = this.stores.get(slotCls);
      if (built && this.prepared.has(built)) continue;
      if (!this.slotClasses.has(slotCls)) throw unknownSlotClass('openStores(slotClasses)', slotCls, [...this.slotClasses.keys()]);
      await this.prepare(slotCls, []);
    }
  }

  /** Asks each store in turn; the first answer other than `unknown` wins (usually there is one store). */
  async firstAnswer<T extends { ok: true } | Lost>(ask: (store: SlotStore) => Promise<T>): Promise<T> {
    await this.ensureStore();
    let answer: T | undefined;
    for (const store of this.stores.values()) {
      answer = await ask(store);
      if (answer.ok || answer.reason !== 'unknown') return answer;
    }
    return answer!;
  }
}

/** The parts of a scheduler that its machinery (the task path, the backend callbacks) works with. */
export interface SchedulerParts {
  state: SchedulerState;
  options: ResolvedOptions;
  logger: Logger;
  notify: Notify;
  localTasks: LocalTasks;
}
