/**
 * Contract cases of the delivery log: an ended record handed to a caller with a delivery lease
 * (`EndRequest.delivery`, `BeginPassRequest.deliveryLeaseMs`) stays leased to it until `acknowledge`
 * removes it, and once the lease lapses a pass of any caller with its backend takes it again,
 * marked `redelivered`. They check stores that have `acknowledge` (or whose factory sets
 * `deliveryLog`): a store without it keeps no log, and its callers deliver at most once (the other
 * cases check that it still behaves as before).
 */
import type { Macro, TestFn } from 'ava';
import type { DeliveryRef, EndedOccupancy } from '../contracts/store.js';
import { backend, must, ok, sleep, timing, type CaseBody, type Harness, type StoreFactory } from './store-suite-kit.js';
import { startAll } from './store-suite-timing.js';

/** The delivery-log key of a record: its task id and token. */
const refOf = (record: EndedOccupancy): DeliveryRef => ({ taskId: record.taskId, token: record.token });

/** `acknowledge`, which the cases of this file may rely on. */
function acknowledge(h: Harness, refs: readonly DeliveryRef[]): Promise<void> {
  must(h.store.acknowledge, `${h.store.kind} has no acknowledge()`);
  return h.store.acknowledge(refs);
}

/**
 * A case of a store that keeps a delivery log. On a store without `acknowledge` it passes, as there
 * is nothing to check, unless the factory says the store keeps one (`deliveryLog`).
 */
function logged(factory: StoreFactory, body: CaseBody): CaseBody {
  return async (t, h) => {
    if (h.store.acknowledge || factory.deliveryLog) await body(t, h);
    else t.pass(`${h.store.kind} keeps no delivery log`);
  };
}

/** A lease that stays for the whole case, and one that lapses within `timing.wait`. */
const held = { owner: 'A', leaseMs: timing.long };
const lapsing = { owner: 'A', leaseMs: timing.short };

