/**
 * `store:call`: every call a scheduler makes to a store it opened is told once it settles, with
 * the slot class, the method, its duration and, for a failure, the error, which still reaches
 * the caller unchanged. Optional methods a store lacks stay absent behind the timing.
 */
import test from 'ava';
import { MemorySlotStore } from '../../slots/memory/index.js';
import type { KeepaliveResult, TaskRef } from '../../src/contracts/store.js';
import { Scheduler } from '../../src/scheduler/scheduler.js';
import { timedStore, type StoreCall } from '../../src/scheduler/timed-store.js';
import { ScriptedBackend, uniqueSchedulerName } from '../../src/testing/scheduler-kit.js';

/** A memory store whose keepalive fails, as a store that lost its connection would. */
class FailingKeepalive extends MemorySlotStore {
  readonly failure = new Error('connection lost');
  override async keepalive(_ref: TaskRef): Promise<KeepaliveResult> {
    throw this.failure;
  }
}

function scheduler(store: MemorySlotStore): { scheduler: Scheduler; calls: StoreCall[] } {
  const made = new Scheduler({ name: uniqueSchedulerName(), logger: false, defaultSlotClass: 'Mine' });
  made.registerSlotClass('Mine', () => store);
  const calls: StoreCall[] = [];
  made.on('store:call', (call) => calls.push(call));
  return { scheduler: made, calls };
}

test('each store call is told with its slot class, method and duration, in the order they settle', async (t) => {
  const { scheduler: s, calls } = scheduler(new MemorySlotStore());
  t.teardown(() => s.close());
  s.registerBackend('A', new ScriptedBackend(['task-1']));
  await s.load([{ slotId: 1, backends: ['A'] }]);
  await s.schedule();
  t.like(await s.keepalive('task-1'), { ok: true });
  t.like(await s.stop('task-1'), { ok: true });
  await s.inspect();
  await s.close();

  t.true(
    calls.every((call) => call.slotClass === 'Mine' && call.durationMs >= 0 && call.error === undefined),
    JSON.stringify(calls),
  );
  const methods = calls.map((call) => call.method);
  for (const method of ['init', 'subscribe', 'beginPass', 'start', 'keepalive', 'end', 'inspect', 'close'] as const) {
    t.true(methods.includes(method), `${method} told: ${methods.join(', ')}`);
  }
  t.false(methods.includes('startMany'), 'the memory store has no startMany: the scheduler starts one at a time');
  t.is(methods.at(-1), 'close');
});

test('a call that fails is told with its error, and the caller gets the same error', async (t) => {
  const store = new FailingKeepalive();
  const { scheduler: s, calls } = scheduler(store);
  t.teardown(() => s.close());
  s.registerBackend('A', new ScriptedBackend(['task-1']));
  await s.load([{ slotId: 1, backends: ['A'] }]);
  await s.schedule();
  const error = await t.throwsAsync(s.keepalive('task-1'));
  t.is(error, store.failure);
  const failed = calls.filter((call) => call.error !== undefined);
  t.is(failed.length, 1);
  t.like(failed[0], { slotClass: 'Mine', method: 'keepalive', error: store.failure });
});

test('the timed store passes on how many batches the store takes at once', (t) => {
  class TwoLanes extends MemorySlotStore {
    readonly batchLanes = 2;
  }
  const watch = { watched: () => false, told: () => {} };
  t.is(timedStore(new TwoLanes(), 'Mine', watch).batchLanes, 2);
  t.is(timedStore(new MemorySlotStore(), 'Mine', watch).batchLanes, undefined);
});
