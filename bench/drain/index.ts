/**
 * Drain: N no-op tasks through S slots, end to end through the Scheduler. The backend is an
 * in-memory queue that claims what it polls: `poll` hands out the next id, `startCallback` stops
 * the task in a microtask. Each `end` keeps its slot and carries the next id polled for it, which
 * the store starts there (EndRequest.next): one request per task, batched per refill round.
 * Throughput is N ÷ (time from the first `schedule()` to the N-th `stopCallback`).
 */
import { collectMetrics } from '../../src/http/index.js';
import { Backend, Scheduler, type SchedulerOptions, type TaskContext } from '../../src/index.js';
import type { Row } from '../harness/format.js';
import type { RoundTrips } from '../harness/round-trips.js';
import { uniqueName, type Services, type StoreKind } from '../harness/services.js';
import { countedStore } from '../harness/store.js';
import { drainRow, type DrainRun } from './table.js';

export type { DrainRun } from './table.js';

class NoOp extends Backend {
  /** Its poll claims (hands each id out once), as an in-memory queue's does: see Backend.claimsTasks. */
  override readonly claimsTasks = true;
  private next = 0;
  /** Ids handed back by rejectCallback, polled again first. */
  private readonly returned: string[] = [];
  private stopped = 0;
  readonly done: Promise<void>;
  private resolve!: () => void;
  private reject!: (error: Error) => void;

  /** @param taskMs - how long each task runs (a timer) before it stops; 0: it stops in a microtask. */
  constructor(
    private readonly total: number,
    private readonly taskMs = 0,
  ) {
    super();
    this.done = new Promise((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
  }

  poll(): string | null {
    if (this.returned.length > 0) return this.returned.shift()!;
    return this.next < this.total ? `t${++this.next}` : null;
  }

  override rejectCallback(taskId: string): void {
    this.returned.push(taskId);
  }

  startCallback(taskId: string, context: TaskContext): void {
    const stop = () => {
      context.stop().then(
        (outcome) => {
          if (!outcome.ok) this.reject(new Error(`stop(${taskId}) lost: ${outcome.reason}`));
        },
        (error: unknown) => this.reject(error as Error),
      );
    };
    if (this.taskMs > 0) setTimeout(stop, this.taskMs);
    else queueMicrotask(stop);
  }

  override stopCallback(): void {
    if (++this.stopped === this.total) this.resolve();
  }

  fail(error: Error): void {
    this.reject(error);
  }
}

export interface DrainOptions {
  stores: readonly StoreKind[];
  tasks: number;
  slots: number;
  runs: number;
  /** Attach `collectMetrics()` to each scheduler: what the metrics cost. */
  metrics?: boolean;
  /** Write the task history (the default); off (`history: false`) measures what it costs. */
  history?: boolean;
}

export async function drain(services: Services, options: DrainOptions): Promise<{ rows: Row[]; runs: DrainRun[] }> {
  const runs: DrainRun[] = [];
  const rows: Row[] = [];
  for (const store of options.stores) {
    const { options: storeOptions, counter } = await countedStore(services, store);
    // One short unmeasured drain first: JIT, scripts cached on the server, pool connections open.
    const extras = { metrics: options.metrics === true, history: options.history !== false };
    await drainOnce(storeOptions, Math.min(options.tasks, 2000), options.slots, undefined, extras);
    const mine: DrainRun[] = [];
    for (let run = 0; run < options.runs; run++) {
      const result = await drainOnce(storeOptions, options.tasks, options.slots, counter, extras);
      mine.push({ store, ...result });
    }
    runs.push(...mine);
    rows.push(drainRow(store, options, mine, counter !== undefined));
  }
  return { rows, runs };
}

/**
 * One drain of `tasks` tasks through `slots` slots of a fresh Scheduler on the store of
 * `storeOptions`; `taskMs` is how long each task runs (0: no-op).
 */
export async function drainOnce(
  storeOptions: Omit<SchedulerOptions, 'name'>,
  tasks: number,
  slots: number,
  counter: RoundTrips | undefined,
  { metrics, history, taskMs = 0 }: { metrics: boolean; history: boolean; taskMs?: number },
): Promise<{ tasksPerSec: number; requestsPerTask: number; passes: number }> {
  const backend = new NoOp(tasks, taskMs);
  const scheduler = new Scheduler({ name: uniqueName('drain'), timeout: '5m', ...storeOptions, ...(!history && { history: false }) });
  const collected = metrics ? collectMetrics(scheduler) : undefined;
  scheduler.registerBackend('NoOp', backend);
  let passes = 0;
  scheduler.on('pass:end', () => void passes++);
  scheduler.on('refill:end', () => void passes++);
  scheduler.on('pass:error', (error) => backend.fail(error));
  try {
    await scheduler.load(Array.from({ length: slots }, (_, i) => ({ slotId: i + 1, backends: ['NoOp'] })));
    const stall = setTimeout(() => backend.fail(new Error('drain stalled for 120 s')), 120_000);
    counter?.reset();
    const began = performance.now();
    scheduler.schedule().catch((error: unknown) => backend.fail(error as Error));
    await backend.done;
    const elapsedMs = performance.now() - began;
    clearTimeout(stall);
    const requests = counter?.total ?? 0;
    return { tasksPerSec: (tasks / elapsedMs) * 1000, requestsPerTask: requests / tasks, passes };
  } finally {
    collected?.close();
    await scheduler.close();
  }
}
