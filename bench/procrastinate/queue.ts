/** The queue every drain works on: a fresh schema of N deferred no-op jobs, and its checks. */
import pg from 'pg';
import { ProcrastinateClient, applySchema } from '../../backends/procrastinate/index.js';
import { fmt } from '../harness/format.js';
import type { RoundTrips } from '../harness/round-trips.js';
import type { Services } from '../harness/services.js';
import { sql } from './statements.js';

export const queue = 'bench';
export const taskName = 'bench.noop';

export interface Queue {
  schema: string;
  pool: pg.Pool;
  /** Drops the schema and ends the pool. */
  drop(): Promise<void>;
}

/** A fresh schema with the Procrastinate schema and `jobs` no-op jobs deferred in one statement. */
export async function freshQueue(services: Services, admin: pg.Pool, jobs: number, poolSize: number): Promise<Queue> {
  const schema = services.newSchema('bench_pq');
  await admin.query(`CREATE SCHEMA ${pg.escapeIdentifier(schema)}`);
  const pool = await services.postgres(poolSize, { options: `-c search_path=${schema}` });
  await applySchema(pool);
  if (jobs > 0) {
    const client = new ProcrastinateClient({ postgres: pool });
    const ids = await client.deferMany(Array.from({ length: jobs }, () => ({ taskName, queue })));
    if (ids.length !== jobs) throw new Error(`deferMany returned ${ids.length} ids for ${jobs} jobs`);
  }
  // Statistics for the planner, as autovacuum would gather them on a table that has grown this much.
  await pool.query('ANALYZE procrastinate_jobs');
  return {
    schema,
    pool,
    drop: async () => {
      await pool.end().catch(() => {});
      await services.dropSchema(admin, schema);
    },
  };
}

/** Checks that every job succeeded: none left todo or doing, nothing else. */
export async function verify(pool: pg.Pool, jobs: number, who: string): Promise<void> {
  const { rows } = await pool.query<{ status: string; n: number }>(sql.statuses);
  const counts = Object.fromEntries(rows.map((r) => [r.status, r.n]));
  if (counts.succeeded !== jobs || rows.length !== 1)
    throw new Error(`${who}: expected ${jobs} succeeded jobs, found ${JSON.stringify(counts)}`);
}

/** Requests per job counted by `counter`, labelled, e.g. `SQL 0.10 (job-finish-and-claim×2000 …)`. */
export function describe(label: string, counter: RoundTrips, jobs: number): string {
  return `${label} ${fmt(counter.total / jobs, 2)} (${counter.describe()})`;
}
