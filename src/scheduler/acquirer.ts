/**
 * The push side of a scheduler: a caller that already holds a task takes a slot for it directly
 * (`Scheduler.acquire`, `Scheduler.run`), in one store round trip, or waits in the store's queue,
 * first come first served, woken by the store's `granted` event. Polled tasks (passes, refills)
 * go through the task path; acquired ones join it once they hold their slot: keepalive, stop,
 * cancel, leases and shutdown treat them as any task started here.
 */
import { performance } from 'node:perf_hooks';
import type { AcquireOutcome, RunContext } from '../contracts/results.js';
import type { AcquireRequest, AcquireResult, Occupancy, SlotStore, StoreEvent } from '../contracts/store.js';
import { checkTaskId } from '../contracts/task-id.js';
import { ConfigError, SchedulerStateError, TaskNotAcquiredError } from '../core/errors.js';
import { errorFields } from '../core/logger.js';
import { acquireBackend } from './acquired-tasks.js';
import type { SlotConfig } from './config.js';
import type { SchedulerParts } from './scheduler-state.js';
import type { TaskPath } from './task-path.js';

/** Options of `Scheduler.acquire` and `Scheduler.run`. */
export interface AcquireOptions {
  /**
   * The slots the task may take, in order of preference: ids of the loaded config, all of one slot
   * class. Slots that list backends are polled too: a slot goes to whoever asks first.
   * @defaultValue every slot of the config (which must then be of one slot class)
   */
  slots?: readonly (string | number)[];
  /**
   * Wait for a slot when none is free: `true` until one is granted (or `signal` aborts), a number
   * of milliseconds at most, `false` not at all (the answer is then `busy`).
   * @defaultValue true
   */
  wait?: boolean | number;
  /** Gives up waiting: the call rejects with the signal's reason, and a slot granted meanwhile is given back. */
  signal?: AbortSignal;
}

/** What the acquirer works with: the scheduler's parts, its id, and the task path it hands tasks to. */
export interface AcquirerParts extends SchedulerParts {
  owner: string;
  path: TaskPath;
}

/** A checked acquire: the store that holds the slots, and what to send it. */
interface Plan {
  store: SlotStore;
  request: AcquireRequest;
  runsInProcess: boolean;
}

/** A call waiting in a store's queue. */
interface Waiter {
  plan: Plan;
  /** The send time of the last request the store answered `queued`: no grant came before it. */
  queuedSentAt: number;
  /** An ask is under way; `again` when news came meanwhile. */
  asking: boolean;
  again: boolean;
  settle(outcome: AcquireOutcome | { error: unknown }): void;
}

export class Acquirer {
  private readonly waiters = new Map<string, Waiter>();

  constructor(private readonly parts: AcquirerParts) {}

  /** How many calls wait for a slot. */
  get waiting(): number {
    return this.waiters.size;
  }

