/**
 * How ProcrastinateBackend claims jobs: batch polls that keep the lock rule, claimed jobs a slot
 * refuses going back without an attempt, and LISTEN wake-ups that start jobs without a pass.
 */
import test from 'ava';
import { ProcrastinateBackend } from '../../backends/procrastinate/backend.js';
import { sleep, waitFor } from '../../src/testing/scheduler-kit.js';
import { deferMany, deferOne, eventTypes, jobRow, procrastinateDb, q } from '../helpers/procrastinate.js';
import { uniqueName } from '../helpers/services.js';
import { capturingLogger } from '../helpers/capturing-logger.js';
import { deferred, setup, statusOf, waitStatus } from './backend-kit.js';

test('pollBatch claims distinct jobs in one round trip and keeps the lock rule inside the batch', async (t) => {
  const { pool } = await procrastinateDb(t);
  const backend = new ProcrastinateBackend({
    postgres: pool,
    queues: ['default', 'other'],
    tasks: { x: () => {} },
    heartbeatInterval: 10_000,
  });
  await backend.open({ name: 'P', scheduler: 's', requestPass: () => {}, logger: capturingLogger().logger });
  const [a, b, c, d, e] = await deferMany(pool, [
    { task: 'x', lock: 'L' },
    { task: 'x', lock: 'L' },
    { task: 'x', queue: 'other', priority: 2 },
    { task: 'x' },
    { task: 'x', queue: 'elsewhere' },
  ]);
  let queries = 0;
  const query = pool.query.bind(pool);
  pool.query = ((...args: Parameters<typeof query>) => {
    queries++;
    return query(...args);
  }) as typeof pool.query;
  const ids = await backend.pollBatch(5, { slotId: '1', backend: 'P', signal: new AbortController().signal });
  pool.query = query;
  t.is(queries, 1);
  t.deepEqual(ids, [c, a, d]); // priority first, then id; b waits behind a's lock; e is not our queue
  for (const id of ids) t.like(await jobRow(pool, id), { status: 'doing', worker_id: backend.workerId });
  t.like(await jobRow(pool, b!), { status: 'todo' });
  t.like(await jobRow(pool, e!), { status: 'todo' });
  // Nothing left but b, blocked by a.
  t.deepEqual(await backend.pollBatch(3, { slotId: '1', backend: 'P', signal: new AbortController().signal }), []);
  // A claimed job no slot could take is handed back at once, counting no attempt: it never ran.
  await backend.rejectCallback(d!, { reason: 'unused', slotId: '' });
  t.like(await jobRow(pool, d!), { status: 'todo', attempts: 0 });
  // Closing hands back the other claimed jobs no slot started, then unregisters.
  await backend.close();
  for (const id of ids) t.like(await jobRow(pool, id), { status: 'todo', attempts: 0 });
  t.deepEqual(await eventTypes(pool, d!), ['deferred', 'started', 'deferred_for_retry']);
  t.is((await pool.query('SELECT 1 FROM procrastinate_workers')).rowCount, 0);
});

