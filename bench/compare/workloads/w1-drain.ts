/**
 * W1 drain-noop: N no-op tasks at concurrency C, jobs in place before the clock starts. Ours: the
 * slots' own overhead (an in-memory backend on Redis and on PostgreSQL slots, as `drain`
 * measures it) and the Procrastinate backend on each; the peers: BullMQ, graphile-worker
 * (defaults, and batched), pg-boss (polling, and notified).
 */
import { fmt } from '../../harness/format.js';
import type { ContenderInfo, Measured } from '../model.js';
import { version, type RunContext, type WorkloadSpec } from '../workload.js';
import { drainContenders } from './drain-contenders.js';
import { oursDrain, procrastinateDrain, procrastinateSetup } from './ours-drain.js';
import { bullDrain, pgBossDrain } from './peer-drains.js';

export const w1: WorkloadSpec = {
  describe(o, peers) {
    const c = o.concurrency;
    const [oursRedis, oursPostgres, ...peerDrains] = drainContenders(o, peers, [
      'ours-redis',
      'ours-postgres',
      'bullmq',
      'graphile',
      'pg-boss-notify',
      'pg-boss',
    ]);
    const contenders: ContenderInfo[] = [
      oursRedis!,
      oursPostgres!,
      {
        key: 'ours-pq-redis',
        label: `task-semaphore, ${c} Redis slots, Procrastinate backend`,
        short: 'ours, Procrastinate on Redis slots',
        ours: true,
      },
      {
        key: 'ours-pq-postgres',
        label: `task-semaphore, ${c} PostgreSQL slots, Procrastinate backend`,
        short: 'ours, Procrastinate on PostgreSQL slots',
        ours: true,
      },
      ...peerDrains.slice(0, 2),
      {
        key: 'graphile-batched',
        label: `graphile-worker ${version(peers, 'graphile-worker')}, concurrency ${c}, localQueue ${c + 1}, completeJobBatchDelay 0`,
        short: 'graphile-worker batched',
        ours: false,
        peer: 'graphile-worker',
      },
      ...peerDrains.slice(2),
    ];
    const postgresFamily = ['ours-postgres', 'ours-pq-redis', 'ours-pq-postgres'];
    return {
      key: 'W1',
      title: `W1 drain-noop: ${fmt(o.w1Tasks, 0)} no-op tasks, concurrency ${c}`,
      metrics: [{ key: 'rate', label: 'tasks/s', better: 'higher', decimals: 0 }],
      contenders,
      pairs: [
        { ours: 'ours-redis', peer: 'bullmq', metric: 'rate' },
        ...postgresFamily.map((ours) => ({ ours, peer: 'graphile', metric: 'rate' })),
        { ours: 'ours-postgres', peer: 'graphile-batched', metric: 'rate' },
        { ours: 'ours-postgres', peer: 'pg-boss-notify', metric: 'rate' },
        { ours: 'ours-postgres', peer: 'pg-boss', metric: 'rate' },
      ],
      notes: [
        `Each process drains ${fmt(Math.min(o.warmupTasks, o.w1Tasks), 0)} tasks unmeasured first (pg-boss polling: a tenth of its jobs). Ours is timed from the first schedule() to the last task's stop; BullMQ from new Worker() to the last completed event (default job options: every job kept in Redis); graphile-worker from run() until its jobs table is empty; pg-boss from work() until every job is completed in its table.`,
        `pg-boss ${version(peers, 'pg-boss')} (the newest that declares Node 20): one work() fetching batchSize ${c} jobs per poll and running them together; it waits out pollingIntervalSeconds (0.5, its minimum) after every fetch, so it is polling-bound at ${c} jobs per 0.5 s and drains ${fmt(o.pgbossJobs, 0)} jobs (--pgboss-jobs); "notified" calls its documented notifyWorker(id) after each full batch to fetch again at once.`,
      ],
    };
  },

  async run(contender: string, { services, options: o }: RunContext): Promise<Measured> {
    const n = o.w1Tasks;
    const c = o.concurrency;
    const warmup = Math.min(n, o.warmupTasks);
    switch (contender) {
      case 'ours-redis':
        return oursDrain(services, 'redis', n, warmup, c, 0);
      case 'ours-postgres':
        return oursDrain(services, 'postgres', n, warmup, c, 0);
      case 'ours-pq-redis':
        return procrastinateDrain(await procrastinateSetup(services, n, c, warmup), 'redis');
      case 'ours-pq-postgres':
        return procrastinateDrain(await procrastinateSetup(services, n, c, warmup), 'postgres');
      case 'graphile':
        return procrastinateDrain(await procrastinateSetup(services, n, c, warmup), 'graphile');
      case 'graphile-batched':
        return procrastinateDrain(await procrastinateSetup(services, n, c, warmup), 'graphile-lq-batch');
      case 'bullmq':
        return bullDrain(services, n, warmup, c, 0);
      case 'pg-boss-notify':
        return pgBossDrain(services, n, warmup, c, 0, true);
      case 'pg-boss':
        return pgBossDrain(services, o.pgbossJobs, Math.ceil(o.pgbossJobs / 10), c, 0, false);
      default:
        throw new Error(`W1 has no contender ${contender}`);
    }
  },
};
