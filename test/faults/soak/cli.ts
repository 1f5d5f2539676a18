/**
 * The soak's command line: runs the soak on each store, prints its figures, exits 1 if a rule of
 * the checker broke or something did not stay flat.
 *
 *   node dist/test/faults/soak/cli.js --store=redis|postgres|all --duration=10m --seed=N [--keep]
 *
 * `npm run soak` runs the long version (test/faults/README.md, "The soak").
 */
import { parseDuration } from '../../../src/core/duration.js';
import { readArgs, seedArg, storesArg } from '../harness/cli-args.js';
import { storeKinds, type StoreKind } from '../harness/stores.js';
import { Cleanup } from '../harness/cleanup.js';
import { soakPlan } from './plan.js';
import { runSoak, type SoakResult } from './run-soak.js';
import { formatSoakSummary } from './summary.js';

const usage = `usage: node dist/test/faults/soak/cli.js [--store=redis|postgres|all] [--duration=10m] [--seed=N] [--keep]
  --store    the slot store; default all (one after the other)
  --duration how long tasks are fed on each store; default 10m
  --seed     the seed (task lengths); default random
  --keep     keep the journal of every run, not only of those that failed`;

function parseArgs(argv: string[]): { stores: StoreKind[]; durationMs: number; seed: number; keep: boolean } {
  const args = readArgs(argv, ['store', 'duration', 'seed', 'keep'], usage);
  return {
    stores: storesArg(args.get('store'), storeKinds),
    durationMs: parseDuration(args.get('duration') ?? '10m', '--duration'),
    seed: seedArg(args.get('seed')),
    keep: args.has('keep'),
  };
}

const options = parseArgs(process.argv.slice(2));
const results: SoakResult[] = [];
let cleanup = new Cleanup();
process.once('SIGINT', () => void cleanup.run().then(() => process.exit(130)));
for (const store of options.stores) {
  cleanup = new Cleanup();
  try {
    const result = await runSoak(soakPlan(store, { durationMs: options.durationMs, seed: options.seed }), {
      teardown: cleanup,
      keepRunDir: options.keep,
      log: (line) => console.error(line),
    });
    results.push(result);
    console.error(formatSoakSummary([result]));
  } finally {
    await cleanup.run();
  }
}
console.log(`\n${formatSoakSummary(results)}`);
process.exit(results.some((r) => r.report.violations.length > 0 || r.verdict.failures.length > 0 || r.unreadable > 0) ? 1 : 0);
