/**
 * ProcrastinateBackend against real PostgreSQL (a schema per test) and real slots: jobs deferred
 * with the statements Python sends end with the statuses, attempts and events Python expects;
 * locks, priorities, retries, aborts, slot timeouts, batch claims, the worker row, LISTEN wake-ups
 * and graceful shutdown.
 */
import test, { type ExecutionContext } from 'ava';
import pg from 'pg';
import { ProcrastinateBackend } from '../../backends/procrastinate/backend.js';
import { JobAbortedError } from '../../backends/procrastinate/backend-errors.js';
import type { JobContext, ProcrastinateBackendOptions } from '../../backends/procrastinate/backend-options.js';
import { ProcrastinateSchemaError } from '../../backends/procrastinate/errors.js';
import { ConfigError, TaskAbortedError, type AbortCause } from '../../src/core/errors.js';
import type { SchedulerOptions } from '../../src/scheduler/options.js';
import { Scheduler } from '../../src/scheduler/scheduler.js';
import { sleep, waitFor } from '../../src/testing/scheduler-kit.js';
import { JobStore } from '../../backends/procrastinate/job-store.js';
import { deferMany, deferOne, eventTypes, jobRow, procrastinateDb, q, registerWorker } from '../helpers/procrastinate.js';
import { redisUrl, uniqueName } from '../helpers/services.js';
import { postgresProxy, redisProxy, type TcpProxy } from '../helpers/tcp-proxy.js';
import { capturingLogger, type LogEntry } from '../helpers/capturing-logger.js';

interface Setup {
  pool: pg.Pool;
  /** The test's schema, unless the caller passed its own pool. */
  schema: string | undefined;
  backend: ProcrastinateBackend;
  scheduler: Scheduler;
  entries: LogEntry[];
}

/**
 * A backend on the test's schema and a scheduler of a unique name whose slots (MemorySlot, or
 * Redis slots under a unique prefix) list it; closed at teardown.
 */
async function setup(
  t: ExecutionContext,
  options: Partial<ProcrastinateBackendOptions> & Pick<ProcrastinateBackendOptions, 'tasks'>,
  {
    slots = 1,
    redis = false,
    postgresSlots = false,
    slot = {} as Record<string, unknown>,
    pool: given,
    scheduler: schedulerOptions = {},
  }: { slots?: number; redis?: boolean | string; postgresSlots?: boolean; slot?: Record<string, unknown>; pool?: pg.Pool; scheduler?: Partial<SchedulerOptions> } = {},
): Promise<Setup> {
  const { pool, schema } = given ? { pool: given, schema: undefined } : await procrastinateDb(t);
  const { logger, entries } = capturingLogger();
  const backend = new ProcrastinateBackend({ postgres: pool, queues: ['default'], shutdownGrace: 2000, logger, ...options });
  const scheduler = new Scheduler({
    name: uniqueName('pb'),
    pollTimeout: '3s',
    reservationTimeout: '10s',
    callbackTimeout: '5s',
    logger,
    ...(redis ? { redis: redis === true ? redisUrl : redis, keyPrefix: uniqueName() } : {}),
    // The slot tables beside Procrastinate's, in the test's schema.
    ...(postgresSlots ? { postgres: pool, postgresSchema: schema } : {}),
    ...schedulerOptions,
  });
  scheduler.registerBackend('Procrastinate', backend);
  t.teardown(() => scheduler.close());
  await scheduler.load(Array.from({ length: slots }, (_, i) => ({ slotId: i + 1, backends: ['Procrastinate'], timeout: '10s', ...slot })));
  return { pool, schema, backend, scheduler, entries };
}

const statusOf = async (pool: pg.Pool, id: string) => (await jobRow(pool, id))?.status;
const waitStatus = (pool: pg.Pool, id: string, status: string, ms = 8000) =>
  waitFor(async () => (await statusOf(pool, id)) === status, `job ${id} to be ${status}`, ms);

