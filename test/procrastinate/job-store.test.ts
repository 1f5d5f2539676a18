/**
 * The backend's job statements on the real PostgreSQL: finishes that pile up go in one statement
 * with each job's own ownership guard; a claim carries the finishes queued before it (finish
 * first) and goes after the job writes already sent; an error in one job's finish fails only that
 * job; the hot statement is prepared unless turned off.
 */
import test, { type ExecutionContext } from 'ava';
import type pg from 'pg';
import { JobStore } from '../../backends/procrastinate/job-store.js';
import type { EndStatus } from '../../backends/procrastinate/job-store.js';
import { deferMany, eventTypes, jobRow, procrastinateDb, registerWorker } from '../helpers/procrastinate.js';

/** Wraps the real pool's query to see what is sent (the statements still run). */
function recordQueries(pool: pg.Pool): Array<{ name?: string; text: string }> {
  const sent: Array<{ name?: string; text: string }> = [];
  const query = pool.query.bind(pool) as (...args: unknown[]) => Promise<unknown>;
  (pool as unknown as { query: typeof query }).query = (...args: unknown[]) => {
    const config = args[0] as string | { name?: string; text: string };
    sent.push(typeof config === 'string' ? { text: config } : { ...(config.name ? { name: config.name } : {}), text: config.text });
    return query(...args);
  };
  return sent;
}

/** Locks a job row from another session until the returned function lets go (a finish of it then waits). */
async function holdRow(t: ExecutionContext, pool: pg.Pool, id: string): Promise<() => Promise<void>> {
  const blocker = await pool.connect();
  t.teardown(() => blocker.release());
  await blocker.query('BEGIN');
  await blocker.query('SELECT 1 FROM procrastinate_jobs WHERE id = $1 FOR UPDATE', [id]);
  return async () => void (await blocker.query('COMMIT'));
}

test('finishes that pile up go in one statement, each job under its own guard', async (t) => {
  const { pool } = await procrastinateDb(t);
  const store = new JobStore(pool, ['default']);
  const [me, other] = [await registerWorker(pool), await registerWorker(pool)];
  await deferMany(pool, [{}, {}, {}, {}, {}, {}]);
  const jobs = await store.fetchBatch(me, 6);
  t.is(jobs.length, 6);
  const sent = recordQueries(pool);
  const ends: Array<[EndStatus, string, boolean]> = [
    ['succeeded', me, false],
    ['failed', me, false],
    ['aborted', me, false],
    ['succeeded', other, false], // not ours: left alone
    ['succeeded', me, true], // deleted with its events
    ['succeeded', me, false],
  ];
  const results = await Promise.all(jobs.map((job, i) => store.finish(job, ends[i]![1], ends[i]![0], ends[i]![2])));
  t.deepEqual(results, [true, true, true, false, true, true]);
  // Asked for in one tick: one statement for the six.
  t.is(sent.length, 1);
  const [j0, j1, j2, j3, j4, j5] = jobs.map((job) => job.id);
  t.like(await jobRow(pool, j0!), { status: 'succeeded', attempts: 1 });
  t.like(await jobRow(pool, j1!), { status: 'failed', attempts: 1 });
  t.like(await jobRow(pool, j2!), { status: 'aborted', attempts: 1 });
  t.like(await jobRow(pool, j3!), { status: 'doing', attempts: 0, worker_id: me });
  t.is(await jobRow(pool, j4!), undefined);
  t.deepEqual(await eventTypes(pool, j4!), []);
  t.like(await jobRow(pool, j5!), { status: 'succeeded', attempts: 1 });
  t.deepEqual(await eventTypes(pool, j1!), ['deferred', 'started', 'failed']);
});

