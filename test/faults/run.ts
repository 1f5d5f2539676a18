/**
 * The fault suite's command line: runs scenarios, prints their figures, exits 1 on any violation.
 *
 *   node dist/test/faults/run.js --store=redis|postgres|redis-cluster|all
 *                                --faults=kill,stop,block,restart,freeze,failover,master-kill|mixed|all
 *                                --duration=60s --seed=N [--keep] [--backend=source|procrastinate]
 *
 * `npm run faults` runs the long version (see test/faults/README.md).
 */
import { parseDuration } from '../../src/core/duration.js';
import { Cleanup } from './harness/cleanup.js';
import { readArgs, seedArg, storesArg } from './harness/cli-args.js';
import { runProcrastinateScenario } from './harness/run-procrastinate.js';
import { runScenario, type RunResult } from './harness/run-scenario.js';
import { allStoreKinds, storeKinds, type StoreKind } from './harness/stores.js';
import { formatJobFigures } from './procrastinate-summary.js';
import { backendKinds, parseFaults, scenario, type BackendKind } from './scenarios.js';
import { formatSummary } from './summary.js';

const usage = `usage: node dist/test/faults/run.js [--store=redis|postgres|redis-cluster|all] [--faults=LIST] [--duration=60s] [--seed=N] [--keep] [--backend=source|procrastinate]
  --store    all is redis and postgres; redis-cluster is a cluster of 3 masters and 3 replicas
  --faults   comma-separated scenarios: kill, stop, block, and the store's own: restart, freeze
             (redis, postgres) or failover, master-kill (redis-cluster); several joined by +,
             mixed (all the store takes, at once) or all (each alone, then mixed); default all
  --duration how long each scenario injects faults; default 60s
  --seed     the seed of the first scenario (the next ones add 1); default random
  --keep     keep every run's journal, not only those with violations
  --backend  what the fleet runs: source (the synthetic task source, default) or procrastinate
             (Procrastinate jobs on a PostgreSQL of the run's own, which the store faults break;
             --store, redis or postgres, then says where the slots are)`;

interface Options {
  stores: StoreKind[];
  faults: string;
  durationMs: number;
  seed: number;
  keep: boolean;
  backend: BackendKind;
}

function parseArgs(argv: string[]): Options {
  const args = readArgs(argv, ['store', 'faults', 'duration', 'seed', 'keep', 'backend'], usage);
  const backend = args.get('backend') ?? 'source';
  if (!backendKinds.includes(backend as BackendKind)) throw new Error(`--backend: got "${backend}"; allowed: ${backendKinds.join(', ')}`);
  const stores = storesArg(args.get('store'), backend === 'procrastinate' ? storeKinds : allStoreKinds);
  const faults = args.get('faults') ?? 'all';
  for (const kind of stores) parseFaults(faults, kind, backend as BackendKind); // every store takes every scenario
  return {
    stores,
    faults,
    durationMs: parseDuration(args.get('duration') ?? '60s', '--duration'),
    seed: seedArg(args.get('seed')),
    keep: args.has('keep'),
    backend: backend as BackendKind,
  };
}

const options = parseArgs(process.argv.slice(2));
const results: RunResult[] = [];
let seed = options.seed;
// Ctrl-C stops the servers and processes of the scenario under way before exiting.
let cleanup = new Cleanup();
process.once('SIGINT', () => void cleanup.run().then(() => process.exit(130)));
for (const store of options.stores) {
  for (const faults of parseFaults(options.faults, store, options.backend)) {
    cleanup = new Cleanup();
    try {
      const run = scenario(store, faults, { durationMs: options.durationMs, seed: seed++, backend: options.backend });
      const runOne = options.backend === 'procrastinate' ? runProcrastinateScenario : runScenario;
      results.push(await runOne(run, { teardown: cleanup, keepRunDir: options.keep, log: (line) => console.error(line) }));
      console.error(formatSummary(results.slice(-1)));
    } finally {
      await cleanup.run();
    }
  }
}
console.log(`\n${formatSummary(results)}`);
if (options.backend === 'procrastinate') console.log(`\n${formatJobFigures(results)}`);
process.exit(results.some((r) => r.report.violations.length > 0) ? 1 : 0);
