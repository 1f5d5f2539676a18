/**
 * The scheduler options that point a fault worker at the run's store: a URL for a single server,
 * or an ioredis `Cluster` client of the worker's own for a Redis Cluster (a scheduler opens no
 * cluster client from a URL; the user passes one, as here).
 */
import { Cluster } from 'ioredis';
import type { SchedulerOptions } from '../../../src/options.js';
import type { WorkerConfig } from './worker-config.js';

export function storeOptions(store: WorkerConfig['store']): Partial<SchedulerOptions> {
  switch (store.kind) {
    case 'redis':
      return { redis: store.url, keyPrefix: store.keyPrefix };
    case 'postgres':
      return { postgres: store.url, postgresSchema: store.schema };
    case 'redis-cluster': {
      const client = new Cluster(store.nodes, { redisOptions: { maxRetriesPerRequest: 3 } });
      // Without a listener a node's failure would crash the worker; commands report their own errors.
      client.on('error', () => {});
      return { redis: client, keyPrefix: store.keyPrefix };
    }
  }
}
