/**
 * ProcrastinateBackend running jobs against real PostgreSQL (a schema per test) and real slots:
 * jobs deferred with the statements Python sends end with the statuses, attempts and events Python
 * expects; locks and priorities order them; concurrency stays within the slots; deleteJobs.
 */
import test from 'ava';
import { sleep, waitFor } from '../../src/testing/scheduler-kit.js';
import { deferMany, deferOne, eventTypes, jobRow, procrastinateDb } from '../helpers/procrastinate.js';
import { setup, untilAborted, waitStatus } from './backend-kit.js';

test('a job runs its handler with its args and context and ends succeeded, with the events Python writes (Redis slots)', async (t) => {
  const seen: unknown[] = [];
  const { pool, backend, scheduler } = await setup(
    t,
    {
      tasks: {
        'app.add': (args, job) => {
          seen.push({ ...job, handlerArgs: args, signal: job.signal.aborted, keepalive: typeof job.keepalive });
          return (args.a as number) + (args.b as number);
        },
      },
    },
    { redis: true },
  );
  const id = await deferOne(pool, { task: 'app.add', args: { a: 1, b: 2 }, lock: 'L', priority: 3 });
  await scheduler.schedule();
  await waitStatus(pool, id, 'succeeded');
  t.deepEqual(seen, [
    {
      handlerArgs: { a: 1, b: 2 },
      args: { a: 1, b: 2 },
      id,
      taskName: 'app.add',
      attempts: 0,
      queue: 'default',
      lock: 'L',
      priority: 3,
      signal: false,
      keepalive: 'function',
    },
  ]);
  t.like(await jobRow(pool, id), { status: 'succeeded', attempts: 1, abort_requested: false, worker_id: backend.workerId });
  t.deepEqual(await eventTypes(pool, id), ['deferred', 'started', 'succeeded']);
  // The slot was stopped after the job was written: it is idle again.
  await waitFor(async () => (await scheduler.inspect()).every((s) => s.status === 'idle'), 'the slot to be idle');
});

test('a job whose task has no handler fails at once without retry, with a clear log line, and frees its slot', async (t) => {
  const { pool, entries } = await setup(t, { tasks: { known: { handler: () => {}, retry: true } } });
  const unknown = await deferOne(pool, { task: 'app.not_here' });
  await waitStatus(pool, unknown, 'failed');
  t.like(await jobRow(pool, unknown), { attempts: 1 });
  t.deepEqual(await eventTypes(pool, unknown), ['deferred', 'started', 'failed']);
  const line = entries.find((e) => e.level === 'error' && String(e.message).includes('app.not_here'));
  t.truthy(line);
  t.regex(String(line?.message), /no handler for task "app\.not_here" \(job \d+, queue "default"\); registered: "known"/);
  // The single slot is free again: the next job runs.
  const next = await deferOne(pool, { task: 'known' });
  await waitStatus(pool, next, 'succeeded');
});

test('two jobs with one lock never run at once and run in order; a job without lock runs beside them', async (t) => {
  const intervals: Record<string, { start: number; end: number }> = {};
  const { pool } = await setup(
    t,
    {
      tasks: {
        work: async (args) => {
          const name = args.name as string;
          intervals[name] = { start: Date.now(), end: 0 };
          await sleep(400);
          intervals[name]!.end = Date.now();
        },
      },
    },
    { slots: 3 },
  );
  const [first, second, free] = await deferMany(pool, [
    { task: 'work', lock: 'L', args: { name: 'first' } },
    { task: 'work', lock: 'L', args: { name: 'second' } },
    { task: 'work', args: { name: 'free' } },
  ]);
  for (const id of [first, second, free]) await waitStatus(pool, id, 'succeeded');
  t.true(intervals.first!.end <= intervals.second!.start, JSON.stringify(intervals));
  t.true(intervals.free!.start < intervals.first!.end, 'the job without lock ran beside the first');
});

test('jobs start in priority order, then id order', async (t) => {
  const order: string[] = [];
  const db = await procrastinateDb(t);
  // Deferred before the scheduler exists: the first pass sees them all.
  await deferMany(db.pool, [
    { task: 'p', priority: 0, args: { n: 'p0' } },
    { task: 'p', priority: 5, args: { n: 'p5-a' } },
    { task: 'p', priority: 1, args: { n: 'p1' } },
    { task: 'p', priority: 10, args: { n: 'p10' } },
    { task: 'p', priority: 5, args: { n: 'p5-b' } },
    { task: 'p', priority: -3, args: { n: 'p-3' } },
  ]);
  const { scheduler } = await setup(t, { tasks: { p: (args) => void order.push(args.n as string) } }, { pool: db.pool });
  await scheduler.schedule();
  await waitFor(() => order.length === 6, 'all six jobs');
  t.deepEqual(order, ['p10', 'p5-a', 'p5-b', 'p1', 'p0', 'p-3']);
});

test('10 slots never run more than 10 handlers at once (Redis slots)', async (t) => {
  let running = 0;
  let most = 0;
  const { pool } = await setup(
    t,
    {
      tasks: {
        busy: async () => {
          running++;
          most = Math.max(most, running);
          await sleep(30 + Math.random() * 50);
          running--;
        },
      },
    },
    { slots: 10, redis: true },
  );
  const ids = await deferMany(
    pool,
    Array.from({ length: 40 }, () => ({ task: 'busy' })),
  );
  await waitFor(
    async () => (await pool.query("SELECT 1 FROM procrastinate_jobs WHERE status = 'succeeded'")).rowCount === 40,
    'all 40 jobs',
    20_000,
  );
  t.true(most <= 10, `at most 10 at once (saw ${most})`);
  t.true(most >= 2, `ran in parallel (saw ${most})`);
  t.is(ids.length, 40);
});

test('deleteJobs "successful" deletes succeeded jobs and keeps failed ones', async (t) => {
  const { pool } = await setup(t, {
    deleteJobs: 'successful',
    tasks: {
      ok: () => {},
      ko: () => {
        throw new Error('no');
      },
    },
  });
  const [ok, ko] = await deferMany(pool, [{ task: 'ok' }, { task: 'ko' }]);
  await waitStatus(pool, ko!, 'failed');
  await waitFor(async () => (await jobRow(pool, ok!)) === undefined, 'the succeeded job to be deleted');
  t.deepEqual(await eventTypes(pool, ok!), []); // its events went with it
});

test('deleteJobs "always" deletes succeeded, failed and aborted jobs with their events', async (t) => {
  const { pool, scheduler } = await setup(
    t,
    {
      deleteJobs: 'always',
      tasks: {
        ok: () => {},
        ko: () => {
          throw new Error('no');
        },
        stopped: (_args, job) => untilAborted(job.signal),
      },
    },
    { slots: 3 },
  );
  const ids = await deferMany(pool, [{ task: 'ok' }, { task: 'ko' }, { task: 'stopped' }]);
  await waitFor(async () => (await scheduler.inspect()).some((s) => s.occupancy?.taskId === ids[2]), 'the stopped job to run');
  await scheduler.cancel(ids[2]);
  for (const id of ids) await waitFor(async () => (await jobRow(pool, id)) === undefined, `job ${id} to be deleted`);
  for (const id of ids) t.deepEqual(await eventTypes(pool, id), [], `events of ${id}`);
});
