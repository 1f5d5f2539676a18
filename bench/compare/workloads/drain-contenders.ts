/** The contenders W1 and W2 share, by key, as planned and printed. */
import { fmt } from '../../harness/format.js';
import type { ContenderInfo } from '../model.js';
import type { CompareOptions } from '../options.js';
import type { PeerVersions } from '../peers/index.js';
import { version } from '../workload.js';

export type DrainContender = 'ours-redis' | 'ours-postgres' | 'ours-pg-unlogged' | 'bullmq' | 'graphile' | 'pg-boss-notify' | 'pg-boss';

/** The contenders `keys`, in that order, at the concurrency and sizes of `o`. */
export function drainContenders(o: CompareOptions, peers: PeerVersions, keys: readonly DrainContender[]): ContenderInfo[] {
  const c = o.concurrency;
  const all: Record<DrainContender, ContenderInfo> = {
    'ours-redis': {
      key: 'ours-redis',
      label: `task-semaphore, ${c} Redis slots, in-memory backend`,
      short: 'ours, Redis slots',
      ours: true,
    },
    'ours-postgres': {
      key: 'ours-postgres',
      label: `task-semaphore, ${c} PostgreSQL slots, in-memory backend`,
      short: 'ours, PostgreSQL slots',
      ours: true,
    },
    'ours-pg-unlogged': {
      key: 'ours-pg-unlogged',
      label: `task-semaphore, ${c} PostgreSQL slots on unlogged tables (postgresUnlogged), in-memory backend`,
      short: 'ours, PostgreSQL slots, unlogged',
      ours: true,
    },
    bullmq: {
      key: 'bullmq',
      label: `BullMQ ${version(peers, 'bullmq')}, Worker concurrency ${c}`,
      short: 'BullMQ',
      ours: false,
      peer: 'bullmq',
    },
    graphile: {
      key: 'graphile',
      label: `graphile-worker ${version(peers, 'graphile-worker')}, concurrency ${c}, defaults`,
      short: 'graphile-worker defaults',
      ours: false,
      peer: 'graphile-worker',
    },
    'pg-boss-notify': {
      key: 'pg-boss-notify',
      label: `pg-boss ${version(peers, 'pg-boss')}, batchSize ${c}, notifyWorker after each full batch`,
      short: 'pg-boss notified',
      ours: false,
      peer: 'pg-boss',
    },
    'pg-boss': {
      key: 'pg-boss',
      label: `pg-boss ${version(peers, 'pg-boss')}, batchSize ${c}, polling every 0.5 s (${fmt(o.pgbossJobs, 0)} jobs)`,
      short: 'pg-boss polling',
      ours: false,
      peer: 'pg-boss',
    },
  };
  return keys.map((key) => all[key]);
}
