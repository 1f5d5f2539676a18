/**
 * Retry, cancel and abort in our Procrastinate schema, the event history their transitions
 * write, and the notifications listeners get (payload and both channels), through the
 * statements Python sends.
 */
import test from 'ava';
import type pg from 'pg';
import {
  deferOne,
  eventTypes,
  fetchJob,
  jobRow,
  listen,
  procrastinateDb,
  q,
  registerWorker,
  trackedClient,
} from '../helpers/procrastinate.js';
import { uniqueName } from '../helpers/services.js';

test('retry_job_v2 requeues a running job: attempts + 1, scheduled_at, and the non-NULL replacements', async (t) => {
  const { pool } = await procrastinateDb(t);
  const worker = await registerWorker(pool);
  const id = await deferOne(pool, { queue: 'q1', lock: 'L', priority: 1 });
  await fetchJob(pool, null, worker);
  const retryAt = new Date(Date.now() + 60_000);
  await pool.query(q.retry, [id, retryAt, 7, 'q2', 'L2']);
  t.like(await jobRow(pool, id), {
    status: 'todo',
    attempts: 1,
    scheduled_at: retryAt,
    priority: 7,
    queue_name: 'q2',
    lock: 'L2',
    worker_id: worker,
  });
  t.deepEqual(await eventTypes(pool, id), ['deferred', 'started', 'scheduled', 'deferred_for_retry']);
  const at = await pool.query<{ at: Date }>("SELECT at FROM procrastinate_events WHERE job_id = $1 AND type = 'scheduled'", [id]);
  t.deepEqual(at.rows[0]?.at, retryAt); // the event is dated at the schedule, not at the change

  // NULL replacements keep the values; a NULL retry_at means now.
  await pool.query('UPDATE procrastinate_jobs SET scheduled_at = NULL WHERE id = $1', [id]);
  t.is((await fetchJob(pool, ['q2'], worker)).id, id);
  await pool.query(q.retry, [id, null, null, null, null]);
  t.like(await jobRow(pool, id), { status: 'todo', attempts: 2, scheduled_at: null, priority: 7, queue_name: 'q2', lock: 'L2' });
});

test('retry_job_v2 brings a failed job back (retried) and refuses other statuses', async (t) => {
  const { pool } = await procrastinateDb(t);
  const worker = await registerWorker(pool);
  const id = await deferOne(pool);
  await fetchJob(pool, null, worker);
  await pool.query(q.finish, [id, 'failed', false]);
  await pool.query(q.retry, [id, null, null, null, null]);
  t.like(await jobRow(pool, id), { status: 'todo', attempts: 2 }); // one for the failed run, one for the retry
  t.deepEqual(await eventTypes(pool, id), ['deferred', 'started', 'failed', 'retried']);
  for (const job of [id, '424242']) {
    const error = await t.throwsAsync<pg.DatabaseError>(pool.query(q.retry, [job, null, null, null, null]));
    t.like(error, { code: 'P0001', message: `Job was not found or has an invalid status to retry (job id: ${job})` });
  }
  // The pre-3.4 function takes running jobs only.
  await fetchJob(pool, null, worker);
  await pool.query(q.finish, [id, 'failed', false]);
  const v1 = await t.throwsAsync<pg.DatabaseError>(pool.query(q.retryV1, [id, null, null, null, null]));
  t.like(v1, { code: 'P0001', message: `Job was not found or not in "doing" status (job id: ${id})` });
});

