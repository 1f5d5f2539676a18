/**
 * A soak: a fleet under a steady stream of tasks, no fault, long enough to see what grows. The
 * plan fixes its shape (4 processes, 1,000 slots), its pace and what the judge allows to move.
 */
import type { StoreKind } from '../harness/stores.js';
import type { WorkerConfig } from '../harness/worker-config.js';

export interface SoakPlan {
  /** e.g. `soak:redis`. */
  name: string;
  store: StoreKind;
  /** How long tasks are fed; the run adds the start, the drain and the shutdown. */
  durationMs: number;
  seed: number;
  workers: number;
  slots: number;
  /** New task ids per second, fed in tenths of a second; the backlog never exceeds `maxBacklog`. */
  feedPerSecond: number;
  maxBacklog: number;
  /** Scheduler timing: long enough that a loaded machine never times a task out. */
  timing: {
    timeoutMs: number;
    processLeaseMs: number;
    reservationTimeoutMs: number;
    pollTimeoutMs: number;
    callbackTimeoutMs: number;
    deliveryLeaseMs: number;
    passMs: number;
    endedRetentionMs: number;
  };
  tasks: WorkerConfig['tasks'];
  /** How often each worker samples itself and the harness samples the store. */
  sampleEveryMs: number;
  /** Samples before this (from the first task fed) are left out of the judgement: caches fill, JIT settles. */
  warmupMs: number;
  /**
   * How long the fleet stays idle after the drain before the last samples: longer than a pg pool's
   * 10 s idle timeout, so that the connections a busy minute opened have closed again.
   */
  idleMs: number;
}

/**
 * The soak's defaults: 4 processes share 1,000 slots (half in process, half kept alive); about 60
 * tasks a second of 2-8 s, so that some 300 run at once and every slot turns over; tombstones kept
 * 10 s (not the default hour), so that the store reaches its steady state within the warm-up.
 */
export function soakPlan(store: StoreKind, options: { durationMs: number; seed: number }): SoakPlan {
  const { durationMs } = options;
  return {
    name: `soak:${store}`,
    store,
    durationMs,
    seed: options.seed,
    workers: 4,
    slots: 1000,
    feedPerSecond: 60,
    maxBacklog: 500,
    timing: {
      timeoutMs: 12_000,
      processLeaseMs: 6000,
      reservationTimeoutMs: 6000,
      pollTimeoutMs: 3000,
      callbackTimeoutMs: 30_000,
      deliveryLeaseMs: 120_000,
      passMs: 1000,
      endedRetentionMs: 10_000,
    },
    tasks: { minMs: 2000, maxMs: 8000, longShare: 0, longMinMs: 0, longMaxMs: 0, stepMs: 250 },
    sampleEveryMs: 2000,
    // A quarter of the run, at least 20 s and at most 2 min: tasks (8 s) and tombstones (10 s) reach their level first.
    warmupMs: Math.min(120_000, Math.max(20_000, durationMs / 4)),
    idleMs: 14_000,
  };
}
