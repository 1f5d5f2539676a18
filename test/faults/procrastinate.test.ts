/**
 * The Procrastinate fleet under every fault at once: kill -9 at any phase, SIGSTOP, blocked event
 * loops, PostgreSQL restarts (fast and immediate) and freezes, while jobs are deferred through SQL
 * as Python defers them and Python's stalled-job recipe retries the jobs of dead workers. Besides
 * the rules of every fault run (never more executions than slots, one end per occupancy...), the
 * jobs table never shows more `doing` rows of live workers than slots, and once drained every job
 * is at an end its handler and its task's retry policy explain, with honest `attempts`, and none
 * is left `doing`. FAULTS_SEED fixes the seed; FAULTS_DURATION (e.g. `60s`) lengthens the run.
 */
import test from 'ava';
import { parseDuration } from '../../src/core/duration.js';
import { randomSeed } from './harness/rng.js';
import { runProcrastinateScenario } from './harness/run-procrastinate.js';
import type { StoreKind } from './harness/stores.js';
import type { ProcrastinateReport } from './procrastinate-checker.js';
import { formatJobFigures } from './procrastinate-summary.js';
import { faultsOf, scenario } from './scenarios.js';
import { formatSummary } from './summary.js';

const runs: Array<{ slots: StoreKind; durationMs: string; title: string }> = [
  { slots: 'postgres', durationMs: '14s', title: 'slots and jobs on one PostgreSQL' },
  { slots: 'redis', durationMs: '5s', title: 'slots on Redis, jobs on PostgreSQL' },
];

for (const { slots, durationMs: defaultDuration, title } of runs) {
  test.serial(
    `procrastinate, ${title}: mixed faults; doing rows never above the slots, every job at an end its policy explains, honest attempts`,
    async (t) => {
      // Faults, recovery, the stalled-job recipe's 10 s, the drain and the servers: well under this.
      t.timeout(180_000);
      const durationMs = parseDuration(process.env.FAULTS_DURATION ?? defaultDuration, 'FAULTS_DURATION');
      const seed = Number(process.env.FAULTS_SEED ?? randomSeed());
      const result = await runProcrastinateScenario(
        scenario(slots, faultsOf('postgres', 'procrastinate'), { durationMs, seed, backend: 'procrastinate' }),
        { teardown: t },
      );
      t.log(`${formatSummary([result])}\n\n${formatJobFigures([result])}`);
      const replay = `replay: node dist/test/faults/run.js --backend=procrastinate --store=${slots} --faults=mixed --duration=${durationMs}ms --seed=${seed} (journal: ${result.runDir})`;
      t.deepEqual(result.report.violations, [], replay);
      t.is(result.unreadable, 0, replay);
      const { figures, jobs } = result.report as ProcrastinateReport;
      // Faults of both lanes were injected, and jobs went through them to every kind of end.
      const injected = Object.keys(figures.faults);
      t.true(
        injected.some((kind) => ['kill', 'stop', 'block'].some((fault) => kind.startsWith(fault))),
        `process faults: ${injected.join(', ')}; ${replay}`,
      );
      t.true(
        injected.some((kind) => kind === 'restart' || kind === 'freeze'),
        `database faults: ${injected.join(', ')}; ${replay}`,
      );
      t.true((jobs.statuses.succeeded ?? 0) > 0 && (jobs.statuses.failed ?? 0) > 0, `statuses: ${JSON.stringify(jobs.statuses)}`);
      t.true(jobs.samples > 0);
    },
  );
}
