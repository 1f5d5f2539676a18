/** The options of `run.js compare`, parsed and checked: every size has a default and a floor. */
import { parseArgs } from 'node:util';
import { workloadKeys, type WorkloadKey } from './model.js';

export interface CompareOptions {
  /** Each round runs every contender of every workload once; at least 3. */
  rounds: number;
  only: WorkloadKey[];
  /** Only these contenders of the selected workloads (their keys, as the progress lines print them); undefined: all. */
  contenders: string[] | undefined;
  /** W1–W3: our slots, the peers' concurrency. */
  concurrency: number;
  /** W1, W2: the unmeasured drain each child runs before its measured one. */
  warmupTasks: number;
  w1Tasks: number;
  w2Tasks: number;
  w2TaskMs: number;
  w3Jobs: number;
  /** W1, W2: jobs for pg-boss at its polling interval (20 jobs/s at the most). */
  pgbossJobs: number;
  /** W3: jobs for pg-boss, whose start waits for its poll. */
  pgbossLatencyJobs: number;
  w4Jobs: number;
  w4JobMs: number;
  w4Limit: number;
  w4Processes: number;
  /** Ours in W4: each Scheduler's `maxLocalTasks` (0: unset, the default, so one process may hold every slot). */
  w4MaxLocalTasks: number;
  /** W5: ms per measurement. */
  w5Duration: number;
  w5Callers: number;
  w5Limit: number;
  w6SlotCounts: number[];
  w6Passes: number;
  w7Processes: number;
  w7Slots: number;
  w7TaskMs: number;
  /** W7: ms measured, after `w7Warmup` ms unmeasured. */
  w7Duration: number;
  w7Warmup: number;
  /** Connections of each W7 process's PostgreSQL pool (its LISTEN connection is one more). */
  w7Pool: number;
  /** A child still running after this many seconds is stopped and its measurement failed. */
  childTimeout: number;
  /** Where each measuring process writes a V8 CPU profile (node --cpu-prof); undefined: none. */
  cpuProfDir: string | undefined;
}

export const compareUsage = `Usage: node dist/bench/run.js compare [options]     (or: npm run bench -- compare ...)

Measures task-semaphore and its peers (BullMQ, pg-boss, graphile-worker, redis-semaphore) side
by side: every contender of every workload once per round, each in a fresh process, the order
rotated each round. Prints each contender's median and min–max over rounds, the ratios ours ÷
peer taken round by round, and the targets met or missed. About 20 minutes with the defaults.

  --rounds=3              at least 3
  --only=W1,W4            workloads (default all): W1 drain-noop, W2 5 ms tasks, W3 enqueue→start
                          latency, W4 global limit across processes, W5 semaphore cycle,
                          W6 pass cost vs slot count, W7 fan-in
  --contenders=ours-redis,bullmq
                          only these contenders of those workloads (default all), by the key the
                          progress lines print: an A/B of one contender needs no full run
  --concurrency=10        W1–W3: slots, and the peers' concurrency
  --warmup-tasks=2000     W1, W2: an unmeasured drain in each process first
  --w1-tasks=20000  --w2-tasks=4000  --w2-task-ms=5  --w3-jobs=500
  --pgboss-jobs=200       W1, W2: jobs for pg-boss polling every 0.5 s (20 jobs/s at the most)
  --pgboss-latency-jobs=20  W3: jobs for pg-boss (each waits for a poll)
  --w4-jobs=2000  --w4-job-ms=20  --w4-limit=8  --w4-processes=4
  --w4-max-local-tasks=0  ours in W4: maxLocalTasks of each Scheduler (0: unset, the default)
  --w5-duration=3000 (ms per measurement)  --w5-callers=16  --w5-limit=4 (under contention)
  --w6-slot-counts=10,100,1000,10000  --w6-passes=10
  --w7-processes=16  --w7-slots=64  --w7-task-ms=20  --w7-duration=10000  --w7-warmup=2000
  --w7-pool=2             connections of each W7 process's PostgreSQL pool
  --child-timeout=600     seconds before a measurement is stopped and counted failed
  --cpu-prof=/tmp/prof    each measuring process writes a V8 CPU profile (.cpuprofile) into
                          this directory (node --cpu-prof); profiling slows the contenders
Services: REDIS_URL, DATABASE_URL as for the other benchmarks. Keys and schemas are unique per
measurement and removed after it.
`;

