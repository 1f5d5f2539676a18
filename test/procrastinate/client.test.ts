/**
 * ProcrastinateClient against a real Procrastinate schema: deferring one job and batches (ids in
 * input order), queueing-lock conflicts as AlreadyEnqueuedError, queue names over 40 bytes, cancel,
 * abort and delete, reading jobs and events, and that Python's own fetch statement takes the jobs.
 */
import test, { type ExecutionContext } from 'ava';
import { ConfigError } from '../../src/core/errors.js';
import { ProcrastinateClient } from '../../backends/procrastinate/client.js';
import { AlreadyEnqueuedError } from '../../backends/procrastinate/errors.js';
import { eventTypes, fetchJob, jobRow, procrastinateDb, registerWorker } from '../helpers/procrastinate.js';
import { databaseUrl } from '../helpers/services.js';

/** A client on the test's own schema, closed at teardown (it never ends the test's pool). */
async function setup(t: ExecutionContext) {
  const db = await procrastinateDb(t);
  const client = new ProcrastinateClient({ postgres: db.pool });
  t.teardown(() => client.close());
  return { ...db, client };
}

test('defer one job: the row Python would write, and its id as a string', async (t) => {
  const { client } = await setup(t);
  const at = new Date(Date.now() + 3_600_000);
  const id = await client.defer(
    'app.tasks.send',
    { to: 'x', n: 2 },
    { queue: 'mail', lock: 'L', queueingLock: 'QL', priority: -3, scheduleAt: at },
  );
  t.regex(id, /^\d+$/);
  t.deepEqual(await client.getJob(id), {
    id,
    queue: 'mail',
    taskName: 'app.tasks.send',
    priority: -3,
    lock: 'L',
    queueingLock: 'QL',
    args: { to: 'x', n: 2 },
    status: 'todo',
    scheduledAt: at,
    attempts: 0,
    abortRequested: false,
    workerId: null,
  });
  const events = await client.getEvents(id);
  // Triggers on one event fire in name order: procrastinate_trigger_scheduled_events_v1 writes
  // before procrastinate_trigger_status_events_insert_v1, as on Procrastinate's own schema.
  t.deepEqual(
    events.map((e) => e.type),
    ['scheduled', 'deferred'],
  );
  t.deepEqual(events[0]!.at, at); // a scheduled event is dated at the time it is scheduled for
});

test('defer with defaults: queue "default", priority 0, empty args, no schedule', async (t) => {
  const { client } = await setup(t);
  const job = await client.getJob(await client.defer('app.tasks.ping'));
  t.like(job, { queue: 'default', priority: 0, args: {}, lock: null, queueingLock: null, scheduledAt: null, status: 'todo' });
});

test('deferMany: one statement, ids in input order, every field per job', async (t) => {
  const { client } = await setup(t);
  const names = ['c', 'a', 'e', 'b', 'd'];
  const ids = await client.deferMany(
    names.map((name, i) => ({
      taskName: `t.${name}`,
      args: { i },
      priority: 10 - i,
      queue: i % 2 ? 'odd' : 'even',
      lock: i === 2 ? 'L2' : null,
    })),
  );
  t.is(ids.length, 5);
  t.is(new Set(ids).size, 5);
  const jobs = await Promise.all(ids.map((id) => client.getJob(id)));
  t.deepEqual(
    jobs.map((j) => j?.taskName),
    names.map((n) => `t.${n}`),
  );
  t.deepEqual(
    jobs.map((j) => j?.args),
    [0, 1, 2, 3, 4].map((i) => ({ i })),
  );
  t.deepEqual(
    jobs.map((j) => j?.queue),
    ['even', 'odd', 'even', 'odd', 'even'],
  );
  t.deepEqual(
    jobs.map((j) => j?.lock),
    [null, null, 'L2', null, null],
  );
  t.deepEqual(await client.deferMany([]), []);
});

test('a queueing lock held by a queued job: AlreadyEnqueuedError, nothing written', async (t) => {
  const { client, pool } = await setup(t);
  const first = await client.defer('t.a', {}, { queueingLock: 'only-one' });
  const error = await t.throwsAsync(client.defer('t.a', {}, { queueingLock: 'only-one' }), { instanceOf: AlreadyEnqueuedError });
  t.is(error?.code, 'ERR_ALREADY_ENQUEUED');
  t.is(error?.queueingLock, 'only-one');
  t.like(error?.cause, { code: '23505', constraint: 'procrastinate_jobs_queueing_lock_idx_v1' });
  t.regex(error!.message, /"only-one" is already queued/);
  t.is(Number((await pool.query('SELECT count(*) FROM procrastinate_jobs')).rows[0].count), 1);
  // Once the first job runs, the lock is free for a new queued one (any number may be doing).
  const worker = await registerWorker(pool);
  t.is((await fetchJob(pool, null, worker)).id, first);
  t.regex(await client.defer('t.a', {}, { queueingLock: 'only-one' }), /^\d+$/);
});