test('a batch claim stops at the first call that finds nothing, and at most at the number asked', async (t) => {
  const { pool } = await procrastinateDb(t);
  const me = await registerWorker(pool);
  await deferMany(pool, [{}, {}, {}]);
  // One connection in one transaction, to count the fetch_job_v2 calls of each statement.
  const client = await pool.connect();
  t.teardown(() => client.release());
  const store = new JobStore(client as unknown as pg.Pool, ['default']);
  const fetchCalls = async () =>
    Number(
      (
        await client.query<{ calls: string }>(
          "SELECT coalesce(sum(calls), 0) AS calls FROM pg_stat_xact_user_functions WHERE funcname = 'procrastinate_fetch_job_v2'",
        )
      ).rows[0]!.calls,
    );
  await client.query('BEGIN');
  await client.query("SET LOCAL track_functions = 'pl'");
  t.is((await store.fetchBatch(me, 2)).length, 2);
  t.is(await fetchCalls(), 2, 'two asked, two found: no third call');
  // One job left, ten asked: the call after it finds nothing and ends the batch.
  t.is((await store.fetchBatch(me, 10)).length, 1);
  t.is(await fetchCalls(), 4);
  t.deepEqual(await store.fetchBatch(me, 10), []);
  t.is(await fetchCalls(), 5);
  await client.query('COMMIT');
});

test('a claim carries the finishes queued before it: one statement, finish first, so the lock they free is claimable', async (t) => {
  const { pool } = await procrastinateDb(t);
  const store = new JobStore(pool, ['default']);
  const me = await registerWorker(pool);
  // b waits behind a in the lock chain L; c has no lock.
  const [a, b, c] = await deferMany(pool, [{ lock: 'L' }, { lock: 'L' }, {}]);
  const [first] = await store.fetchBatch(me, 1);
  t.is(first?.id, a);
  const sent = recordQueries(pool);
  const finished = store.finish(first!, me, 'succeeded', false);
  const claimed = await store.fetchBatch(me, 2);
  t.true(await finished);
  t.deepEqual(
    sent.map((q) => q.name),
    ['task_semaphore_job_finish_and_claim'],
    'the finish went in the claim',
  );
  // a's finish ran before the claims: its lock no longer blocked b, which comes first by id.
  t.deepEqual(
    claimed.map((job) => job.id),
    [b, c],
  );
  t.like(await jobRow(pool, a!), { status: 'succeeded', attempts: 1 });
  t.deepEqual(await eventTypes(pool, a!), ['deferred', 'started', 'succeeded']);
});

test('a finish no claim takes goes alone after the turn; a claim waits for the job writes already sent', async (t) => {
  const { pool } = await procrastinateDb(t);
  const store = new JobStore(pool, ['default']);
  const me = await registerWorker(pool);
  await deferMany(pool, [{}, {}, {}]);
  const [first, second] = await store.fetchBatch(me, 2);
  // Another session holds the first row, so its finish stays in flight until it lets go.
  const letGo = await holdRow(t, pool, first!.id);
  const sent = recordQueries(pool);
  const finished = store.finish(first!, me, 'succeeded', false);
  await new Promise((resolve) => setTimeout(resolve, 50));
  t.is(sent.length, 1, 'the finish went alone');
  // A retry is a write too; the claim goes after both.
  const retried = store.retry(second!, me, 0);
  let claimSent = false;
  const claim = store.fetchBatch(me, 1).then((jobs) => ((claimSent = true), jobs));
  await new Promise((resolve) => setTimeout(resolve, 200));
  t.is(sent.length, 2, 'the claim is held while the finish is in flight');
  t.false(claimSent);
  await letGo();
  t.true(await finished);
  t.is(await retried, 'retried');
  t.is((await claim).length, 1);
  t.is(sent.length, 3);
  t.like(await jobRow(pool, first!.id), { status: 'succeeded' });
});

test('a claim that carries finishes is a job write too: a claim sent meanwhile waits for it', async (t) => {
  const { pool } = await procrastinateDb(t);
  const store = new JobStore(pool, ['default']);
  const me = await registerWorker(pool);
  await deferMany(pool, [{}, {}, {}]);
  const [first] = await store.fetchBatch(me, 1);
  // Another session holds the first row: the claim that carries its finish stays in flight.
  const letGo = await holdRow(t, pool, first!.id);
  const sent = recordQueries(pool);
  const finished = store.finish(first!, me, 'succeeded', false);
  // Taken in the same turn (before the finish could go alone), as a refill round's claim takes it.
  const carrying = store.fetchBatch(me, 1);
  await new Promise((resolve) => setTimeout(resolve, 50));
  t.is(sent.length, 1, 'the first claim went, with the finish');
  // A second refill round's claim, for another slot: it must not commit before that finish.
  let secondSent = false;
  const second = store.fetchBatch(me, 1).then((jobs) => ((secondSent = true), jobs));
  await new Promise((resolve) => setTimeout(resolve, 200));
  t.is(sent.length, 1, 'the second claim is held while the first, with its finish, is in flight');
  t.false(secondSent);
  await letGo();
  t.true(await finished);
  t.is((await carrying).length, 1);
  t.is((await second).length, 1);
  t.is(sent.length, 2);
  t.like(await jobRow(pool, first!.id), { status: 'succeeded' });
});

