/**
 * recoverStalledJobs: the `doing` jobs of dead workers (heartbeat too old, or unregistered) are
 * retried or failed as `decide` says, through Procrastinate's functions; live workers' jobs and
 * other queues are left alone; concurrent sweepers recover each job exactly once.
 */
import test from 'ava';
import type pg from 'pg';
import { ConfigError } from '../../src/core/errors.js';
import { recoverStalledJobs, type StalledJob } from '../../backends/procrastinate/sweeper.js';
import { deferMany, deferOne, eventTypes, fetchJob, jobRow, procrastinateDb, q, registerWorker } from '../helpers/procrastinate.js';

/** Makes a worker look dead: its last heartbeat a minute ago, twice the 30 s default. */
async function silence(pool: pg.Pool, workerId: string): Promise<void> {
  await pool.query("UPDATE procrastinate_workers SET last_heartbeat = now() - interval '1 minute' WHERE id = $1", [workerId]);
}

/** Defers `count` jobs in `queue` and has `workerId` claim them; returns their ids. */
async function running(pool: pg.Pool, workerId: string, queue: string, count = 1): Promise<string[]> {
  await deferMany(
    pool,
    Array.from({ length: count }, (_, i) => ({ queue, task: `app.${queue}`, args: { i } })),
  );
  const ids: string[] = [];
  for (let i = 0; i < count; i += 1) ids.push((await fetchJob(pool, [queue], workerId)).id!);
  return ids;
}

const inAMinute = () => new Date(Math.ceil((Date.now() + 60_000) / 1000) * 1000);

test('a job of a worker with a stale heartbeat is retried when decide says so', async (t) => {
  const { pool } = await procrastinateDb(t);
  const worker = await registerWorker(pool);
  const [id] = await running(pool, worker, 'node');
  await silence(pool, worker);
  const retryAt = inAMinute();
  const seen: StalledJob[] = [];
  const result = await recoverStalledJobs(pool, { queues: ['node'], decide: (job) => (seen.push(job), { retryAt }) });

  t.deepEqual(seen, [{ id: id!, taskName: 'app.node', attempts: 0, queue: 'node' }]);
  t.deepEqual(result, {
    retried: [{ id: id!, taskName: 'app.node', attempts: 0, queue: 'node', retryAt }],
    failed: [],
    skipped: [],
    errors: [],
  });
  t.like(await jobRow(pool, id!), { status: 'todo', attempts: 1, scheduled_at: retryAt });
  // Trigger name order: the 'scheduled' event is written before 'deferred_for_retry'.
  t.deepEqual(await eventTypes(pool, id!), ['deferred', 'started', 'scheduled', 'deferred_for_retry']);
  // Nothing is stalled any more: a second sweep does nothing.
  t.deepEqual(await recoverStalledJobs(pool, { queues: ['node'], decide: () => t.fail() as never }), {
    retried: [],
    failed: [],
    skipped: [],
    errors: [],
  });
});

test('a retry in seconds is counted from the database clock, and the result says when it is due', async (t) => {
  const { pool } = await procrastinateDb(t);
  const worker = await registerWorker(pool);
  const [id] = await running(pool, worker, 'node');
  await silence(pool, worker);
  const result = await recoverStalledJobs(pool, { queues: ['node'], decide: () => ({ retryInSeconds: 30 }) });

  const row = (await jobRow(pool, id!))!;
  t.like(row, { status: 'todo', attempts: 1 });
  t.deepEqual(result.retried, [{ id: id!, taskName: 'app.node', attempts: 0, queue: 'node', retryAt: row.scheduled_at }]);
  const { rows } = await pool.query<{ s: number }>('SELECT extract(epoch FROM $1::timestamptz - now())::float8 AS s', [row.scheduled_at]);
  t.true(rows[0]!.s > 25 && rows[0]!.s <= 30, `due ${rows[0]!.s} s from the database's now`);
});

test('a job of a dead worker is failed when decide returns null', async (t) => {
  const { pool } = await procrastinateDb(t);
  const worker = await registerWorker(pool);
  const [id] = await running(pool, worker, 'node');
  await silence(pool, worker);
  const result = await recoverStalledJobs(pool, { queues: ['node'], decide: () => null });
  t.deepEqual(result.failed, [{ id: id!, taskName: 'app.node', attempts: 0, queue: 'node', reason: 'decided' }]);
  t.like(await jobRow(pool, id!), { status: 'failed', attempts: 1 });
  t.deepEqual(await eventTypes(pool, id!), ['deferred', 'started', 'failed']);
});

test('live workers, other queues and jobs not running are left alone; unregistered workers are dead', async (t) => {
  const { pool } = await procrastinateDb(t);
  const [live, dead, gone] = [await registerWorker(pool), await registerWorker(pool), await registerWorker(pool)];
  const [ofLive] = await running(pool, live, 'node');
  const [ofDead] = await running(pool, dead, 'node');
  const [ofDeadElsewhere] = await running(pool, dead, 'python');
  const [ofGone] = await running(pool, gone, 'node');
  const queued = await deferOne(pool, { queue: 'node' });
  await silence(pool, dead);
  // A live heartbeat just inside the limit; unregistering sets worker_id NULL on the job.
  await pool.query("UPDATE procrastinate_workers SET last_heartbeat = now() - interval '20 seconds' WHERE id = $1", [live]);
  await pool.query(q.unregister, [gone]);

  const result = await recoverStalledJobs(pool, { queues: ['node'], decide: () => ({ retryAt: new Date() }) });
  t.deepEqual(result.retried.map((j) => j.id).sort(), [ofDead!, ofGone!].sort());
  t.like(await jobRow(pool, ofLive!), { status: 'doing', attempts: 0, worker_id: live });
  t.like(await jobRow(pool, ofDeadElsewhere!), { status: 'doing', attempts: 0, worker_id: dead });
  t.like(await jobRow(pool, queued), { status: 'todo', attempts: 0 });
  // staleSeconds moves the line: with 10 s, the live worker's 20 s silence counts as dead.
  const stricter = await recoverStalledJobs(pool, { queues: ['node'], staleSeconds: 10, decide: () => null });
  t.deepEqual(
    stricter.failed.map((j) => j.id),
    [ofLive!],
  );
});