/** A promise with its resolve function (Node 20 has no Promise.withResolvers). */
function deferred<T = void>() {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/** Resolves when the signal fires, then throws its reason, as a cooperative handler does. */
const untilAborted = (signal: AbortSignal) =>
  new Promise<never>((_, reject) => {
    if (signal.aborted) reject(signal.reason);
    signal.addEventListener('abort', () => reject(signal.reason), { once: true });
  });

/** A handler that waits for its signal and throws its reason, which it keeps for the test. */
function waitsForAbort() {
  const started = deferred<string>();
  const seen: { reason?: unknown } = {};
  const handler = async (_args: Record<string, unknown>, job: JobContext) => {
    started.resolve(job.id);
    await untilAborted(job.signal).catch((error: unknown) => {
      seen.reason = error;
      throw error;
    });
  };
  return { handler, started: started.promise, seen };
}

/** The slot told the handler to stop with `cause`, and the job ended failed after its one run. */
async function failedBySlot(t: ExecutionContext, pool: pg.Pool, id: string, reason: unknown, cause: AbortCause): Promise<void> {
  t.true(reason instanceof TaskAbortedError, String(reason));
  t.is((reason as TaskAbortedError).abortCause, cause);
  t.like(await jobRow(pool, id), { status: 'failed', attempts: 1 });
  t.deepEqual(await eventTypes(pool, id), ['deferred', 'started', 'failed']);
}

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
    { handlerArgs: { a: 1, b: 2 }, args: { a: 1, b: 2 }, id, taskName: 'app.add', attempts: 0, queue: 'default', lock: 'L', priority: 3, signal: false, keepalive: 'function' },
  ]);
  t.like(await jobRow(pool, id), { status: 'succeeded', attempts: 1, abort_requested: false, worker_id: backend.workerId });
  t.deepEqual(await eventTypes(pool, id), ['deferred', 'started', 'succeeded']);
  // The slot was stopped after the job was written: it is idle again.
  await waitFor(async () => (await scheduler.inspect()).every((s) => s.status === 'idle'), 'the slot to be idle');
});

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

test('an abort request reaches the handler through NOTIFY, and the job ends aborted', async (t) => {
  const started = deferred();
  let reason: unknown;
  let cancelRequested: boolean | undefined;
  const { pool } = await setup(t, {
    abortPollInterval: 60_000, // only the NOTIFY can deliver it in time
    tasks: {
      long: async (_args, job) => {
        started.resolve();
        try {
          await untilAborted(job.signal);
        } catch (error) {
          reason = error;
          const outcome = await job.keepalive();
          cancelRequested = outcome.ok && outcome.cancelRequested;
          throw error;
        }
      },
    },
  });
  const id = await deferOne(pool, { task: 'long' });
  await started.promise;
  await pool.query('SELECT procrastinate_cancel_job_v1($1::bigint, true, false)', [id]);
  await waitStatus(pool, id, 'aborted');
  t.true(reason instanceof JobAbortedError);
  t.is((reason as JobAbortedError).abortReason, 'user_request');
  t.true(cancelRequested, 'keepalive reports the abort request');
  t.like(await jobRow(pool, id), { attempts: 1, abort_requested: false });
  t.deepEqual(await eventTypes(pool, id), ['deferred', 'started', 'abort_requested', 'aborted']);
});

test('an abort request whose NOTIFY was lost is found by the abort poll', async (t) => {
  const started = deferred();
  const db = await procrastinateDb(t);
  // No NOTIFY for abort requests in this schema: only the poll can find it.
  await db.pool.query('ALTER TABLE procrastinate_jobs DISABLE TRIGGER procrastinate_jobs_notify_queue_job_aborted_v1');
  const { pool } = await setup(
    t,
    {
      abortPollInterval: 200,
      tasks: {
        long: {
          handler: async (_args, job) => {
            started.resolve();
            await untilAborted(job.signal);
          },
          retry: true, // an honoured abort is never retried
        },
      },
    },
    { pool: db.pool },
  );
  const id = await deferOne(pool, { task: 'long' });
  await started.promise;
  await pool.query('SELECT procrastinate_cancel_job_v1($1::bigint, true, false)', [id]);
  await waitStatus(pool, id, 'aborted');
  t.deepEqual(await eventTypes(pool, id), ['deferred', 'started', 'abort_requested', 'aborted']);
});

