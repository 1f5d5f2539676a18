/**
 * Contract cases about task ids: the task-id grammar every store enforces alike (an id one store
 * takes, every store takes unchanged; one it refuses, every store refuses with the same typed
 * error), and what a `duplicate` says of the occupancy holding the id.
 */
import type { Macro, TestFn } from 'ava';
import type { StartRequest } from '../contracts/store.js';
import { assertDuplicate, endRequest, must, ok, startRequest, type CaseBody, type StoreFactory } from './store-suite-kit.js';
import { badTaskIds, goodTaskIds } from './task-id-samples.js';

export function registerTaskIdCases<C>(test: TestFn<C>, contract: Macro<[StoreFactory, CaseBody], C>, factory: StoreFactory): void {
  test('ids at the maximum length, in any script, start, renew, cancel and end unchanged', contract, factory, async (t, h) => {
    const slotIds = goodTaskIds.map((_, i) => String(i + 1));
    await h.init(slotIds);
    const { reserved } = await h.pass('A', slotIds);
    for (const [i, { label, taskId }] of goodTaskIds.entries()) {
      const occupancy = ok(await h.start(reserved[i]!, taskId), `start of ${label}`).occupancy;
      t.is(occupancy.taskId, taskId, label);
      t.is((await h.slot(occupancy.slotId)).occupancy?.taskId, taskId, `${label}: inspect`);
      t.is(ok(await h.store.keepalive({ taskId }), `keepalive of ${label}`).occupancy.taskId, taskId);
      ok(await h.store.requestCancel({ taskId, token: occupancy.token }), `requestCancel of ${label}`);
      t.like(ok(await h.end(taskId), `end of ${label}`).ended, { taskId, reason: 'cancelled' });
      t.like(await h.store.keepalive({ taskId }), { ok: false, reason: 'ended' }, `${label}: its tombstone`);
    }
  });

  test('ids outside the grammar get ERR_TASK_ID from every call, and change nothing', contract, factory, async (t, h) => {
    await h.init(['1']);
    const { reserved } = await h.pass('A', ['1']);
    const reservation = reserved[0];
    must(reservation, 'slot 1 reserved');
    const before = await h.store.inspect();
    for (const { label, taskId, problem } of [...badTaskIds, { label: 'empty', taskId: '', problem: /empty/ }]) {
      const request: StartRequest = startRequest(reservation, taskId);
      const calls: Array<[string, () => Promise<unknown>]> = [
        ['start', () => h.store.start(request)],
        ['startMany', () => h.startMany([request])],
        ['keepalive', () => h.store.keepalive({ taskId })],
        ['end', () => h.store.end(endRequest(taskId))],
        ['endMany', () => h.endMany([endRequest(taskId)])],
        ['requestCancel', () => h.store.requestCancel({ taskId, token: reservation.token })],
      ];
      for (const [call, run] of calls) {
        const error = await t.throwsAsync(run(), { code: 'ERR_TASK_ID' }, `${call} of an id with ${label}`);
        if (error) t.regex(error.message, problem, `${call} of ${label}: ${error.message}`);
        // The message shows the id cut short, never 3 kB of it.
        if (error) t.true(error.message.length < 400, `${call} of ${label}: a message of ${error.message.length} characters`);
      }
    }
    t.deepEqual(await h.store.inspect(), before, 'nothing changed');
    ok(await h.start(reservation, 'task-ok'), 'the reservation still takes a good id');
  });

  test(
    'a duplicate says when its holder ends by itself: the earlier of its deadline and max deadline, as last renewed',
    contract,
    factory,
    async (t, h) => {
      await h.init(['1', '2', '3']);
      const { reserved } = await h.pass('A', ['1', '2', '3']);
      must(reserved.length === 3, 'three slots reserved');
      // Capped: the max deadline comes first. Uncapped: the deadline, which a keepalive moves.
      const capped = ok(await h.start(reserved[0]!, 'capped', { timeoutMs: 60_000, maxRuntimeMs: 20_000 }), 'start capped').occupancy;
      const renewed = ok(await h.start(reserved[1]!, 'renewed', { timeoutMs: 30_000 }), 'start renewed').occupancy;
      const spare = reserved[2]!;

      const first = await h.start(spare, 'capped');
      assertDuplicate(t, first, capped, 'a capped holder');
      if (!first.ok && first.reason === 'duplicate') {
        const retryAfterMs = first.expiresAt! - first.now!;
        t.true(retryAfterMs > 0 && retryAfterMs <= 20_000, `the cap is at most 20 s away: ${retryAfterMs}`);
      }
      const renewal = ok(await h.store.keepalive({ taskId: 'renewed' }), 'keepalive').occupancy;
      t.true(renewal.deadline >= renewed.deadline);
      assertDuplicate(t, await h.start(spare, 'renewed'), renewal, 'a renewed holder');
      t.like(await h.slot('3'), { status: 'reserved', token: spare.token }, 'the duplicates left the reservation alone');
    },
  );
}
