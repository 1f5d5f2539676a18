/**
 * Building blocks of the scheduler conformance suite: a slot kind to test (how to give a
 * scheduler its store), a scripted backend that records every callback, and small waits.
 */
import { randomBytes } from 'node:crypto';
import type { ExecutionContext } from 'ava';
import { Backend, type PollContext, type RejectInfo, type StopOutcome, type TaskContext, type TimeoutInfo } from '../contracts/backend.js';
import { Scheduler } from '../scheduler/scheduler.js';
import type { SchedulerOptions } from '../scheduler/options.js';
import type { SlotStore } from '../contracts/store.js';

/**
 * A kind of slot to run the suite on. `setup` is called once per test and returns what every
 * scheduler of that test needs to share one store.
 */
export interface SlotKind {
  /** Label of the kind in test titles, e.g. `RedisSlot`. */
  label: string;
  setup(): Promise<SlotKindSetup>;
  /**
   * Optional: the kind's store keeps a delivery log (`acknowledge`). The redelivery case runs on
   * every store that has `acknowledge`; with this set, one without it fails the case rather than
   * passing it as a store that delivers at most once.
   */
  deliveryLog?: boolean;
}

export interface SlotKindSetup {
  /** Options every scheduler of the test gets (store connection, key prefix or schema). */
  options: Partial<SchedulerOptions>;
  /** The slot class name the test's configs use. */
  slotCls: string;
  /** Registers the slot class on a scheduler, for kinds that are not built in. */
  register?(scheduler: Scheduler): void;
  /** A store instance on the same state as the schedulers', to play a crashed scheduler. */
  createStore(name: string): Promise<SlotStore>;
  cleanup(): Promise<void>;
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Polls `check` every 10 ms until it holds; fails with `what` after `ms`. */
export async function waitFor(check: () => boolean | Promise<boolean>, what: string, ms = 5000): Promise<void> {
  const until = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(10);
  }
}

export function uniqueSchedulerName(): string {
  return `conf_${randomBytes(5).toString('hex')}`;
}

/** What a {@link ScriptedBackend} does when a task starts. */
export type StartBehaviour = (taskId: string, context: TaskContext) => void | Promise<void>;

/**
 * A backend fed from an in-memory queue, shared by every scheduler of a test, that records each
 * callback, and tracks how many of its tasks run at once (counted independently of any store).
 */
export class ScriptedBackend extends Backend {
  queue: string[] = [];
  polls = 0;
  started: Array<{ taskId: string; slotId: string; token: number }> = [];
  stopped: Array<{ taskId: string; outcome: StopOutcome }> = [];
  timedOut: Array<{ taskId: string; info: TimeoutInfo }> = [];
  rejected: Array<{ taskId: string; info: RejectInfo }> = [];
  keepalives: string[] = [];
  contexts = new Map<string, TaskContext>();
  running = new Set<string>();
  maxRunning = 0;
  /** A task id seen starting while already running: must never happen. */
  doubleStarts: string[] = [];
  onStart: StartBehaviour = () => {};
  /** Runs at the end of each stopCallback, which waits for it. */
  onStop: (taskId: string, outcome: StopOutcome) => void | Promise<void> = () => {};
  onPoll: (context: PollContext) => unknown = () => this.queue.shift() ?? null;
  throwIn: Partial<Record<'stopCallback' | 'timeoutCallback', boolean>> = {};

  constructor(tasks: string[] = []) {
    super();
    this.queue = [...tasks];
  }

  override poll(context: PollContext): string | null {
    this.polls++;
    return this.onPoll(context) as string | null;
  }

  override async startCallback(taskId: string, context: TaskContext): Promise<void> {
    if (this.running.has(taskId)) this.doubleStarts.push(taskId);
    this.running.add(taskId);
    this.maxRunning = Math.max(this.maxRunning, this.running.size);
    this.started.push({ taskId, slotId: context.slotId, token: context.token });
    this.contexts.set(taskId, context);
    await this.onStart(taskId, context);
  }

  override stopCallback(taskId: string, outcome: StopOutcome): void | Promise<void> {
    this.running.delete(taskId);
    this.stopped.push({ taskId, outcome });
    if (this.throwIn.stopCallback) throw new Error('stopCallback exploded');
    return this.onStop(taskId, outcome);
  }

  override timeoutCallback(taskId: string, info: TimeoutInfo): void {
    this.timedOut.push({ taskId, info });
    if (this.throwIn.timeoutCallback) throw new Error('timeoutCallback exploded');
  }

  override keepaliveCallback(taskId: string): void {
    this.keepalives.push(taskId);
  }

  override rejectCallback(taskId: string, info: RejectInfo): void {
    this.rejected.push({ taskId, info });
  }

  stopsOf(taskId: string): StopOutcome[] {
    return this.stopped.filter((s) => s.taskId === taskId).map((s) => s.outcome);
  }
}

/**
 * A {@link ScriptedBackend} whose poll claims the task it returns (`claimsTasks`): an id handed
 * back with a `retryAfterMs` goes to the front of its queue again once that time has passed, one
 * without (an `invalid_id`) is dropped, as a queue would fail such a task.
 */
export class ClaimingBackend extends ScriptedBackend {
  override readonly claimsTasks = true;

  override rejectCallback(taskId: string, info: RejectInfo): void {
    super.rejectCallback(taskId, info);
    if (info.retryAfterMs === undefined) return;
    if (info.retryAfterMs === 0) this.queue.unshift(taskId);
    else setTimeout(() => this.queue.unshift(taskId), info.retryAfterMs).unref();
  }
}

/** Builds a scheduler on the test's store with fast defaults, registering the given backends. */
export function makeScheduler(
  setup: SlotKindSetup,
  name: string,
  backends: Record<string, Backend>,
  options: Partial<SchedulerOptions> = {},
): Scheduler {
  const scheduler = new Scheduler({
    pollTimeout: '500ms',
    reservationTimeout: '5s',
    callbackTimeout: '2s',
    ...setup.options,
    ...options,
    defaultSlotClass: setup.slotCls,
    name,
  });
  setup.register?.(scheduler);
  for (const [backendName, backend] of Object.entries(backends)) scheduler.registerBackend(backendName, backend);
  return scheduler;
}

/** `count` slot configs with ids 1..count listing `backends`. */
export function slots(count: number, backends: string[], extra: Record<string, unknown> = {}) {
  return Array.from({ length: count }, (_, i) => ({ slotId: i + 1, backends, ...extra }));
}

/** One test's store and scheduler name, and a way to make schedulers on them. */
export interface Harness {
  setup: SlotKindSetup;
  name: string;
  /** A scheduler on the test's store, closed at teardown. */
  scheduler(backends: Record<string, ScriptedBackend>, options?: Partial<SchedulerOptions>): Scheduler;
}

/** Sets up the kind for one test; at teardown, closes every scheduler made, then cleans up. */
export async function harness(t: ExecutionContext, kind: SlotKind): Promise<Harness> {
  const setup = await kind.setup();
  const name = uniqueSchedulerName();
  const made: Scheduler[] = [];
  t.teardown(async () => {
    await Promise.allSettled(made.map((s) => s.close()));
    await setup.cleanup();
  });
  return {
    setup,
    name,
    scheduler(backends, options) {
      const scheduler = makeScheduler(setup, name, backends, options);
      made.push(scheduler);
      return scheduler;
    },
  };
}