test('deferMany names the queueing lock that conflicted and writes none of the batch', async (t) => {
  const { client, pool } = await setup(t);
  await client.defer('t.a', {}, { queueingLock: 'held' });
  const batch = [{ taskName: 't.b', queueingLock: 'free' }, { taskName: 't.c' }, { taskName: 't.d', queueingLock: 'held' }];
  const error = await t.throwsAsync(client.deferMany(batch), { instanceOf: AlreadyEnqueuedError });
  t.is(error?.queueingLock, 'held');
  t.regex(error!.message, /queueing lock "held" is already held.*jobs\[2\].*no job of the batch was deferred/);
  t.is(Number((await pool.query('SELECT count(*) FROM procrastinate_jobs')).rows[0].count), 1);

  // Two jobs of one batch asking for the same lock conflict with each other.
  const twice = await t.throwsAsync(
    client.deferMany([
      { taskName: 't.e', queueingLock: 'dup' },
      { taskName: 't.f', queueingLock: 'dup' },
    ]),
    { instanceOf: AlreadyEnqueuedError },
  );
  t.is(twice?.queueingLock, 'dup');
  t.regex(twice!.message, /jobs\[0\], jobs\[1\]/);
});

test('any other unique violation is not AlreadyEnqueued', async (t) => {
  const { client, pool } = await setup(t);
  await pool.query('CREATE UNIQUE INDEX other_unique ON procrastinate_jobs (task_name)');
  await client.defer('t.same');
  const error = await t.throwsAsync(client.defer('t.same'));
  t.false(error instanceof AlreadyEnqueuedError);
  t.like(error, { code: '23505', constraint: 'other_unique' });
});

test('a queue name over 40 bytes is refused before anything is sent, with a clear message', async (t) => {
  const { client, pool } = await setup(t);
  // 20 two-byte characters and one ASCII: 21 characters but 41 bytes.
  const queue = `${'é'.repeat(20)}x`;
  const rejected = await t.throwsAsync(client.defer('t.a', {}, { queue }), { instanceOf: ConfigError });
  t.is(rejected?.code, 'ERR_QUEUE_NAME');
  t.is(rejected?.field, 'defer(options.queue)');
  t.regex(rejected!.message, /at most 40 bytes in UTF-8 \(this one has 41\)/);
  const inBatch = await t.throwsAsync(client.deferMany([{ taskName: 't.a' }, { taskName: 't.b', queue: 'q'.repeat(41) }]), {
    instanceOf: ConfigError,
  });
  t.is(inBatch?.field, 'deferMany(jobs[1].queue)');
  // 40 bytes exactly is fine, and PostgreSQL agrees (the NOTIFY channel fits).
  t.regex(await client.defer('t.a', {}, { queue: `${'é'.repeat(20)}` }), /^\d+$/);
  t.is(Number((await pool.query('SELECT count(*) FROM procrastinate_jobs')).rows[0].count), 1);
});

test('bad arguments are ConfigErrors naming the field', async (t) => {
  const { client } = await setup(t);
  const cases: Array<[() => Promise<unknown>, string]> = [
    [() => client.defer('t.a', [1, 2] as never), 'defer(args)'],
    [() => client.defer('t.a', 'x' as never), 'defer(args)'],
    [() => client.defer('t.a', new Date() as never), 'defer(args)'],
    // A value inside args is named by its path.
    [() => client.defer('t.a', { n: 1n }), 'defer(args).n'],
    [() => client.deferMany([{ taskName: 't.a', args: { list: [Number.NaN] } }]), 'deferMany(jobs[0].args).list[0]'],
    [() => client.defer('t.a\u0000', {}), 'defer(taskName)'],
    [() => client.defer('t.a', {}, { lock: 'l\ud800' }), 'defer(options.lock)'],
    [() => client.defer('t.a', {}, { queue: 'q\u0000' }), 'defer(options.queue)'],
    [() => client.defer('', {}), 'defer(taskName)'],
    [() => client.defer('t.a', {}, { priority: 1.5 }), 'defer(options.priority)'],
    [() => client.defer('t.a', {}, { priority: 2 ** 31 }), 'defer(options.priority)'],
    [() => client.defer('t.a', {}, { lock: '' }), 'defer(options.lock)'],
    [() => client.defer('t.a', {}, { scheduleAt: new Date('nope') }), 'defer(options.scheduleAt)'],
    [() => client.deferMany([{ taskName: 't.a', args: null as never }]), 'deferMany(jobs[0].args)'],
    [() => client.cancel('12x'), 'cancel(jobId)'],
    [() => client.getJob(-1), 'getJob(jobId)'],
  ];
  for (const [call, field] of cases) {
    const error = await t.throwsAsync(call(), { instanceOf: ConfigError }, field);
    t.is(error?.field, field);
  }
  t.throws(() => new ProcrastinateClient({ postgres: 42 as never }), { instanceOf: ConfigError });
});

