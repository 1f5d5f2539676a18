/**
 * Our drains of W1 and W2: the `drain` benchmark's (an in-memory backend on Redis or PostgreSQL
 * slots, requests counted), with a task duration, and the Procrastinate benchmark's (its
 * backend on Redis or PostgreSQL slots). Each child warms up with a short drain first.
 */
import type pg from 'pg';
import { drainOnce } from '../../drain/index.js';
import { fmt } from '../../harness/format.js';
import type { Services } from '../../harness/services.js';
import { countedStore, type PostgresPlacement } from '../../harness/store.js';
import { graphileContenders } from '../../procrastinate/contenders/graphile.js';
import { oursContenders } from '../../procrastinate/contenders/ours.js';
import type { Setup } from '../../procrastinate/drain.js';
import type { Measured } from '../model.js';

/** `tasks` tasks of `taskMs` (0: no-op) through `slots` slots, after a drain of `warmup`. */
export async function oursDrain(
  services: Services,
  store: 'redis' | 'postgres',
  tasks: number,
  warmup: number,
  slots: number,
  taskMs: number,
  postgres: PostgresPlacement = {},
): Promise<Measured> {
  const { options, counter } = await countedStore(services, store, postgres);
  const extras = { metrics: false, history: true, taskMs };
  if (warmup > 0) await drainOnce(options, warmup, slots, undefined, extras);
  const drained = await drainOnce(options, tasks, slots, counter, extras);
  return {
    metrics: { rate: drained.tasksPerSec },
    details: [`${fmt(drained.requestsPerTask, 2)} store requests/task (${counter.describe()})`],
  };
}

/** The Procrastinate benchmark's setup for one drain size (its other options at their defaults). */
export async function procrastinateSetup(services: Services, jobs: number, slots: number, warmupJobs: number): Promise<Setup> {
  const admin: pg.Pool = await services.postgres(2);
  return {
    services,
    admin,
    options: { jobs, slots, poolSize: 10, sqlBatch: 10, latencyJobs: 0, rounds: 1, warmupJobs, only: undefined },
  };
}

/** The Procrastinate benchmark's contender `key` (ours: `redis`, `postgres`; graphile-worker: `graphile`, `graphile-lq-batch`). */
export async function procrastinateDrain(setup: Setup, key: string): Promise<Measured> {
  const contenders = key.startsWith('graphile') ? graphileContenders(setup).contenders : oursContenders(setup);
  const contender = contenders.find((c) => c.key === key);
  if (!contender) throw new Error(`no Procrastinate benchmark contender ${key} (is graphile-worker installed?)`);
  const { jobs, warmupJobs } = setup.options;
  if (warmupJobs > 0) await contender.drain(Math.min(jobs, warmupJobs));
  const drained = await contender.drain(jobs);
  return { metrics: { rate: drained.jobsPerSec }, details: drained.requests === '-' ? [] : [`requests/job: ${drained.requests}`] };
}
