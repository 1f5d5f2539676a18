/**
 * ProcrastinateBackend retries: the task's policy, its wait on the database clock, retryOn,
 * retryOnTimeout, and a retry the queueing lock refuses.
 */
import test from 'ava';
import { sleep, waitFor } from '../../src/testing/scheduler-kit.js';
import { deferMany, deferOne, eventTypes, jobRow } from '../helpers/procrastinate.js';
import { deferred, setup, waitStatus } from './backend-kit.js';

test('a failing job is retried per its policy and succeeds; one that keeps failing ends failed after its retries', async (t) => {
  const runs: Record<string, number> = {};
  const { pool } = await setup(t, {
    tasks: {
      flaky: {
        handler: (_args, job) => {
          runs.flaky = (runs.flaky ?? 0) + 1;
          if (job.attempts === 0) throw new Error('first try fails');
        },
        retry: 2,
      },
      broken: {
        handler: () => {
          runs.broken = (runs.broken ?? 0) + 1;
          throw new Error('always fails');
        },
        retry: { maxAttempts: 1, wait: 1 }, // one retry, one second later
      },
    },
  });
  // Deferred after load: the NOTIFY wakes the scheduler (no cron, no schedule() call). The retry of
  // `broken` is due a second later, and nothing notifies it: the backend wakes itself.
  const flaky = await deferOne(pool, { task: 'flaky' });
  const broken = await deferOne(pool, { task: 'broken' });
  await waitStatus(pool, flaky, 'succeeded');
  t.like(await jobRow(pool, flaky), { attempts: 2 });
  t.deepEqual(await eventTypes(pool, flaky), ['deferred', 'started', 'scheduled', 'deferred_for_retry', 'started', 'succeeded']);

  await waitFor(async () => (await eventTypes(pool, broken)).includes('deferred_for_retry'), 'the retry of broken');
  const retryRow = await jobRow(pool, broken);
  if (retryRow?.status === 'todo') t.true(retryRow.scheduled_at!.getTime() > Date.now() - 500, 'retried with a delay');
  await waitStatus(pool, broken, 'failed');
  t.like(await jobRow(pool, broken), { attempts: 2 });
  t.deepEqual(await eventTypes(pool, broken), ['deferred', 'started', 'scheduled', 'deferred_for_retry', 'started', 'failed']);
  t.deepEqual(runs, { flaky: 2, broken: 2 });
});

test('with retryOnTimeout a timed-out job is retried, and the first run ending late changes nothing', async (t) => {
  const runs: number[] = [];
  const firstEnded = deferred();
  const { pool } = await setup(
    t,
    {
      retryOnTimeout: true,
      tasks: {
        slow: {
          handler: async (_args, job) => {
            runs.push(job.attempts);
            if (job.attempts > 0) return;
            await sleep(1500); // the first run ignores its signal and ends (successfully) long after
            firstEnded.resolve();
          },
          retry: 1,
        },
      },
    },
    { slot: { maxRuntime: '500ms' } },
  );
  const id = await deferOne(pool, { task: 'slow' });
  await waitStatus(pool, id, 'succeeded');
  t.deepEqual(runs, [0, 1]);
  await firstEnded.promise;
  await sleep(200);
  t.like(await jobRow(pool, id), { status: 'succeeded', attempts: 2 });
  t.deepEqual(await eventTypes(pool, id), ['deferred', 'started', 'scheduled', 'deferred_for_retry', 'started', 'succeeded']);
});

test('the retry wait follows the policy: wait + linearWait × attempts + exponentialWait ^ (attempts + 1) seconds, on the database clock', async (t) => {
  const { pool } = await setup(t, {
    tasks: {
      later: {
        handler: () => {
          throw new Error('try later');
        },
        retry: { wait: 30, linearWait: 7, exponentialWait: 2 },
      },
    },
  });
  const first = await deferOne(pool, { task: 'later' });
  // A job on its second try: its attempts raised before anyone sees it (the NOTIFY goes at commit).
  const client = await pool.connect();
  let second: string;
  try {
    await client.query('BEGIN');
    second = await deferOne(client, { task: 'later' });
    await client.query('UPDATE procrastinate_jobs SET attempts = 1 WHERE id = $1', [second]);
    await client.query('COMMIT');
  } finally {
    client.release();
  }
  const waitOf = async (id: string) => {
    await waitFor(async () => (await eventTypes(pool, id)).includes('deferred_for_retry'), `the retry of ${id}`);
    const { rows } = await pool.query<{ seconds: number }>(
      `SELECT extract(epoch FROM j.scheduled_at - e.at)::float8 AS seconds
       FROM procrastinate_jobs AS j JOIN procrastinate_events AS e ON e.job_id = j.id AND e.type = 'deferred_for_retry'
       WHERE j.id = $1`,
      [id],
    );
    return rows[0]!.seconds;
  };
  t.is(await waitOf(first), 30 + 7 * 0 + 2 ** 1);
  t.is(await waitOf(second), 30 + 7 * 1 + 2 ** 2);
  t.like(await jobRow(pool, second), { status: 'todo', attempts: 2 });
});

test('retryOn: an error of a listed class retries, any other fails the job at once', async (t) => {
  class Transient extends Error {}
  const { pool } = await setup(t, {
    tasks: {
      picky: {
        handler: (args) => {
          throw args.transient ? new Transient('try again') : new TypeError('a bug');
        },
        retry: { retryOn: [Transient], wait: 60 },
      },
    },
  });
  const [transient, bug] = await deferMany(pool, [
    { task: 'picky', args: { transient: true } },
    { task: 'picky', args: { transient: false } },
  ]);
  await waitStatus(pool, bug, 'failed');
  t.like(await jobRow(pool, bug), { attempts: 1 });
  await waitFor(async () => (await eventTypes(pool, transient)).includes('deferred_for_retry'), 'the retry of the transient error');
  t.like(await jobRow(pool, transient), { status: 'todo', attempts: 1 });
});

test('a retry refused because another queued job holds the queueing lock fails the job and leaves the other queued (upstream #1446)', async (t) => {
  let other: string | undefined;
  const { pool } = await setup(t, {
    tasks: {
      dup: {
        handler: async () => {
          // Allowed while this job runs: the queueing lock binds queued ('todo') jobs only. In a
          // queue nobody here serves, so that it stays queued.
          other = await deferOne(pool, { task: 'dup', queue: 'elsewhere', queueingLock: 'Q' });
          throw new Error('retry me');
        },
        retry: true,
      },
    },
  });
  const first = await deferOne(pool, { task: 'dup', queueingLock: 'Q' });
  await waitStatus(pool, first, 'failed');
  t.like(await jobRow(pool, first), { attempts: 1 });
  t.deepEqual(await eventTypes(pool, first), ['deferred', 'started', 'failed']);
  t.like(await jobRow(pool, other!), { status: 'todo', attempts: 0 });
});