/** Option name → [field, default, floor]. */
const sizes = {
  rounds: ['rounds', 3, 3],
  concurrency: ['concurrency', 10, 1],
  'warmup-tasks': ['warmupTasks', 2000, 0],
  'w1-tasks': ['w1Tasks', 20_000, 1],
  'w2-tasks': ['w2Tasks', 4000, 1],
  'w2-task-ms': ['w2TaskMs', 5, 1],
  'w3-jobs': ['w3Jobs', 500, 1],
  'pgboss-jobs': ['pgbossJobs', 200, 1],
  'pgboss-latency-jobs': ['pgbossLatencyJobs', 20, 1],
  'w4-jobs': ['w4Jobs', 2000, 1],
  'w4-job-ms': ['w4JobMs', 20, 1],
  'w4-limit': ['w4Limit', 8, 1],
  'w4-processes': ['w4Processes', 4, 1],
  'w4-max-local-tasks': ['w4MaxLocalTasks', 0, 0],
  'w5-duration': ['w5Duration', 3000, 100],
  'w5-callers': ['w5Callers', 16, 2],
  'w5-limit': ['w5Limit', 4, 1],
  'w6-passes': ['w6Passes', 10, 5],
  'w7-processes': ['w7Processes', 16, 1],
  'w7-slots': ['w7Slots', 64, 1],
  'w7-task-ms': ['w7TaskMs', 20, 1],
  'w7-duration': ['w7Duration', 10_000, 1000],
  'w7-warmup': ['w7Warmup', 2000, 0],
  'w7-pool': ['w7Pool', 2, 1],
  'child-timeout': ['childTimeout', 600, 10],
} as const satisfies Record<string, readonly [keyof CompareOptions, number, number]>;

/** Parses `argv` (the words after `compare`); throws an Error that names the bad option. */
export function parseCompareOptions(argv: readonly string[]): CompareOptions | 'help' {
  const { values, positionals } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    options: {
      ...Object.fromEntries(Object.keys(sizes).map((name) => [name, { type: 'string' as const }])),
      only: { type: 'string' },
      contenders: { type: 'string' },
      'w6-slot-counts': { type: 'string' },
      'cpu-prof': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return 'help';
  if (positionals.length > 0) throw new Error(`compare takes no other benchmark names, got: ${positionals.join(' ')}`);
  const options = {} as Record<string, unknown>;
  for (const [name, [field, fallback, floor]] of Object.entries(sizes)) {
    const text = (values as Record<string, string | boolean | undefined>)[name] as string | undefined;
    const n = text === undefined ? fallback : Number(text);
    if (!Number.isSafeInteger(n) || n < floor) throw new Error(`--${name} must be a whole number of at least ${floor}, got ${text}`);
    options[field] = n;
  }
  const only = values.only === undefined ? [...workloadKeys] : list(values.only).map((w) => w.toUpperCase());
  for (const w of only) {
    if (!(workloadKeys as readonly string[]).includes(w))
      throw new Error(`--only: unknown workload "${w}"; known: ${workloadKeys.join(', ')}`);
  }
  if (only.length === 0) throw new Error('--only names no workload');
  const counts = list(values['w6-slot-counts'] ?? '10,100,1000,10000').map(Number);
  if (counts.length === 0 || counts.some((n) => !Number.isSafeInteger(n) || n < 1))
    throw new Error(`--w6-slot-counts must be whole numbers of at least 1, got ${values['w6-slot-counts']}`);
  const contenders = values.contenders === undefined ? undefined : list(values.contenders);
  if (contenders?.length === 0) throw new Error('--contenders names no contender');
  const cpuProfDir = values['cpu-prof'];
  if (cpuProfDir === '') throw new Error('--cpu-prof needs a directory, e.g. --cpu-prof=/tmp/prof');
  return {
    ...(options as Omit<CompareOptions, 'only' | 'contenders' | 'w6SlotCounts' | 'cpuProfDir'>),
    only: workloadKeys.filter((w) => only.includes(w)),
    contenders,
    w6SlotCounts: counts,
    cpuProfDir,
  };
}

function list(text: string): string[] {
  return text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}
