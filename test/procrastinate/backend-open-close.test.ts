/**
 * Opening and closing ProcrastinateBackend: options checked in the constructor, open failing on a
 * database without the schema, and graceful shutdown that leaves no job doing.
 */
import test from 'ava';
import { ProcrastinateBackend } from '../../backends/procrastinate/backend.js';
import { JobAbortedError } from '../../backends/procrastinate/errors.js';
import type { ProcrastinateBackendOptions } from '../../backends/procrastinate/backend-options.js';
import { ProcrastinateSchemaError } from '../../backends/procrastinate/errors.js';
import { ConfigError } from '../../src/core/errors.js';
import { Scheduler } from '../../src/scheduler/scheduler.js';
import { sleep, waitFor } from '../../src/testing/scheduler-kit.js';
import { deferMany, deferOne, eventTypes, jobRow, procrastinateDb } from '../helpers/procrastinate.js';
import { uniqueName } from '../helpers/services.js';
import { deferred, setup, untilAborted } from './backend-kit.js';

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
    const error = t.throws(() => new ProcrastinateBackend({ ...base, ...patch } as unknown as ProcrastinateBackendOptions), {
      instanceOf: ConfigError,
    });
    t.regex(error.message, message);
  }
});
