/**
 * Judges kept run directories again with the current checker, without running anything:
 *
 *   node dist/test/faults/recheck.js /tmp/ts-faults-XXXX [...]
 *
 * For a change to the checker, or a closer look at a run that failed. Prints the same table as
 * run.js; exits 1 on any violation.
 */
import { checkRun } from './checker.js';
import type { EventOf, FaultName } from './harness/events.js';
import { readJournal } from './harness/journal.js';
import type { RunResult } from './harness/run-scenario.js';
import type { StoreKind } from './harness/stores.js';
import { checkProcrastinate } from './procrastinate-checker.js';
import { formatJobFigures } from './procrastinate-summary.js';
import { recoveryBoundMs, scenario, type BackendKind } from './scenarios.js';
import { formatSummary } from './summary.js';

const dirs = process.argv.slice(2);
if (dirs.length === 0) {
  console.error('usage: node dist/test/faults/recheck.js <run directory>...');
  process.exit(2);
}
const results: RunResult[] = dirs.map((runDir) => {
  const { events, unreadable } = readJournal(runDir);
  const run = events.find((e): e is EventOf<'run'> => e.ev === 'run');
  if (!run) throw new Error(`${runDir}: no run line: not the journal of a fault run`);
  // `procrastinate/postgres:kill` names the backend first; the synthetic source's runs name none.
  const [where, faults] = run.scenario.split(':') as [string, string];
  const [backend, store] = (where.includes('/') ? where.split('/') : ['source', where]) as [BackendKind, StoreKind];
  // The defaults of the scenario, as run.js made it: its timing gives the recovery bound.
  const s = scenario(store, faults.split('+') as FaultName[], { durationMs: 0, seed: run.seed, backend });
  const config = { slots: run.slots, recoveryBoundMs: recoveryBoundMs(s), requireRedelivery: s.requireRedelivery };
  const base = checkRun(events, config);
  const report = backend === 'procrastinate' ? checkProcrastinate(events, config, base) : base;
  return { scenario: s, runDir, report, unreadable };
});
console.log(formatSummary(results));
if (results.some((r) => r.scenario.backend === 'procrastinate')) console.log(`\n${formatJobFigures(results)}`);
process.exit(results.some((r) => r.report.violations.length > 0) ? 1 : 0);