  /**
   * Takes a slot for `taskId`: see `Scheduler.acquire`. With `runsInProcess` (`run`), the task
   * holds its slot on the process lease, renewed while this process lives.
   */
  async acquire(taskId: string, options: AcquireOptions, runsInProcess: boolean): Promise<AcquireOutcome> {
    const { wait, signal } = checkOptions(options);
    const plan = this.plan(taskId, options.slots, runsInProcess, wait !== false);
    signal?.throwIfAborted();
    const local = this.parts.localTasks.get(taskId);
    if (local) return { ok: false, reason: 'duplicate', taskId, slotId: local.slotId, expiresAt: local.occupancy.deadline };
    if (this.waiters.has(taskId)) return { ok: false, reason: 'duplicate', taskId, slotId: null, expiresAt: Infinity };
    const sentAt = performance.now();
    const result = await plan.store.acquire!(plan.request);
    if (result.ok || result.reason !== 'queued') return this.outcome(plan, result, sentAt);
    return new Promise<AcquireOutcome>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const onAbort = () => void this.giveUp(taskId, { error: signal!.reason });
      const waiter: Waiter = {
        plan,
        queuedSentAt: sentAt,
        asking: false,
        again: false,
        settle: (outcome) => {
          clearTimeout(timer);
          signal?.removeEventListener('abort', onAbort);
          this.waiters.delete(taskId);
          if ('error' in outcome) reject(outcome.error);
          else resolve(outcome);
        },
      };
      this.waiters.set(taskId, waiter);
      if (typeof wait === 'number') timer = setTimeout(() => void this.giveUp(taskId, { ok: false, reason: 'busy', taskId }), wait);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Takes a slot, runs `fn` holding it, stops the task: see `Scheduler.run`. */
  async run<T>(taskId: string, fn: (context: RunContext) => T | Promise<T>, options: AcquireOptions): Promise<T> {
    if (typeof fn !== 'function') throw new ConfigError('run(fn)', fn, 'allowed: a function, given the task context');
    const acquired = await this.acquire(taskId, options, true);
    if (!acquired.ok) throw new TaskNotAcquiredError(taskId, acquired.reason, acquired.reason === 'duplicate' ? acquired.slotId : null);
    const { localTasks, path, logger } = this.parts;
    const { slotId, token } = acquired;
    const local = localTasks.get(taskId, token);
    const context: RunContext = {
      taskId,
      slotId,
      token,
      // The task's signal checks its lease when read (a stall may have cost the slot); a task
      // forgotten already (its slot lost before fn began) reads as aborted.
      get signal() {
        return local ? local.controller.signal : AbortSignal.abort(new SchedulerStateError(`task "${taskId}" lost its slot`));
      },
    };
    let outcome: { value: T } | { error: unknown };
    try {
      outcome = { value: await fn(context) };
    } catch (error) {
      outcome = { error };
    }
    try {
      const stopped = await path.stop(
        { taskId, token },
        'error' in outcome ? { status: 'failed', error: errorMessage(outcome.error) } : { status: 'succeeded' },
      );
      if (!stopped.ok)
        logger.warn('run(): the task no longer held its slot when it finished', { taskId, slotId, token, reason: stopped.reason });
    } catch (error) {
      // Not renewed any more, its process lease lapses and the store frees the slot.
      localTasks.remove(taskId, token);
      logger.warn('run(): stopping the task failed; its slot frees when its process lease lapses', {
        taskId,
        slotId,
        token,
        ...errorFields(error),
      });
    }
    if ('error' in outcome) throw outcome.error;
    return outcome.value;
  }

  /** A store event: a grant wakes the call waiting for that task id (which asks the store for its occupancy). */
  onStoreEvent(event: StoreEvent): void {
    if (event.type === 'granted' && this.waiters.has(event.taskId)) void this.ask(event.taskId);
  }

  /**
   * Renews every waiter's entry (run with the process lease renewals, at a third of the lease):
   * an entry not renewed lapses, so a dead process never holds the queue up. Also finds grants
   * whose event was lost. Never throws.
   */
  async renewWaits(): Promise<void> {
    await Promise.all([...this.waiters.keys()].map((taskId) => this.ask(taskId)));
  }

  /** Gives up every wait (the scheduler closes): each call rejects with a SchedulerStateError. */
  async closeAll(): Promise<void> {
    const error = new SchedulerStateError('the scheduler closed while acquire() waited for a slot');
    await Promise.all([...this.waiters.keys()].map((taskId) => this.giveUp(taskId, { error })));
  }

  /** Asks the store again for a waiter: its occupancy if granted, else the entry renewed. */
  private async ask(taskId: string): Promise<void> {
    const waiter = this.waiters.get(taskId);
    if (!waiter) return;
    if (waiter.asking) {
      waiter.again = true;
      return;
    }
    waiter.asking = true;
    try {
      do {
        waiter.again = false;
        const sentAt = performance.now();
        const result = await waiter.plan.store.acquire!(waiter.plan.request);
        if (this.waiters.get(taskId) !== waiter) {
          // Given up meanwhile: a grant this answer names is given back by the one who gave up.
          return;
        }
        if (result.ok || result.reason !== 'queued') {
          // Granted after the last `queued` answer's request, so no earlier than its send time.
          waiter.settle(this.outcome(waiter.plan, result, waiter.queuedSentAt));
          return;
        }
        waiter.queuedSentAt = sentAt;
      } while (waiter.again);
    } catch (error) {
      this.parts.logger.warn('asking the store about a waiting acquire failed; asking again at the next renewal', {
        taskId,
        ...errorFields(error),
      });
    } finally {
      waiter.asking = false;
    }
  }

  /**
   * Leaves the queue for a waiter that gives up (its wait ran out, its signal aborted, the
   * scheduler closes) and settles it. A slot granted meanwhile is its own after all: kept when
   * the wait ran out (the caller asked for a slot and got one), given back otherwise.
   */
  private async giveUp(taskId: string, outcome: AcquireOutcome | { error: unknown }): Promise<void> {
    const waiter = this.waiters.get(taskId);
    if (!waiter) return;
    this.waiters.delete(taskId);
    const { store, request } = waiter.plan;
    try {
      const left = await store.leaveQueue!({ taskId, owner: request.owner });
      if (!left.left && left.occupancy) {
        const granted = this.adopt(waiter.plan, left.occupancy, waiter.queuedSentAt);
        if (!('error' in outcome)) return waiter.settle(granted);
        await this.parts.path.stop({ taskId, token: left.occupancy.token }, { status: 'cancelled' });
      }
    } catch (error) {
      // The entry lapses unrenewed; a slot granted to it times out unless its task is stopped.
      this.parts.logger.warn('leaving the acquire queue failed; the entry lapses within the process lease', {
        taskId,
        ...errorFields(error),
      });
    }
    waiter.settle(outcome);
  }

  /** The public answer to a store's final answer (not `queued`). */
  private outcome(plan: Plan, result: Exclude<AcquireResult, { reason: 'queued' }>, sentAt: number): AcquireOutcome {
    const { taskId } = plan.request;
    if (result.ok) return this.adopt(plan, result.occupancy, sentAt);
    if (result.reason === 'busy') return { ok: false, reason: 'busy', taskId };
    return { ok: false, reason: 'duplicate', taskId, slotId: result.slotId, expiresAt: result.expiresAt };
  }

  /** Tracks an occupancy granted to this process as a local task, from a request sent at `sentAt`. */
  private adopt(plan: Plan, occupancy: Occupancy, sentAt: number): AcquireOutcome {
    const { localTasks, logger, notify } = this.parts;
    const { taskId, slotId, token } = occupancy;
    if (!localTasks.get(taskId, token)) {
      localTasks.add(
        { taskId, slotId, token, backend: acquireBackend, runsInProcess: plan.runsInProcess, occupancy },
        {
          sentAt,
          timeoutMs: occupancy.timeoutMs,
          maxRuntimeMs: occupancy.maxRuntimeMs,
          // `run` keeps its task alive for as long as its function runs.
          ...(plan.runsInProcess ? { ownTimeoutMs: Infinity } : {}),
        },
      );
      logger.info('task acquired', { slotId, taskId, token });
      notify('task:start', occupancy);
    }
    return { ok: true, ...occupancy };
  }

  /**
   * The store and request of an acquire: the slots asked for (or every slot of the config), with
   * the limits of each; `run` holds its slot on the process lease.
   * @throws ConfigError naming a slot that is not in the config, or slots of several slot classes
   */
  private plan(taskId: string, slotIds: AcquireOptions['slots'], runsInProcess: boolean, wait: boolean): Plan {
    const { state, options, owner } = this.parts;
    checkTaskId(taskId);
    if (state.closing) throw new SchedulerStateError(`scheduler "${state.name}" is closing: it takes no more tasks`);
    if (!state.loaded) throw new SchedulerStateError('acquire() needs a config: call load() first');
    const slots: SlotConfig[] = [];
    if (slotIds === undefined) slots.push(...state.slots.values());
    else {
      if (!Array.isArray(slotIds) || slotIds.length === 0) {
        throw new ConfigError('acquire(options.slots)', slotIds, 'allowed: a non-empty array of slot ids of the loaded config');
      }
      slotIds.forEach((id, i) => {
        const slot = state.slots.get(String(id));
        if (!slot) throw new ConfigError(`acquire(options.slots[${i}])`, id, `allowed: a slot id of the loaded config`);
        slots.push(slot);
      });
    }
    const slotCls = slots[0]!.slotCls;
    const other = slots.find((slot) => slot.slotCls !== slotCls);
    if (other) {
      throw new ConfigError(
        'acquire(options.slots)',
        slotIds ?? [...state.slots.keys()],
        `allowed: slots of one slot class (these are ${slotCls} and ${other.slotCls}); give \`slots\` when the config has several`,
      );
    }
    const store = state.stores.get(slotCls)!;
    if (!store.acquire || !store.leaveQueue) {
      throw new ConfigError('acquire()', slotCls, `the ${store.kind} store of this slot class cannot acquire (it has no acquire())`);
    }
    // Held on the process lease, a task of a process that dies frees its slot within it.
    const lease = runsInProcess;
    const request: AcquireRequest = {
      taskId,
      backend: acquireBackend,
      owner,
      slots: slots.map((slot) => ({
        slotId: slot.slotId,
        timeoutMs: lease ? options.processLeaseMs : slot.timeoutMs,
        maxRuntimeMs: slot.maxRuntimeMs,
      })),
      ...(lease ? { processLease: true } : {}),
      ...(wait ? { wait: { leaseMs: options.processLeaseMs } } : {}),
    };
    return { store, request, runsInProcess };
  }
}

/** The options of an acquire, checked. */
function checkOptions(options: AcquireOptions): { wait: boolean | number; signal: AbortSignal | undefined } {
  if (typeof options !== 'object' || options === null) {
    throw new ConfigError('acquire(options)', options, 'allowed: an object with slots, wait and signal, all optional');
  }
  const unknown = Object.keys(options).find((key) => !['slots', 'wait', 'signal'].includes(key));
  if (unknown !== undefined) {
    throw new ConfigError(
      `acquire(options.${unknown})`,
      (options as Record<string, unknown>)[unknown],
      'unknown option; allowed: slots, wait, signal',
    );
  }
  const wait = options.wait ?? true;
  if (typeof wait !== 'boolean' && !(typeof wait === 'number' && Number.isFinite(wait) && wait >= 0)) {
    throw new ConfigError('acquire(options.wait)', wait, 'allowed: true (until granted), false (not at all), or milliseconds ≥ 0');
  }
  if (options.signal !== undefined && !(options.signal instanceof AbortSignal)) {
    throw new ConfigError('acquire(options.signal)', options.signal, 'allowed: an AbortSignal');
  }
  return { wait, signal: options.signal };
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