test('a claimed job a slot refuses goes back without an attempt, due when its cause may clear, so it never loops', async (t) => {
  const { pool } = await procrastinateDb(t);
  const { logger, entries } = capturingLogger();
  // A queue of its own: NOTIFYs are database-wide, and other tests' defers would ask for passes.
  const queue = uniqueName('hb');
  const backend = new ProcrastinateBackend({ postgres: pool, queues: [queue], tasks: { x: () => {} }, logger });
  let passes = 0;
  await backend.open({ name: 'P', scheduler: 's', requestPass: () => void passes++, logger });
  t.teardown(() => backend.close());
  const poll = () => backend.poll({ slotId: '1', backend: 'P', signal: new AbortController().signal });
  /** Seconds from now (database clock) until the job is due again; null when it has no scheduled_at. */
  const dueIn = async (id: string) =>
    (
      await pool.query<{ s: number | null }>(
        'SELECT extract(epoch FROM scheduled_at - now())::float8 AS s FROM procrastinate_jobs WHERE id = $1',
        [id],
      )
    ).rows[0]!.s;
  const makeDue = (id: string) => pool.query('UPDATE procrastinate_jobs SET scheduled_at = now() WHERE id = $1', [id]);

  // duplicate, with no retryAfterMs from the scheduler: 1 s, then 2 s, then 4 s.
  const [dup] = await deferMany(pool, [{ task: 'x', queue }]);
  // The defer's NOTIFY asks for a pass; count from there.
  await waitFor(() => passes === 1, 'the pass the NOTIFY asks for', 3000);
  passes = 0;
  const waits: number[] = [];
  for (let i = 0; i < 3; i++) {
    if (i > 0) await makeDue(dup!);
    t.is(await poll(), dup);
    const passesBefore = passes;
    await backend.rejectCallback(dup!, { reason: 'duplicate', slotId: '2' });
    t.is(passes, passesBefore, 'no pass at once: it would only find the job not due');
    t.like(await jobRow(pool, dup!), { status: 'todo', attempts: 0 });
    waits.push(Math.round((await dueIn(dup!))!));
    t.is(await poll(), null, 'not claimable before it is due');
  }
  t.deepEqual(waits, [1, 2, 4]);
  // The wake-up: a pass once the first wait is over (nothing notifies a job that becomes due).
  await waitFor(() => passes >= 1, 'a pass when the job is due', 3000);
  // Each hand-back reads as an ordinary retry in Procrastinate's history (the first `scheduled`
  // of the later rounds is makeDue's), and counts no attempt.
  const handedBack = ['started', 'scheduled', 'deferred_for_retry'];
  t.deepEqual(await eventTypes(pool, dup!), ['deferred', ...handedBack, 'scheduled', ...handedBack, 'scheduled', ...handedBack]);

  // The scheduler's retryAfterMs is honoured; store_error backs off like duplicate.
  passes = 0;
  const [later, storeError, lapsed, invalid] = await deferMany(pool, [
    { task: 'x', queue },
    { task: 'x', queue },
    { task: 'x', queue },
    { task: 'x', queue },
  ]);
  await waitFor(() => passes === 4, 'the passes the NOTIFYs ask for', 3000);
  t.is(await poll(), later);
  await backend.rejectCallback(later!, { reason: 'duplicate', slotId: '2', retryAfterMs: 5000 });
  t.is(Math.round((await dueIn(later!))!), 5);
  t.is(await poll(), storeError);
  await backend.rejectCallback(storeError!, { reason: 'store_error', slotId: '2' });
  t.is(Math.round((await dueIn(storeError!))!), 1);

  // lapsed (and the other passing causes): back at once, with a pass; twice in a row, 1 s.
  const before = passes;
  t.is(await poll(), lapsed);
  await backend.rejectCallback(lapsed!, { reason: 'lapsed', slotId: '1', retryAfterMs: 0 });
  t.like(await jobRow(pool, lapsed!), { status: 'todo', attempts: 0, scheduled_at: null });
  t.is(passes, before + 1);
  t.is(await poll(), lapsed);
  await backend.rejectCallback(lapsed!, { reason: 'lapsed', slotId: '1', retryAfterMs: 0 });
  t.is(Math.round((await dueIn(lapsed!))!), 1);

  // invalid_id: no slot will ever take it: failed, logged.
  t.is(await poll(), invalid);
  await backend.rejectCallback(invalid!, { reason: 'invalid_id', slotId: '1' });
  await waitFor(async () => (await statusOf(pool, invalid!)) === 'failed', 'the job to fail', 3000);
  t.truthy(entries.find((e) => e.level === 'error' && e.jobId === invalid && /failed without running/.test(e.message)));

  // Its abort requested since the claim: it cannot go back to todo (CHECK), it ends aborted.
  const [flagged] = await deferMany(pool, [{ task: 'x', queue }]);
  t.is(await poll(), flagged);
  await pool.query(q.cancel, [flagged, true, false]);
  await backend.rejectCallback(flagged!, { reason: 'unused', slotId: '' });
  t.like(await jobRow(pool, flagged!), { status: 'aborted', abort_requested: false });

  // Another queued job holds its queueing lock (upstream #1446): it cannot go back either; failed.
  const [locked] = await deferMany(pool, [{ task: 'x', queue, queueingLock: 'one' }]);
  t.is(await poll(), locked);
  const [queued] = await deferMany(pool, [{ task: 'x', queue, queueingLock: 'one', scheduledAt: new Date(Date.now() + 60_000) }]);
  await backend.rejectCallback(locked!, { reason: 'unused', slotId: '' });
  await waitFor(async () => (await statusOf(pool, locked!)) === 'failed', 'the job to fail', 3000);
  t.like(await jobRow(pool, queued!), { status: 'todo' });
  t.deepEqual(
    entries.filter((e) => e.level === 'error').map((e) => e.jobId),
    [invalid, locked],
  );
});