export function registerDeliveryCases<C>(test: TestFn<C>, contract: Macro<[StoreFactory, CaseBody], C>, factory: StoreFactory): void {
  test(
    'a record leased by end is taken by no pass before its lease lapses, then once, redelivered, by a caller with its backend',
    contract,
    factory,
    logged(factory, async (t, h) => {
      await h.init(['1', '2']);
      await h.run('1', 'task-held');
      await h.run('2', 'task-lapsing');
      const first = ok(await h.end('task-held', { delivery: held }), 'end').ended;
      t.is(first.redelivered, undefined, 'a first delivery is not marked');
      t.deepEqual((await h.pass('B', [], { deliveryLeaseMs: timing.long })).ended, [], 'leased: not handed out');

      const lapsed = ok(await h.end('task-lapsing', { delivery: lapsing, status: 'succeeded' }), 'end').ended;
      await sleep(timing.wait);
      t.deepEqual(
        (await h.pass('B', [], { deliveryLeaseMs: timing.long, deliverable: ['x'] })).ended,
        [],
        'not to a caller without its backend',
      );
      t.deepEqual((await h.pass('B', [])).ended, [], 'not to a pass without a delivery lease');
      const again = (await h.pass('B', [], { deliveryLeaseMs: timing.long })).ended;
      t.deepEqual(again, [{ ...lapsed, redelivered: true }], 'the same record, same token, marked redelivered');
      t.deepEqual((await h.pass('C', [], { deliveryLeaseMs: timing.long })).ended, [], 'now leased to B');
    }),
  );

  test(
    'acknowledge removes delivered records, and only the ones it names',
    contract,
    factory,
    logged(factory, async (t, h) => {
      await h.init(['1', '2', '3']);
      const records: EndedOccupancy[] = [];
      for (const [slotId, taskId] of [
        ['1', 'task-1'],
        ['2', 'task-2'],
        ['3', 'task-3'],
      ] as const) {
        await h.run(slotId, taskId);
        records.push(ok(await h.end(taskId, { delivery: lapsing }), 'end').ended);
      }
      const [one, two, three] = records as [EndedOccupancy, EndedOccupancy, EndedOccupancy];
      await acknowledge(h, []);
      await acknowledge(h, [refOf(one), { taskId: 'task-2', token: two.token + 1000 }, { taskId: 'task-never', token: 1 }, refOf(three)]);
      await acknowledge(h, [refOf(one)]); // twice: ignored
      await sleep(timing.wait);
      t.deepEqual(
        (await h.pass('B', [], { deliveryLeaseMs: timing.long })).ended,
        [{ ...two, redelivered: true }],
        'only the unacknowledged one',
      );
      await acknowledge(h, [refOf(two)]);
      t.deepEqual((await h.pass('C', [], { deliveryLeaseMs: timing.long })).ended, []);
    }),
  );

  test(
    'an end removes the records it acknowledges, whether or not it acts, as acknowledge would',
    contract,
    factory,
    logged(factory, async (t, h) => {
      await h.init(['1', '2', '3', '4', '5']);
      const records: EndedOccupancy[] = [];
      for (const [slotId, taskId] of [
        ['1', 'task-1'],
        ['2', 'task-2'],
        ['3', 'task-3'],
        ['4', 'task-4'],
      ] as const) {
        await h.run(slotId, taskId);
        records.push(ok(await h.end(taskId, { delivery: lapsing }), 'end').ended);
      }
      const [one, two, three, four] = records as [EndedOccupancy, EndedOccupancy, EndedOccupancy, EndedOccupancy];
      await h.run('5', 'task-5');
      t.deepEqual(await h.end('task-never', { acknowledge: [refOf(one)] }), { ok: false, reason: 'unknown' }, 'an end that does not act');
      const [five] = await h.endMany([
        {
          taskId: 'task-5',
          reason: 'stopped',
          deliverable: [backend],
          delivery: lapsing,
          acknowledge: [refOf(two), { taskId: 'task-4', token: four.token + 1000 }],
        },
        { taskId: 'task-1', reason: 'stopped', deliverable: [backend], acknowledge: [refOf(three)] },
      ]);
      const ended = ok(five!, 'end of task-5').ended;
      await sleep(timing.wait);
      const again = (await h.pass('B', [], { deliveryLeaseMs: timing.long })).ended;
      t.deepEqual(
        again.map((r) => r.taskId).sort(),
        [four.taskId, ended.taskId],
        'only the records no end acknowledged: task-4 (under another token) and task-5, which the end logged',
      );
    }),
  );

  test(
    'reaped and outbox records a pass hands out are leased to it, not deleted',
    contract,
    factory,
    logged(factory, async (t, h) => {
      await h.init(['1', '2']);
      const { occupancies } = await startAll(
        h,
        ['1', '2'],
        [
          { taskId: 'task-x', backend: 'x' },
          { taskId: 'task-t', timeoutMs: timing.short },
        ],
      );
      // Undeliverable: to the outbox, whatever the delivery lease says.
      const queued = ok(await h.end('task-x', { delivery: held }), 'end');
      t.false(queued.delivered);
      await sleep(timing.wait);

      const handed = (await h.pass('A', [], { deliverable: [backend, 'x'], deliveryLeaseMs: timing.short })).ended;
      t.deepEqual(
        handed.map((r) => [r.taskId, r.reason, r.redelivered]),
        [
          ['task-t', 'timeout', undefined],
          ['task-x', 'stopped', undefined],
        ],
        'the reaped one, then the outbox entry',
      );
      t.is(handed[0]!.token, occupancies[1]!.token);
      await sleep(timing.wait);
      t.deepEqual((await h.pass('B', [], { deliverable: [backend, 'x'] })).ended, [], 'the outbox entry left the outbox');
      // Both fell due at once: in either order.
      const again = (await h.pass('B', [], { deliverable: [backend, 'x'], deliveryLeaseMs: timing.long })).ended;
      const byTask = (records: EndedOccupancy[]) => [...records].sort((x, y) => x.taskId.localeCompare(y.taskId));
      t.deepEqual(
        byTask(again),
        byTask(handed.map((r) => ({ ...r, redelivered: true }))),
        'both stayed in the log and come back once A lapsed',
      );
    }),
  );

  test(
    'lapsed deliveries are taken oldest due first, within the pass limit',
    contract,
    factory,
    logged(factory, async (t, h) => {
      await h.init(['1', '2', '3']);
      for (const [slotId, taskId] of [
        ['1', 'task-1'],
        ['2', 'task-2'],
        ['3', 'task-3'],
      ] as const) {
        await h.run(slotId, taskId);
        ok(await h.end(taskId, { delivery: lapsing }), 'end');
        await sleep(5); // the next end is due at a later millisecond of the store clock
      }
      await sleep(timing.wait);
      const taken: string[][] = [];
      for (let i = 0; i < 3; i++)
        taken.push((await h.pass('B', [], { deliveryLeaseMs: timing.long, limit: 2 })).ended.map((r) => r.taskId));
      t.deepEqual(taken, [['task-1', 'task-2'], ['task-3'], []]);
    }),
  );

  test(
    'without a delivery lease in the requests, ends and passes keep no log',
    contract,
    factory,
    logged(factory, async (t, h) => {
      await h.init(['1', '2']);
      await startAll(h, ['1', '2'], [{ taskId: 'task-s' }, { taskId: 'task-t', timeoutMs: timing.short }]);
      ok(await h.end('task-s'), 'end');
      await sleep(timing.wait);
      t.deepEqual(
        (await h.pass('A', [])).ended.map((r) => r.taskId),
        ['task-t'],
      );
      await sleep(timing.wait);
      t.deepEqual((await h.pass('B', [], { deliveryLeaseMs: timing.long })).ended, [], 'nothing was logged');
    }),
  );
}
