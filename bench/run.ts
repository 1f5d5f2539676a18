/**
 * Runs the benchmarks and prints Markdown tables (paste-ready for bench/RESULTS.md). `--help`
 * prints the usage below.
 */
import { parseArgs } from 'node:util';
import { compareCommand } from './compare/index.js';
import { cycles } from './cycles/index.js';
import { drain } from './drain/index.js';
import { fmt, table } from './harness/format.js';
import { loadAverage, machineRows } from './harness/machine.js';
import { Services, type StoreKind } from './harness/services.js';
import { keepaliveStop } from './keepalive/index.js';
import { passCost } from './pass/index.js';
import { procrastinateBench } from './procrastinate/index.js';

const usage = `Usage: node dist/bench/run.js [benchmark ...] [options]     (or: npm run bench -- ...)

  npm run bench                                  # all of them
  npm run bench -- drain --stores=redis --runs=5 # a selection

Benchmarks: pass, keepalive, cycles, drain, procrastinate (default: all, in that order).
  npm run bench -- compare --help                # task-semaphore and its peers side by side, alone
Options: --stores=memory,redis,postgres  --slot-counts=10,100,1000,10000  --passes=20
         --warmup=3  --duration=3000 (ms per throughput measurement)  --concurrency=16
         --tasks=20000  --slots=10  --runs=3
         --pass-budget=60 (s per slot count: fewer passes, at least 5, when they are slow)
         --autopipelining=on|off (of the benchmarks' ioredis clients; off, the default, is what
         the store uses for a client it opens from a URL)
         --metrics (drain: with collectMetrics() attached, to measure what the metrics cost)
         --no-history (drain: schedulers with history: false, to measure what the task history costs)
         procrastinate: --jobs=20000 --slots=10 --pool-size=10 --sql-batch=10 --latency-jobs=500
         --rounds=1 --warmup-jobs=2000
         --only=sql,sql-prepared,sql-batch,sql-lockstep,sql-redis-slots,sql-pg-slots,redis,postgres,graphile,graphile-lq,graphile-lq-batch,latency
Services: REDIS_URL (default redis://127.0.0.1:6379), DATABASE_URL (default
postgres://postgres@127.0.0.1:5432/test). Keys and schema are unique per run and removed after.
`;

// `compare` is a run of its own (its options, a fresh process per measurement): never mixed with the others.
if (process.argv[2] === 'compare') process.exit(await compareCommand(process.argv.slice(3)));

const benchmarks = ['pass', 'keepalive', 'cycles', 'drain', 'procrastinate'] as const;
type Benchmark = (typeof benchmarks)[number];

const { values, positionals } = parseArgsOrExit();

