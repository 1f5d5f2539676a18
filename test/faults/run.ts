/**
 * The fault suite's command line: runs scenarios, prints their figures, exits 1 on any violation.
 *
 *   node dist/test/faults/run.js --store=redis|postgres|redis-cluster|all
 *                                --faults=kill,stop,block,restart,freeze,failover,master-kill|mixed|all
 *                                --duration=60s --seed=N [--keep]
 *
 * `npm run faults` runs the long version (see test/faults/README.md).
 */
import { parseDuration } from '../../src/duration.js';
import { Cleanup } from './harness/cleanup.js';
import { readArgs, seedArg, storesArg } from './harness/cli-args.js';
import { runScenario, type RunResult } from './harness/run-scenario.js';
import type { StoreKind } from './harness/stores.js';
import { parseFaults, scenario } from './scenarios.js';
import { formatSummary } from './summary.js';

const usage = `usage: node dist/test/faults/run.js [--store=redis|postgres|redis-cluster|all] [--faults=LIST] [--duration=60s] [--seed=N] [--keep]
  --store    all is redis and postgres; redis-cluster is a cluster of 3 masters and 3 replicas
  --faults   comma-separated scenarios: kill, stop, block, and the store's own: restart, freeze
             (redis, postgres) or failover, master-kill (redis-cluster); several joined by +,
             mixed (all the store takes, at once) or all (each alone, then mixed); default all
  --duration how long each scenario injects faults; default 60s
  --seed     the seed of the first scenario (the next ones add 1); default random
  --keep     keep every run's journal, not only those with violations`;

function parseArgs(argv: string[]): { stores: StoreKind[]; faults: string; durationMs: number; seed: number; keep: boolean } {
  const args = readArgs(argv, ['store', 'faults', 'duration', 'seed', 'keep'], usage);
  const stores = storesArg(args.get('store'));
  const faults = args.get('faults') ?? 'all';
  for (const kind of stores) parseFaults(faults, kind); // every store takes every scenario
  return {
    stores,
    faults,
    durationMs: parseDuration(args.get('duration') ?? '60s', '--duration'),
    seed: seedArg(args.get('seed')),
    keep: args.has('keep'),
  };
}

const options = parseArgs(process.argv.slice(2));
const results: RunResult[] = [];
let seed = options.seed;
// Ctrl-C stops the servers and processes of the scenario under way before exiting.
let cleanup = new Cleanup();
process.once('SIGINT', () => void cleanup.run().then(() => process.exit(130)));
for (const store of options.stores) {
  for (const faults of parseFaults(options.faults, store)) {
    cleanup = new Cleanup();
    try {
      const run = scenario(store, faults, { durationMs: options.durationMs, seed: seed++ });
      results.push(await runScenario(run, { teardown: cleanup, keepRunDir: options.keep, log: (line) => console.error(line) }));
      console.error(formatSummary(results.slice(-1)));
    } finally {
      await cleanup.run();
    }
  }
}
console.log(`\n${formatSummary(results)}`);
process.exit(results.some((r) => r.report.violations.length > 0) ? 1 : 0);
