/**
 * Tasks whose occupancy the store no longer knows, in one scheduler on the real Redis: its keys
 * deleted under it, as a restart without persistence or a flush leaves them (only this test's
 * keys: the shared server is never flushed). The task hears it once, whichever call learns it
 * first, through its signal (cause `lost`) and one stopCallback (reason `lost`), and stops counting
 * against maxLocalTasks. A task ended by another process is only forgotten here: its stopCallback
 * comes from there.
 */
import test, { type ExecutionContext } from 'ava';
import { Redis } from 'ioredis';
import type { StopOutcome } from '../../src/contracts/backend.js';
import { TaskAbortedError } from '../../src/core/errors.js';
import type { SchedulerOptions } from '../../src/scheduler/options.js';
import { Scheduler } from '../../src/scheduler/scheduler.js';
import { ScriptedBackend, sleep, slots, waitFor } from '../../src/testing/scheduler-kit.js';
import { connectRedis, redisUrl, uniqueName } from '../helpers/services.js';
import { redisProxy } from '../helpers/tcp-proxy.js';

interface Fixture {
  backend: ScriptedBackend;
  scheduler: Scheduler;
  /** What another process needs for a scheduler on the same slots. */
  shared: SchedulerOptions;
  /** Deletes every key of the scheduler name, as a Redis that lost its state. */
  loseState(): Promise<void>;
  /** Why the signal of the task fired, or undefined while it has not. */
  abortCause(taskId: string): string | undefined;
}

async function fixture(t: ExecutionContext, options: Partial<SchedulerOptions> = {}, tasks = ['task-1', 'task-2']): Promise<Fixture> {
  const direct = await connectRedis();
  t.teardown(() => direct.quit());
  const keyPrefix = uniqueName('lost');
  const name = uniqueName('lost');
  const backend = new ScriptedBackend(tasks);
  const shared = { name, redis: redisUrl, keyPrefix };
  const scheduler = new Scheduler({ ...shared, callbackTimeout: '2s', ...options });
  scheduler.registerBackend('B', backend);
  t.teardown(() => scheduler.close());
  return {
    backend,
    scheduler,
    shared,
    async loseState() {
      const keys = await direct.keys(`{${keyPrefix}:${name}}:*`);
      if (keys.length > 0) await direct.del(...keys);
    },
    abortCause(taskId) {
      const reason = backend.contexts.get(taskId)?.signal.reason as unknown;
      return reason instanceof TaskAbortedError ? reason.abortCause : reason === undefined ? undefined : String(reason);
    },
  };
}

const lostOutcome = (outcome: StopOutcome | undefined) => ({ reason: outcome?.reason, taskId: outcome?.taskId, slotId: outcome?.slotId });

test('a running task whose occupancy Redis lost learns it at its keepalive: signal lost, one stopCallback lost, its room comes back', async (t) => {
  const { backend, scheduler, loseState, abortCause } = await fixture(t, { maxLocalTasks: 1 });
  await scheduler.load(slots(2, ['B']));
  await scheduler.schedule();
  t.deepEqual(
    backend.started.map((s) => s.taskId),
    ['task-1'],
    'maxLocalTasks 1: one task',
  );
  const context = backend.contexts.get('task-1')!;

  await loseState();
  t.like(await context.keepalive(), { ok: false, reason: 'unknown' });
  t.is(abortCause('task-1'), 'lost');
  t.deepEqual(backend.stopsOf('task-1').map(lostOutcome), [{ reason: 'lost', taskId: 'task-1', slotId: context.slotId }]);
  t.like(backend.stopsOf('task-1')[0], { token: context.token, status: null });

  // Told once: the task's own stop, a later keepalive and a pass add nothing.
  t.like(await context.stop({ status: 'abandoned' }), { ok: false, reason: 'unknown' });
  t.like(await context.keepalive(), { ok: false, reason: 'unknown' });
  await scheduler.schedule();
  t.is(backend.stopsOf('task-1').length, 1);
  // The lost task no longer counts against maxLocalTasks: the next task starts, in a new slot record.
  t.deepEqual(
    backend.started.map((s) => s.taskId),
    ['task-1', 'task-2'],
  );
  t.true(backend.started[1]!.token > context.token, 'tokens keep growing across the loss');
});

test('a task whose occupancy Redis lost learns it at its stop: one stopCallback lost, with what the stop reported', async (t) => {
  const { backend, scheduler, loseState, abortCause } = await fixture(t, {}, ['task-1']);
  await scheduler.load(slots(1, ['B']));
  await scheduler.schedule();
  await loseState();
  const result = await backend.contexts.get('task-1')!.stop({ status: 'succeeded' });
  t.like(result, { ok: false, reason: 'unknown' });
  t.like(backend.stopsOf('task-1'), [{ reason: 'lost', status: 'succeeded' }]);
  // It had finished: its signal has nothing left to stop.
  t.is(abortCause('task-1'), undefined);
});

