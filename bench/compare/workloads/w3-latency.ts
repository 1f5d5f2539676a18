/**
 * W3 enqueue → start latency to an idle consumer: N jobs enqueued one at a time, each once the
 * previous one has ended and 3 ms have passed, timed from the enqueue call to the handler's
 * first line on one clock (the enqueue's own round trip included: a peer's handler may start
 * before its enqueue returns). Ours: an in-memory backend whose enqueue calls the scheduler's
 * `requestPass` (Redis slots, PostgreSQL slots), and Procrastinate's defer (Redis slots,
 * LISTEN/NOTIFY); BullMQ's add; graphile-worker's addJob; pg-boss's send (polling). And the
 * Procrastinate floor: its defer, then at once the claim any worker of that schema must make, no
 * NOTIFY and no slots: what no Procrastinate worker can beat.
 */
import { EventEmitter } from 'node:events';
import { Backend, Scheduler, type BackendContext, type TaskContext } from '../../../src/index.js';
import { fmt } from '../../harness/format.js';
import { databaseUrl, uniqueName, type Services } from '../../harness/services.js';
import { percentile } from '../../harness/stats.js';
import { countedStore } from '../../harness/store.js';
import { sleep } from '../../harness/timing.js';
import { ProcrastinateClient } from '../../../backends/procrastinate/index.js';
import { loadGraphileWorker } from '../../procrastinate/graphile-worker.js';
import { measureLatency } from '../../procrastinate/latency.js';
import { freshQueue, queue, taskName, verify } from '../../procrastinate/queue.js';
import { sql } from '../../procrastinate/statements.js';
import type { ContenderInfo, Measured } from '../model.js';
import type { CompareOptions } from '../options.js';
import { bullConnection, loadBullMQ } from '../peers/bullmq.js';
import { required } from '../peers/index.js';
import { loadPgBoss } from '../peers/pg-boss.js';
import { version, type RunContext, type WorkloadSpec } from '../workload.js';
import { procrastinateSetup } from './ours-drain.js';
import { deadline } from './peer-drains.js';

const gapMs = 3;
const warmupJobs = 50;

/** Times jobs one at a time: the handler calls `started` first thing, and `ended` when done. */
class Sampler {
  private onStart: ((at: number) => void) | undefined;
  private onEnd: (() => void) | undefined;
  readonly started = () => this.onStart?.(performance.now());
  readonly ended = () => this.onEnd?.();

  /** ms from each enqueue call to its start, of `n` jobs after `warmup` unmeasured ones; `beforeMeasure` runs between. */
  async sample(n: number, warmup: number, enqueue: (i: number) => unknown, beforeMeasure?: () => void): Promise<number[]> {
    const samples: number[] = [];
    for (let i = 0; i < warmup + n; i++) {
      if (i === warmup) beforeMeasure?.();
      const started = new Promise<number>((resolve) => (this.onStart = resolve));
      const ended = new Promise<void>((resolve) => (this.onEnd = resolve));
      const limit = deadline(10_000, () => `job ${i + 1} did not start and end`);
      try {
        const called = performance.now();
        await enqueue(i);
        const at = await Promise.race([started, limit.promise]);
        if (i >= warmup) samples.push(at - called);
        await Promise.race([ended, limit.promise]);
      } finally {
        limit.clear();
      }
      await sleep(gapMs);
    }
    return samples;
  }
}

const summary = (samples: readonly number[], details: string[] = []): Measured => ({
  metrics: {
    p50: percentile(samples, 50),
    p90: percentile(samples, 90),
    p99: percentile(samples, 99),
    max: Math.max(...samples),
  },
  details,
});

