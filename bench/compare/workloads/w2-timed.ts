/**
 * W2 timed tasks: N tasks that each await a D ms timer, at concurrency C; efficiency = tasks/s ÷
 * (C / D). Ours on Redis and on PostgreSQL slots (in-memory backend); BullMQ; graphile-worker
 * (defaults); pg-boss (notified, and polling). And the job alone: C loops awaiting the same timer,
 * no queue and no slots, the most any contender can reach.
 */
import { fmt } from '../../harness/format.js';
import { sleep } from '../../harness/timing.js';
import { graphileDrain } from '../../procrastinate/contenders/graphile.js';
import { loadGraphileWorker } from '../../procrastinate/graphile-worker.js';
import type { ContenderInfo, Measured } from '../model.js';
import { required } from '../peers/index.js';
import type { RunContext, WorkloadSpec } from '../workload.js';
import { drainContenders } from './drain-contenders.js';
import { oursDrain } from './ours-drain.js';
import { bullDrain, pgBossDrain } from './peer-drains.js';

/** Tasks per second the concurrency allows. */
const ideal = (concurrency: number, taskMs: number) => (concurrency * 1000) / taskMs;

export const w2: WorkloadSpec = {
  describe(o, peers) {
    const c = o.concurrency;
    const contenders: ContenderInfo[] = [
      ...drainContenders(o, peers, ['ours-redis', 'ours-postgres', 'ours-pg-unlogged', 'bullmq', 'graphile', 'pg-boss-notify', 'pg-boss']),
      {
        key: 'job-alone',
        label: `the job alone: ${c} loops awaiting the ${o.w2TaskMs} ms timer, no queue, no slots (the ceiling)`,
        short: 'job alone',
        ours: false,
      },
    ];
    return {
      key: 'W2',
      title: `W2 timed tasks: ${fmt(o.w2Tasks, 0)} tasks of ${o.w2TaskMs} ms, concurrency ${c}, efficiency vs ${fmt(ideal(c, o.w2TaskMs), 0)}/s`,
      metrics: [
        { key: 'rate', label: 'tasks/s', better: 'higher', decimals: 0 },
        { key: 'efficiency', label: 'efficiency', better: 'higher', decimals: 3 },
      ],
      contenders,
      pairs: [
        { ours: 'ours-redis', peer: 'bullmq', metric: 'rate' },
        { ours: 'ours-postgres', peer: 'graphile', metric: 'rate' },
        { ours: 'ours-pg-unlogged', peer: 'graphile', metric: 'rate' },
        { ours: 'ours-postgres', peer: 'pg-boss-notify', metric: 'rate' },
        { ours: 'ours-postgres', peer: 'pg-boss', metric: 'rate' },
      ],
      notes: [
        `Each task awaits a ${o.w2TaskMs} ms setTimeout. Timed as in W1, after an unmeasured drain of a quarter of the tasks at most (${fmt(warmupOf(o.w2Tasks, o.warmupTasks), 0)}); pg-boss runs each batch's tasks together (Promise.all), so a batch lasts its slowest task.`,
        `The job alone hands nothing over: each of its ${c} loops awaits the next timer at once. Its efficiency is the most any contender can reach here, short of 1 by the timers' lateness alone.`,
      ],
    };
  },

  async run(contender: string, { services, options: o }: RunContext): Promise<Measured> {
    const n = o.w2Tasks;
    const c = o.concurrency;
    const ms = o.w2TaskMs;
    const warmup = warmupOf(n, o.warmupTasks);
    let measured: Measured;
    switch (contender) {
      case 'ours-redis':
        measured = await oursDrain(services, 'redis', n, warmup, c, ms);
        break;
      case 'ours-postgres':
        measured = await oursDrain(services, 'postgres', n, warmup, c, ms);
        break;
      case 'ours-pg-unlogged':
        measured = await oursDrain(services, 'postgres', n, warmup, c, ms, { unlogged: true });
        break;
      case 'bullmq':
        measured = await bullDrain(services, n, warmup, c, ms);
        break;
      case 'graphile': {
        const { worker } = required(loadGraphileWorker());
        const admin = await services.postgres(2);
        const task = () => sleep(ms);
        await graphileDrain(services, admin, worker, warmup, c, undefined, task);
        measured = { metrics: { rate: (await graphileDrain(services, admin, worker, n, c, undefined, task)).jobsPerSec } };
        break;
      }
      case 'pg-boss-notify':
        measured = await pgBossDrain(services, n, warmup, c, ms, true);
        break;
      case 'pg-boss':
        measured = await pgBossDrain(services, o.pgbossJobs, Math.ceil(o.pgbossJobs / 10), c, ms, false);
        break;
      case 'job-alone':
        await timersAlone(warmup, c, ms);
        measured = { metrics: { rate: await timersAlone(n, c, ms) } };
        break;
      default:
        throw new Error(`W2 has no contender ${contender}`);
    }
    return { ...measured, metrics: { ...measured.metrics, efficiency: measured.metrics.rate! / ideal(c, ms) } };
  },
};

const warmupOf = (tasks: number, warmupTasks: number) => Math.min(warmupTasks, Math.ceil(tasks / 4));

/** Tasks/s of `tasks` awaits of a `taskMs` timer by `concurrency` loops, each starting its next at once. */
async function timersAlone(tasks: number, concurrency: number, taskMs: number): Promise<number> {
  let left = tasks;
  const began = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (left > 0) {
        left--;
        await sleep(taskMs);
      }
    }),
  );
  return (tasks / (performance.now() - began)) * 1000;
}