test('a slot cancel from the scheduler aborts the handler and the job ends aborted', async (t) => {
  const started = deferred();
  let reason: unknown;
  const { pool, scheduler } = await setup(t, {
    tasks: {
      long: async (_args, job) => {
        started.resolve();
        await untilAborted(job.signal).catch((error: unknown) => {
          reason = error;
          throw error;
        });
      },
    },
  });
  const id = await deferOne(pool, { task: 'long' });
  await started.promise;
  t.like(await scheduler.cancel(id), { ok: true });
  await waitStatus(pool, id, 'aborted');
  t.is((reason as TaskAbortedError).abortCause, 'cancel_requested');
});

test('a slot timeout fails the job at once, even when the handler ignores its signal, and its late end is a no-op', async (t) => {
  let reason: unknown;
  const handlerDone = deferred();
  const { pool, entries } = await setup(
    t,
    {
      tasks: {
        stubborn: {
          handler: async (_args, job) => {
            job.signal.addEventListener('abort', () => (reason = job.signal.reason));
            await sleep(2500); // ignores the signal
            handlerDone.resolve();
          },
          retry: true, // not applied: a timed-out job may still run, so it is failed
        },
      },
    },
    { slot: { maxRuntime: '300ms' } },
  );
  const id = await deferOne(pool, { task: 'stubborn' });
  const began = Date.now();
  await waitStatus(pool, id, 'failed', 5000);
  t.true(Date.now() - began < 2500, 'failed before the handler ended');
  t.true(reason instanceof TaskAbortedError, String(reason));
  t.is((reason as TaskAbortedError).abortCause, 'max_runtime');
  await handlerDone.promise;
  await sleep(200);
  t.like(await jobRow(pool, id), { status: 'failed', attempts: 1 });
  t.deepEqual(await eventTypes(pool, id), ['deferred', 'started', 'failed']);
  t.truthy(entries.find((e) => e.message === 'handler settled after the end of its job was written; ignored'));
});

test('a handler that runs past its slot timeout keeps its slot: the backend renews it, and passes never reap it', async (t) => {
  let aborted: boolean | undefined;
  const { pool, scheduler } = await setup(
    t,
    {
      tasks: {
        long: async (_args, job) => {
          await sleep(1500); // more than three slot timeouts
          aborted = job.signal.aborted;
        },
      },
    },
    { slot: { timeout: '450ms' } },
  );
  const id = await deferOne(pool, { task: 'long' });
  // Passes reap a slot whose keepalives stopped: run them often while the handler runs.
  const passes = setInterval(() => void scheduler.schedule().catch(() => {}), 100);
  t.teardown(() => clearInterval(passes));
  await waitStatus(pool, id, 'succeeded', 5000);
  clearInterval(passes);
  t.false(aborted);
  t.like(await jobRow(pool, id), { status: 'succeeded', attempts: 1 });
  t.deepEqual(await eventTypes(pool, id), ['deferred', 'started', 'succeeded']);
});

test('a slot the store holds overdue (its keepalives did not arrive) aborts the handler with cause timeout and fails the job', async (t) => {
  const waits = waitsForAbort();
  const { pool, schema } = await setup(
    t,
    // retry: not applied, since a timed-out job may still run: it is failed.
    { tasks: { waits: { handler: waits.handler, retry: true } } },
    { postgresSlots: true, slot: { timeout: '1500ms' } },
  );
  const id = await deferOne(pool, { task: 'waits' });
  t.is(await waits.started, id);
  // As if this process had been cut off for longer than the timeout: the store's deadline passed.
  const overdue = await pool.query(`UPDATE ${schema}.task_semaphore_slots SET deadline = 0 WHERE task_id = $1`, [id]);
  t.is(overdue.rowCount, 1);
  // The next automatic keepalive (a third of the timeout) learns it; no pass, no cron.
  await waitStatus(pool, id, 'failed', 3000);
  await failedBySlot(t, pool, id, waits.seen.reason, 'timeout');
});

