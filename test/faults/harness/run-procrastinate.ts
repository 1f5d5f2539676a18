/**
 * Runs one Procrastinate fault scenario from start to verdict: a PostgreSQL of the run's own holds
 * the jobs (and the slots, or a redis-server of its own does), a fleet of
 * procrastinate-fault-worker.ts processes runs them, the harness defers jobs as Python would,
 * plays Python's stalled-job recipe and samples the `doing` rows; the faults break the processes
 * and the PostgreSQL; then both checkers read the journal.
 */
import { rmSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { ownPostgres } from '../../helpers/own-servers.js';
import { checkRun } from '../checker.js';
import { checkProcrastinate } from '../procrastinate-checker.js';
import { recoveryBoundMs, type Scenario } from '../scenarios.js';
import { injectFaults } from './faults.js';
import { Fleet } from './fleet.js';
import { readJournal } from './journal.js';
import { jobsUrl, ProcrastinateJobs } from './procrastinate-jobs.js';
import { Rng } from './rng.js';
import { fullAgain, openRun, settle, workerConfigOf, type RunOptions, type RunResult } from './run-scenario.js';
import { postgresFaultStore, startStore } from './stores.js';
import type { WorkerConfig } from './worker-config.js';

const workerScript = fileURLToPath(new URL('../procrastinate-fault-worker.js', import.meta.url));

/**
 * Python's side: a worker silent this long has its `doing` jobs retried. Above any stall the
 * faults cause (a SIGSTOP or a freeze lasts at most 4.5 s, and both may follow each other), so
 * that the recipe retries the jobs of killed processes, not of live ones.
 */
export const staleSeconds = 10;
/** The workers' heartbeat, well under `staleSeconds`. */
const heartbeatMs = 1000;
/** How often the recipe runs, and how often the `doing` rows are sampled. */
const recoverEveryMs = 1000;
const sampleEveryMs = 100;

export async function runProcrastinateScenario(scenario: Scenario, options: RunOptions): Promise<RunResult> {
  const { log, runDir, journal } = openRun(scenario, options);
  const shape = scenario.fleet;

  // The faults break the jobs' PostgreSQL; the slots are on it too, or on a redis-server left alone.
  const database = await ownPostgres(options.teardown);
  const faultStore = postgresFaultStore(database);
  const slotStore = scenario.store === 'postgres' ? faultStore : await startStore('redis', options.teardown);
  const jobs = new ProcrastinateJobs(database.url, journal);
  options.teardown.teardown(() => jobs.close());
  await jobs.setup();

  // Every slot lists the Procrastinate backend, whose handlers run in process.
  const config: WorkerConfig = {
    ...workerConfigOf(scenario, runDir, '', slotStore.workerStore),
    backends: 'in-process',
    procrastinate: { url: jobsUrl(database.url), heartbeatMs },
  };
  const fleet = new Fleet(config, shape.workers, journal, { script: workerScript });
  options.teardown.teardown(() => fleet.killAll());
  await fleet.start();
  const sampler = jobs.sampleDoing(sampleEveryMs);
  const recovery = jobs.recoverStalled(recoverEveryMs, staleSeconds);
  const feeder = jobs.feed(new Rng(scenario.seed).fork('feed'), 2 * shape.slots);

  await sleep(1000);
  log(`${scenario.name}: injecting ${scenario.faults.join(', ')} for ${scenario.durationMs} ms`);
  await injectFaults({ scenario, fleet, store: faultStore, journal }, new Rng(scenario.seed), Date.now() + scenario.durationMs);
  journal.write({ ev: 'faults-done' });
  const faultsDone = Date.now();
  await fullAgain(runDir, shape.slots, faultsDone + recoveryBoundMs(scenario) + 1000);
  await feeder.stop();
  journal.write({ ev: 'feed-stop' });

  // The jobs of killed processes come back once the recipe finds them stalled: wait for that too.
  const drained = await jobs.drain(staleSeconds * 1000 + 3 * recoveryBoundMs(scenario));
  log(`${scenario.name}: ${drained ? 'drained' : 'NOT drained'}; settling the last ends`);
  await settle(runDir, faultsDone + recoveryBoundMs(scenario) + 1000);
  await jobs.journalFinal('drained');
  // The recipe stops before the fleet closes: a job the fleet leaves `doing` must show in the tables.
  await recovery.stop();
  await sampler.stop();
  await fleet.shutdown();
  await jobs.journalFinal('closed');
  journal.write({ ev: 'end', drained });
  journal.close();

  const { events, unreadable } = readJournal(runDir);
  const checkConfig = { slots: shape.slots, recoveryBoundMs: recoveryBoundMs(scenario), requireRedelivery: scenario.requireRedelivery };
  const report = checkProcrastinate(events, checkConfig, checkRun(events, checkConfig));
  if (report.violations.length === 0 && unreadable === 0 && !options.keepRunDir) rmSync(runDir, { recursive: true, force: true });
  return { scenario, runDir, report, unreadable };
}
