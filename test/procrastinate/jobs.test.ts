/**
 * Deferring, fetching and finishing jobs in our Procrastinate schema, through the statements
 * Python sends: ids in input order, the selection rules of fetch_job_v2 (queues, schedule,
 * priority, lock chains), the queueing lock, and finish_job_v1's attempts and errors.
 */
import test from 'ava';
import type pg from 'pg';
import { deferMany, deferOne, eventTypes, fetchJob, jobRow, procrastinateDb, q, registerWorker } from '../helpers/procrastinate.js';

const inAnHour = () => new Date(Date.now() + 3_600_000);
const anHourAgo = () => new Date(Date.now() - 3_600_000);

test('defer one job: a todo row with the given fields and the defaults', async (t) => {
  const { pool } = await procrastinateDb(t);
  const id = await deferOne(pool, {
    queue: 'q1',
    task: 'app.tasks.send',
    args: { to: 'x', n: 2 },
    lock: 'L',
    queueingLock: 'QL',
    priority: -3,
  });
  t.regex(id, /^\d+$/); // int8 arrives as a string
  const row = await pool.query('SELECT * FROM procrastinate_jobs WHERE id = $1', [id]);
  t.deepEqual(row.rows[0], {
    id,
    queue_name: 'q1',
    task_name: 'app.tasks.send',
    priority: -3,
    lock: 'L',
    queueing_lock: 'QL',
    args: { to: 'x', n: 2 },
    status: 'todo',
    scheduled_at: null,
    attempts: 0,
    abort_requested: false,
    worker_id: null,
  });
  t.deepEqual(await eventTypes(pool, id), ['deferred']);
});

test('defer a batch: ids come back in input order', async (t) => {
  const { pool } = await procrastinateDb(t);
  const specs = ['c', 'a', 'e', 'b', 'd'].map((name, i) => ({ task: `t.${name}`, priority: 10 - i, args: { i } }));
  const ids = await deferMany(pool, specs);
  t.is(ids.length, 5);
  const rows = await pool.query<{ id: string; task_name: string; args: { i: number } }>(
    'SELECT id, task_name, args FROM procrastinate_jobs WHERE id = ANY($1::bigint[])',
    [ids],
  );
  const byId = new Map(rows.rows.map((r) => [r.id, r]));
  t.deepEqual(
    ids.map((id) => byId.get(id)?.task_name),
    specs.map((s) => s.task),
  );
  t.deepEqual(
    ids.map((id) => byId.get(id)?.args.i),
    [0, 1, 2, 3, 4],
  );
});

test('fetch claims for the worker, by priority then id, and returns a NULL row when nothing is left', async (t) => {
  const { pool } = await procrastinateDb(t);
  const worker = await registerWorker(pool);
  const [low, high, high2] = await deferMany(pool, [{ priority: -1 }, { priority: 5 }, { priority: 5 }]);
  const order: Array<string | null> = [];
  for (let i = 0; i < 4; i += 1) order.push((await fetchJob(pool, null, worker)).id);
  t.deepEqual(order, [high, high2, low, null]);
  const claimed = await jobRow(pool, high!);
  t.like(claimed, { status: 'doing', worker_id: worker, attempts: 0 });
  t.deepEqual(await eventTypes(pool, high!), ['deferred', 'started']);
  // The NULL row: every column is null, which is how callers test for "nothing".
  const nothing = await fetchJob(pool, null, worker);
  t.true(Object.values(nothing).every((v) => v === null));
  t.is(Object.keys(nothing).length, 11);
});

test('fetch keeps to the given queues; NULL means all, an empty array none', async (t) => {
  const { pool } = await procrastinateDb(t);
  const worker = await registerWorker(pool);
  const [inA, inB] = await deferMany(pool, [{ queue: 'a' }, { queue: 'b' }, { queue: 'c' }]);
  t.is((await fetchJob(pool, [], worker)).id, null);
  t.is((await fetchJob(pool, ['zzz'], worker)).id, null);
  t.is((await fetchJob(pool, ['b'], worker)).id, inB);
  t.is((await fetchJob(pool, ['a', 'b'], worker)).id, inA);
  t.like(await fetchJob(pool, null, worker), { queue_name: 'c' });
});

test('fetch skips jobs scheduled later and takes them once due', async (t) => {
  const { pool } = await procrastinateDb(t);
  const worker = await registerWorker(pool);
  const later = await deferOne(pool, { scheduledAt: inAnHour(), priority: 9 });
  const due = await deferOne(pool, { scheduledAt: anHourAgo() });
  t.is((await fetchJob(pool, null, worker)).id, due);
  t.is((await fetchJob(pool, null, worker)).id, null);
  await pool.query("UPDATE procrastinate_jobs SET scheduled_at = now() - interval '1 second' WHERE id = $1", [later]);
  t.is((await fetchJob(pool, null, worker)).id, later);
});

test('lock chains: only the head runs, by priority then id, one job of a lock at a time', async (t) => {
  const { pool } = await procrastinateDb(t);
  const worker = await registerWorker(pool);
  const [first, second, urgent, free] = await deferMany(pool, [
    { lock: 'L' },
    { lock: 'L' },
    { lock: 'L', priority: 5 }, // younger but ahead: a higher priority heads the chain (3.3 rule)
    { priority: -10 }, // no lock: never blocked
  ]);
  t.is((await fetchJob(pool, null, worker)).id, urgent);
  // L is running: the rest of its chain waits, even with a higher priority than `free`.
  t.is((await fetchJob(pool, null, worker)).id, free);
  t.is((await fetchJob(pool, null, worker)).id, null);
  await pool.query(q.finish, [urgent, 'succeeded', false]);
  t.is((await fetchJob(pool, null, worker)).id, first);
  t.is((await fetchJob(pool, null, worker)).id, null);
  await pool.query(q.finish, [first, 'failed', false]);
  t.is((await fetchJob(pool, null, worker)).id, second);
});

