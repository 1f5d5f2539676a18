/**
 * Runs one fault scenario from start to verdict: servers of its own (the task source's Redis and
 * the slot store), a fleet of worker processes, a steady feed of tasks, the faults, a recovery
 * window, the drain; then the checker reads the journal.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ownRedis, type Teardown } from '../../helpers/own-servers.js';
import { checkRun, type CheckReport } from '../checker.js';
import { recoveryBoundMs, settleBoundMs, type Scenario } from '../scenarios.js';
import type { HarnessEvent } from './events.js';
import { injectFaults } from './faults.js';
import { Canceller } from './canceller.js';
import { Fleet, type FleetOptions } from './fleet.js';
import { journalPath, JournalWriter, readJournal } from './journal.js';
import { Rng } from './rng.js';
import { startStore } from './stores.js';
import { TaskSource } from './task-source.js';
import { faultSchedulerName, type SchedulerTiming, type WorkerConfig } from './worker-config.js';

export interface RunResult {
  scenario: Scenario;
  /** The journal and the workers' logs; removed after a clean run unless kept. */
  runDir: string;
  report: CheckReport;
  /** Journal lines that could not be read (none should be). */
  unreadable: number;
}

export interface RunOptions {
  /** Where the run's servers and processes register their cleanup. */
  teardown: Teardown;
  /** Keep the run directory even when no violation was found. */
  keepRunDir?: boolean;
  /** Progress lines. */
  log?: (line: string) => void;
  /** How the fleet starts its processes (e.g. under a skewed clock); default: plain node. */
  fleet?: FleetOptions;
}

export async function runScenario(scenario: Scenario, options: RunOptions): Promise<RunResult> {
  const { log, runDir, journal } = openRun(scenario, options);
  const shape = scenario.fleet;

  const sourceServer = await ownRedis(options.teardown);
  const source = new TaskSource(sourceServer.url);
  options.teardown.teardown(() => source.close());
  const store = await startStore(scenario.store, options.teardown);
  const config = workerConfigOf(scenario, runDir, sourceServer.url, store.workerStore);
  const fleet = new Fleet(config, shape.workers, journal, options.fleet);
  options.teardown.teardown(() => fleet.killAll());
  await fleet.start();
  const feeder = feed(source, journal, 2 * shape.slots);
  const canceller = new Canceller(
    store.workerStore,
    config.name,
    journal,
    () => feeder.fed(),
    () => source.cancelled(),
  );
  options.teardown.teardown(() => canceller.close());

  // Warm up to a full fleet, inject, then let the fleet show it recovers while work keeps coming.
  await sleep(1000);
  log(`${scenario.name}: injecting ${scenario.faults.join(', ')} for ${scenario.durationMs} ms`);
  await injectFaults({ scenario, fleet, store, journal, canceller, source }, new Rng(scenario.seed), Date.now() + scenario.durationMs);
  journal.write({ ev: 'faults-done' });
  const faultsDone = Date.now();
  // Work keeps coming until the fleet runs every slot again (the checker times it), or past the bound.
  await fullAgain(runDir, shape.slots, faultsDone + recoveryBoundMs(scenario) + 1000);
  await feeder.stop();
  journal.write({ ev: 'feed-stop' });

  const drained = await drain(source, 3 * recoveryBoundMs(scenario));
  log(`${scenario.name}: ${drained ? 'drained' : 'NOT drained'}; settling the last ends`);
  await settle(runDir, faultsDone + settleBoundMs(scenario) + 1000);
  await fleet.shutdown();
  await canceller.close();
  journal.write({ ev: 'source-final', notDone: (await source.notDone()).slice(0, 100) });
  journal.write({ ev: 'end', drained });
  journal.close();

  const { events, unreadable } = readJournal(runDir);
  const report = checkRun(events, {
    slots: shape.slots,
    recoveryBoundMs: recoveryBoundMs(scenario),
    requireRedelivery: scenario.requireRedelivery,
  });
  if (report.violations.length === 0 && unreadable === 0 && !options.keepRunDir) rmSync(runDir, { recursive: true, force: true });
  return { scenario, runDir, report, unreadable };
}

/** The run's directory and harness journal, its first line written. */
export function openRun(scenario: Scenario, options: RunOptions): OpenedRun {
  const { fleet } = scenario;
  return openRunDir(
    'ts-faults-',
    { scenario: scenario.name, seed: scenario.seed, store: scenario.store, slots: fleet.slots, workers: fleet.workers },
    options.log,
  );
}

export interface OpenedRun {
  log: (line: string) => void;
  runDir: string;
  journal: JournalWriter<HarnessEvent>;
}

/** A run directory under the system's temp dir (`prefix` names its kind) and its harness journal, opened with `header`. */
export function openRunDir(
  prefix: string,
  header: Omit<Extract<HarnessEvent, { ev: 'run' }>, 'ev'>,
  log: (line: string) => void = () => {},
): OpenedRun {
  const runDir = mkdtempSync(join(tmpdir(), prefix));
  const journal = new JournalWriter<HarnessEvent>(journalPath(runDir, 'harness', process.pid));
  journal.write({ ev: 'run', ...header });
  log(`${header.scenario} seed ${header.seed}: journal in ${runDir}`);
  return { log, runDir, journal };
}

