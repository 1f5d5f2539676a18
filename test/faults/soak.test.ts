/**
 * The soak, short: 4 processes share 1,000 slots under a steady stream of tasks for a minute per
 * store (SOAK_DURATION lengthens it; `npm run soak` runs 10 minutes). Every rule of the fault
 * checker holds on its journal, and heap, handles, store keys and errors stay flat (soak/judge.ts).
 * A failure keeps the journal and prints the command that replays it.
 */
import test from 'ava';
import { parseDuration } from '../../src/core/duration.js';
import { randomSeed } from './harness/rng.js';
import { storeKinds } from './harness/stores.js';
import { soakPlan } from './soak/plan.js';
import { runSoak } from './soak/run-soak.js';
import { formatSoakSummary } from './soak/summary.js';

for (const store of storeKinds) {
  test.serial(
    `${store}: a minute of steady tasks on 1,000 slots: nothing lost or over the bound; heap, handles, store keys and errors flat`,
    async (t) => {
      const durationMs = parseDuration(process.env.SOAK_DURATION ?? '60s', 'SOAK_DURATION');
      const seed = Number(process.env.FAULTS_SEED ?? randomSeed());
      // The feed, a warm-up before it, the drain and the servers' start and stop.
      t.timeout(durationMs + 180_000);
      const result = await runSoak(soakPlan(store, { durationMs, seed }), { teardown: t });
      t.log(formatSoakSummary([result]));
      const replay = `replay: node dist/test/faults/soak/cli.js --store=${store} --duration=${durationMs}ms --seed=${seed} (journal: ${result.runDir})`;
      t.deepEqual(result.report.violations, [], replay);
      t.deepEqual(result.verdict.failures, [], replay);
      t.is(result.unreadable, 0, replay);
      const { fed, completed } = result.report.figures;
      t.true(completed > 0 && completed === fed, `${completed} of ${fed} tasks done; ${replay}`);
      // The journal stays a record, not a flood: about a kilobyte per task at 1,000 slots.
      t.true(result.journalBytes < 2048 * fed, `${result.journalBytes} journal bytes for ${fed} tasks; ${replay}`);
    },
  );
}
