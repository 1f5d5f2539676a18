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
import type { Teardown } from '../helpers/own-servers.js';
import { runScenario, type RunResult } from './harness/run-scenario.js';
import { randomSeed } from './harness/rng.js';
import { allStoreKinds, storeKinds, type StoreKind } from './harness/stores.js';
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

/** Cleanups of one run, in reverse order of registration, as ava runs a test's teardowns. */
class Cleanup implements Teardown {
  private readonly fns: Array<() => unknown> = [];
  teardown(fn: () => unknown): void {
    this.fns.push(fn);
  }
  async run(): Promise<void> {
    for (const fn of this.fns.splice(0).reverse()) await Promise.resolve(fn()).catch((error: unknown) => console.error('cleanup failed:', error));
  }
}

function parseArgs(argv: string[]): { stores: StoreKind[]; faults: string; durationMs: number; seed: number; keep: boolean } {
  const args = new Map<string, string>();
  for (const arg of argv) {
    const match = /^--(\w+)(?:=(.*))?$/.exec(arg);
    if (!match || !['store', 'faults', 'duration', 'seed', 'keep', 'help'].includes(match[1]!)) throw new Error(`unknown argument "${arg}"\n${usage}`);
    args.set(match[1]!, match[2] ?? '');
  }
  if (args.has('help')) {
    console.log(usage);
    process.exit(0);
  }
  const store = args.get('store') ?? 'all';
  if (store !== 'all' && !allStoreKinds.includes(store as StoreKind)) throw new Error(`--store: got "${store}"; allowed: ${allStoreKinds.join(', ')}, all`);
  const seed = Number(args.get('seed') ?? randomSeed());
  if (!Number.isSafeInteger(seed)) throw new Error(`--seed: got "${args.get('seed')}"; allowed: an integer`);
  const stores = store === 'all' ? [...storeKinds] : [store as StoreKind];
  for (const kind of stores) parseFaults(args.get('faults') ?? 'all', kind); // every store takes every scenario
  return {
    stores,
    faults: args.get('faults') ?? 'all',
    durationMs: parseDuration(args.get('duration') ?? '60s', '--duration'),
    seed,
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
