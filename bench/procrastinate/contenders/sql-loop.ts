/**
 * The SQL ceiling: C connections, each looping the statements a Python worker sends
 * (`procrastinate_fetch_job_v2`, then `procrastinate_finish_job_v1`, one job per fetch) until the
 * queue is empty, as unnamed statements; the same loop with prepared statements; and batched, B
 * jobs per statement, what batching could reach on this schema.
 */
import type pg from 'pg';
import { fmt } from '../../harness/format.js';
import type { Services } from '../../harness/services.js';
import { measure, type Contender, type Drain, type Setup } from '../drain.js';
import { freshQueue, queue, verify } from '../queue.js';
import { sql } from '../statements.js';

export function sqlLoopContenders({ services, admin, options }: Setup): Contender[] {
  return [
    {
      key: 'sql',
      label: `SQL ceiling: fetch_job_v2 + finish_job_v1, ${options.slots} connections`,
      drain: (n) => sqlDrain(services, admin, n, options.slots, 1),
    },
    {
      key: 'sql-prepared',
      label: `SQL, prepared statements: fetch_job_v2 + finish_job_v1, ${options.slots} connections`,
      drain: (n) => sqlDrain(services, admin, n, options.slots, 1, true),
    },
    {
      key: 'sql-batch',
      label: `SQL batched: ${options.sqlBatch} × fetch_job_v2 in 1 statement + ${options.sqlBatch} × finish_job_v1 in 1, ${options.slots} connections`,
      drain: (n) => sqlDrain(services, admin, n, options.slots, options.sqlBatch),
    },
  ];
}

/**
 * A statement as pg sends it: unnamed (parsed and planned at each call, as this library sends its
 * statements), or named, i.e. prepared once per connection (as psycopg 3 does after 5 executions,
 * and graphile-worker by default).
 */
function statement(name: keyof typeof sql, prepared: boolean): string | pg.QueryConfig {
  return prepared ? { name: `bench_${name}`, text: sql[name] } : sql[name];
}

/** `connections` loops of fetch + finish (`batch` jobs per statement) until the queue is empty. */
async function sqlDrain(
  services: Services,
  admin: pg.Pool,
  jobs: number,
  connections: number,
  batch: number,
  prepared = false,
): Promise<Drain> {
  const q = await freshQueue(services, admin, jobs, connections);
  const clients: pg.PoolClient[] = [];
  try {
    const workerId = (await q.pool.query<{ worker_id: string }>(sql.register)).rows[0]!.worker_id;
    for (let i = 0; i < connections; i++) clients.push(await q.pool.connect());
    let statements = 0;
    const stop = measure();
    const began = performance.now();
    await Promise.all(
      clients.map(async (client) => {
        for (;;) {
          statements++;
          if (batch === 1) {
            const { rows } = await client.query<{ id: string | null }>(statement('fetch', prepared), [[queue], workerId]);
            const id = rows[0]?.id;
            if (id === null || id === undefined) return;
            statements++;
            await client.query(statement('finish', prepared), [id, 'succeeded', false]);
          } else {
            const { rows } = await client.query<{ id: string }>(statement('fetchBatch', prepared), [[queue], workerId, batch]);
            if (rows.length === 0) return;
            statements++;
            await client.query(statement('finishMany', prepared), [rows.map((r) => r.id), 'succeeded', false]);
          }
        }
      }),
    );
    const elapsedMs = performance.now() - began;
    const measured = stop();
    for (const client of clients.splice(0)) client.release();
    await verify(q.pool, jobs, batch === 1 ? 'SQL loop' : 'batched SQL loop');
    await q.pool.query(sql.unregister, [workerId]);
    return {
      contender: batch === 1 ? 'sql' : 'sql-batch',
      jobsPerSec: (jobs / elapsedMs) * 1000,
      elapsedMs,
      requests: `SQL ${fmt(statements / jobs, 2)}`,
      ...measured,
    };
  } finally {
    for (const client of clients) client.release();
    await q.drop();
  }
}