export const w3: WorkloadSpec = {
  describe(o, peers) {
    const c = o.concurrency;
    const contenders: ContenderInfo[] = [
      { key: 'ours-redis', label: `task-semaphore, ${c} Redis slots, enqueue → requestPass`, short: 'ours, Redis slots', ours: true },
      {
        key: 'ours-postgres',
        label: `task-semaphore, ${c} PostgreSQL slots, enqueue → requestPass`,
        short: 'ours, PostgreSQL slots',
        ours: true,
      },
      { key: 'ours-pq', label: `task-semaphore, ${c} Redis slots, Procrastinate defer`, short: 'ours, Procrastinate', ours: true },
      {
        key: 'pq-floor',
        label: 'the Procrastinate floor: defer, then one claim (fetch_job_v2) at once, no NOTIFY, no slots',
        short: 'Procrastinate floor',
        ours: false,
      },
      {
        key: 'bullmq',
        label: `BullMQ ${version(peers, 'bullmq')}, add, Worker concurrency ${c}`,
        short: 'BullMQ',
        ours: false,
        peer: 'bullmq',
      },
      {
        key: 'graphile',
        label: `graphile-worker ${version(peers, 'graphile-worker')}, addJob, concurrency ${c}`,
        short: 'graphile-worker',
        ours: false,
        peer: 'graphile-worker',
      },
      {
        key: 'pg-boss',
        label: `pg-boss ${version(peers, 'pg-boss')}, send, polling every 0.5 s (${fmt(o.pgbossLatencyJobs, 0)} jobs)`,
        short: 'pg-boss',
        ours: false,
        peer: 'pg-boss',
      },
    ];
    const both = (ours: string, peer: string) => ['p50', 'p99'].map((metric) => ({ ours, peer, metric }));
    return {
      key: 'W3',
      title: `W3 enqueue → start latency to an idle consumer: ${fmt(o.w3Jobs, 0)} jobs one at a time, ${gapMs} ms apart, concurrency ${c}`,
      metrics: [
        { key: 'p50', label: 'p50 ms', better: 'lower', decimals: 2 },
        { key: 'p90', label: 'p90 ms', better: 'lower', decimals: 2 },
        { key: 'p99', label: 'p99 ms', better: 'lower', decimals: 2 },
        { key: 'max', label: 'max ms', better: 'lower', decimals: 2 },
      ],
      contenders,
      pairs: [
        ...both('ours-redis', 'bullmq'),
        ...both('ours-postgres', 'graphile'),
        ...both('ours-pq', 'graphile'),
        { ours: 'ours-postgres', peer: 'pg-boss', metric: 'p50' },
      ],
      notes: [
        `From the enqueue call to the handler's first line, one clock; the next enqueue once the job ended and ${gapMs} ms passed; ${warmupJobs} unmeasured jobs first (pg-boss: 3).`,
        'The Procrastinate floor is timed from the defer call to the claim’s answer: the two statements of Procrastinate’s schema that any worker of it makes before a job runs, back to back in one process. A worker woken by NOTIFY, as ours, adds the notification and its own bookkeeping to it.',
        'pg-boss has no wake-up on send: its worker polls every pollingIntervalSeconds (0.5, its minimum), so its latency is polling-bound. Here each send follows the previous job by 3 ms, just after a poll, so it waits about a whole interval; sends at random times would wait half of one on average.',
      ],
    };
  },

  async run(contender: string, { services, options: o }: RunContext): Promise<Measured> {
    switch (contender) {
      case 'ours-redis':
        return oursLatency(services, 'redis', o);
      case 'ours-postgres':
        return oursLatency(services, 'postgres', o);
      case 'ours-pq': {
        const setup = await procrastinateSetup(services, 0, o.concurrency, 0);
        const measured = await measureLatency(services, setup.admin, { ...setup.options, latencyJobs: o.w3Jobs });
        return summary(measured.fromCall, [`requests/job: ${measured.requests}`]);
      }
      case 'pq-floor':
        return procrastinateFloor(services, o);
      case 'bullmq':
        return bullLatency(services, o);
      case 'graphile':
        return graphileLatency(services, o);
      case 'pg-boss':
        return pgBossLatency(services, o);
      default:
        throw new Error(`W3 has no contender ${contender}`);
    }
  },
};

/** Holds ids enqueued in this process and asks its scheduler for a pass at each. */
class Enqueued extends Backend {
  private readonly queue: string[] = [];
  private requestPass = () => {};
  constructor(private readonly sampler: Sampler) {
    super();
  }
  override open(context: BackendContext): void {
    this.requestPass = context.requestPass;
  }
  enqueue(taskId: string): void {
    this.queue.push(taskId);
    this.requestPass();
  }
  poll(): string | null {
    return this.queue.shift() ?? null;
  }
  startCallback(_taskId: string, task: TaskContext): void {
    this.sampler.started();
    queueMicrotask(() => void task.stop());
  }
}