test('a claim that carries finishes counts as a write while it waits for earlier ones too', async (t) => {
  const { pool } = await procrastinateDb(t);
  const store = new JobStore(pool, ['default']);
  const me = await registerWorker(pool);
  await deferMany(pool, [{}, {}, {}, {}]);
  const [first, second] = await store.fetchBatch(me, 2);
  const letFirstGo = await holdRow(t, pool, first!.id);
  const letSecondGo = await holdRow(t, pool, second!.id);
  const sent = recordQueries(pool);
  // A write in flight (held by the lock on its row) when the claim that carries a finish is made.
  const retried = store.retry(second!, me, 0);
  const finished = store.finish(first!, me, 'succeeded', false);
  const carrying = store.fetchBatch(me, 1);
  await new Promise((resolve) => setTimeout(resolve, 50));
  // Another round's claim, made while the carrying one waits for the retry.
  const other = store.fetchBatch(me, 1);
  await letSecondGo();
  t.is(await retried, 'retried');
  await new Promise((resolve) => setTimeout(resolve, 200));
  t.is(sent.length, 2, 'the retry, then the claim carrying the finish (held by the lock on its row); not the other claim');
  await letFirstGo();
  t.true(await finished);
  t.is((await carrying).length, 1);
  t.is((await other).length, 1);
  t.is(sent.length, 3);
});

test('an error in one job of a batch fails only that job; the others are written', async (t) => {
  const { pool } = await procrastinateDb(t);
  const store = new JobStore(pool, ['default']);
  const me = await registerWorker(pool);
  await deferMany(pool, [{}, {}, {}, {}]);
  const jobs = await store.fetchBatch(me, 4);
  // procrastinate_finish_job_v1 raises P0001 for an end status other than succeeded/failed/aborted.
  const statuses = ['succeeded', 'succeeded', 'todo', 'failed'] as EndStatus[];
  const results = await Promise.allSettled(jobs.map((job, i) => store.finish(job, me, statuses[i]!, false)));
  t.deepEqual(
    results.map((r) => r.status),
    ['fulfilled', 'fulfilled', 'rejected', 'fulfilled'],
  );
  t.is((results[2] as PromiseRejectedResult).reason.code, 'P0001');
  t.like(await jobRow(pool, jobs[1]!.id), { status: 'succeeded' });
  t.like(await jobRow(pool, jobs[2]!.id), { status: 'doing' });
  t.like(await jobRow(pool, jobs[3]!.id), { status: 'failed' });
});

test('fetch and finish are prepared statements by default, unnamed with preparedStatements off', async (t) => {
  const { pool } = await procrastinateDb(t);
  const me = await registerWorker(pool);
  await deferMany(pool, [{}, {}, {}, {}]);
  for (const prepared of [true, false]) {
    const sent = recordQueries(pool);
    const store = new JobStore(pool, ['default'], prepared);
    const [a] = await store.fetchBatch(me, 1);
    const b = await store.fetch(me);
    t.true(await store.finish(a!, me, 'succeeded', false));
    t.true(await store.finish(b!, me, 'succeeded', false));
    t.is(sent.length, 4);
    t.deepEqual(
      sent.map((s) => s.name),
      Array.from({ length: 4 }, () => (prepared ? 'task_semaphore_job_finish_and_claim' : undefined)),
    );
    (pool as unknown as { query: unknown }).query = Object.getPrototypeOf(pool).query;
  }
});
