/**
 * The scheduler options that point a fault worker at the run's store: a URL for a single server,
 * or an ioredis `Cluster` client of the worker's own for a Redis Cluster (a scheduler opens no
 * cluster client from a URL; the user passes one, as here).
 */
import { Cluster } from 'ioredis';
import type { SchedulerOptions } from '../../../src/scheduler/options.js';
import type { WorkerConfig } from './worker-config.js';

export function storeOptions(store: WorkerConfig['store']): Partial<SchedulerOptions> {
  switch (store.kind) {
    case 'redis':
      return { redis: store.url, keyPrefix: store.keyPrefix };
    case 'postgres':
      return { postgres: store.url, postgresSchema: store.schema };
    case 'redis-cluster':
      return { redis: clusterClient(store.nodes), keyPrefix: store.keyPrefix };
  }
}

/** A Cluster client as the README shows it. */
function clusterClient(nodes: Array<{ host: string; port: number }>): Cluster {
  const cluster = new Cluster(nodes, { redisOptions: { maxRetriesPerRequest: 3 } });
  cluster.on('error', () => {}); // a node's failure: the commands it fails report it
  return cluster;
}
