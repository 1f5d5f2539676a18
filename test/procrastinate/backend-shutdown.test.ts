/**
 * The scheduler's `shutdown()` with Procrastinate jobs, checked from the Python side (the rows of
 * procrastinate_jobs and their events): a handler that finishes succeeds; one that honours the
 * abort is retried per its policy or aborted, as a Python worker's shutdown does; one that ignores
 * it is dropped, and its job's end written once, the same way. The backend's own grace adds no
 * wait, and its worker row is gone afterwards. On each slot store.
 */
import test from 'ava';
import { performance } from 'node:perf_hooks';
import { JobAbortedError } from '../../backends/procrastinate/errors.js';
import type { JobContext } from '../../backends/procrastinate/backend-options.js';
import { sleep, waitFor } from '../../src/testing/scheduler-kit.js';
import { deferMany, eventTypes, jobRow } from '../helpers/procrastinate.js';
import { redisProxy } from '../helpers/tcp-proxy.js';
import { deferred, setup, untilAborted } from './backend-kit.js';

/** Event types that end a run of a job: exactly one per run. */
const endEvents = new Set(['succeeded', 'failed', 'aborted', 'deferred_for_retry', 'cancelled']);
const endsOf = async (pool: Parameters<typeof eventTypes>[0], id: string) =>
  (await eventTypes(pool, id)).filter((type) => endEvents.has(type));

for (const store of ['MemorySlot', 'RedisSlot', 'PostgresSlot'] as const) {
  test(`${store}: shutdown() ends each job as Procrastinate would, writes each end once, and unregisters the worker`, async (t) => {
    const started = new Set<string>();
    const reasons = new Map<string, unknown>();
    const release = deferred();
    const cooperative = async (args: Record<string, unknown>, job: JobContext) => {
      started.add(args.name as string);
      await untilAborted(job.signal).catch((error: unknown) => {
        reasons.set(args.name as string, error);
        throw error;
      });
    };
    // Runs on past its signal, until the test lets it return (long after its slot was dropped).
    const stubborn = async (args: Record<string, unknown>, job: JobContext) => {
      started.add(args.name as string);
      job.signal.addEventListener('abort', () => reasons.set(args.name as string, job.signal.reason));
      await release.promise;
    };
    const { pool, scheduler, backend } = await setup(
      t,
      {
        // Far longer than the scheduler's waits: were it applied after them, the test would see it.
        shutdownGrace: '30s',
        tasks: {
          short: async (args) => {
            started.add(args.name as string);
            await sleep(200);
          },
          honours: cooperative,
          honoursRetried: { handler: cooperative, retry: 3 },
          stubborn,
          stubbornRetried: { handler: stubborn, retry: 3 },
        },
      },
      { slots: 5, redis: store === 'RedisSlot', postgresSlots: store === 'PostgresSlot' },
    );
    const [short, honours, honoursRetried, ignores, ignoresRetried] = await deferMany(pool, [
      { task: 'short', args: { name: 'short' } },
      { task: 'honours', args: { name: 'honours' } },
      { task: 'honoursRetried', args: { name: 'honoursRetried' } },
      { task: 'stubborn', args: { name: 'stubborn' } },
      { task: 'stubbornRetried', args: { name: 'stubbornRetried' } },
    ]);
    await scheduler.schedule();
    await waitFor(() => started.size === 5, 'all five handlers');
    const worker = backend.workerId;
    const began = performance.now();
    const report = await scheduler.shutdown({ graceful: 1000, final: 1000 });
    const tookMs = performance.now() - began;
    t.true(tookMs < 1000 + 1000 + 3000, `the backend's 30 s grace was not added (${Math.round(tookMs)} ms)`);

    const byJob = (tasks: ReadonlyArray<{ taskId: string }>) => tasks.map((task) => task.taskId).sort();
    t.deepEqual(byJob(report.finished), [short]);
    t.deepEqual(byJob(report.aborted), [honours, honoursRetried].sort());
    t.deepEqual(byJob(report.dropped), [ignores, ignoresRetried].sort());
    t.true(report.dropped.every((task) => task.recorded));
    t.deepEqual(report.errors, []);
    for (const name of ['honours', 'honoursRetried', 'stubborn', 'stubbornRetried']) {
      const reason = reasons.get(name);
      t.true(reason instanceof JobAbortedError, `${name}: ${String(reason)}`);
      t.is((reason as JobAbortedError).abortReason, 'shutdown');
    }

    t.like(await jobRow(pool, short!), { status: 'succeeded', attempts: 1 });
    t.like(await jobRow(pool, honours!), { status: 'aborted', attempts: 1 });
    t.like(await jobRow(pool, honoursRetried!), { status: 'todo', attempts: 1 });
    t.like(await jobRow(pool, ignores!), { status: 'aborted', attempts: 1 });
    t.like(await jobRow(pool, ignoresRetried!), { status: 'todo', attempts: 1 });
    t.is((await pool.query("SELECT 1 FROM procrastinate_jobs WHERE status = 'doing'")).rowCount, 0);
    t.is((await pool.query('SELECT 1 FROM procrastinate_workers WHERE id = $1', [worker])).rowCount, 0);

    // The dropped handlers return at last, successfully: their jobs were written, and stay so.
    release.resolve();
    await sleep(300);
    t.like(await jobRow(pool, ignores!), { status: 'aborted', attempts: 1 });
    t.like(await jobRow(pool, ignoresRetried!), { status: 'todo', attempts: 1 });
    for (const id of [short!, honours!, honoursRetried!, ignores!, ignoresRetried!]) {
      t.is((await endsOf(pool, id)).length, 1, `one end written for job ${id}: ${(await eventTypes(pool, id)).join(', ')}`);
    }
    t.deepEqual(await endsOf(pool, ignores!), ['aborted']);
    t.deepEqual(await endsOf(pool, ignoresRetried!), ['deferred_for_retry']);
  });
}

test("a dropped job whose slot store stopped answering is still written, at the backend's close, without its grace", async (t) => {
  const { proxy, url } = await redisProxy(t);
  const started = deferred();
  let reason: unknown;
  const { pool, scheduler, backend } = await setup(
    t,
    {
      shutdownGrace: '30s',
      tasks: {
        stubborn: async (_args, job) => {
          started.resolve();
          job.signal.addEventListener('abort', () => (reason = job.signal.reason));
          await sleep(20_000); // ignores its signal
        },
      },
    },
    { redis: url, scheduler: { callbackTimeout: '1s' } },
  );
  const [id] = await deferMany(pool, [{ task: 'stubborn' }]);
  await scheduler.schedule();
  await started.promise;
  const worker = backend.workerId;
  const began = performance.now();
  const shutting = scheduler.shutdown({ graceful: 200, final: 300 });
  await waitFor(() => reason !== undefined, 'the abort');
  // Half-open: what the scheduler sends to Redis from now on is never answered.
  proxy.freeze();
  const report = await shutting;
  const tookMs = performance.now() - began;
  // graceful + final + 2 × callbackTimeout (dropping, closing), and a margin.
  t.true(tookMs < 200 + 300 + 2 * 1000 + 2000, `${Math.round(tookMs)} ms`);
  t.like(report.dropped, [{ taskId: id, recorded: false }]);
  t.is((reason as JobAbortedError).abortReason, 'shutdown');
  t.like(await jobRow(pool, id!), { status: 'aborted', attempts: 1 });
  t.deepEqual(await endsOf(pool, id!), ['aborted']);
  t.is((await pool.query('SELECT 1 FROM procrastinate_workers WHERE id = $1', [worker])).rowCount, 0);
});
