/**
 * The fault suite's command line: runs scenarios, prints their figures, exits 1 on any violation.
 *
 *   node dist/test/faults/run.js --store=redis|postgres|all --faults=kill,stop,block,restart,freeze|mixed|all
 *                                --duration=60s --seed=N [--keep] [--backend=source|procrastinate]
 *
 * `npm run faults` runs the long version (see test/faults/README.md).
 */
import { parseDuration } from '../../src/duration.js';
import type { Teardown } from '../helpers/own-servers.js';
import { runProcrastinateScenario } from './harness/run-procrastinate.js';
import { runScenario, type RunResult } from './harness/run-scenario.js';
import { randomSeed } from './harness/rng.js';
import { storeKinds, type StoreKind } from './harness/stores.js';
import { formatJobFigures } from './procrastinate-summary.js';
import { backendKinds, parseFaults, scenario, type BackendKind } from './scenarios.js';
import { formatSummary } from './summary.js';

const usage = `usage: node dist/test/faults/run.js [--store=redis|postgres|all] [--faults=LIST] [--duration=60s] [--seed=N] [--keep] [--backend=source|procrastinate]
  --faults   comma-separated scenarios: kill, stop, block, restart, freeze, several joined by +,
             mixed (all at once) or all (each alone, then mixed); default all
  --duration how long each scenario injects faults; default 60s
  --seed     the seed of the first scenario (the next ones add 1); default random
  --keep     keep every run's journal, not only those with violations
  --backend  what the fleet runs: source (the synthetic task source, default) or procrastinate
             (Procrastinate jobs on a PostgreSQL of the run's own, which the store faults break;
             --store then says where the slots are)`;

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

function parseArgs(argv: string[]): { stores: StoreKind[]; faults: ReturnType<typeof parseFaults>; durationMs: number; seed: number; keep: boolean; backend: BackendKind } {
  const args = new Map<string, string>();
  for (const arg of argv) {
    const match = /^--(\w+)(?:=(.*))?$/.exec(arg);
    if (!match || !['store', 'faults', 'duration', 'seed', 'keep', 'help', 'backend'].includes(match[1]!)) throw new Error(`unknown argument "${arg}"\n${usage}`);
    args.set(match[1]!, match[2] ?? '');
  }
  if (args.has('help')) {
    console.log(usage);
    process.exit(0);
  }
  const store = args.get('store') ?? 'all';
  if (store !== 'all' && !storeKinds.includes(store as StoreKind)) throw new Error(`--store: got "${store}"; allowed: redis, postgres, all`);
  const backend = args.get('backend') ?? 'source';
  if (!backendKinds.includes(backend as BackendKind)) throw new Error(`--backend: got "${backend}"; allowed: ${backendKinds.join(', ')}`);
  const seed = Number(args.get('seed') ?? randomSeed());
  if (!Number.isSafeInteger(seed)) throw new Error(`--seed: got "${args.get('seed')}"; allowed: an integer`);
  return {
    stores: store === 'all' ? [...storeKinds] : [store as StoreKind],
    faults: parseFaults(args.get('faults') ?? 'all'),
    durationMs: parseDuration(args.get('duration') ?? '60s', '--duration'),
    seed,
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
  for (const faults of options.faults) {
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