function parseArgsOrExit() {
  try {
    return parseArgs({
      allowPositionals: true,
      options: {
        stores: { type: 'string', default: 'memory,redis,postgres' },
        'slot-counts': { type: 'string', default: '10,100,1000,10000' },
        passes: { type: 'string', default: '20' },
        warmup: { type: 'string', default: '3' },
        duration: { type: 'string', default: '3000' },
        concurrency: { type: 'string', default: '16' },
        tasks: { type: 'string', default: '20000' },
        slots: { type: 'string', default: '10' },
        runs: { type: 'string', default: '3' },
        'pass-budget': { type: 'string', default: '60' },
        autopipelining: { type: 'string', default: 'off' },
        metrics: { type: 'boolean', default: false },
        'no-history': { type: 'boolean', default: false },
        jobs: { type: 'string', default: '20000' },
        'pool-size': { type: 'string', default: '10' },
        'sql-batch': { type: 'string', default: '10' },
        'latency-jobs': { type: 'string', default: '500' },
        rounds: { type: 'string', default: '1' },
        'warmup-jobs': { type: 'string', default: '2000' },
        only: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n\n${usage}`);
    process.exit(2);
  }
}
if (values.help) {
  process.stdout.write(usage);
  process.exit(0);
}

const int = (name: keyof typeof values): number => {
  const n = Number(values[name]);
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`--${name} must be a whole number, got ${String(values[name])}`);
  return n;
};
const list = (text: string) =>
  text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);

const selected = (positionals.length > 0 ? positionals : benchmarks) as Benchmark[];
for (const name of selected) {
  if (!benchmarks.includes(name)) throw new Error(`unknown benchmark "${name}"; known: ${benchmarks.join(', ')}`);
}
const stores = list(values.stores!) as StoreKind[];
// The Procrastinate benchmark uses both Redis and PostgreSQL, whatever --stores says.
const usesRedis = stores.includes('redis') || selected.includes('procrastinate');
const usesPostgres = stores.includes('postgres') || selected.includes('procrastinate');
for (const store of stores) {
  if (!['memory', 'redis', 'postgres'].includes(store)) throw new Error(`unknown store "${store}"`);
}
const concurrency = int('concurrency');
if (!['on', 'off'].includes(values.autopipelining!)) throw new Error('--autopipelining must be on or off');
const autoPipelining = values.autopipelining === 'on';

const print = (text = '') => process.stdout.write(`${text}\n`);

const services = new Services(autoPipelining);
const began = performance.now();
// The run's keys and schema are removed even when it is cut short: by Ctrl-C, or by a closed
// pipe (`| head`), where the output is lost but the run goes on to its cleanup.
process.stdout.on('error', () => {});
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    process.stderr.write(`\n${signal}: cleaning up\n`);
    // The interrupted benchmark fails as its connections and schemas go away (graphile-worker's
    // background writes reject unhandled): expected now, and not a reason to stop the cleanup.
    process.on('unhandledRejection', () => {});
    process.on('uncaughtException', () => {});
    services
      .cleanup()
      .then(
        (done) => process.stderr.write(`cleanup: ${done}\n`),
        (error: unknown) => process.stderr.write(`cleanup failed: ${String(error)}\n`),
      )
      .finally(() => process.exit(130));
  });
}
try {
  print(`# task-semaphore benchmarks\n`);
  print(
    `command: node ${process.argv
      .slice(1)
      .map((a) => a.replace(process.cwd() + '/', ''))
      .join(' ')}\n`,
  );
  print(table(await machineRows({ redis: usesRedis, postgres: usesPostgres, autoPipelining })));

  for (const name of selected) {
    const t0 = performance.now();
    const loadBefore = loadAverage();
    print();
    if (name === 'pass') {
      print(`## Pass cost vs slot count (idle slots, empty backend; ${int('passes')} passes after ${int('warmup')} warm-up)\n`);
      print(
        table(
          await passCost(services, {
            stores,
            slotCounts: list(values['slot-counts']!).map(Number),
            passes: int('passes'),
            warmup: int('warmup'),
            budgetMs: int('pass-budget') * 1000,
          }),
        ),
      );
    } else if (name === 'keepalive') {
      print(`## keepalive and stop through the Scheduler (${fmt(int('duration'), 0)} ms per measurement)\n`);
      print(table(await keepaliveStop(services, { stores, concurrency, durationMs: int('duration') })));
    } else if (name === 'cycles') {
      const levels = [...new Set([1, concurrency])];
      print(`## Reserve+start+stop cycles at the store level (beginPass, start, end; ${fmt(int('duration'), 0)} ms per measurement)\n`);
      const { rows, notes } = await cycles(services, { stores, concurrency: levels, durationMs: int('duration') });
      print(table(rows));
      for (const note of notes) print(`\nnote: ${note}`);
    } else if (name === 'drain') {
      const withMetrics = values.metrics === true ? ', collectMetrics() attached' : '';
      const withoutHistory = values['no-history'] === true ? ', history: false' : '';
      print(
        `## Drain: ${fmt(int('tasks'), 0)} no-op tasks through ${int('slots')} slots, ${int('runs')} runs per store${withMetrics}${withoutHistory}\n`,
      );
      const { rows } = await drain(services, {
        stores,
        tasks: int('tasks'),
        slots: int('slots'),
        runs: int('runs'),
        metrics: values.metrics === true,
        history: values['no-history'] !== true,
      });
      print(table(rows));
    } else {
      const options = {
        jobs: int('jobs'),
        slots: int('slots'),
        poolSize: int('pool-size'),
        sqlBatch: int('sql-batch'),
        latencyJobs: int('latency-jobs'),
        rounds: Math.max(1, int('rounds')),
        warmupJobs: int('warmup-jobs'),
        only: values.only === undefined ? undefined : list(values.only),
      };
      print(
        `## Procrastinate: ${fmt(options.jobs, 0)} pre-deferred no-op jobs, ${options.slots} slots / connections / concurrency, ${options.rounds} round(s)\n`,
      );
      const result = await procrastinateBench(services, options);
      if (result.drains.length > 0) print(table(result.drains));
      if (result.profiles.length > 0) {
        print(`\n### Where task-semaphore's drains spend their time (last round)\n`);
        print(table(result.profiles));
      }
      if (result.latency.length > 0) {
        print(`\n### Latency: defer → handler start, ${fmt(options.latencyJobs, 0)} jobs one at a time (measured before the drains)\n`);
        print(table(result.latency));
      }
      for (const note of result.notes) print(`\nnote: ${note}`);
    }
    print(`\n(${name}: ${fmt((performance.now() - t0) / 1000, 1)} s; load average before ${loadBefore}, after ${loadAverage()})`);
  }
} finally {
  const cleaned = await services.cleanup().catch((error: unknown) => `cleanup failed: ${String(error)}`);
  print(`\ncleanup: ${cleaned || 'nothing to clean'}; total ${fmt((performance.now() - began) / 1000, 1)} s`);
}
