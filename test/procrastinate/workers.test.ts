/**
 * Workers (register, heartbeat, unregister, prune and the ON DELETE SET NULL on their jobs),
 * periodic defers (one job per tick), and concurrent fetches in our Procrastinate schema.
 */
import test from 'ava';
import type pg from 'pg';
import { deferMany, deferOne, fetchJob, jobRow, procrastinateDb, q, registerWorker } from '../helpers/procrastinate.js';

const heartbeatAgeSeconds = async (pool: pg.Pool, worker: string) =>
  (
    await pool.query<{ age: number }>(
      'SELECT extract(epoch FROM now() - last_heartbeat)::float8 AS age FROM procrastinate_workers WHERE id = $1',
      [worker],
    )
  ).rows[0]?.age;

test('register, heartbeat and unregister a worker; a heartbeat for a gone worker does nothing', async (t) => {
  const { pool } = await procrastinateDb(t);
  const first = await registerWorker(pool);
  const second = await registerWorker(pool);
  t.true(BigInt(second) > BigInt(first));
  await pool.query("UPDATE procrastinate_workers SET last_heartbeat = now() - interval '1 hour' WHERE id = $1", [first]);
  t.true((await heartbeatAgeSeconds(pool, first))! >= 3600);
  await pool.query(q.heartbeat, [first]);
  t.true((await heartbeatAgeSeconds(pool, first))! < 5);
  await pool.query(q.unregister, [first]);
  t.is((await pool.query('SELECT 1 FROM procrastinate_workers WHERE id = $1', [first])).rowCount, 0);
  await t.notThrowsAsync(pool.query(q.heartbeat, [first]));
  t.is((await pool.query('SELECT 1 FROM procrastinate_workers WHERE id = $1', [first])).rowCount, 0);
});

test('unregistering a worker sets worker_id to NULL on all its jobs, whatever their status', async (t) => {
  const { pool } = await procrastinateDb(t);
  const [gone, kept] = [await registerWorker(pool), await registerWorker(pool)];
  const [done, running, other] = await deferMany(pool, [{}, {}, {}]);
  await fetchJob(pool, null, gone);
  await pool.query(q.finish, [done, 'succeeded', false]);
  await fetchJob(pool, null, gone);
  await fetchJob(pool, null, kept);
  await pool.query(q.unregister, [gone]);
  t.like(await jobRow(pool, done), { status: 'succeeded', worker_id: null });
  t.like(await jobRow(pool, running), { status: 'doing', worker_id: null }); // now looks stalled
  t.like(await jobRow(pool, other), { status: 'doing', worker_id: kept });
});

test('prune deletes only the workers silent for longer than the given seconds and returns them', async (t) => {
  const { pool } = await procrastinateDb(t);
  const [stale, fresh] = [await registerWorker(pool), await registerWorker(pool)];
  const job = await deferOne(pool);
  await fetchJob(pool, null, stale);
  await pool.query("UPDATE procrastinate_workers SET last_heartbeat = now() - interval '31 seconds' WHERE id = $1", [stale]);
  const pruned = await pool.query<{ worker_id: string }>(q.prune, [30]);
  t.deepEqual(pruned.rows, [{ worker_id: stale }]);
  t.like(await jobRow(pool, job), { status: 'doing', worker_id: null });
  t.deepEqual((await pool.query(q.prune, [30])).rows, []);
  t.deepEqual((await pool.query('SELECT id FROM procrastinate_workers')).rows, [{ id: fresh }]);
  t.deepEqual((await pool.query(q.prune, [0.5])).rows, []); // fractions of a second are accepted
});

test('defer_periodic_job_v2 defers once per tick, forgets older ticks and keeps each periodic id apart', async (t) => {
  const { pool } = await procrastinateDb(t);
  const defer = async (periodicId: string, tick: number) =>
    (
      await pool.query<{ id: string | null }>(q.deferPeriodic, [
        'periodic',
        'L',
        null,
        'app.report',
        4,
        periodicId,
        tick,
        JSON.stringify({ timestamp: tick, kind: 'daily' }),
      ])
    ).rows[0]!.id;
  const first = await defer('', 1000);
  t.regex(first!, /^\d+$/);
  t.is(await defer('', 1000), null); // the same tick, from another worker
  const next = await defer('', 1060);
  t.not(next, null);
  const other = await defer('eu', 1000); // another periodic id of the same task: its own ticks
  t.not(other, null);

  const defers = await pool.query('SELECT task_name, periodic_id, defer_timestamp, job_id FROM procrastinate_periodic_defers ORDER BY id');
  t.deepEqual(defers.rows, [
    { task_name: 'app.report', periodic_id: '', defer_timestamp: '1060', job_id: next },
    { task_name: 'app.report', periodic_id: 'eu', defer_timestamp: '1000', job_id: other },
  ]);
  const job = await pool.query(
    'SELECT queue_name, task_name, priority, lock, queueing_lock, args, status, scheduled_at FROM procrastinate_jobs WHERE id = $1',
    [first],
  );
  t.deepEqual(job.rows[0], {
    queue_name: 'periodic',
    task_name: 'app.report',
    priority: 4,
    lock: 'L',
    queueing_lock: null,
    args: { timestamp: 1000, kind: 'daily' },
    status: 'todo',
    scheduled_at: null,
  });
});

test('defer_periodic_job_v2 with a queueing lock conflict raises 23505 and records no tick', async (t) => {
  const { pool } = await procrastinateDb(t);
  await deferOne(pool, { queueingLock: 'report' });
  const error = await t.throwsAsync<pg.DatabaseError>(
    pool.query(q.deferPeriodic, ['default', null, 'report', 'app.report', 0, '', 2000, '{}']),
  );
  t.like(error, { code: '23505', constraint: 'procrastinate_jobs_queueing_lock_idx_v1' });
  t.is((await pool.query('SELECT 1 FROM procrastinate_periodic_defers')).rowCount, 0);
});

test('10 concurrent fetches over 5 jobs claim each job once and return 5 NULL rows', async (t) => {
  const { pool } = await procrastinateDb(t);
  const worker = await registerWorker(pool);
  for (let round = 0; round < 5; round += 1) {
    const ids = await deferMany(
      pool,
      Array.from({ length: 5 }, () => ({})),
    );
    const fetched = await Promise.all(Array.from({ length: 10 }, () => fetchJob(pool, null, worker)));
    const claimed = fetched.map((f) => f.id).filter((id): id is string => id !== null);
    t.deepEqual([...claimed].sort(), [...ids].sort(), `round ${round}`);
    t.is(fetched.filter((f) => f.id === null).length, 5);
    await pool.query("UPDATE procrastinate_jobs SET status = 'succeeded' WHERE status = 'doing'");
  }
});

test('concurrent fetches over one lock chain claim only its head', async (t) => {
  const { pool } = await procrastinateDb(t);
  const worker = await registerWorker(pool);
  for (let round = 0; round < 5; round += 1) {
    const ids = await deferMany(
      pool,
      Array.from({ length: 5 }, () => ({ lock: `L${round}` })),
    );
    const fetched = await Promise.all(Array.from({ length: 10 }, () => fetchJob(pool, null, worker)));
    t.deepEqual(
      fetched.map((f) => f.id).filter((id) => id !== null),
      [ids[0]],
      `round ${round}`,
    );
  }
});
