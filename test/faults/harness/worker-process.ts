/**
 * What every fault worker process shares, whatever its backend: its config and journal, the orders
 * of the harness (kill itself at a phase, block its event loop), the steps of a task's work with a
 * look at its signal before each, loading the scheduler while the store may be down, and closing
 * on SIGTERM. `fault-worker.ts` (the synthetic task source) and `procrastinate-fault-worker.ts`
 * build on it.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Scheduler } from '../../../src/scheduler/scheduler.js';
import { takeControls, type KillPhase } from './control.js';
import type { TaskRef, WorkerEvent } from './events.js';
import { JournalWriter, journalPath, monotonicNs } from './journal.js';
import { Misbehaviours } from './misbehave.js';
import type { WorkerConfig } from './worker-config.js';
import { storeOptions } from './worker-store.js';

/** The worker's config (FAULT_WORKER) and journal; fatal errors are journaled, then the process exits 1. */
export function startWorkerProcess<C extends WorkerConfig = WorkerConfig>(
  script: string,
): { config: C; journal: JournalWriter<WorkerEvent>; fatal: (error: unknown) => never } {
  const config = JSON.parse(process.env.FAULT_WORKER ?? 'null') as C | null;
  if (!config) throw new Error(`${script} needs FAULT_WORKER, a JSON WorkerConfig`);
  const journal = new JournalWriter<WorkerEvent>(journalPath(config.runDir, 'worker', process.pid));
  /** Records an error this process cannot handle (a violation for the checker), and exits. */
  const fatal = (error: unknown): never => {
    journal.write({ ev: 'fatal', error: error instanceof Error ? (error.stack ?? error.message) : String(error) });
    process.exit(1);
  };
  process.on('uncaughtException', (error) => fatal(error));
  process.on('unhandledRejection', (error) => fatal(error));
  return { config, journal, fatal };
}

/** The harness's orders to this process (harness/control.ts), as they arrive on SIGUSR2. */
export class Orders {
  armedPhase: KillPhase | undefined;
  private blockOrder: { ms: number; before: number } | undefined;
  /** Until when (monotonic ns) the next poll returns the id of a task holding a slot. */
  duplicateBefore = 0;
  /** Backend calls ordered to misbehave. */
  readonly misbehaviours: Misbehaviours;

  constructor(
    private readonly runDir: string,
    private readonly journal: JournalWriter<WorkerEvent>,
  ) {
    this.misbehaviours = new Misbehaviours(journal);
    process.on('SIGUSR2', () => {
      for (const control of takeControls(this.runDir)) {
        if (control.action === 'die') this.armedPhase = control.phase;
        if (control.action === 'block') this.blockOrder = control;
        if (control.action === 'misbehave') this.misbehaviours.order(control.call, control);
        if (control.action === 'duplicate') this.duplicateBefore = control.before;
      }
    });
  }

  /** SIGKILL of this very process, when armed for `phase`: a real kill -9, at a chosen point. */
  dieIfArmed(phase: KillPhase): void {
    if (this.armedPhase !== phase) return;
    this.journal.write({ ev: 'dying', phase });
    process.kill(process.pid, 'SIGKILL');
  }

  /** Blocks the event loop now if a block was ordered in time: called from a task's step. */
  blockIfOrdered(): void {
    if (this.blockOrder === undefined) return;
    // An order no task could take in time is dropped: a block after the last fault would blur recovery.
    const { ms, before } = this.blockOrder;
    this.blockOrder = undefined;
    if (monotonicNs() >= before) return;
    this.journal.write({ ev: 'block-start', ms });
    // As a CPU-bound task would, without burning the shared CPU meanwhile.
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
    this.journal.write({ ev: 'block-end' });
  }
}

/** How a task's steps ended: all done, or stopped at a look that found its signal fired. */
export interface StepsResult {
  aborted: boolean;
  done: number;
  /** The last look at the signal that let the task go on (monotonic ns), or null. */
  lastGo: number | null;
}

/**
 * Runs `steps` steps of `stepMs`, each after a look at `signal` (after a stall, reading the signal
 * checks the lease). The last look, with every step done, is also recorded as `lastGo`: the caller
 * acts on its result in the same tick, so that no stall falls unnoticed between the two.
 */
export async function runSteps(
  signal: AbortSignal,
  steps: number,
  stepMs: number,
  orders: Orders,
  afterStep: (done: number) => void = () => {},
): Promise<StepsResult> {
  let done = 0;
  let lastGo: number | null = null;
  for (;;) {
    if (signal.aborted) return { aborted: true, done, lastGo };
    lastGo = monotonicNs();
    if (done === steps) return { aborted: false, done, lastGo };
    orders.blockIfOrdered();
    await sleep(stepMs);
    done++;
    afterStep(done);
  }
}

/** A task's length in steps, from the config's task shape (one in `longShare` long). */
export function stepsOf(config: WorkerConfig, rng: { chance(p: number): boolean; int(min: number, max: number): number }): number {
  const { minMs, maxMs, longShare, longMinMs, longMaxMs, stepMs } = config.tasks;
  return Math.ceil((rng.chance(longShare) ? rng.int(longMinMs, longMaxMs) : rng.int(minMs, maxMs)) / stepMs);
}

/** The journal's reference to a task's occupancy. */
export const refOf = (taskId: string, context: { token: number; slotId: string }): TaskRef => ({
  taskId,
  token: context.token,
  slotId: context.slotId,
});

/** True while a process with this pid exists (stopped ones too). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Loads the slot config; a replacement may start while the store is down (restarted, frozen), so it tries until it loads. */
export async function loadUntilReady(
  scheduler: Scheduler,
  slots: Parameters<Scheduler['load']>[0],
  journal: JournalWriter<WorkerEvent>,
  fatal: (error: unknown) => never,
): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await scheduler.load(slots);
      return;
    } catch (error) {
      if (attempt === 150) fatal(error);
      journal.write({ ev: 'pass-error', error: `load: ${String(error).slice(0, 300)}` });
      await sleep(200);
    }
  }
}

/** On SIGTERM: runs `before`, closes the scheduler, journals `closed`, runs `after`, exits 0. */
export function closeOnSigterm(
  scheduler: Scheduler,
  journal: JournalWriter<WorkerEvent>,
  fatal: (error: unknown) => never,
  hooks: { before?(): void; after?(): void | Promise<void> } = {},
): void {
  process.once('SIGTERM', () => {
    hooks.before?.();
    void scheduler
      .close()
      .then(async () => {
        journal.write({ ev: 'closed' });
        await hooks.after?.();
        process.exit(0);
      })
      .catch(fatal);
  });
}

/** The fleet's scheduler, on the run's slot store, with the scenario's timing. */
export function faultScheduler(config: WorkerConfig): Scheduler {
  return new Scheduler({
    name: config.name,
    ...storeOptions(config.store),
    timeout: config.timeoutMs,
    processLease: config.processLeaseMs,
    reservationTimeout: config.reservationTimeoutMs,
    pollTimeout: config.pollTimeoutMs,
    callbackTimeout: config.callbackTimeoutMs,
    deliveryLease: config.deliveryLeaseMs,
    ...(config.maxLocalTasks === null ? {} : { maxLocalTasks: config.maxLocalTasks }),
    ...(config.endedRetentionMs === undefined ? {} : { endedRetention: config.endedRetentionMs }),
  });
}
