/**
 * A start the store throws on (its connection cut between the poll that claimed the tasks and the
 * start) must lose no task: every id polled for it goes back to its backend with `store_error`,
 * the pass still fails with the store's error, and once the store is back the ids run. On real
 * Redis and PostgreSQL, behind a TCP proxy that cuts the connections and refuses new ones.
 */
import test from 'ava';
import type { PollContext } from '../../src/contracts/backend.js';
import { storeErrorRetryMs } from '../../src/scheduler/task-path.js';
import {
  ClaimingBackend,
  makeScheduler,
  slots,
  uniqueSchedulerName,
  waitFor,
  type SlotKindSetup,
} from '../../src/testing/scheduler-kit.js';
import { postgresBehindProxy, redisBehindProxy } from '../helpers/stores-behind-proxy.js';

/** Claims a batch of ids in one call, as a database queue would; `onClaim` runs just before it answers. */
class BatchClaiming extends ClaimingBackend {
  onClaim = () => {};
  pollBatch(max: number, _context: PollContext): string[] {
    this.polls++;
    this.onClaim();
    return this.queue.splice(0, max);
  }
}

for (const [label, behind, slotCls] of [
  ['Redis', redisBehindProxy, 'RedisSlot'],
  ['PostgreSQL', postgresBehindProxy, 'PostgresSlot'],
] as const) {
  test(`${label}: a start cut off from the store hands every polled id back (store_error), the pass fails, and the ids run once the store is back`, async (t) => {
    const { proxy, options } = await behind(t);
    const setup = { options, slotCls } as SlotKindSetup;
    const ids = ['job-1', 'job-2', 'job-3'];
    const backend = new BatchClaiming(ids);
    const scheduler = makeScheduler(setup, uniqueSchedulerName(), { A: backend }, { pollTimeout: '500ms', reservationTimeout: '1s' });
    t.teardown(() => scheduler.close());
    await scheduler.load(slots(ids.length, ['A']));

    // The store goes away between the claim and the start: the three starts (one batch) fail.
    backend.onClaim = () => {
      backend.onClaim = () => {};
      proxy.refuse(true);
      proxy.cut();
    };
    await t.throwsAsync(scheduler.schedule(), undefined, 'the pass reports the store error');
    t.deepEqual(backend.started, []);
    t.deepEqual(
      backend.rejected.map(({ taskId, info }) => [taskId, info.reason, info.retryAfterMs]).sort(),
      ids.map((id) => [id, 'store_error', storeErrorRetryMs]),
      'every claimed id went back before the pass failed',
    );

    // The store is back: the reservations lapse, the backend offers the ids again, and they run, once each.
    proxy.refuse(false);
    await waitFor(
      async () => {
        await scheduler.schedule().catch(() => {});
        return backend.started.length === ids.length;
      },
      'the handed-back ids to start',
      15_000,
    );
    t.deepEqual(backend.started.map((x) => x.taskId).sort(), ids);
    t.deepEqual(backend.doubleStarts, []);
    t.is(backend.rejected.length, ids.length, 'no other hand-back');
  });
}