test('a pass with several idle slots claims its jobs with one batch poll', async (t) => {
  const db = await procrastinateDb(t);
  const ids = await deferMany(db.pool, [{ task: 'x' }, { task: 'x' }, { task: 'x' }, { task: 'x' }]);
  const release = deferred();
  const { scheduler, pool } = await setup(t, { tasks: { x: () => release.promise } }, { slots: 4, pool: db.pool });
  const report = await scheduler.schedule();
  t.like(report, { started: 4, polls: 1 });
  release.resolve();
  for (const id of ids) await waitStatus(pool, id, 'succeeded');
});

test('LISTEN: a job deferred while the scheduler is idle starts at once, with no schedule() call and no cron', async (t) => {
  const startedAt = deferred<number>();
  const { pool } = await setup(t, { tasks: { now: () => startedAt.resolve(Date.now()) } });
  await sleep(100);
  const deferredAt = Date.now();
  await deferOne(pool, { task: 'now' });
  const latency = (await Promise.race([startedAt.promise, sleep(3000).then(() => Infinity)])) - deferredAt;
  t.true(latency < 3000, `started ${latency} ms after the defer`);
  t.log(`started ${latency} ms after the defer`);
});

test('LISTEN: a killed LISTEN connection comes back by itself, runs a pass for what it missed, and NOTIFY wakes the scheduler again', async (t) => {
  const queue = uniqueName('q');
  const started: string[] = [];
  const { pool, scheduler } = await setup(t, { queues: [queue], tasks: { now: (_args, job) => void started.push(job.id) } });
  // The backend's LISTEN session, found by its channel (other tests listen on other queues).
  const listenerPid = async () =>
    (
      await pool.query<{ pid: number }>("SELECT pid FROM pg_stat_activity WHERE state = 'idle' AND query = $1", [
        `LISTEN "procrastinate_queue_v1#${queue}"`,
      ])
    ).rows[0]?.pid;
  let first: number | undefined;
  await waitFor(async () => (first = await listenerPid()) !== undefined, 'the LISTEN session', 3000);
  await sleep(100);
  let passes = 0;
  scheduler.on('pass:end', () => passes++);

  // Waits until the session has exited; nothing is deferred, no schedule() call, no cron.
  await pool.query('SELECT pg_terminate_backend($1, 5000)', [first]);
  let second: number | undefined;
  await waitFor(async () => (second = await listenerPid()) !== undefined, 'a new LISTEN session', 5000);
  t.not(second, first);
  await waitFor(() => passes >= 1, 'the pass that looks for what was notified while disconnected', 3000);

  const id = await deferOne(pool, { queue, task: 'now' });
  await waitFor(() => started.includes(id), 'the job deferred after the reconnection to start', 3000);
  await waitStatus(pool, id, 'succeeded');
  t.pass();
});