test('retry_job_v2 on a running job with an abort request fails it and keeps the flag', async (t) => {
  const { pool } = await procrastinateDb(t);
  const worker = await registerWorker(pool);
  const id = await deferOne(pool);
  await fetchJob(pool, null, worker);
  t.is((await pool.query<{ id: string }>(q.cancel, [id, true, false])).rows[0]?.id, id);
  await pool.query(q.retry, [id, new Date(), 3, 'other', 'L']);
  t.like(await jobRow(pool, id), { status: 'failed', attempts: 0, abort_requested: true, priority: 0, queue_name: 'default', lock: null });
  t.deepEqual(await eventTypes(pool, id), ['deferred', 'started', 'abort_requested', 'failed']);
  // The pitfall of the spec: a later manual retry violates the CHECK until the flag is cleared.
  const error = await t.throwsAsync<pg.DatabaseError>(pool.query(q.retry, [id, null, null, null, null]));
  t.like(error, { code: '23514', constraint: 'check_not_todo_abort_requested' });
  await pool.query('UPDATE procrastinate_jobs SET abort_requested = false WHERE id = $1', [id]);
  await pool.query(q.retry, [id, null, null, null, null]);
  t.like(await jobRow(pool, id), { status: 'todo', attempts: 1 });
});

test('cancel_job_v1: a queued job is cancelled or deleted; a running one is only flagged with abort', async (t) => {
  const { pool } = await procrastinateDb(t);
  const worker = await registerWorker(pool);
  const cancel = async (id: string, abort: boolean, del: boolean) =>
    (await pool.query<{ id: string | null }>(q.cancel, [id, abort, del])).rows[0]?.id;

  const queued = await deferOne(pool);
  t.is(await cancel(queued, false, false), queued);
  t.like(await jobRow(pool, queued), { status: 'cancelled', abort_requested: false });
  t.deepEqual(await eventTypes(pool, queued), ['deferred', 'cancelled']);
  t.is(await cancel(queued, false, false), null); // nothing left to do

  const abortedQueued = await deferOne(pool);
  t.is(await cancel(abortedQueued, true, false), abortedQueued);
  t.like(await jobRow(pool, abortedQueued), { status: 'cancelled', abort_requested: true });
  t.deepEqual((await eventTypes(pool, abortedQueued)).sort(), ['abort_requested', 'cancelled', 'deferred']);

  const deleted = await deferOne(pool);
  t.is(await cancel(deleted, false, true), deleted);
  t.is(await jobRow(pool, deleted), undefined);

  const running = await deferOne(pool);
  await fetchJob(pool, null, worker);
  t.is(await cancel(running, false, false), null);
  t.is(await cancel(running, false, true), null); // delete_job never deletes a running job
  t.like(await jobRow(pool, running), { status: 'doing', abort_requested: false });
  t.is(await cancel(running, true, true), running);
  t.like(await jobRow(pool, running), { status: 'doing', abort_requested: true });
  t.is(await cancel('31337', true, false), null);
});

test('the history of a job: every transition writes its event, other changes write none', async (t) => {
  const { pool } = await procrastinateDb(t);
  const worker = await registerWorker(pool);
  const id = await deferOne(pool, { scheduledAt: new Date(Date.now() - 1000) });
  t.deepEqual(await eventTypes(pool, id), ['scheduled', 'deferred']);
  await fetchJob(pool, null, worker); // started
  await pool.query(q.retry, [id, null, null, null, null]); // deferred_for_retry (no scheduled: retry_at is NULL)
  await fetchJob(pool, null, worker); // started
  await pool.query(q.finish, [id, 'failed', false]); // failed
  await pool.query(q.retry, [id, null, null, null, null]); // retried
  await pool.query('UPDATE procrastinate_jobs SET priority = 3 WHERE id = $1', [id]); // nothing
  await pool.query("UPDATE procrastinate_jobs SET status = 'todo' WHERE id = $1", [id]); // todo -> todo: nothing
  await fetchJob(pool, null, worker); // started
  await pool.query(q.cancel, [id, true, false]); // abort_requested
  await pool.query(q.cancel, [id, true, false]); // abort_requested again, but no second NOTIFY (see below)
  await pool.query(q.finish, [id, 'aborted', false]); // aborted
  t.deepEqual(await eventTypes(pool, id), [
    'scheduled',
    'deferred',
    'started',
    'deferred_for_retry',
    'started',
    'failed',
    'retried',
    'started',
    'abort_requested',
    'abort_requested',
    'aborted',
  ]);
  // Plain UPDATEs by any client write the same history as the functions.
  const manual = await deferOne(pool);
  await pool.query("UPDATE procrastinate_jobs SET status = 'doing' WHERE id = $1", [manual]);
  await pool.query("UPDATE procrastinate_jobs SET status = 'succeeded' WHERE id = $1", [manual]);
  t.deepEqual(await eventTypes(pool, manual), ['deferred', 'started', 'succeeded']);
});