test('five concurrent sweepers recover each job exactly once', async (t) => {
  const { pool } = await procrastinateDb(t);
  const worker = await registerWorker(pool);
  const ids = await running(pool, worker, 'node', 20);
  await silence(pool, worker);
  const decided: string[] = [];
  const results = await Promise.all(
    Array.from({ length: 5 }, (_, s) =>
      recoverStalledJobs(pool, {
        queues: ['node'],
        decide: async (job) => {
          decided.push(job.id);
          await new Promise((resolve) => setTimeout(resolve, 5)); // hold the lock a little, to overlap
          return Number(job.id) % 2 === 0 ? { retryAt: new Date() } : null; // half retried, half failed
        },
      }).then((r) => ({ s, ...r })),
    ),
  );
  const recovered = results.flatMap((r) => [...r.retried, ...r.failed].map((j) => j.id));
  t.deepEqual([...recovered].sort(), [...ids].sort());
  t.deepEqual([...decided].sort(), [...ids].sort()); // decide runs only for the sweeper that recovers
  t.true(results.every((r) => r.errors.length === 0));
  // The sweepers did compete: some found jobs another had locked or recovered since their
  // candidate query (which of the two depends on timing, and a late sweeper lists fewer).
  t.true(results.some((r) => r.skipped.length > 0));
  for (const r of results) t.true(r.retried.length + r.failed.length + r.skipped.length <= ids.length);
  for (const id of ids) {
    const retried = Number(id) % 2 === 0;
    t.like(await jobRow(pool, id), { status: retried ? 'todo' : 'failed', attempts: 1 });
    const events = await eventTypes(pool, id);
    t.is(events.filter((e) => e === (retried ? 'deferred_for_retry' : 'failed')).length, 1, `job ${id}: ${events.join(', ')}`);
  }
});

test('a job with an abort requested is failed without asking decide', async (t) => {
  const { pool } = await procrastinateDb(t);
  const worker = await registerWorker(pool);
  const [id] = await running(pool, worker, 'node');
  await pool.query(q.cancel, [id, true, false]);
  await silence(pool, worker);
  const result = await recoverStalledJobs(pool, { queues: ['node'], decide: () => t.fail() as never });
  t.deepEqual(
    result.failed.map((j) => j.reason),
    ['abort_requested'],
  );
  // finish_job_v1 clears the flag, so the job may later be retried by hand.
  t.like(await jobRow(pool, id!), { status: 'failed', attempts: 1, abort_requested: false });
});

test('a retry blocked by a queued job holding the queueing lock fails the job instead (#1446)', async (t) => {
  const { pool } = await procrastinateDb(t);
  const worker = await registerWorker(pool);
  await deferOne(pool, { queue: 'node', queueingLock: 'once' });
  const [id] = [(await fetchJob(pool, ['node'], worker)).id!];
  const queued = await deferOne(pool, { queue: 'node', queueingLock: 'once' }); // allowed: the first is doing
  await silence(pool, worker);
  const result = await recoverStalledJobs(pool, { queues: ['node'], decide: () => ({ retryAt: new Date() }) });
  t.deepEqual(
    result.failed.map((j) => [j.id, j.reason]),
    [[id, 'already_enqueued']],
  );
  t.deepEqual(result.retried, []);
  t.like(await jobRow(pool, id), { status: 'failed', attempts: 1 });
  t.like(await jobRow(pool, queued), { status: 'todo' });
});

test('a throwing or malformed decide leaves the job for the next sweep and is reported', async (t) => {
  const { pool } = await procrastinateDb(t);
  const worker = await registerWorker(pool);
  const [a, b] = await running(pool, worker, 'node', 2);
  await silence(pool, worker);
  const boom = new Error('boom');
  const result = await recoverStalledJobs(pool, {
    queues: ['node'],
    decide: (job) => {
      if (job.id === a) throw boom;
      return { retryAt: 'tomorrow' } as never;
    },
  });
  t.deepEqual(
    result.errors.map((e) => e.id),
    [a!, b!],
  );
  t.is(result.errors[0]!.error, boom);
  t.true(result.errors[1]!.error instanceof ConfigError);
  for (const id of [a!, b!]) t.like(await jobRow(pool, id), { status: 'doing', attempts: 0 });
  // The locks went with the rollbacks: the next sweep takes them.
  const next = await recoverStalledJobs(pool, { queues: ['node'], decide: () => null });
  t.is(next.failed.length, 2);
});

test('bad options are ConfigErrors naming the field', async (t) => {
  const { pool } = await procrastinateDb(t);
  const decide = () => null;
  const cases: Array<[object, string]> = [
    [{ decide }, 'recoverStalledJobs(options.queues)'],
    [{ queues: [], decide }, 'recoverStalledJobs(options.queues)'],
    [{ queues: ['q'.repeat(41)], decide }, 'recoverStalledJobs(options.queues)[0]'],
    [{ queues: ['node'], staleSeconds: 0, decide }, 'recoverStalledJobs(options.staleSeconds)'],
    [{ queues: ['node'] }, 'recoverStalledJobs(options.decide)'],
  ];
  for (const [options, field] of cases) {
    const error = await t.throwsAsync(recoverStalledJobs(pool, options as never), { instanceOf: ConfigError });
    t.is(error?.field, field);
  }
});
