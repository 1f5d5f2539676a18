/**
 * The store a Scheduler benchmark runs on, with its requests counted: a Redis client under the
 * run's key prefix, a PostgreSQL pool in the run's schema (or a schema of its own), or memory.
 */
import type pg from 'pg';
import type { SchedulerOptions } from '../../src/index.js';
import { countPostgres, countRedis, type RoundTrips } from './round-trips.js';
import type { Services, StoreKind } from './services.js';

export interface CountedStore {
  /** The Scheduler's store options (all but its name); none for memory. */
  options: Omit<SchedulerOptions, 'name'>;
  /** Every request sent to the store; undefined for memory, which sends none. */
  counter: RoundTrips | undefined;
  /** The PostgreSQL store's pool, for a caller that ends it before the run's cleanup. */
  pool?: pg.Pool;
}

export interface PostgresPlacement {
  /** Connections of the store's pool (default 10). */
  max?: number;
  /** A schema of its own, from `services.newSchema` (default: the run's schema). */
  schema?: string;
  /** The store's tables `UNLOGGED` (the `postgresUnlogged` option); default: as created, logged. */
  unlogged?: boolean;
}

/** A client or pool of the run for `kind`, with a counter around it. */
export async function countedStore(
  services: Services,
  kind: 'redis' | 'postgres',
  postgres?: PostgresPlacement,
): Promise<CountedStore & { counter: RoundTrips }>;
export async function countedStore(services: Services, kind: StoreKind, postgres?: PostgresPlacement): Promise<CountedStore>;
export async function countedStore(services: Services, kind: StoreKind, postgres: PostgresPlacement = {}): Promise<CountedStore> {
  if (kind === 'redis') {
    const client = await services.redis();
    return { options: { redis: client, keyPrefix: services.keyPrefix }, counter: countRedis(client) };
  }
  if (kind === 'postgres') {
    const pool = await services.postgres(postgres.max);
    const options = {
      postgres: pool,
      postgresSchema: postgres.schema ?? services.schema,
      ...(postgres.unlogged === undefined ? {} : { postgresUnlogged: postgres.unlogged }),
    };
    return { options, counter: countPostgres(pool), pool };
  }
  return { options: {}, counter: undefined };
}