test('a lock chain head scheduled later, or in another queue, blocks its chain (issue #1599)', async (t) => {
  const { pool } = await procrastinateDb(t);
  const worker = await registerWorker(pool);
  const head = await deferOne(pool, { lock: 'L', scheduledAt: inAnHour() });
  const blocked = await deferOne(pool, { lock: 'L' });
  await deferOne(pool, { lock: 'M', queue: 'elsewhere' });
  const blockedByQueue = await deferOne(pool, { lock: 'M', queue: 'default' });
  t.is((await fetchJob(pool, ['default'], worker)).id, null);
  // Once the head is due it runs first, then the chain moves on.
  await pool.query('UPDATE procrastinate_jobs SET scheduled_at = NULL WHERE id = $1', [head]);
  t.is((await fetchJob(pool, ['default'], worker)).id, head);
  await pool.query(q.finish, [head, 'succeeded', false]);
  t.is((await fetchJob(pool, ['default'], worker)).id, blocked);
  t.is((await fetchJob(pool, ['default'], worker)).id, null);
  t.like(await fetchJob(pool, ['elsewhere'], worker), { lock: 'M' });
  t.is((await fetchJob(pool, ['default'], worker)).id, null); // M is now running elsewhere
  t.truthy(blockedByQueue);
});

test('a second queued job with the same queueing lock raises 23505 on the queueing lock index', async (t) => {
  const { pool } = await procrastinateDb(t);
  const worker = await registerWorker(pool);
  const first = await deferOne(pool, { queueingLock: 'only-one' });
  const error = await t.throwsAsync<pg.DatabaseError>(deferOne(pool, { queueingLock: 'only-one' }));
  t.like(error, {
    code: '23505',
    constraint: 'procrastinate_jobs_queueing_lock_idx_v1',
    detail: 'Key (queueing_lock)=(only-one) already exists.',
  });
  // A batch is all or nothing.
  await t.throwsAsync(deferMany(pool, [{ queueingLock: 'x' }, { queueingLock: 'x' }]), {
    message: /procrastinate_jobs_queueing_lock_idx_v1/,
  });
  t.is((await pool.query("SELECT 1 FROM procrastinate_jobs WHERE queueing_lock = 'x'")).rowCount, 0);
  // Only queued jobs count: once the first runs, another may be queued; retrying the first then conflicts.
  t.is((await fetchJob(pool, null, worker)).id, first);
  const second = await deferOne(pool, { queueingLock: 'only-one' });
  t.regex(second, /^\d+$/);
  const retry = await t.throwsAsync<pg.DatabaseError>(pool.query(q.retry, [first, null, null, null, null]));
  t.like(retry, { code: '23505', constraint: 'procrastinate_jobs_queueing_lock_idx_v1' });
});

test('finish from doing: succeeded, failed, aborted each add one attempt and write their event', async (t) => {
  const { pool } = await procrastinateDb(t);
  const worker = await registerWorker(pool);
  for (const status of ['succeeded', 'failed', 'aborted'] as const) {
    const id = await deferOne(pool);
    t.is((await fetchJob(pool, null, worker)).id, id);
    if (status === 'aborted') await pool.query(q.cancel, [id, true, false]);
    await pool.query(q.finish, [id, status, false]);
    t.like(await jobRow(pool, id), { status, attempts: 1, abort_requested: false, worker_id: worker });
    const expected = status === 'aborted' ? ['deferred', 'started', 'abort_requested', 'aborted'] : ['deferred', 'started', status];
    t.deepEqual(await eventTypes(pool, id), expected);
  }
});

test('finish from todo keeps attempts and logs cancelled (aborted logs nothing)', async (t) => {
  const { pool } = await procrastinateDb(t);
  for (const status of ['succeeded', 'failed', 'aborted'] as const) {
    const id = await deferOne(pool);
    await pool.query(q.finish, [id, status, false]);
    t.like(await jobRow(pool, id), { status, attempts: 0 });
    t.deepEqual(await eventTypes(pool, id), status === 'aborted' ? ['deferred'] : ['deferred', 'cancelled']);
  }
});

test('finish refuses other end statuses and unknown or finished jobs with P0001 naming the job', async (t) => {
  const { pool } = await procrastinateDb(t);
  const id = await deferOne(pool);
  for (const status of ['todo', 'doing', 'cancelled', 'aborting']) {
    const error = await t.throwsAsync<pg.DatabaseError>(pool.query(q.finish, [id, status, false]));
    t.is(error.code, 'P0001');
    t.true(error.message.endsWith(`(job id: ${id})`), error.message);
  }
  await pool.query(q.finish, [id, 'succeeded', false]);
  for (const job of [id, '999999']) {
    const error = await t.throwsAsync<pg.DatabaseError>(pool.query(q.finish, [job, 'succeeded', false]));
    t.like(error, { code: 'P0001', message: `Job was not found or not in "doing" or "todo" status (job id: ${job})` });
  }
});

test('finish with delete_job removes the job and its events; it ignores worker ownership', async (t) => {
  const { pool } = await procrastinateDb(t);
  const [me, other] = [await registerWorker(pool), await registerWorker(pool)];
  const id = await deferOne(pool);
  t.is((await fetchJob(pool, null, other)).id, id);
  await pool.query(q.finish, [id, 'succeeded', true]); // called by `me`, who does not own it
  t.is(await jobRow(pool, id), undefined);
  t.deepEqual(await eventTypes(pool, id), []);
  t.truthy(me);
});
