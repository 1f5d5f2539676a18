/**
 * ProcrastinateBackend aborts and slot timeouts: abort requests (NOTIFY, or the abort poll), slot
 * cancels, slot timeouts, overdue or unreachable slots and a stalled process, each reaching the
 * handler through its signal and ending the job as Python expects.
 */
import test from 'ava';
import { JobAbortedError } from '../../backends/procrastinate/errors.js';
import { TaskAbortedError } from '../../src/core/errors.js';
import { sleep } from '../../src/testing/scheduler-kit.js';
import { deferOne, eventTypes, jobRow, procrastinateDb } from '../helpers/procrastinate.js';
import { redisProxy } from '../helpers/tcp-proxy.js';
import { deferred, failedBySlot, setup, untilAborted, waitsForAbort, waitStatus } from './backend-kit.js';

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
test.serial(
  'a handler whose process stalled past its lease learns at its first look that its slot is gone, before any timer runs',
  async (t) => {
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
  },
);
