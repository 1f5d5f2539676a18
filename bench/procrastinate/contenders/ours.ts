/**
 * Ours: a Scheduler with S slots (Redis slots, or PostgreSQL slots in a schema of their own) and a
 * ProcrastinateBackend with a no-op handler, started by one `schedule()`: freed slots refill at
 * once, and passes with several idle slots claim through `pollBatch`.
 */
import type pg from 'pg';
import { Scheduler, type PassReport } from '../../../src/index.js';
import { ProcrastinateBackend } from '../../../backends/procrastinate/index.js';
import { fmt, type Row } from '../../harness/format.js';
import { countPostgres } from '../../harness/round-trips.js';
import { uniqueName, type Services } from '../../harness/services.js';
import { countedStore } from '../../harness/store.js';
import { measure, type Contender, type Drain, type Setup } from '../drain.js';
import type { ProcrastinateBenchOptions } from '../options.js';
import { describe, freshQueue, queue, taskName, verify } from '../queue.js';

export function oursContenders({ services, admin, options }: Setup): Contender[] {
  return [
    { key: 'redis', label: `task-semaphore, ${options.slots} Redis slots`, drain: (n) => oursDrain(services, admin, n, options, 'redis') },
    {
      key: 'postgres',
      label: `task-semaphore, ${options.slots} PostgreSQL slots`,
      drain: (n) => oursDrain(services, admin, n, options, 'postgres'),
    },
  ];
}

/** Our Scheduler with a ProcrastinateBackend on its own, on Redis or PostgreSQL slots. */
async function oursDrain(
  services: Services,
  admin: pg.Pool,
  jobs: number,
  options: ProcrastinateBenchOptions,
  store: 'redis' | 'postgres',
): Promise<Drain> {
  const q = await freshQueue(services, admin, jobs, options.poolSize);
  const sqlCounter = countPostgres(q.pool);
  const slotSchema = store === 'postgres' ? services.newSchema('bench_slots') : undefined;
  const {
    options: storeOptions,
    counter: storeCounter,
    pool: slotPool,
  } = await countedStore(services, store, { max: options.slots, schema: slotSchema });
  let handled = 0;
  let stopped = 0;
  let fail!: (error: Error) => void;
  let finish!: () => void;
  const done = new Promise<void>((resolve, reject) => {
    finish = resolve;
    fail = reject;
  });
  const backend = new ProcrastinateBackend({
    postgres: q.pool,
    queues: [queue],
    tasks: {
      [taskName]: () => {
        handled++;
      },
    },
  });
  const scheduler = new Scheduler({ name: uniqueName('bench_pq'), timeout: '5m', ...storeOptions });
  scheduler.registerBackend('Procrastinate', backend);
  scheduler.on('task:stop', (ended) => {
    if (ended.status !== 'succeeded')
      fail(new Error(`job ${ended.taskId} ended ${ended.reason}/${String(ended.status)}: ${String(ended.error)}`));
    else if (++stopped === jobs) finish();
  });
  scheduler.on('pass:error', (error) => fail(error));
  scheduler.on('poll:error', ({ error }) => fail(error));
  scheduler.on('callback:error', ({ callback, error }) => fail(new Error(`${callback}: ${error.message}`)));
  scheduler.on('task:reject', ({ taskId, reason }) => fail(new Error(`job ${taskId} rejected: ${reason}`)));
  let passes = 0;
  let passMs = 0;
  let startingPasses = 0;
  // Passes and refill rounds alike: each polls and starts.
  const onRound = (report: PassReport) => {
    passes++;
    passMs += report.durationMs;
    if (report.started > 0) startingPasses++;
  };
  scheduler.on('pass:end', onRound);
  scheduler.on('refill:end', onRound);
  let stall: NodeJS.Timeout | undefined;
  try {
    await scheduler.load(Array.from({ length: options.slots }, (_, i) => ({ slotId: i + 1, backends: ['Procrastinate'] })));
    stall = setTimeout(() => fail(new Error(`drain stalled: ${stopped} of ${jobs} jobs ended after 180 s`)), 180_000);
    sqlCounter.reset();
    storeCounter.reset();
    passes = 0;
    passMs = 0;
    startingPasses = 0;
    const stop = measure();
    const began = performance.now();
    scheduler.schedule().catch((error: unknown) => fail(error as Error));
    await done;
    const elapsedMs = performance.now() - began;
    const measured = stop();
    const requests = `${describe('SQL', sqlCounter, jobs)}; ${describe(store === 'redis' ? 'Redis' : 'slots SQL', storeCounter, jobs)}`;
    const profile: Row = {
      slots: `${store}`,
      'passes + refill rounds': fmt(passes, 0),
      'jobs per starting round': fmt(jobs / startingPasses, 2),
      'round ms (mean)': fmt(passMs / passes, 2),
      'rounds busy (% of drain)': `${fmt((passMs / elapsedMs) * 100, 0)} %`,
      'Procrastinate SQL, mean ms from send to reply': sqlCounter.describeLatency(),
      'slot store, mean ms from send to reply': storeCounter.describeLatency(),
    };
    clearTimeout(stall);
    await scheduler.close();
    if (handled !== jobs) throw new Error(`handler ran ${handled} times for ${jobs} jobs`);
    await verify(q.pool, jobs, `task-semaphore (${store} slots)`);
    return { contender: store, jobsPerSec: (jobs / elapsedMs) * 1000, elapsedMs, requests, ...measured, profile };
  } finally {
    clearTimeout(stall);
    await scheduler.close().catch(() => {});
    await q.drop();
    if (slotPool && slotSchema) {
      await slotPool.end().catch(() => {});
      await services.dropSchema(admin, slotSchema);
    }
  }
}