test('a task whose occupancy Redis lost, and that ran again elsewhere and ended there, still learns it lost', async (t) => {
  const { backend, scheduler, shared, loseState, abortCause } = await fixture(t, {}, ['task-1']);
  await scheduler.load(slots(2, ['B']));
  await scheduler.schedule();
  const context = backend.contexts.get('task-1')!;
  await loseState();

  // The queue hands the id out again (as a redelivering backend does), and another process, which
  // finds it in no slot, runs it under a later token and ends it.
  const elsewhere = new Scheduler({ ...shared, owner: 'elsewhere' });
  const other = new ScriptedBackend(['task-1']);
  elsewhere.registerBackend('B', other);
  t.teardown(() => elsewhere.close());
  await elsewhere.load(slots(2, ['B']));
  await elsewhere.schedule();
  const again = other.contexts.get('task-1')!;
  t.true(again.token > context.token);
  t.like(await again.stop({ status: 'succeeded' }), { ok: true });

  // The end kept is of the later occupancy: the first one's end was never recorded, so its holder
  // must deliver it, or no process ever would.
  t.like(await context.keepalive(), { ok: false, reason: 'unknown' });
  t.is(abortCause('task-1'), 'lost');
  t.deepEqual(backend.stopsOf('task-1').map(lostOutcome), [{ reason: 'lost', taskId: 'task-1', slotId: context.slotId }]);
  t.like(other.stopsOf('task-1'), [{ reason: 'stopped', token: again.token }]);
});

test('a task that never calls again learns the loss at the next pass, which runs another task in its place', async (t) => {
  const { backend, scheduler, loseState, abortCause } = await fixture(t, { maxLocalTasks: 1 });
  await scheduler.load(slots(1, ['B']));
  await scheduler.schedule();
  await loseState();
  await scheduler.schedule();
  t.is(abortCause('task-1'), 'lost');
  t.like(backend.stopsOf('task-1'), [{ reason: 'lost' }]);
  // The pass that found the loss had no room to reserve with: it asks for the next at once.
  await waitFor(() => backend.started.length === 2, 'task-2 to start without waiting for a tick', 3000);
  t.is(backend.stopsOf('task-1').length, 1);
});

test('a task ended by another process is forgotten here at the next pass: its signal fires, its stopCallback comes from there', async (t) => {
  const { backend, scheduler, shared, abortCause } = await fixture(t, { maxLocalTasks: 1 });
  await scheduler.load(slots(2, ['B']));
  await scheduler.schedule();
  const elsewhere = new Scheduler({ ...shared, owner: 'elsewhere' });
  // Another process of the name, with the backend: it ends the task and delivers its callbacks.
  const other = new ScriptedBackend();
  elsewhere.registerBackend('B', other);
  t.teardown(() => elsewhere.close());
  t.like(await elsewhere.stop('task-1', { status: 'stopped-elsewhere' }), { ok: true, delivered: true });
  t.like(other.stopsOf('task-1'), [{ reason: 'stopped', status: 'stopped-elsewhere' }]);

  await scheduler.schedule();
  t.is(abortCause('task-1'), 'lost');
  t.deepEqual(backend.stopsOf('task-1'), [], 'no second stopCallback here');
  await waitFor(() => backend.started.length === 2, 'task-2 to start in the room task-1 left', 3000);
});

test('a stop that fails while Redis is unreachable leaves the task to the passes: after a loss its room under maxLocalTasks comes back', async (t) => {
  const { proxy, url } = await redisProxy(t);
  const client = new Redis(url, { maxRetriesPerRequest: 0, retryStrategy: () => 50 });
  client.on('error', () => {});
  t.teardown(() => client.disconnect());
  const { backend, scheduler, loseState } = await fixture(t, { redis: client, maxLocalTasks: 1 });
  await scheduler.load(slots(2, ['B']));
  await scheduler.schedule();
  const context = backend.contexts.get('task-1')!;

  proxy.refuse(true);
  proxy.cut();
  await t.throwsAsync(context.stop({ status: 'succeeded' }));
  await loseState();
  proxy.refuse(false);
  // The task gave up on its stop. The passes find its occupancy gone and end it as lost.
  await waitFor(
    async () => {
      await scheduler.schedule().catch(() => {});
      return backend.started.length === 2;
    },
    'task-2 to start in the room task-1 left',
    5000,
  );
  t.like(backend.stopsOf('task-1'), [{ reason: 'lost' }]);
  await sleep(50);
  t.is(backend.stopsOf('task-1').length, 1);
});

test('a start that fails while Redis is unreachable gives the polled id back to its backend (store_error), never drops it', async (t) => {
  const { proxy, url } = await redisProxy(t);
  const client = new Redis(url, { maxRetriesPerRequest: 0, retryStrategy: () => 50 });
  client.on('error', () => {});
  t.teardown(() => client.disconnect());
  const { backend, scheduler } = await fixture(t, { redis: client }, ['task-1']);
  await scheduler.load(slots(1, ['B']));
  // Redis goes away between the poll and the start.
  backend.onPoll = () => {
    proxy.refuse(true);
    proxy.cut();
    return backend.queue.shift() ?? null;
  };
  await t.throwsAsync(scheduler.schedule());
  t.deepEqual(backend.started, []);
  t.like(backend.rejected, [{ taskId: 'task-1', info: { reason: 'store_error', slotId: '1' } }]);
  proxy.refuse(false);
});