test('deleting a job deletes its events and unlinks its periodic defer', async (t) => {
  const { pool } = await procrastinateDb(t);
  const id = (await pool.query<{ id: string }>(q.deferPeriodic, ['default', null, null, 'app.tick', 0, '', 1000, '{"timestamp": 1000}']))
    .rows[0]!.id;
  await pool.query('DELETE FROM procrastinate_jobs WHERE id = $1', [id]);
  t.deepEqual(await eventTypes(pool, id), []);
  const defers = await pool.query('SELECT task_name, defer_timestamp, job_id FROM procrastinate_periodic_defers');
  t.deepEqual(defers.rows, [{ task_name: 'app.tick', defer_timestamp: '1000', job_id: null }]);
});

test('job_inserted goes to the queue channel and the any-queue channel, as JSON with spaced colons', async (t) => {
  const { pool } = await procrastinateDb(t);
  const queue = uniqueName('Queue'); // quoting keeps its case
  const listener = await listen(t, [`procrastinate_queue_v1#${queue}`, 'procrastinate_any_queue_v1']);
  const { client, pid } = await trackedClient(t, pool);
  const now = await deferOne(client, { queue });
  const later = await deferOne(client, { queue, scheduledAt: new Date(Date.now() + 3_600_000) }); // notifies too
  const got = await listener.settle(pid);
  const expected = (id: string) => ({ type: 'job_inserted', job_id: Number(id) });
  t.deepEqual(
    got.map((n) => [n.channel, n.payload]),
    [
      [`procrastinate_queue_v1#${queue}`, expected(now)],
      ['procrastinate_any_queue_v1', expected(now)],
      [`procrastinate_queue_v1#${queue}`, expected(later)],
      ['procrastinate_any_queue_v1', expected(later)],
    ],
  );
  t.is(got[0]?.raw, `{"type" : "job_inserted", "job_id" : ${now}}`);
});

test('abort_job_requested is notified once per running job; retries and finishes notify nothing', async (t) => {
  const { pool } = await procrastinateDb(t);
  const queue = uniqueName('q');
  const listener = await listen(t, [`procrastinate_queue_v1#${queue}`, 'procrastinate_any_queue_v1']);
  // Checked out first, so that the pool runs the defers below on other connections.
  const { client, pid } = await trackedClient(t, pool);
  const worker = await registerWorker(pool);
  const [running, retried] = [await deferOne(pool, { queue }), await deferOne(pool, { queue })];
  await fetchJob(client, null, worker);
  await fetchJob(client, null, worker);
  await client.query(q.cancel, [running, true, false]);
  await client.query(q.cancel, [running, true, false]); // already flagged: no second notification
  await client.query(q.retry, [retried, null, null, null, null]);
  await client.query(q.finish, [running, 'aborted', false]);
  const queuedAbort = await deferOne(pool, { queue });
  await client.query(q.cancel, [queuedAbort, true, false]); // a queued job is cancelled, not notified
  const got = await listener.settle(pid);
  t.deepEqual(
    got.map((n) => [n.channel, n.payload]),
    [
      [`procrastinate_queue_v1#${queue}`, { type: 'abort_job_requested', job_id: Number(running) }],
      ['procrastinate_any_queue_v1', { type: 'abort_job_requested', job_id: Number(running) }],
    ],
  );
  t.is(got[0]?.raw, `{"type" : "abort_job_requested", "job_id" : ${running}}`);
});