test('a job whose slot store becomes unreachable is aborted before its slot can be reaped, and failed, not left doing', async (t) => {
  const waits = waitsForAbort();
  const { proxy, url } = await redisProxy(t);
  const { pool } = await setup(t, { tasks: { waits: waits.handler } }, { redis: url, slot: { timeout: '900ms' } });
  // Runs before the scheduler's close: frozen connections would hold it back.
  t.teardown(() => {
    proxy.refuse(false);
    proxy.cut();
  });
  const id = await deferOne(pool, { task: 'waits' });
  await waits.started;
  await sleep(500); // kept alive by the backend while Redis answers
  // Redis goes silent for this process only; PostgreSQL, where the job lives, still answers.
  proxy.refuse(true);
  proxy.freeze();
  await waitStatus(pool, id, 'failed', 3000);
  await failedBySlot(t, pool, id, waits.seen.reason, 'lost');
});

// Serial: the stall blocks this whole process, and the leases of the file's other tests with it.
test.serial('a handler whose process stalled past its lease learns at its first look that its slot is gone, before any timer runs', async (t) => {
  let sawAfterStall: boolean | undefined;
  const { pool } = await setup(
    t,
    {
      tasks: {
        stalls: async (_args, job) => {
          // As a long GC pause or a CPU-bound step would: no timer, no pass, no keepalive runs meanwhile.
          Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1500);
          sawAfterStall = job.signal.aborted;
          await untilAborted(job.signal);
        },
      },
    },
    { redis: true, scheduler: { processLease: '1s' } },
  );
  const id = await deferOne(pool, { task: 'stalls' });
  await waitStatus(pool, id, 'failed');
  t.true(sawAfterStall, 'the first look after the stall found the signal fired');
  t.like(await jobRow(pool, id), { status: 'failed', attempts: 1 });
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

test('the ownership guard leaves alone a job that is no longer this run\'s: other worker, other status, later run', async (t) => {
  const { pool } = await procrastinateDb(t);
  const store = new JobStore(pool, ['default']);
  const [me, other] = [await registerWorker(pool), await registerWorker(pool)];
  await deferOne(pool);
  const run1 = (await store.fetch(me))!;
  t.false(await store.finish(run1, other, 'succeeded', false), 'another worker cannot finish it');
  t.is(await store.retry(run1, me, 0), 'retried');
  const run2 = (await store.fetch(me))!; // the same job, claimed again by the same worker
  t.is(run2.id, run1.id);
  t.is(run2.attempts, 1);
  t.false(await store.finish(run1, me, 'succeeded', false), 'the first run cannot end the second');
  t.is(await store.retry(run1, me, 0), 'not_ours');
  // Pruned worker (worker_id NULL) and nobody re-claimed: still ours.
  await pool.query('UPDATE procrastinate_jobs SET worker_id = NULL WHERE id = $1', [run2.id]);
  t.true(await store.finish(run2, me, 'failed', false));
  t.false(await store.finish(run2, me, 'failed', false), 'finished once');
  t.like(await jobRow(pool, run2.id), { status: 'failed', attempts: 2 });
});

test('pollBatch claims distinct jobs in one round trip and keeps the lock rule inside the batch', async (t) => {
  const { pool } = await procrastinateDb(t);
  const backend = new ProcrastinateBackend({ postgres: pool, queues: ['default', 'other'], tasks: { x: () => {} }, heartbeatInterval: 10_000 });
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
    (await pool.query<{ s: number | null }>('SELECT extract(epoch FROM scheduled_at - now())::float8 AS s FROM procrastinate_jobs WHERE id = $1', [id])).rows[0]!.s;
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
  const [later, storeError, lapsed, invalid] = await deferMany(pool, [{ task: 'x', queue }, { task: 'x', queue }, { task: 'x', queue }, { task: 'x', queue }]);
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
  t.deepEqual(entries.filter((e) => e.level === 'error').map((e) => e.jobId), [invalid, locked]);
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

/** The test's schema, a pool straight to it, and a pool to it through a TCP proxy the test controls. */
async function proxiedDb(t: ExecutionContext): Promise<{ direct: pg.Pool; proxy: TcpProxy; pool: pg.Pool }> {
  const { pool: direct, schema } = await procrastinateDb(t);
  const { proxy, connection } = await postgresProxy(t);
  const pool = new pg.Pool({ ...connection, options: `-c search_path=${schema}`, max: 4 });
  pool.on('error', () => {});
  t.teardown(() => pool.end());
  return { direct, proxy, pool };
}

test('the end of a job is written once the database takes connections again, however long it refused them', async (t) => {
  // The backend's pool goes through the proxy; the slots are on Redis, which stays up.
  const { direct, proxy, pool } = await proxiedDb(t);
  const release = deferred();
  const started = deferred<string>();
  const { entries } = await setup(
    t,
    {
      tasks: {
        x: async (_args, job) => {
          started.resolve(job.id);
          await release.promise;
        },
      },
    },
    { pool, redis: true },
  );
  t.teardown(() => proxy.refuse(false));
  const id = await deferOne(direct, { task: 'x' });
  t.is(await started.promise, id);
  // As during a restart: every connection drops, and new ones are refused (ECONNREFUSED).
  proxy.refuse(true);
  proxy.cut();
  release.resolve();
  // Longer than the first tries at the write (0.5 s, then 2 s after): it keeps trying while the backend is open.
  await sleep(4000);
  t.is((await jobRow(direct, id))?.status, 'doing');
  proxy.refuse(false);
  await waitStatus(direct, id, 'succeeded', 8000);
  t.like(await jobRow(direct, id), { status: 'succeeded', attempts: 1 });
  t.false(entries.some((entry) => entry.message.startsWith('could not write the end of the job')));
});

test('a heartbeat stuck on a half-open connection gives up after heartbeatInterval, and the next one beats on another connection', async (t) => {
  // The backend's pool goes through the proxy.
  const { direct, proxy, pool } = await proxiedDb(t);
  const { backend } = await setup(t, { heartbeatInterval: 300, tasks: { x: () => {} } }, { pool });
  // Runs first at teardown: frozen connections would hold back the backend's close.
  t.teardown(() => proxy.cut());
  const heartbeat = async () =>
    (await direct.query<{ at: Date }>('SELECT last_heartbeat AS at FROM procrastinate_workers WHERE id = $1', [backend.workerId])).rows[0]!.at.getTime();
  const first = await heartbeat();
  await waitFor(async () => (await heartbeat()) > first, 'a heartbeat', 3000);

  // Every open connection goes silent, the pooled ones the heartbeat uses included.
  proxy.freeze();
  const frozenAt = await heartbeat();
  const connectionsBefore = proxy.connections;
  await waitFor(async () => (await heartbeat()) > frozenAt, 'a heartbeat after the freeze', 5000);
  t.true(proxy.connections > connectionsBefore, 'it beat on a new connection');
});

test('the worker row exists while open, heartbeats, is registered again when deleted, and is gone after close', async (t) => {
  const release = deferred();
  const started = deferred();
  const { pool, backend, scheduler, entries } = await setup(t, {
    heartbeatInterval: 150,
    tasks: {
      wait: async () => {
        started.resolve();
        await release.promise;
      },
    },
  });
  const first = backend.workerId!;
  const heartbeat = async (id: string) =>
    (await pool.query<{ at: Date }>('SELECT last_heartbeat AS at FROM procrastinate_workers WHERE id = $1', [id])).rows[0]?.at.getTime();
  const before = await heartbeat(first);
  t.truthy(before);
  await waitFor(async () => (await heartbeat(first))! > before!, 'a heartbeat', 3000);

  const job = await deferOne(pool, { task: 'wait' });
  await started.promise;
  t.like(await jobRow(pool, job), { worker_id: first });
  // Pruned (as a Python worker prunes a silent one): our job now looks stalled.
  await pool.query('DELETE FROM procrastinate_workers WHERE id = $1', [first]);
  t.like(await jobRow(pool, job), { status: 'doing', worker_id: null });
  await waitFor(() => backend.workerId !== first, 'a new registration', 3000);
  const second = backend.workerId!;
  t.truthy(await heartbeat(second));
  await waitFor(async () => (await jobRow(pool, job))?.worker_id === second, 'the running job to be adopted', 3000);
  t.truthy(entries.find((e) => e.level === 'error' && e.message === 'procrastinate worker row is gone; registering again'));

  release.resolve();
  await waitStatus(pool, job, 'succeeded');
  await scheduler.close();
  t.is((await pool.query('SELECT 1 FROM procrastinate_workers')).rowCount, 0);
});

test('a fetch made after our worker row was deleted registers again and claims under the new id', async (t) => {
  const { pool, backend } = await setup(t, { heartbeatInterval: 10_000, tasks: { x: () => {} } });
  const first = backend.workerId!;
  await pool.query('DELETE FROM procrastinate_workers WHERE id = $1', [first]);
  // The NOTIFY starts a pass before any heartbeat: the claim fails on the foreign key (23503).
  const job = await deferOne(pool, { task: 'x' });
  await waitStatus(pool, job, 'succeeded');
  t.not(backend.workerId, first);
  t.like(await jobRow(pool, job), { worker_id: backend.workerId });
});

test('graceful shutdown waits for a short handler, aborts the others after the grace, and leaves no job doing', async (t) => {
  const started = new Set<string>();
  let stubbornReason: unknown;
  const { pool, scheduler, backend } = await setup(
    t,
    {
      shutdownGrace: 800,
      tasks: {
        short: async (args) => {
          started.add(args.name as string);
          await sleep(300);
        },
        long: async (args, job) => {
          started.add(args.name as string);
          await untilAborted(job.signal);
        },
        requeued: {
          handler: async (args, job) => {
            started.add(args.name as string);
            await untilAborted(job.signal);
          },
          retry: 3,
        },
        stubborn: async (args, job) => {
          started.add(args.name as string);
          job.signal.addEventListener('abort', () => (stubbornReason = job.signal.reason));
          await sleep(5000); // ignores the signal
        },
      },
    },
    { slots: 4 },
  );
  const [short, long, requeued, stubborn] = await deferMany(pool, [
    { task: 'short', args: { name: 'short' } },
    { task: 'long', args: { name: 'long' } },
    { task: 'requeued', args: { name: 'requeued' } },
    { task: 'stubborn', args: { name: 'stubborn' } },
  ]);
  await waitFor(() => started.size === 4, 'all four handlers');
  const worker = backend.workerId;
  const began = Date.now();
  await scheduler.close();
  const tookMs = Date.now() - began;
  t.true(tookMs >= 700, `waited for the grace (${tookMs} ms)`);
  t.true(tookMs < 6000, `never hangs (${tookMs} ms)`);
  t.like(await jobRow(pool, short!), { status: 'succeeded', attempts: 1 });
  t.like(await jobRow(pool, long!), { status: 'aborted', attempts: 1, abort_requested: false });
  t.like(await jobRow(pool, requeued!), { status: 'todo', attempts: 1, abort_requested: false });
  // Unregistering the worker nulls worker_id on the requeued row too: that UPDATE of a todo row with
  // a scheduled_at writes one more `scheduled` event, as it does for Python workers.
  t.deepEqual((await eventTypes(pool, requeued!)).slice(0, 4), ['deferred', 'started', 'scheduled', 'deferred_for_retry']);
  t.like(await jobRow(pool, stubborn!), { status: 'aborted', attempts: 1 });
  t.is((stubbornReason as JobAbortedError).abortReason, 'shutdown');
  t.is((await pool.query("SELECT 1 FROM procrastinate_jobs WHERE status = 'doing'")).rowCount, 0);
  t.is((await pool.query('SELECT 1 FROM procrastinate_workers WHERE id = $1', [worker])).rowCount, 0);
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
    (await pool.query<{ pid: number }>("SELECT pid FROM pg_stat_activity WHERE state = 'idle' AND query = $1", [`LISTEN "procrastinate_queue_v1#${queue}"`]))
      .rows[0]?.pid;
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
  const ids = await deferMany(pool, Array.from({ length: 40 }, () => ({ task: 'busy' })));
  await waitFor(async () => (await pool.query("SELECT 1 FROM procrastinate_jobs WHERE status = 'succeeded'")).rowCount === 40, 'all 40 jobs', 20_000);
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

test("the backend's own sweep never takes a job running here, even while its worker_id reads NULL", async (t) => {
  const started = deferred();
  const release = deferred();
  let aborted: boolean | undefined;
  const { pool, backend } = await setup(t, {
    heartbeatInterval: 10_000, // no heartbeat re-registers us during the test
    tasks: {
      wait: async (_args, job) => {
        started.resolve();
        await release.promise;
        aborted = job.signal.aborted;
      },
    },
  });
  const id = await deferOne(pool, { task: 'wait' });
  await started.promise;
  // As after a prune: the running job reads worker_id NULL, which is how a dead worker's job looks.
  await pool.query('DELETE FROM procrastinate_workers WHERE id = $1', [backend.workerId]);
  t.like(await jobRow(pool, id), { status: 'doing', worker_id: null });
  await backend.sweep();
  t.like(await jobRow(pool, id), { status: 'doing', attempts: 0 });
  release.resolve();
  await waitStatus(pool, id, 'succeeded');
  t.false(aborted);
  t.deepEqual(await eventTypes(pool, id), ['deferred', 'started', 'succeeded']);
});

test('once close() begins nothing more is claimed: a job deferred during the grace stays queued, untouched', async (t) => {
  const started = deferred();
  const { pool, scheduler } = await setup(
    t,
    {
      shutdownGrace: 3000,
      tasks: {
        slow: async () => {
          started.resolve();
          await sleep(800);
        },
        quick: () => {},
      },
    },
    { slots: 2 },
  );
  const slow = await deferOne(pool, { task: 'slow' });
  await started.promise;
  const closing = scheduler.close();
  await sleep(100);
  // A free slot, a NOTIFY: an open backend would run it at once.
  const late = await deferOne(pool, { task: 'quick' });
  await closing;
  t.like(await jobRow(pool, slow), { status: 'succeeded', attempts: 1 });
  t.like(await jobRow(pool, late), { status: 'todo', attempts: 0, worker_id: null });
  t.deepEqual(await eventTypes(pool, late), ['deferred']);
});

test('open fails fast on a database without the Procrastinate schema', async (t) => {
  const { pool } = await procrastinateDb(t, { apply: false });
  const scheduler = new Scheduler({ name: uniqueName('pb') });
  t.teardown(() => scheduler.close());
  scheduler.registerBackend('P', new ProcrastinateBackend({ postgres: pool, queues: ['default'], tasks: { x: () => {} } }));
  await t.throwsAsync(scheduler.load([{ slotId: 1, backends: ['P'] }]), { instanceOf: ProcrastinateSchemaError });
});

test('options are checked in the constructor, naming the option and what is allowed', (t) => {
  const base = { postgres: 'postgres://localhost/x', queues: ['q'], tasks: { x: () => {} } };
  const cases: Array<[Record<string, unknown>, RegExp]> = [
    [{ queues: [] }, /^queues: got \[\]; allowed: a non-empty array/],
    [{ queues: ['x'.repeat(41)] }, /^queues\[0\]: .*at most 40 bytes/],
    [{ tasks: {} }, /^tasks: got \{\}; allowed: a non-empty object/],
    [{ tasks: { x: 42 } }, /^tasks\["x"\]: got 42; allowed: a handler function/],
    [{ tasks: { x: { handler: () => {}, retry: -1 } } }, /^tasks\["x"\]\.retry: got -1/],
    [{ deleteJobs: 'sometimes' }, /^deleteJobs: got "sometimes"; allowed: "never", "successful", "always"/],
    [{ heartbeatInterval: '30s' }, /^heartbeatInterval: got "30s"; allowed: between 1 ms and 10000 ms/],
    [{ heartbeatInterval: 10_001 }, /^heartbeatInterval: got 10001; allowed: between 1 ms and 10000 ms/],
    [{ shutdownGrace: -1 }, /^shutdownGrace: got -1/],
    [{ shutdownGraceMs: 1000 }, /^shutdownGraceMs: got 1000; unknown option `shutdownGraceMs`; allowed: postgres, queues, tasks, /],
    [{ retryOnTimeout: 'yes' }, /^retryOnTimeout: got "yes"/],
    [{ preparedStatements: 'off' }, /^preparedStatements: got "off"; allowed: true or false/],
    [{ postgres: 42 }, /^postgres: got 42/],
    [{ queue: ['q'] }, /^queue: got \["q"\]; unknown option/],
  ];
  for (const [patch, message] of cases) {
    const error = t.throws(() => new ProcrastinateBackend({ ...base, ...patch } as unknown as ProcrastinateBackendOptions), { instanceOf: ConfigError });
    t.regex(error.message, message);
  }
});
