/**
 * Runs one soak from start to verdict: servers of its own, a fleet of workers that sample
 * themselves, a steady feed of tasks for the plan's duration while the harness samples the store,
 * then the drain. The fault checker judges the journal as it judges a fault run (never more than
 * the slots, every task done once, every occupancy ended once), and the soak judge says whether
 * memory, handles, store keys and errors stayed flat.
 */
import { rmSync, statSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ownRedis, type Teardown } from '../../helpers/own-servers.js';
import { checkRun, type CheckReport } from '../checker.js';
import type { HarnessEvent } from '../harness/events.js';
import { Fleet } from '../harness/fleet.js';
import { type JournalWriter, readJournal } from '../harness/journal.js';
import { repeat } from '../harness/repeat.js';
import { drain, openRunDir, settle, timingFields } from '../harness/run-scenario.js';
import { startStore } from '../harness/stores.js';
import { TaskSource } from '../harness/task-source.js';
import type { WorkerConfig } from '../harness/worker-config.js';
import { judgeSoak, type SoakVerdict } from './judge.js';
import type { SoakPlan } from './plan.js';
import { storeSampler } from './store-sampler.js';

export interface SoakResult {
  plan: SoakPlan;
  runDir: string;
  report: CheckReport;
  verdict: SoakVerdict;
  unreadable: number;
  /** Bytes of journal written, all files. */
  journalBytes: number;
}

export interface SoakRunOptions {
  teardown: Teardown;
  keepRunDir?: boolean;
  log?: (line: string) => void;
}

export async function runSoak(plan: SoakPlan, options: SoakRunOptions): Promise<SoakResult> {
  const header = { scenario: plan.name, seed: plan.seed, store: plan.store, slots: plan.slots, workers: plan.workers };
  const { log, runDir, journal } = openRunDir('ts-soak-', header, options.log);

  const sourceServer = await ownRedis(options.teardown);
  const source = new TaskSource(sourceServer.url);
  options.teardown.teardown(() => source.close());
  const store = await startStore(plan.store, options.teardown);
  const { timing } = plan;
  const config: WorkerConfig = {
    runDir,
    sourceUrl: sourceServer.url,
    store: store.workerStore,
    name: 'soak',
    slots: plan.slots,
    backends: 'mixed',
    ...timingFields(timing),
    maxLocalTasks: null,
    tasks: plan.tasks,
    seed: plan.seed,
    endedRetentionMs: timing.endedRetentionMs,
    sampleEveryMs: plan.sampleEveryMs,
  };
  const fleet = new Fleet(config, plan.workers, journal, { nodeArgs: ['--expose-gc'] });
  options.teardown.teardown(() => fleet.killAll());
  await fleet.start();

  const sampler = storeSampler(store.workerStore);
  options.teardown.teardown(() => sampler.close());
  const sampling = repeat(plan.sampleEveryMs, async () => journal.write({ ev: 'store-sample', figures: await sampler.sample() }));
  // The idle level that handles must come back to, before any task.
  await sleep(2 * plan.sampleEveryMs + 500);
  const feeder = steadyFeed(source, journal, plan);
  log(`${plan.name}: feeding ${plan.feedPerSecond} tasks/s for ${plan.durationMs} ms`);
  await sleep(plan.durationMs);
  await feeder.stop();
  journal.write({ ev: 'feed-stop' });

  const drainBoundMs = 3 * Math.max(timing.timeoutMs, plan.tasks.maxMs);
  const drained = await drain(source, drainBoundMs);
  log(`${plan.name}: ${drained ? 'drained' : 'NOT drained'}`);
  await settle(runDir, Date.now() + drainBoundMs);
  journal.write({ ev: 'idle' });
  await sleep(plan.idleMs);
  await sampling.stop();
  await fleet.shutdown();
  journal.write({ ev: 'source-final', notDone: (await source.notDone()).slice(0, 100) });
  journal.write({ ev: 'end', drained });
  journal.close();

  const journalBytes = readdirSync(runDir)
    .filter((name) => name.endsWith('.jsonl'))
    .reduce((sum, name) => sum + statSync(join(runDir, name)).size, 0);
  const { events, unreadable } = readJournal(runDir);
  // No fault, so no recovery to time: the bound only matters for runs with faults.
  const report = checkRun(events, { slots: plan.slots, recoveryBoundMs: 0, requireRedelivery: false });
  const verdict = judgeSoak(events, { warmupMs: plan.warmupMs });
  const clean = report.violations.length === 0 && verdict.failures.length === 0 && unreadable === 0;
  if (clean && !options.keepRunDir) rmSync(runDir, { recursive: true, force: true });
  return { plan, runDir, report, verdict, unreadable, journalBytes };
}

/** Feeds `feedPerSecond` new ids a second, in tenths, holding back while the backlog is at `maxBacklog`. */
function steadyFeed(source: TaskSource, journal: JournalWriter<HarnessEvent>, plan: SoakPlan): { stop(): Promise<void> } {
  let next = 1;
  const started = Date.now();
  return repeat(100, async () => {
    // Ids owed by the clock since the start, so that a slow round does not lower the rate.
    const owed = Math.floor(((Date.now() - started) / 1000) * plan.feedPerSecond) - (next - 1);
    const room = plan.maxBacklog - (await source.waiting());
    const count = Math.min(owed, room);
    if (count <= 0) return;
    const taskIds = Array.from({ length: count }, () => `t${next++}`);
    await source.feed(taskIds);
    journal.write({ ev: 'feed', taskIds });
  });
}
