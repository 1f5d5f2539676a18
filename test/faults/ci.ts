/**
 * The short fault runs of `npm test`: one scenario per store, a few seconds of faults each, no
 * violation allowed. A failure prints the seed and the command that replays it, and keeps the
 * journal. FAULTS_SEED fixes the seed; FAULTS_DURATION (e.g. `30s`) lengthens the runs.
 */
import type { ExecutionContext, TestFn } from 'ava';
import { parseDuration } from '../../src/core/duration.js';
import type { FaultName } from './harness/events.js';
import { runScenario, type RunResult } from './harness/run-scenario.js';
import { randomSeed } from './harness/rng.js';
import { storeKinds, type StoreKind } from './harness/stores.js';
import { scenario } from './scenarios.js';
import { formatSummary } from './summary.js';

/**
 * Runs `faults` on each of `stores` (by default the single-server ones) for `npm test`; `more`
 * asserts what the project documents for them.
 */
export function ciFaultTests(
  test: TestFn,
  faults: FaultName[],
  title: (store: StoreKind) => string,
  more: (t: ExecutionContext, result: RunResult) => void = () => {},
  stores: readonly StoreKind[] = storeKinds,
): void {
  for (const store of stores) {
    test.serial(title(store), async (t) => {
      // Faults, a recovery window, the drain and the servers' start and stop: well under this.
      t.timeout(180_000);
      const durationMs = parseDuration(process.env.FAULTS_DURATION ?? '12s', 'FAULTS_DURATION');
      const seed = Number(process.env.FAULTS_SEED ?? randomSeed());
      const result = await runScenario(scenario(store, faults, { durationMs, seed }), { teardown: t });
      t.log(formatSummary([result]));
      const replay = `replay: node dist/test/faults/run.js --store=${store} --faults=${faults.join('+')} --duration=${durationMs}ms --seed=${seed} (journal: ${result.runDir})`;
      t.deepEqual(result.report.violations, [], replay);
      t.is(result.unreadable, 0, replay);
      // The faults were injected, and work went through them.
      for (const fault of faults)
        t.true(
          Object.keys(result.report.figures.faults).some((kind) => kind.startsWith(fault)),
          `no ${fault} injected; ${replay}`,
        );
      t.true(result.report.figures.completed > 0);
      more(t, result);
    });
  }
}
