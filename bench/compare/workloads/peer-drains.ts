/**
 * The peers' drains of W1 and W2: N jobs added before timing, then a worker of concurrency C
 * timed from its start until the N-th job is completed (written). Tasks are no-ops or a timer.
 */
import { fmt } from '../../harness/format.js';
import { databaseUrl, uniqueName, type Services } from '../../harness/services.js';
import { sleep } from '../../harness/timing.js';
import type { Measured } from '../model.js';
import { bullConnection, loadBullMQ } from '../peers/bullmq.js';
import { required } from '../peers/index.js';
import { loadPgBoss, type PgBoss } from '../peers/pg-boss.js';

/** Rejects once `ms` pass, naming `what`: a drain that stalls fails its measurement. */
export function deadline(ms: number, what: () => string): { promise: Promise<never>; clear(): void } {
  let timer: NodeJS.Timeout;
  const promise = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what()} after ${ms / 1000} s`)), ms)));
  return { promise, clear: () => clearTimeout(timer) };
}

const task = (taskMs: number) => (taskMs > 0 ? sleep(taskMs) : Promise.resolve());
/** `items` in slices of `size`. */
export const chunks = <T>(items: T[], size: number) =>
  Array.from({ length: Math.ceil(items.length / size) }, (_, i) => items.slice(i * size, (i + 1) * size));

/**
 * BullMQ: jobs added with `addBulk` (default job options: each job kept in Redis when completed),
 * then a Worker of `concurrency`, timed from its creation to the N-th `completed` event.
 */
export async function bullDrain(services: Services, jobs: number, warmup: number, concurrency: number, taskMs: number): Promise<Measured> {
  const { bullmq } = required(loadBullMQ());
  const connection = bullConnection();
  const prefix = `${services.keyPrefix}:bull`;
  async function drain(name: string, n: number): Promise<number> {
    const queue = new bullmq.Queue(name, { connection, prefix });
    try {
      for (const chunk of chunks(
        Array.from({ length: n }, (_, i) => i),
        1000,
      ))
        await queue.addBulk(chunk.map((i) => ({ name: 'job', data: { i } })));
      let completed = 0;
      let finish!: () => void;
      let fail!: (error: Error) => void;
      const done = new Promise<void>((resolve, reject) => ((finish = resolve), (fail = reject)));
      const stall = deadline(180_000, () => `BullMQ drain stalled at ${completed} of ${n}`);
      const began = performance.now();
      const worker = new bullmq.Worker(name, () => task(taskMs), { connection, prefix, concurrency });
      worker.on('completed', () => {
        if (++completed === n) finish();
      });
      worker.on('failed', (_job, error) => fail(error));
      worker.on('error', (error) => fail(error));
      try {
        await Promise.race([done, stall.promise]);
        return performance.now() - began;
      } finally {
        stall.clear();
        await worker.close();
      }
    } finally {
      await queue.close();
    }
  }
  if (warmup > 0) await drain(uniqueName('warm'), warmup);
  const ms = await drain(uniqueName('bench'), jobs);
  return { metrics: { rate: (jobs / ms) * 1000 } };
}

/**
 * pg-boss: jobs inserted with `insert`, then one `work()` worker fetching `concurrency` jobs per
 * poll (`batchSize`) and running them together, polling every 0.5 s (its minimum). pg-boss 10
 * waits out the interval after every fetch, jobs found or not; with `notify`, the handler calls
 * `notifyWorker` after a full batch, so that the worker fetches again at once while jobs remain.
 * Timed from `work()` until every job is completed in its table (completions are written after
 * the handler returns, unawaited).
 */
export async function pgBossDrain(
  services: Services,
  jobs: number,
  warmup: number,
  concurrency: number,
  taskMs: number,
  notify: boolean,
): Promise<Measured> {
  const { PgBoss } = required(loadPgBoss());
  const schema = services.newSchema('bench_pgboss');
  const boss = new PgBoss({ connectionString: databaseUrl, schema });
  let failure: Error | undefined;
  boss.on('error', (error) => (failure ??= error));
  await boss.start();
  try {
    if (warmup > 0) await pgBossOnce(boss, schema, 'warm', warmup, concurrency, taskMs, notify, () => failure);
    const ms = await pgBossOnce(boss, schema, 'bench', jobs, concurrency, taskMs, notify, () => failure);
    return {
      metrics: { rate: (jobs / ms) * 1000 },
      details: [
        `work({ batchSize: ${concurrency}, pollingIntervalSeconds: 0.5 })${notify ? ' + notifyWorker after each full batch' : ''}; ${fmt(jobs, 0)} jobs`,
      ],
    };
  } finally {
    await boss.stop({ graceful: false });
  }
}

async function pgBossOnce(
  boss: PgBoss,
  schema: string,
  queue: string,
  jobs: number,
  concurrency: number,
  taskMs: number,
  notify: boolean,
  failure: () => Error | undefined,
): Promise<number> {
  await boss.createQueue(queue);
  for (const chunk of chunks(
    Array.from({ length: jobs }, (_, i) => i),
    1000,
  ))
    await boss.insert(chunk.map((i) => ({ name: queue, data: { i } })));
  let handled = 0;
  let allHandled!: () => void;
  const handledAll = new Promise<void>((resolve) => (allHandled = resolve));
  const stall = deadline(600_000, () => `pg-boss drain stalled at ${handled} of ${jobs}`);
  let workerId = '';
  const began = performance.now();
  workerId = await boss.work(queue, { batchSize: concurrency, pollingIntervalSeconds: 0.5 }, async (batch) => {
    await Promise.all(batch.map(() => task(taskMs)));
    handled += batch.length;
    if (notify && batch.length === concurrency) boss.notifyWorker(workerId);
    if (handled >= jobs) allHandled();
  });
  try {
    await Promise.race([handledAll, stall.promise]);
    const db = boss.getDb();
    const completed = `SELECT count(*)::int AS n FROM "${schema}".job WHERE name = $1 AND state = 'completed'`;
    while (Number((await db.executeSql(completed, [queue])).rows[0]!.n) < jobs) {
      if (failure()) throw failure()!;
      await sleep(2);
    }
    return performance.now() - began;
  } finally {
    stall.clear();
    await boss.offWork(queue);
  }
}
