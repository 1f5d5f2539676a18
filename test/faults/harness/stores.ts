/**
 * The slot store of a fault run: a redis-server or a PostgreSQL cluster of the run's own, on a free
 * loopback port, that the store faults restart and freeze. Later: a Redis Cluster.
 */
import { ownPostgres, ownRedis, type OwnPostgres, type Teardown } from '../../helpers/own-servers.js';
import type { Rng } from './rng.js';
import type { WorkerConfig } from './worker-config.js';

export type StoreKind = 'redis' | 'postgres';
export const storeKinds: readonly StoreKind[] = ['redis', 'postgres'];

export interface FaultStore {
  kind: StoreKind;
  /** How the workers reach it. */
  workerStore: WorkerConfig['store'];
  /** Whether a restart comes back with no state (Redis without persistence). */
  restartLosesState: boolean;
  /** Stops the store and starts it again `downMs` later; says how (`mode`). */
  restart(rng: Rng, downMs: number): Promise<{ mode: string }>;
  freeze(): void;
  thaw(): void;
}

export async function startStore(kind: StoreKind, t: Teardown): Promise<FaultStore> {
  if (kind === 'redis') {
    const server = await ownRedis(t);
    return {
      kind,
      workerStore: { kind, url: server.url, keyPrefix: 'faults' },
      restartLosesState: true,
      async restart(_rng, downMs) {
        await server.restart(downMs);
        return { mode: 'shutdown-nosave' };
      },
      freeze: () => server.freeze(),
      thaw: () => server.thaw(),
    };
  }
  return postgresFaultStore(await ownPostgres(t));
}

/** A PostgreSQL cluster as a store the faults restart (fast or immediate) and freeze; slots in schema `slots`. */
export function postgresFaultStore(server: OwnPostgres): FaultStore {
  return {
    kind: 'postgres',
    workerStore: { kind: 'postgres', url: server.url, schema: 'slots' },
    restartLosesState: false,
    async restart(rng, downMs) {
      const mode = rng.pick(['fast', 'immediate'] as const);
      await server.restart(mode, downMs);
      return { mode };
    },
    freeze: () => server.freeze(),
    thaw: () => server.thaw(),
  };
}
