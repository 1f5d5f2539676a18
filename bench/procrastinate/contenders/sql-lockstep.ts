/** The SQL lockstep: what slot-bounded claiming reaches on this schema with no slot bookkeeping. */
import type pg from 'pg';
import { fmt } from '../../harness/format.js';
import type { Services } from '../../harness/services.js';
import { measure, type Contender, type Drain, type Setup } from '../drain.js';
import { freshQueue, queue, verify } from '../queue.js';
import { sql } from '../statements.js';

export function sqlLockstepContender({ services, admin, options }: Setup): Contender {
  return {
    key: 'sql-lockstep',
    label: `SQL lockstep: ${options.slots} × fetch_job_v2 in 1 statement on 1 connection, their finish beside the next fetch (≤ ${options.slots} jobs claimed)`,
    drain: (n) => sqlLockstepDrain(services, admin, n, options.slots),
  };
}

/**
 * What a client that never holds more than `batch` claimed jobs can reach on this schema, with no
 * slot bookkeeping: claim `batch` jobs in one statement, finish them in one statement on a second
 * connection while the next claim runs (at most one finish in flight), claim again as soon as the
 * claim returns. Our drain does this plus a slot start per round; the difference is its cost.
 */
async function sqlLockstepDrain(services: Services, admin: pg.Pool, jobs: number, batch: number): Promise<Drain> {
  const q = await freshQueue(services, admin, jobs, 3); // the third for verify
  const [fetcher, finisher] = [await q.pool.connect(), await q.pool.connect()];
  try {
    const workerId = (await fetcher.query<{ worker_id: string }>(sql.register)).rows[0]!.worker_id;
    let statements = 0;
    let finishing: Promise<unknown> | undefined;
    const stop = measure();
    const began = performance.now();
    for (;;) {
      statements++;
      const { rows } = await fetcher.query<{ id: string }>(sql.fetchBatch, [[queue], workerId, batch]);
      if (rows.length === 0) break;
      // At most one finish in flight, as ours: this one waits for the one before (long done, as a rule).
      await finishing;
      statements++;
      finishing = finisher.query(sql.finishMany, [rows.map((r) => r.id), 'succeeded', false]);
      finishing.catch(() => {}); // awaited at the next claim, or after the loop
    }
    await finishing;
    const elapsedMs = performance.now() - began;
    const measured = stop();
    await verify(q.pool, jobs, 'SQL lockstep');
    await q.pool.query(sql.unregister, [workerId]);
    return {
      contender: 'sql-lockstep',
      jobsPerSec: (jobs / elapsedMs) * 1000,
      elapsedMs,
      requests: `SQL ${fmt(statements / jobs, 2)}`,
      ...measured,
    };
  } finally {
    fetcher.release();
    finisher.release();
    await q.drop();
  }
}
