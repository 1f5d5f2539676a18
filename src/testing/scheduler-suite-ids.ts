/**
 * Scheduler conformance cases on what a backend gets back: ids outside the task-id grammar, and
 * duplicates with how long the occupancy holding the id lasts. Every slot kind must answer alike,
 * so a backend never sees a store's raw error nor loses a task it claimed.
 */
import type { TestFn } from 'ava';
import { TaskIdError } from '../core/errors.js';
import { ClaimingBackend, harness, slots, waitFor, type SlotKind } from './scheduler-kit.js';
import { badTaskIds, goodTaskIds } from './task-id-samples.js';

export function registerSchedulerIdCases(test: TestFn, kind: SlotKind): void {
  const title = (what: string) => `${kind.label}: ${what}`;

  test(
    title('a polled id outside the task-id grammar goes back as invalid_id; ids at the maximum run, and stop frees their slot'),
    async (t) => {
      const h = await harness(t, kind);
      const ids = [...badTaskIds, ...goodTaskIds].map((x) => x.taskId);
      const backend = new ClaimingBackend(ids);
      const s = h.scheduler({ A: backend });
      await s.load(slots(goodTaskIds.length, ['A']));
      // A bad id ends its backend's polls for the pass: a few passes drain the queue.
      for (let pass = 0; backend.queue.length > 0 && pass < ids.length; pass++) {
        await t.notThrowsAsync(s.schedule(), `pass ${pass}`);
      }
      await waitFor(() => backend.started.length + backend.rejected.length === ids.length, 'every id to start or go back');
      for (const { taskId } of backend.started) t.true((await s.stop(taskId)).ok, `stop of ${taskId.slice(0, 10)}…`);
      t.deepEqual(
        backend.rejected.map((r) => r.taskId),
        badTaskIds.map((x) => x.taskId),
      );
      for (const { info } of backend.rejected) t.like(info, { reason: 'invalid_id', retryAfterMs: undefined });
      t.deepEqual(
        backend.started.map((x) => x.taskId),
        goodTaskIds.map((x) => x.taskId),
        'the good ids started, unchanged',
      );
      t.deepEqual(
        backend.stopped.map((x) => [x.taskId, x.outcome.reason]),
        goodTaskIds.map((x) => [x.taskId, 'stopped']),
      );
      // Each stop kept its slot for a refill, which found nothing and released it.
      await waitFor(async () => (await s.inspect()).every((slot) => slot.status === 'idle'), 'every slot to be free again');
    },
  );

  test(title('keepalive, stop and cancel of an id outside the grammar throw TaskIdError, never a store error'), async (t) => {
    const h = await harness(t, kind);
    const s = h.scheduler({ A: new ClaimingBackend() });
    await s.load(slots(1, ['A']));
    for (const { label, taskId, problem } of [...badTaskIds, { label: 'empty', taskId: '', problem: /empty/ }]) {
      for (const [call, run] of [
        ['keepalive', () => s.keepalive(taskId)],
        ['stop', () => s.stop(taskId)],
        ['cancel', () => s.cancel(taskId)],
      ] as const) {
        const error = await t.throwsAsync(run(), { instanceOf: TaskIdError, code: 'ERR_TASK_ID' }, `${call} of an id with ${label}`);
        if (error) t.regex(error.message, problem);
      }
    }
    // The scheduler and its store still work.
    t.like(await s.keepalive('task-never-started'), { ok: false, reason: 'unknown' });
  });

  test(title('a polled id that another slot holds goes back as duplicate, with how long that occupancy lasts'), async (t) => {
    const h = await harness(t, kind);
    // A dead process's occupancy: started straight in the store, never renewed, capped at 20 s.
    const dead = await h.setup.createStore(h.name);
    t.teardown(() => dead.close());
    await dead.init(['1', '2']);
    const { reserved } = await dead.beginPass({
      slotIds: ['1'],
      owner: 'dead',
      leaseMs: 60_000,
      deliverable: [],
      retentionMs: 60_000,
      limit: 10,
    });
    const held = await dead.start({
      slotId: '1',
      token: reserved[0]!.token,
      taskId: 'held',
      backend: 'A',
      timeoutMs: 30_000,
      maxRuntimeMs: 20_000,
    });
    t.true(held.ok);

    const backend = new ClaimingBackend(['held']);
    const s = h.scheduler({ A: backend });
    await s.load(slots(2, ['A']));
    t.like(await s.schedule(), { started: 0, released: 1 });
    t.is(backend.rejected.length, 1);
    const [{ taskId, info }] = backend.rejected as [(typeof backend.rejected)[number]];
    t.is(taskId, 'held');
    t.like(info, { reason: 'duplicate', slotId: '2' });
    // The holder's cap ends first: 20 s from its start, less the little time since.
    t.true(info.retryAfterMs! > 15_000 && info.retryAfterMs! <= 20_000, `retryAfterMs ${info.retryAfterMs}`);
  });
}