async function oursLatency(services: Services, store: 'redis' | 'postgres', o: CompareOptions): Promise<Measured> {
  const { options, counter } = await countedStore(services, store);
  const sampler = new Sampler();
  const backend = new Enqueued(sampler);
  const scheduler = new Scheduler({ name: uniqueName('w3'), timeout: '5m', ...options });
  scheduler.registerBackend('Enqueued', backend);
  scheduler.on('task:stop', sampler.ended);
  try {
    await scheduler.load(Array.from({ length: o.concurrency }, (_, i) => ({ slotId: i + 1, backends: ['Enqueued'] })));
    await scheduler.schedule(); // an empty pass: from now on only requestPass and freed slots start passes
    const samples = await sampler.sample(
      o.w3Jobs,
      warmupJobs,
      (i) => backend.enqueue(`t${i}`),
      () => counter.reset(),
    );
    return summary(samples, [`store requests/job: ${fmt(counter.total / o.w3Jobs, 2)} (${counter.describe()})`]);
  } finally {
    await scheduler.close();
  }
}

/** Defer, then claim at once, one job at a time: the floor of `ours-pq` (see the notes). */
async function procrastinateFloor(services: Services, o: CompareOptions): Promise<Measured> {
  const q = await freshQueue(services, await services.postgres(1), 0, 2);
  const client = new ProcrastinateClient({ postgres: q.pool });
  const claimer = await q.pool.connect();
  const sampler = new Sampler();
  try {
    const workerId = (await claimer.query<{ worker_id: string }>(sql.register)).rows[0]!.worker_id;
    const samples = await sampler.sample(o.w3Jobs, warmupJobs, async (i) => {
      await client.defer(taskName, {}, { queue });
      // fetch_job_v2 answers one row, its id null when no job is due.
      const { rows } = await claimer.query<{ id: string | null }>(sql.fetch, [[queue], workerId]);
      const id = rows[0]?.id;
      if (id === null || id === undefined) throw new Error(`the floor's claim of job ${i + 1} found none`);
      sampler.started();
      await claimer.query(sql.finish, [id, 'succeeded', false]);
      sampler.ended();
    });
    await verify(q.pool, warmupJobs + o.w3Jobs, 'the Procrastinate floor');
    await claimer.query(sql.unregister, [workerId]);
    return summary(samples);
  } finally {
    claimer.release();
    await client.close();
    await q.drop();
  }
}

async function bullLatency(services: Services, o: CompareOptions): Promise<Measured> {
  const { bullmq } = required(loadBullMQ());
  const options = { connection: bullConnection(), prefix: `${services.keyPrefix}:bull` };
  const name = uniqueName('w3');
  const sampler = new Sampler();
  const queue = new bullmq.Queue(name, options);
  const worker = new bullmq.Worker(name, async () => sampler.started(), { ...options, concurrency: o.concurrency });
  worker.on('completed', sampler.ended);
  try {
    await Promise.all([queue.waitUntilReady(), worker.waitUntilReady()]);
    await sleep(100); // the worker blocks waiting for a job
    return summary(await sampler.sample(o.w3Jobs, warmupJobs, () => queue.add('job', {})));
  } finally {
    await worker.close();
    await queue.close();
  }
}

async function graphileLatency(services: Services, o: CompareOptions): Promise<Measured> {
  const { worker } = required(loadGraphileWorker());
  const schema = services.newSchema('bench_gw');
  const base = { connectionString: databaseUrl, schema, logger: new worker.Logger(() => () => {}) };
  await worker.runMigrations(base);
  const utils = await worker.makeWorkerUtils(base);
  const sampler = new Sampler();
  const events = new EventEmitter();
  events.on('job:complete', sampler.ended);
  const runner = await worker.run({
    ...base,
    concurrency: o.concurrency,
    noHandleSignals: true,
    taskList: { noop: () => sampler.started() },
    events,
  });
  try {
    await sleep(100); // listening
    return summary(await sampler.sample(o.w3Jobs, warmupJobs, () => utils.addJob('noop', {})));
  } finally {
    await runner.stop();
    await utils.release();
  }
}

async function pgBossLatency(services: Services, o: CompareOptions): Promise<Measured> {
  const { PgBoss } = required(loadPgBoss());
  const boss = new PgBoss({ connectionString: databaseUrl, schema: services.newSchema('bench_pgboss') });
  boss.on('error', () => {});
  await boss.start();
  const queue = 'w3';
  await boss.createQueue(queue);
  const sampler = new Sampler();
  await boss.work(queue, { batchSize: o.concurrency, pollingIntervalSeconds: 0.5 }, async () => {
    sampler.started();
    sampler.ended();
  });
  try {
    return summary(await sampler.sample(o.pgbossLatencyJobs, 3, () => boss.send(queue, {})));
  } finally {
    await boss.stop({ graceful: false });
  }
}