test('cancel a queued job: cancelled, once; a finished or unknown job: false', async (t) => {
  const { client } = await setup(t);
  const id = await client.defer('t.a');
  t.true(await client.cancel(id));
  t.like(await client.getJob(id), { status: 'cancelled', abortRequested: false });
  t.false(await client.cancel(id));
  t.false(await client.cancel('999999999'));
  t.deepEqual(
    (await client.getEvents(id)).map((e) => e.type),
    ['deferred', 'cancelled'],
  );
});

test('cancel with delete removes a queued job and its events', async (t) => {
  const { client } = await setup(t);
  const id = await client.defer('t.a');
  t.true(await client.cancel(id, { delete: true }));
  t.is(await client.getJob(id), null);
  t.deepEqual(await client.getEvents(id), []);
});

test('abort a running job: only the abort_requested flag; cancel without abort leaves it alone', async (t) => {
  const { client, pool } = await setup(t);
  const id = await client.defer('t.a');
  const worker = await registerWorker(pool);
  t.is((await fetchJob(pool, null, worker)).id, id);
  t.false(await client.cancel(id)); // a running job is not cancelled without abort
  t.false(await client.cancel(id, { delete: true }));
  t.true(await client.abort(id));
  t.like(await client.getJob(id), { status: 'doing', abortRequested: true, workerId: worker });
  t.deepEqual(await eventTypes(pool, id), ['deferred', 'started', 'abort_requested']);
  // abort of a queued job cancels it, leaving the flag as a record of the request.
  const queued = await client.defer('t.b');
  t.true(await client.abort(queued));
  t.like(await jobRow(pool, queued), { status: 'cancelled', abort_requested: true });
});

test('jobs the client defers are claimed by the exact fetch statement Python sends', async (t) => {
  const { client, pool } = await setup(t);
  const worker = await registerWorker(pool);
  const [low, high] = await client.deferMany([
    { taskName: 'app.low', queue: 'node', priority: 1, args: { a: 1 } },
    { taskName: 'app.high', queue: 'node', priority: 9, lock: 'k', queueingLock: 'qk' },
  ]);
  await client.defer('app.elsewhere', {}, { queue: 'python' });
  const first = await fetchJob(pool, ['node'], worker);
  t.like(first, {
    id: high,
    task_name: 'app.high',
    priority: 9,
    lock: 'k',
    queueing_lock: 'qk',
    args: {},
    queue_name: 'node',
    status: 'doing',
    worker_id: worker,
    attempts: 0,
  });
  const second = await fetchJob(pool, ['node'], worker);
  t.like(second, { id: low, task_name: 'app.low', args: { a: 1 } });
  t.is((await fetchJob(pool, ['node'], worker)).id, null);
  t.like(await client.getJob(low!), { status: 'doing', workerId: worker });
  t.deepEqual(
    (await client.getEvents(low!)).map((e) => e.type),
    ['deferred', 'started'],
  );
});

test('a client made from a URL opens its own pool and ends it on close; a pool passed in is left open', async (t) => {
  const { schema, pool } = await procrastinateDb(t);
  const url = new URL(databaseUrl);
  url.searchParams.set('options', `-c search_path=${schema}`);
  const own = new ProcrastinateClient({ postgres: url.toString() });
  const id = await own.defer('t.a');
  t.like(await own.getJob(id), { status: 'todo' });
  await own.close();
  await own.close(); // idempotent
  await t.throwsAsync(own.getJob(id)); // its pool is gone

  const shared = new ProcrastinateClient({ postgres: pool });
  await shared.close();
  t.is((await pool.query('SELECT 1 AS one')).rows[0].one, 1);
});
