/**
 * A fault scenario: a store, a fleet, the faults to inject at random (seeded) moments, and how
 * long. The CI tests run each fault alone for a few seconds; `run.ts` runs any list for longer.
 */
import type { FaultName } from './harness/events.js';
import { storeFaultsOf, type StoreKind } from './harness/stores.js';
import type { BackendMix, SchedulerTiming } from './harness/worker-config.js';

/** The faults of the process lane, which every store takes. */
const processFaults: readonly FaultName[] = ['kill', 'stop', 'block'];
/** The faults of the backend lane: the synthetic source's backend code misbehaves, callers cancel. */
const backendFaults: readonly FaultName[] = ['poll', 'callback', 'duplicate', 'cancel'];

/** What the fleet runs: tasks of the synthetic source, or Procrastinate jobs (the store then holds the slots; the jobs are on PostgreSQL). */
export type BackendKind = 'source' | 'procrastinate';
export const backendKinds: readonly BackendKind[] = ['source', 'procrastinate'];

/** The faults a fleet on `store` running `backend` takes: the process faults, the store's own, and the backend lane's for the synthetic source. */
export const faultsOf = (store: StoreKind, backend: BackendKind = 'source'): readonly FaultName[] => [
  ...processFaults,
  ...storeFaultsOf[store],
  ...(backend === 'source' ? backendFaults : []),
];

export interface Scenario {
  /** e.g. `redis:kill`, `postgres:stop+block`, `procrastinate/postgres:mixed`. */
  name: string;
  backend: BackendKind;
  store: StoreKind;
  faults: FaultName[];
  /** How long faults are injected; the run adds a warm-up, a recovery window and the drain. */
  durationMs: number;
  seed: number;
  fleet: {
    workers: number;
    slots: number;
    /** Each worker's cap, so that every process holds tasks (and a kill always hits some). */
    maxLocalTasks: number | null;
    backends: BackendMix;
  };
  /** The scheduler's durations, and how often a pass runs. */
  timing: SchedulerTiming & { passMs: number };
  /**
   * Task lengths: most short, some longer than any stall or freeze, so that a task is still at work
   * when its lease ends under a fault (the case the lease judge exists for).
   */
  tasks: { minMs: number; maxMs: number; longShare: number; longMinMs: number; longMaxMs: number; stepMs: number };
  /** Random pause between two faults of one lane (processes, store), in ms. */
  gapsMs: { process: [number, number]; store: [number, number]; backend: [number, number] };
  /** Whether an end whose deliverer was killed must be redelivered (at-least-once stopCallbacks). */
  requireRedelivery: boolean;
}

/** A scenario with the suite's defaults: 3 workers share 6 slots, half of them running tasks in process. */
export function scenario(
  store: StoreKind,
  faults: readonly FaultName[],
  options: { durationMs: number; seed: number; backend?: BackendKind },
): Scenario {
  const backend = options.backend ?? 'source';
  const allowed = faultsOf(store, backend);
  const foreign = faults.find((fault) => !allowed.includes(fault));
  if (foreign !== undefined)
    throw new Error(`faults: a ${backend} fleet on the ${store} store does not take "${foreign}"; allowed: ${allowed.join(', ')}`);
  return {
    name: `${backend === 'source' ? '' : `${backend}/`}${store}:${faults.join('+')}`,
    backend,
    store,
    faults: [...faults],
    durationMs: options.durationMs,
    seed: options.seed,
    fleet: { workers: 3, slots: 6, maxLocalTasks: 3, backends: 'mixed' },
    timing: {
      timeoutMs: 2000,
      processLeaseMs: 1500,
      reservationTimeoutMs: 2000,
      pollTimeoutMs: 1000,
      callbackTimeoutMs: 1000,
      deliveryLeaseMs: 4000,
      passMs: 1000,
    },
    tasks: { minMs: 300, maxMs: 1500, longShare: 0.2, longMinMs: 3000, longMaxMs: 6000, stepMs: 50 },
    gapsMs: { process: [800, 2500], store: [1000, 3000], backend: [300, 1200] },
    requireRedelivery: true,
  };
}

/**
 * The longest a slot may stay unusable after a fault: a timeout, a lease or a reservation of a
 * dead process (the longest of them), one pass to reap and refill it, and 2 s for a loaded machine.
 */
export function recoveryBoundMs(s: Scenario): number {
  const { timeoutMs, processLeaseMs, reservationTimeoutMs, passMs } = s.timing;
  return Math.max(timeoutMs, processLeaseMs, reservationTimeoutMs) + passMs + 2000;
}

/**
 * The longest the last ends may take to be delivered after the last fault: an end leased to a
 * process that died is delivered again once its delivery lease lapses, at the next pass (a reaped
 * occupancy's end may first take the recovery bound to be reaped at all).
 */
export function settleBoundMs(s: Scenario): number {
  return recoveryBoundMs(s) + s.timing.deliveryLeaseMs + s.timing.passMs;
}

/**
 * Reads a list of scenarios' faults: comma-separated scenarios, each a fault name or several joined
 * by `+` (injected together); `mixed` is every fault `store` takes at once, `all` each of them
 * alone and then mixed.
 * @throws Error naming the bad entry and the allowed names
 */
export function parseFaults(text: string, store: StoreKind = 'redis', backend: BackendKind = 'source'): FaultName[][] {
  const faultNames = faultsOf(store, backend);
  const out: FaultName[][] = [];
  for (const entry of text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    if (entry === 'all') out.push(...faultNames.map((f) => [f]), [...faultNames]);
    else if (entry === 'mixed') out.push([...faultNames]);
    else {
      const names = entry.split('+');
      const bad = names.find((n) => !faultNames.includes(n as FaultName));
      if (bad !== undefined) throw new Error(`--faults: got "${bad}"; allowed: ${faultNames.join(', ')}, mixed, all, or names joined by +`);
      out.push(names as FaultName[]);
    }
  }
  if (out.length === 0) throw new Error('--faults: got nothing; allowed: a comma-separated list of faults');
  return out;
}