/** What every worker of the scenario's fleet is told. */
export function workerConfigOf(scenario: Scenario, runDir: string, sourceUrl: string, store: WorkerConfig['store']): WorkerConfig {
  const { fleet: shape, tasks } = scenario;
  return {
    runDir,
    sourceUrl,
    store,
    name: faultSchedulerName,
    slots: shape.slots,
    backends: shape.backends,
    ...timingFields(scenario.timing),
    maxLocalTasks: shape.maxLocalTasks,
    tasks,
    seed: scenario.seed,
  };
}

/** A worker's scheduler durations and the cron of its passes (every `passMs`, in whole seconds). */
export function timingFields(timing: SchedulerTiming & { passMs: number }): SchedulerTiming & { cron: string } {
  const { timeoutMs, processLeaseMs, reservationTimeoutMs, pollTimeoutMs, callbackTimeoutMs, deliveryLeaseMs, passMs } = timing;
  return {
    timeoutMs,
    processLeaseMs,
    reservationTimeoutMs,
    pollTimeoutMs,
    callbackTimeoutMs,
    deliveryLeaseMs,
    cron: `*/${Math.max(1, Math.round(passMs / 1000))} * * * * *`,
  };
}

/** Keeps at least `backlog` task ids waiting in the source (so that every free slot finds work), until stopped. */
function feed(source: TaskSource, journal: JournalWriter<HarnessEvent>, backlog: number): { stop(): Promise<void>; fed(): number } {
  let next = 1;
  let running = true;
  let failure: { error: unknown } | undefined;
  // Caught here: a run that fails elsewhere closes the source under this loop and never stops it.
  const loop = (async () => {
    while (running) {
      const waiting = await source.waiting();
      if (waiting < backlog) {
        const taskIds = Array.from({ length: backlog + backlog / 2 - waiting }, () => `t${next++}`);
        await source.feed(taskIds);
        journal.write({ ev: 'feed', taskIds });
      }
      await sleep(100);
    }
  })().catch((error: unknown) => void (failure = { error }));
  return {
    async stop() {
      running = false;
      await loop;
      if (failure) throw failure.error;
    },
    fed: () => next - 1,
  };
}

/** Waits until every id fed is done; gives up after `idleMs` without a completion. */
export async function drain(source: TaskSource, idleMs: number): Promise<boolean> {
  let last = -1;
  let progressAt = Date.now();
  for (;;) {
    const { fed, done } = await source.counts();
    if (done === fed) return true;
    if (done !== last) {
      last = done;
      progressAt = Date.now();
    }
    if (Date.now() - progressAt > idleMs) return false;
    await sleep(200);
  }
}

/** Waits until the journal shows `slots` executions running at once, or until `deadline`. */
export async function fullAgain(runDir: string, slots: number, deadline: number): Promise<void> {
  while (Date.now() < deadline) {
    const running = new Set<string>();
    const dead = new Set<number>();
    for (const event of readJournal(runDir).events) {
      if (event.ev === 'exec-start') running.add(`${event.pid}:${event.taskId}#${event.token}`);
      if (event.ev === 'exec-end') running.delete(`${event.pid}:${event.taskId}#${event.token}`);
      if (event.ev === 'exit') dead.add(event.child);
    }
    if ([...running].filter((key) => !dead.has(Number(key.split(':')[0]))).length >= slots) return;
    await sleep(250);
  }
}

/**
 * Waits until every occupancy the journal shows started has had its stopCallback in a process that
 * was not killed in it (those of killed processes are reaped, or delivered again once their
 * delivery lease lapses, within the settle bound of the last fault), or until `deadline`: some
 * ends are never delivered (lost with the store's state), and the checker says which may not be.
 */
export async function settle(runDir: string, deadline: number): Promise<void> {
  while (Date.now() < deadline) {
    const started = new Set<string>();
    const ended = new Set<string>();
    const dead = new Set<number>();
    const deliveries: Array<{ key: string; pid: number; done: boolean }> = [];
    for (const event of readJournal(runDir).events) {
      if (event.ev === 'occupied' || event.ev === 'start-callback') started.add(`${event.taskId}#${event.token}`);
      if (event.ev === 'stop-callback') deliveries.push({ key: `${event.taskId}#${event.token}`, pid: event.pid, done: false });
      if (event.ev === 'stop-callback-done') ended.add(`${event.taskId}#${event.token}`);
      if (event.ev === 'exit' && event.signal === 'SIGKILL') dead.add(event.child);
    }
    for (const d of deliveries) if (!dead.has(d.pid)) ended.add(d.key);
    if ([...started].every((key) => ended.has(key))) return;
    await sleep(500);
  }
}
