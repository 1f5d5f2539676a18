/**
 * The slot store of a fault run, on servers of the run's own on free loopback ports: a redis-server
 * or a PostgreSQL cluster, which the store faults restart and freeze, or a Redis Cluster of 3
 * masters and 3 replicas, whose master of the scheduler's hash slot they fail over and kill.
 */
import { ownCluster } from '../../helpers/own-cluster.js';
import { ownPostgres, ownRedis, type OwnPostgres, type Teardown } from '../../helpers/own-servers.js';
import type { FaultName } from './events.js';
import type { Rng } from './rng.js';
import { faultSchedulerName, type WorkerConfig } from './worker-config.js';

export type StoreKind = 'redis' | 'postgres' | 'redis-cluster';
/** The stores `--store=all` and the CI runs of the process faults use. */
export const storeKinds: readonly StoreKind[] = ['redis', 'postgres'];
/** Every store a run can use. */
export const allStoreKinds: readonly StoreKind[] = ['redis', 'postgres', 'redis-cluster'];

/** The faults a store takes; the process faults (kill, stop, block) apply to every store. */
export const storeFaultsOf: Record<StoreKind, readonly FaultName[]> = {
  redis: ['restart', 'freeze'],
  postgres: ['restart', 'freeze'],
  'redis-cluster': ['failover', 'master-kill'],
};

export interface FaultStore {
  kind: StoreKind;
  /** How the workers reach it. */
  workerStore: WorkerConfig['store'];
  /** Whether a restart comes back with no state (Redis without persistence). */
  restartLosesState: boolean;
  /** Stops the store and starts it again `downMs` later; says how (`mode`). */
  restart?(rng: Rng, downMs: number): Promise<{ mode: string }>;
  freeze?(): void;
  thaw?(): void;
  /** CLUSTER FAILOVER of the master of the scheduler's hash slot; resolves once its replica serves it. */
  failover?(): Promise<{ mode: string }>;
  /** SIGKILL of the master of the scheduler's hash slot; resolves once its replica is promoted. */
  killMaster?(): Promise<{ mode: string }>;
  /** After a kill: gives the promoted master a replica again, so that the next fault finds one. */
  heal?(): Promise<void>;
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
  if (kind === 'redis-cluster') {
    const cluster = await ownCluster(t);
    const keyPrefix = 'faults';
    // Every key of the scheduler name carries this hash tag (slots/redis/redis-store.ts).
    const tag = `{${keyPrefix}:${faultSchedulerName}}`;
    return {
      kind,
      workerStore: { kind, nodes: [...cluster.startupNodes], keyPrefix },
      restartLosesState: false,
      async failover() {
        const { from, to } = await cluster.failover(tag);
        return { mode: `${from}->${to}` };
      },
      async killMaster() {
        const { killed, promoted } = await cluster.killMaster(tag);
        return { mode: `${killed}->${promoted}` };
      },
      heal: () => cluster.replaceKilled(),
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
