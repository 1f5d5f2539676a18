/**
 * What a fault worker process is told by the harness, as one JSON environment variable
 * (FAULT_WORKER): its store, its slots, its scheduler options and the shape of its tasks.
 */

/** Which backend each slot lists: tasks that run elsewhere and keep alive, tasks that run in process, or half each. */
export type BackendMix = 'remote' | 'in-process' | 'mixed';

/** The scheduler's durations in a fault run, in ms: short, so that faults resolve fast. */
export interface SchedulerTiming {
  timeoutMs: number;
  /** A lease of 1.5 s frees the slots of a killed process's in-process tasks. */
  processLeaseMs: number;
  reservationTimeoutMs: number;
  pollTimeoutMs: number;
  /** Short, so that a hung callback gives up fast; the delivery lease must exceed twice it. */
  callbackTimeoutMs: number;
  /** How long an end stays leased to its deliverer: a dead deliverer's ends come again after it. */
  deliveryLeaseMs: number;
}

export interface WorkerConfig extends SchedulerTiming {
  runDir: string;
  /** The harness's redis-server holding the task source. */
  sourceUrl: string;
  store:
    | { kind: 'redis'; url: string; keyPrefix: string }
    | { kind: 'postgres'; url: string; schema: string }
    /** A Redis Cluster, reached through an ioredis `Cluster` client from these startup nodes. */
    | { kind: 'redis-cluster'; nodes: Array<{ host: string; port: number }>; keyPrefix: string };
  /** The scheduler name shared by the fleet. */
  name: string;
  slots: number;
  backends: BackendMix;
  maxLocalTasks: number | null;
  /** node-cron expression of the pass tick. */
  cron: string;
  /**
   * Each task runs a random length in [minMs, maxMs], or with probability longShare in
   * [longMinMs, longMaxMs], in steps of stepMs, looking at its signal before each.
   */
  tasks: { minMs: number; maxMs: number; longShare: number; longMinMs: number; longMaxMs: number; stepMs: number };
  /** Seed of the worker's own random choices (task lengths), mixed with its pid. */
  seed: number;
  /** The scheduler's `endedRetention` (ms); absent: its default. A soak shortens it to reach its steady state. */
  endedRetentionMs?: number;
  /** A soak: journal a look at the process itself (harness/self-sampler.ts) this often (ms). */
  sampleEveryMs?: number;
  /**
   * For procrastinate-fault-worker.ts: the jobs' database (a URL whose search_path is the
   * Procrastinate schema) and the worker heartbeat.
   */
  procrastinate?: { url: string; heartbeatMs: number };
}

/** The scheduler name shared by the fleet. */
export const faultSchedulerName = 'faults';

/** Backend names as the slots list them. */
export const remoteBackend = 'Remote';
export const inProcessBackend = 'InProcess';

/** The backend slot `slotId` (1-based) lists under `mix`: with `mixed`, odd slots run in process. */
export function backendOfSlot(slotId: number, mix: BackendMix): string {
  if (mix === 'remote') return remoteBackend;
  if (mix === 'in-process') return inProcessBackend;
  return slotId % 2 === 1 ? inProcessBackend : remoteBackend;
}
