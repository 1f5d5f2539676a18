/**
 * The slot-store contract as an ava suite, for any `SlotStore`: the stores of this package run it
 * in `test/stores/store-contract.test.ts`, and users run it against their own:
 *
 * ```ts
 * import test from 'ava';
 * import { storeContractSuite } from 'task-semaphore/testing';
 * storeContractSuite(test, { name: 'mine', create: async (name) => ({ store: new MyStore(name), cleanup: async () => {} }) });
 * ```
 *
 * Every case gets a fresh store under a unique scheduler name and asserts what a scheduler relies
 * on: which slot is whose, which token acts, what each call answers, and that every occupancy ends
 * exactly once. Times are only compared with other times from the same store, never with this
 * process's clock, since Redis and PostgreSQL stamp with their own. This file holds the cases that
 * need no waiting; `store-suite-timing.ts` holds those that let deadlines, leases and retention
 * pass in real time, and the concurrent ones; `store-suite-ids.ts` those on task ids (their grammar,
 * and what a duplicate says of its holder); `store-suite-delivery.ts` those of the delivery log; `store-suite-history.ts` those of the
 * history and of purge;
 * `store-suite-peers.ts` those on several stores sharing one backing, when the factory can build
 * them (`createPeers`).
 */
import type { TestFn } from 'ava';
import { registerAcquireCases, registerAcquirePeerCases } from './store-suite-acquire.js';
import { registerDeliveryCases } from './store-suite-delivery.js';
import { registerHistoryCases } from './store-suite-history.js';
import { registerTaskIdCases } from './store-suite-ids.js';
import { registerPeerCases } from './store-suite-peers.js';
import { registerTimingCases } from './store-suite-timing.js';
import type { StoreEvent } from '../contracts/store.js';
import {
  assertDuplicate,
  backend,
  contractMacro,
  endRequest,
  identity,
  must,
  ok,
  sleep,
  startRequest,
  timing,
  type StoreFactory,
} from './store-suite-kit.js';

export type { StoreFactory } from './store-suite-kit.js';

/** Declares every case of the slot-store contract for the stores `factory` builds. */
export function storeContractSuite<C = unknown>(test: TestFn<C>, factory: StoreFactory): void {
  const contract = contractMacro(test);

  test('init is idempotent and inspect lists the slots sorted numerically', contract, factory, async (t, h) => {
    await h.init(['10', '2', '1', 'slot-10']);
    await h.init(['2', '3', '10', 'slot-9']);
    const states = await h.store.inspect();
    // compareSlotIds order: numbers as numbers, also inside names.
    t.deepEqual(
      states.map((s) => s.slotId),
      ['1', '2', '3', '10', 'slot-9', 'slot-10'],
    );
    for (const state of states) {
      t.deepEqual(state, {
        slotId: state.slotId,
        status: 'idle',
        token: 0,
        owner: null,
        leaseUntil: null,
        occupancy: null,
        overdue: false,
      });
    }

    // A second init must not reset slots in use.
    const running = await h.run('2', 'task-a');
    const { reserved } = await h.pass('other', ['3']);
    await h.init(['1', '2', '3', '10']);
    t.like(await h.slot('2'), { status: 'running', occupancy: running });
    t.like(await h.slot('3'), { status: 'reserved', owner: 'other', token: reserved[0]?.token });
    t.is((await h.store.inspect()).length, 6);
  });

  test(
    'beginPass with maxReserve reserves at most that many idle slots, first in slotIds order, and still lists the running ones',
    contract,
    factory,
    async (t, h) => {
      await h.init(['1', '2', '3', '4', '5']);
      const running = await h.run('2', 'task-2');
      const none = await h.pass('A', ['5', '2', '4', '3', '1'], { maxReserve: 0 });
      t.deepEqual(none.reserved, []);
      t.deepEqual(none.running, [running]);
      const two = await h.pass('A', ['5', '2', '4', '3', '1'], { maxReserve: 2 });
      t.deepEqual(
        two.reserved.map((r) => r.slotId),
        ['5', '4'],
      );
      t.deepEqual(two.running, [running]);
      t.deepEqual(
        (await h.store.inspect()).map((x) => [x.slotId, x.status]),
        [
          ['1', 'idle'],
          ['2', 'running'],
          ['3', 'idle'],
          ['4', 'reserved'],
          ['5', 'reserved'],
        ],
      );
      // Another scheduler finds the slots left idle.
      const other = await h.pass('B', ['1', '2', '3', '4', '5']);
      t.deepEqual(
        other.reserved.map((r) => r.slotId),
        ['1', '3'],
      );
    },
  );

  test('beginPass reserves the idle slots of slotIds in their order and returns the running ones', contract, factory, async (t, h) => {
    await h.init(['1', '2', '3', '4', '5']);
    const a = await h.pass('A', ['3', '1', '2']);
    t.deepEqual(
      a.reserved.map((r) => r.slotId),
      ['3', '1', '2'],
    );
    t.deepEqual(a.running, []);
    t.deepEqual(a.ended, []);
    t.is(a.expiredReservations, 0);
    for (const r of a.reserved) {
      t.deepEqual(await h.slot(r.slotId), {
        slotId: r.slotId,
        status: 'reserved',
        token: r.token,
        owner: 'A',
        leaseUntil: a.now + timing.long,
        occupancy: null,
        overdue: false,
      });
    }
    t.is((await h.slot('4')).status, 'idle', 'a slot outside slotIds is not reserved');

    const occupancy = ok(await h.start(a.reserved[0]!, 'task-3'), 'start').occupancy;
    // Another owner gets only the idle slots: not A's reservations, not the running one.
    const b = await h.pass('B', ['4', '3', '1', '5']);
    t.deepEqual(
      b.reserved.map((r) => r.slotId),
      ['4', '5'],
    );
    t.deepEqual(b.running, [occupancy]);
    // `running` covers only the caller's slotIds.
    const c = await h.pass('C', ['1', '2', '4', '5']);
    t.deepEqual(c.reserved, []);
    t.deepEqual(c.running, []);
    t.like(await h.slot('1'), { status: 'reserved', owner: 'A' });
  });

  test('tokens strictly grow across reservations and stay on the slot', contract, factory, async (t, h) => {
    await h.init(['1', '2']);
    let highest = 0;
    for (const [round, order] of [
      ['1', '2'],
      ['2', '1'],
      ['1', '2'],
      ['2', '1'],
    ].entries()) {
      const { reserved } = await h.pass(`owner-${round}`, order);
      t.is(reserved.length, 2, `round ${round} reserves both slots`);
      const tokens = reserved.map((r) => r.token);
      t.true(
        tokens.every((token) => Number.isSafeInteger(token) && token > highest),
        `round ${round}: ${tokens} > ${highest}`,
      );
      t.not(tokens[0], tokens[1]);
      highest = Math.max(...tokens);
      if (round % 2 === 1) {
        // A task keeps the token of its reservation, and the slot keeps it after the task ends.
        const occupancy = ok(await h.start(reserved[0]!, `task-${round}`), 'start').occupancy;
        t.is(occupancy.token, reserved[0]!.token);
        ok(await h.end(`task-${round}`), 'end');
        await h.store.release(reserved.slice(1));
      } else {
        await h.store.release(reserved);
      }
      for (const r of reserved) t.like(await h.slot(r.slotId), { status: 'idle', token: r.token, owner: null });
    }
  });

  test('start turns a live reservation into a running occupancy', contract, factory, async (t, h) => {
    await h.init(['1', '2']);
    const pass = await h.pass('A', ['1', '2']);
    const [first, second] = pass.reserved;
    must(first && second, 'both slots reserved');

    const capped = ok(await h.start(first, 'task-1', { timeoutMs: 5_000, maxRuntimeMs: 20_000, backend: 'other' }), 'start').occupancy;
    t.like(capped, {
      slotId: '1',
      token: first.token,
      taskId: 'task-1',
      backend: 'other',
      owner: 'A',
      timeoutMs: 5_000,
      maxRuntimeMs: 20_000,
      cancelRequested: false,
    });
    t.true(capped.startedAt >= pass.now, 'started after the pass began, on the store clock');
    t.is(capped.lastKeepaliveAt, capped.startedAt);
    t.is(capped.deadline, capped.startedAt + 5_000);
    t.is(capped.maxDeadline, capped.startedAt + 20_000);
    t.deepEqual(await h.slot('1'), {
      slotId: '1',
      status: 'running',
      token: first.token,
      owner: 'A',
      leaseUntil: null,
      occupancy: capped,
      overdue: false,
    });

    const uncapped = ok(await h.start(second, 'task-2', { timeoutMs: 7_000, maxRuntimeMs: null }), 'start').occupancy;
    t.is(uncapped.maxDeadline, null);
    t.is(uncapped.maxRuntimeMs, null);
    t.is(uncapped.deadline, uncapped.startedAt + 7_000);
  });

  test('start answers reservation_lost unless the token still reserves the slot', contract, factory, async (t, h) => {
    await h.init(['1', '2', '3']);
    const { reserved } = await h.pass('A', ['1', '2', '3']);
    const [one, two, three] = reserved;
    must(one && two && three, 'three slots reserved');
    const lost = { ok: false, reason: 'reservation_lost' };

    t.deepEqual(await h.start({ slotId: '1', token: one.token + 1000 }, 'task-x'), lost, 'a token never handed out');
    t.deepEqual(await h.start({ slotId: '1', token: two.token }, 'task-x'), lost, "another slot's token");
    t.deepEqual(await h.start({ slotId: 'no-such-slot', token: one.token }, 'task-x'), lost, 'a slot never initialised');

    await h.store.release([two]);
    t.deepEqual(await h.start(two, 'task-x'), lost, 'a released reservation');
    const again = (await h.pass('B', ['2'])).reserved[0];
    must(again, 'slot 2 reserved again');
    t.deepEqual(await h.start(two, 'task-x'), lost, 'an old token of a slot reserved again');

    ok(await h.start(three, 'task-3'), 'start');
    t.deepEqual(await h.start(three, 'task-x'), lost, 'a token whose task already started');

    // None of the refused starts changed anything.
    t.like(await h.slot('1'), { status: 'reserved', token: one.token, owner: 'A' });
    t.like(await h.slot('2'), { status: 'reserved', token: again.token, owner: 'B' });
    t.like(await h.slot('3'), { status: 'running', token: three.token, occupancy: { taskId: 'task-3' } });
    t.deepEqual(await h.store.keepalive({ taskId: 'task-x' }), { ok: false, reason: 'unknown' });
    ok(await h.start(one, 'task-1'), 'start with the live token');
  });

  test('start of a task id that already runs answers duplicate with the holder slot', contract, factory, async (t, h) => {
    await h.init(['1', '2', '3']);
    const { reserved } = await h.pass('A', ['1', '2', '3']);
    const [one, two, three] = reserved;
    must(one && two && three, 'three slots reserved');
    const holder = ok(await h.start(two, 'task-dup'), 'start').occupancy;

    assertDuplicate(t, await h.start(one, 'task-dup'), holder);
    assertDuplicate(t, await h.start(three, 'task-dup', { backend: 'elsewhere' }), holder, 'start for another backend');
    // The refused reservations are intact and take other tasks.
    t.like(await h.slot('1'), { status: 'reserved', token: one.token });
    ok(await h.start(one, 'task-other'), 'start of another task id');
    t.like(await h.slot('2'), { status: 'running', occupancy: holder });
    const running = (await h.store.inspect()).filter((s) => s.occupancy?.taskId === 'task-dup');
    t.is(running.length, 1, 'the task id occupies one slot');
  });

  test('release sets idle only the slots still reserved under the given tokens', contract, factory, async (t, h) => {
    await h.init(['1', '2', '3', '4']);
    const { reserved } = await h.pass('A', ['1', '2', '3', '4']);
    const [one, two, three, four] = reserved;
    must(one && two && three && four, 'four slots reserved');
    ok(await h.start(four, 'task-4'), 'start');

    await h.store.release([]);
    await h.store.release([
      one,
      { slotId: '2', token: two.token + 1000 },
      { slotId: '3', token: one.token },
      four,
      { slotId: 'no-such-slot', token: one.token },
    ]);
    t.deepEqual(await h.slot('1'), {
      slotId: '1',
      status: 'idle',
      token: one.token,
      owner: null,
      leaseUntil: null,
      occupancy: null,
      overdue: false,
    });
    t.like(await h.slot('2'), { status: 'reserved', token: two.token, owner: 'A' });
    t.like(await h.slot('3'), { status: 'reserved', token: three.token, owner: 'A' });
    t.like(await h.slot('4'), { status: 'running', occupancy: { taskId: 'task-4' } }, 'a running slot is not released');

    // Releasing twice, or after another owner reserved the slot again, leaves the new holder alone.
    const b = (await h.pass('B', ['1'])).reserved[0];
    must(b, 'slot 1 reserved again');
    await h.store.release([one]);
    t.like(await h.slot('1'), { status: 'reserved', token: b.token, owner: 'B' });
    ok(await h.start(b, 'task-b'), 'start under the new reservation');
  });

  test(
    'keepalive, end and requestCancel with the token of an ended occupancy answer how it ended, while the task runs again, and change nothing',
    contract,
    factory,
    async (t, h) => {
      await h.init(['1', '2']);
      const first = await h.run('1', 'task-s');
      ok(await h.end('task-s', { token: first.token }), 'end');
      const second = await h.run('2', 'task-s');
      t.true(second.token > first.token);

      const stale = { ok: false, reason: 'ended', slotId: '1', token: first.token, endReason: 'stopped' };
      t.deepEqual(await h.store.keepalive({ taskId: 'task-s', token: first.token }), stale);
      t.deepEqual(await h.store.requestCancel({ taskId: 'task-s', token: first.token }), stale);
      t.deepEqual(await h.end('task-s', { token: first.token }), stale);
      t.deepEqual(
        await h.store.keepalive({ taskId: 'task-s', token: second.token + 1000 }),
        { ok: false, reason: 'unknown' },
        'a token never handed out',
      );

      const state = await h.slot('2');
      t.like(state, { status: 'running', token: second.token });
      t.deepEqual(state.occupancy, second, 'the live occupancy is neither renewed, flagged nor ended');
      t.is((await h.slot('1')).status, 'idle');
      ok(await h.store.keepalive({ taskId: 'task-s', token: second.token }), 'keepalive with the live token');
    },
  );

  test(
    'the end of each occupancy of a task is kept: a token the store has no end of answers unknown, though the task ended since',
    contract,
    factory,
    async (t, h) => {
      await h.init(['1', '2']);
      const first = await h.run('1', 'task-s');
      ok(await h.end('task-s', { token: first.token, reason: 'start_failed' }), 'end the first');
      const second = await h.run('2', 'task-s');
      ok(await h.end('task-s', { token: second.token, status: 'cancelled' }), 'end the second');

      t.deepEqual(await h.store.keepalive({ taskId: 'task-s', token: first.token }), {
        ok: false,
        reason: 'ended',
        slotId: '1',
        token: first.token,
        endReason: 'start_failed',
      });
      t.deepEqual(await h.store.keepalive({ taskId: 'task-s', token: second.token }), {
        ok: false,
        reason: 'ended',
        slotId: '2',
        token: second.token,
        endReason: 'cancelled',
      });
      t.deepEqual(
        await h.store.requestCancel({ taskId: 'task-s' }),
        { ok: false, reason: 'ended', slotId: '2', token: second.token, endReason: 'cancelled' },
        'without a token: the last end',
      );
      // An occupancy the store never recorded (as after a loss of its state) is not taken for one
      // that ended: its holder must hear it was lost, since no other process will tell it.
      for (const token of [second.token + 1000, first.token - 1]) {
        t.deepEqual(await h.store.keepalive({ taskId: 'task-s', token }), { ok: false, reason: 'unknown' }, `keepalive ${token}`);
        t.deepEqual(await h.end('task-s', { token }), { ok: false, reason: 'unknown' }, `end ${token}`);
        t.deepEqual(await h.store.requestCancel({ taskId: 'task-s', token }), { ok: false, reason: 'unknown' }, `requestCancel ${token}`);
      }
    },
  );

  test('end frees the slot, returns the record once, and later calls answer ended', contract, factory, async (t, h) => {
    await h.init(['1']);
    const occupancy = await h.run('1', 'task-e');
    const result = ok(await h.end('task-e', { token: occupancy.token, status: 'succeeded' }), 'end');
    t.true(result.delivered);
    const { ended } = result;
    t.like(ended, { ...occupancy, reason: 'stopped', status: 'succeeded', error: null });
    t.true(ended.endedAt >= occupancy.startedAt);
    t.like(await h.slot('1'), { status: 'idle', owner: null, occupancy: null, overdue: false });

    const gone = { ok: false, reason: 'ended', slotId: '1', token: occupancy.token, endReason: 'stopped' };
    t.deepEqual(await h.store.keepalive({ taskId: 'task-e' }), gone);
    t.deepEqual(await h.store.keepalive({ taskId: 'task-e', token: occupancy.token }), gone);
    t.deepEqual(await h.end('task-e'), gone, 'a second end does not end it again');
    t.deepEqual(await h.store.requestCancel({ taskId: 'task-e' }), gone);
    t.deepEqual((await h.pass('next', ['1'])).ended, [], 'a delivered end is not handed out again');
  });

  test('end keeps the reason, status and error it is given', contract, factory, async (t, h) => {
    await h.init(['1', '2', '3']);
    const failed = await h.run('1', 'task-f');
    const removed = await h.run('2', 'task-r');
    const plain = await h.run('3', 'task-p');

    const f = ok(await h.end('task-f', { reason: 'start_failed', error: 'boom' }), 'end').ended;
    t.like(f, { slotId: '1', token: failed.token, reason: 'start_failed', status: null, error: 'boom' });
    const r = ok(await h.end('task-r', { reason: 'backend_removed', status: 'abandoned' }), 'end').ended;
    t.like(r, { slotId: '2', token: removed.token, reason: 'backend_removed', status: 'abandoned', error: null });
    const p = ok(await h.end('task-p', { status: 'failed', error: 'exit 3' }), 'end').ended;
    t.like(p, { slotId: '3', token: plain.token, reason: 'stopped', status: 'failed', error: 'exit 3' });

    t.like(await h.store.keepalive({ taskId: 'task-f' }), { ok: false, reason: 'ended', endReason: 'start_failed' });
    t.like(await h.store.keepalive({ taskId: 'task-r' }), { ok: false, reason: 'ended', endReason: 'backend_removed' });
    t.like(await h.store.keepalive({ taskId: 'task-p' }), { ok: false, reason: 'ended', endReason: 'stopped' });
  });

  test('requestCancel flags the occupancy once, keepalive reports it, and stop ends it as cancelled', contract, factory, async (t, h) => {
    await h.init(['1']);
    const occupancy = await h.run('1', 'task-c');
    const first = ok(await h.store.requestCancel({ taskId: 'task-c', token: occupancy.token }), 'requestCancel');
    t.false(first.alreadyRequested);
    t.deepEqual(first.occupancy, { ...occupancy, cancelRequested: true });
    const second = ok(await h.store.requestCancel({ taskId: 'task-c' }), 'second requestCancel');
    t.true(second.alreadyRequested);
    t.true(second.occupancy.cancelRequested);

    const alive = ok(await h.store.keepalive({ taskId: 'task-c', token: occupancy.token }), 'keepalive');
    t.true(alive.occupancy.cancelRequested);
    t.true((await h.slot('1')).occupancy?.cancelRequested);

    const ended = ok(await h.end('task-c', { status: 'succeeded' }), 'end').ended;
    t.like(ended, { reason: 'cancelled', status: 'succeeded', cancelRequested: true, token: occupancy.token });
    t.like(await h.store.keepalive({ taskId: 'task-c' }), { ok: false, reason: 'ended', endReason: 'cancelled' });
  });

  test('stop with status cancelled ends as cancelled; other reasons survive a cancel request', contract, factory, async (t, h) => {
    await h.init(['1', '2', '3']);
    await h.run('1', 'task-1');
    await h.run('2', 'task-2');
    await h.run('3', 'task-3');

    t.like(ok(await h.end('task-1', { status: 'cancelled' }), 'end').ended, {
      reason: 'cancelled',
      status: 'cancelled',
      cancelRequested: false,
    });
    ok(await h.store.requestCancel({ taskId: 'task-2' }), 'requestCancel');
    t.like(ok(await h.end('task-2', { reason: 'start_failed', error: 'boom' }), 'end').ended, { reason: 'start_failed', error: 'boom' });
    ok(await h.store.requestCancel({ taskId: 'task-3' }), 'requestCancel');
    t.like(ok(await h.end('task-3', { reason: 'backend_removed' }), 'end').ended, { reason: 'backend_removed' });
  });

  test('an ended task id starts again in another slot and calls then act on the new occupancy', contract, factory, async (t, h) => {
    await h.init(['1', '2']);
    const first = await h.run('1', 'task-again');
    ok(await h.store.requestCancel({ taskId: 'task-again' }), 'requestCancel of the first occupancy');
    t.is(ok(await h.end('task-again'), 'end').ended.reason, 'cancelled');
    const second = await h.run('2', 'task-again', { backend: 'b', timeoutMs: 9_000 }, 'other-owner');
    t.like(second, { slotId: '2', taskId: 'task-again', owner: 'other-owner', timeoutMs: 9_000, cancelRequested: false });
    t.true(second.token > first.token);

    const alive = ok(await h.store.keepalive({ taskId: 'task-again' }), 'keepalive without token');
    t.deepEqual(identity(alive.occupancy), identity(second));
    t.is(alive.occupancy.deadline, alive.occupancy.lastKeepaliveAt + 9_000);
    t.false(ok(await h.store.requestCancel({ taskId: 'task-again', token: second.token }), 'requestCancel').alreadyRequested);
    const ended = ok(await h.end('task-again', { token: second.token }), 'end').ended;
    t.like(ended, { slotId: '2', token: second.token, reason: 'cancelled' });
    t.like(await h.store.keepalive({ taskId: 'task-again' }), {
      ok: false,
      reason: 'ended',
      slotId: '2',
      token: second.token,
      endReason: 'cancelled',
    });
  });

  test('a task id the store never saw answers unknown', contract, factory, async (t, h) => {
    await h.init(['1']);
    await h.run('1', 'task-known');
    const unknown = { ok: false, reason: 'unknown' };
    t.deepEqual(await h.store.keepalive({ taskId: 'task-never' }), unknown);
    t.deepEqual(await h.store.keepalive({ taskId: 'task-never', token: 1 }), unknown);
    t.deepEqual(await h.end('task-never'), unknown);
    t.deepEqual(await h.store.requestCancel({ taskId: 'task-never' }), unknown);
  });

  test('ends the caller cannot deliver go to the outbox and are handed out once, to a caller that can', contract, factory, async (t, h) => {
    await h.init(['1', '2', '3']);
    await h.run('1', 'task-x', { backend: 'x' });
    await h.run('2', 'task-y', { backend: 'y' });
    await h.run('3', 'task-b');

    const x = ok(await h.end('task-x', { deliverable: [backend, 'y'], status: 'succeeded' }), 'end');
    t.false(x.delivered);
    t.like(x.ended, { taskId: 'task-x', backend: 'x', reason: 'stopped', status: 'succeeded' });
    t.is((await h.slot('1')).status, 'idle', 'an undelivered end still frees the slot');
    const y = ok(await h.end('task-y', { deliverable: ['y'] }), 'end');
    t.true(y.delivered);
    t.true(ok(await h.end('task-b', { deliverable: ['x', backend] }), 'end').delivered);

    t.deepEqual((await h.pass('no-x', [], { deliverable: [backend, 'y'] })).ended, [], 'not handed to a caller without backend x');
    t.deepEqual((await h.pass('nothing', [], { deliverable: [] })).ended, []);
    t.deepEqual((await h.pass('has-x', ['1'], { deliverable: ['x'] })).ended, [x.ended], 'handed to the next caller with x');
    t.deepEqual((await h.pass('has-x-too', [], { deliverable: ['x', 'y', backend] })).ended, [], 'exactly once');
  });

  test('end with reserve keeps the slot reserved for the caller under a fresh token', contract, factory, async (t, h) => {
    await h.init(['1', '2', '3']);
    const occupancy = await h.run('1', 'task-k');
    const before = (await h.pass('A', ['2'])).reserved[0];
    must(before, 'slot 2 reserved');

    const result = ok(await h.end('task-k', { status: 'succeeded', reserve: { owner: 'K', leaseMs: timing.long } }), 'end with reserve');
    t.true(result.delivered);
    t.like(result.ended, { ...occupancy, reason: 'stopped', status: 'succeeded', error: null });
    const kept = result.reserved;
    must(kept, `end with reserve names the reservation: ${JSON.stringify(result)}`);
    t.is(kept.slotId, '1');
    t.true(Number.isSafeInteger(kept.token), `token ${kept.token} is an integer`);
    t.true(kept.token > occupancy.token, 'fresher than the ended occupancy');
    t.true(kept.token > before.token, "from beginPass's counter: after every token handed out before");
    t.deepEqual(await h.slot('1'), {
      slotId: '1',
      status: 'reserved',
      token: kept.token,
      owner: 'K',
      leaseUntil: result.ended.endedAt + timing.long,
      occupancy: null,
      overdue: false,
    });

    // While the lease holds, no pass takes the kept slot; the counter goes on from its token.
    const other = await h.pass('B', ['1', '3']);
    t.deepEqual(
      other.reserved.map((r) => r.slotId),
      ['3'],
    );
    t.true(other.reserved[0]!.token > kept.token);
    t.like(await h.slot('1'), { status: 'reserved', owner: 'K', token: kept.token });
  });

  test('a slot kept by end with reserve starts a task, is kept again, and release sets it idle', contract, factory, async (t, h) => {
    await h.init(['1']);
    const first = await h.run('1', 'task-1');
    const kept = ok(await h.end('task-1', { reserve: { owner: 'K', leaseMs: timing.long } }), 'end').reserved;
    must(kept, 'slot 1 kept');
    t.deepEqual(
      await h.start({ slotId: '1', token: first.token }, 'task-x'),
      { ok: false, reason: 'reservation_lost' },
      "the ended occupancy's token",
    );

    const second = ok(await h.start(kept, 'task-2', { timeoutMs: 9_000 }), 'start in the kept slot').occupancy;
    t.like(second, { slotId: '1', token: kept.token, taskId: 'task-2', owner: 'K', timeoutMs: 9_000, cancelRequested: false });
    t.like(await h.slot('1'), { status: 'running', token: kept.token, owner: 'K', leaseUntil: null, occupancy: second });
    ok(await h.store.keepalive({ taskId: 'task-2', token: kept.token }), 'keepalive of the new task');

    // Kept again, this time with notify set too; then given back.
    const again = ok(
      await h.end('task-2', { token: kept.token, notify: true, reserve: { owner: 'K2', leaseMs: timing.long } }),
      'end',
    ).reserved;
    must(again, 'slot 1 kept again');
    t.true(again.token > kept.token);
    t.like(await h.slot('1'), { status: 'reserved', owner: 'K2', token: again.token });
    await h.store.release([kept]);
    t.like(await h.slot('1'), { status: 'reserved', owner: 'K2', token: again.token }, 'a stale release leaves it alone');
    await h.store.release([again]);
    t.deepEqual(await h.slot('1'), {
      slotId: '1',
      status: 'idle',
      token: again.token,
      owner: null,
      leaseUntil: null,
      occupancy: null,
      overdue: false,
    });
    t.deepEqual(await h.start(again, 'task-x'), { ok: false, reason: 'reservation_lost' });
    t.deepEqual(
      (await h.pass('B', ['1'])).reserved.map((r) => r.slotId),
      ['1'],
      'a released slot is reserved by the next pass',
    );
  });

  test('end with reserve and next starts the next task in the kept slot, as start would', contract, factory, async (t, h) => {
    await h.init(['1', '2']);
    const first = await h.run('1', 'task-1');
    const next = { taskId: 'task-2', backend, timeoutMs: 9_000, maxRuntimeMs: 20_000, processLease: true };
    const result = ok(await h.end('task-1', { status: 'succeeded', reserve: { owner: 'K', leaseMs: timing.long }, next }), 'end');
    t.like(result.ended, { ...first, reason: 'stopped', status: 'succeeded' });
    const kept = result.reserved;
    must(kept, `end with reserve names the reservation: ${JSON.stringify(result)}`);
    t.true(kept.token > first.token);
    const started = ok(result.next ?? { ok: false }, `next started: ${JSON.stringify(result)}`).occupancy;
    // Started with the end, or just after it where the store sends the start on its own.
    const at = started.startedAt;
    t.true(at >= result.ended.endedAt, `started at ${at}, ended at ${result.ended.endedAt}`);
    t.deepEqual(started, {
      slotId: '1',
      token: kept.token,
      taskId: 'task-2',
      backend,
      owner: 'K',
      startedAt: at,
      lastKeepaliveAt: at,
      deadline: at + 9_000,
      maxDeadline: at + 20_000,
      timeoutMs: 9_000,
      maxRuntimeMs: 20_000,
      cancelRequested: false,
    });
    t.like(await h.slot('1'), { status: 'running', token: kept.token, owner: 'K', leaseUntil: null, occupancy: started });
    t.deepEqual(await h.start(kept, 'task-x'), { ok: false, reason: 'reservation_lost' }, 'the reservation was used by next');
    t.like(await h.store.keepalive({ taskId: 'task-2' }), { ok: true, occupancy: { token: kept.token } });
    t.like(ok(await h.end('task-2'), 'end of the next task').ended, { slotId: '1', token: kept.token, reason: 'stopped' });
    t.like(await h.slot('1'), { status: 'idle' });
  });

  test(
    'a next task that holds a slot already is refused as a duplicate, and the kept slot stays reserved',
    contract,
    factory,
    async (t, h) => {
      await h.init(['1', '2']);
      await h.run('1', 'task-1');
      const elsewhere = await h.run('2', 'task-2');
      const next = { taskId: 'task-2', backend, timeoutMs: 9_000, maxRuntimeMs: null };
      const result = ok(await h.end('task-1', { reserve: { owner: 'K', leaseMs: timing.long }, next }), 'end');
      const kept = result.reserved;
      must(kept, 'slot 1 kept');
      const refused = result.next;
      must(refused && !refused.ok && refused.reason === 'duplicate', `next refused as a duplicate: ${JSON.stringify(result)}`);
      t.is(refused.slotId, '2');
      t.is(refused.expiresAt, elsewhere.deadline);
      t.true(refused.now >= result.ended.endedAt);
      t.like(await h.slot('1'), { status: 'reserved', owner: 'K', token: kept.token, occupancy: null });
      t.like(await h.slot('2'), { status: 'running', occupancy: elsewhere });
      t.like(await h.start(kept, 'task-3'), { ok: true, occupancy: { slotId: '1', token: kept.token, taskId: 'task-3' } });
    },
  );

  test('in endMany, each next task is looked at right after its own end, before the next request acts', contract, factory, async (t, h) => {
    await h.init(['1', '2']);
    await h.run('1', 'task-a');
    await h.run('2', 'task-b');
    const keep = { owner: 'K', leaseMs: timing.long };
    const nextOf = (taskId: string) => ({ taskId, backend, timeoutMs: 9_000, maxRuntimeMs: null });
    // task-a's next is task-b, which the second request ends only afterwards.
    const [first, second] = await h.endMany([
      endRequest('task-a', { reserve: keep, next: nextOf('task-b') }),
      endRequest('task-b', { reserve: keep, next: nextOf('task-c') }),
    ]);
    const a = ok(first!, 'end of task-a');
    must(a.reserved && a.next && !a.next.ok, `task-b still ran in slot 2 when task-a ended: ${JSON.stringify(a)}`);
    t.like(a.next, { reason: 'duplicate', slotId: '2' });
    t.like(ok(second!, 'end of task-b').next, { ok: true, occupancy: { slotId: '2', taskId: 'task-c' } });
    t.like(await h.slot('1'), { status: 'reserved', owner: 'K', token: a.reserved.token, occupancy: null });
  });

  test('an end that does not act starts no next task', contract, factory, async (t, h) => {
    await h.init(['1']);
    await h.run('1', 'task-1');
    ok(await h.end('task-1'), 'end');
    const next = { taskId: 'task-2', backend, timeoutMs: 9_000, maxRuntimeMs: null };
    const again = await h.end('task-1', { reserve: { owner: 'K', leaseMs: timing.long }, next });
    t.like(again, { ok: false, reason: 'ended' });
    t.like(await h.slot('1'), { status: 'idle', occupancy: null });
    t.like(await h.store.keepalive({ taskId: 'task-2' }), { ok: false, reason: 'unknown' }, 'task-2 never started');
  });

  test('end with reserve still queues an undeliverable record and keeps the tombstone', contract, factory, async (t, h) => {
    await h.init(['1']);
    const occupancy = await h.run('1', 'task-x', { backend: 'x' });
    const result = ok(await h.end('task-x', { status: 'failed', reserve: { owner: 'K', leaseMs: timing.long } }), 'end');
    t.false(result.delivered);
    must(result.reserved, 'slot 1 kept');
    t.like(await h.slot('1'), { status: 'reserved', owner: 'K', token: result.reserved.token });

    const gone = { ok: false, reason: 'ended', slotId: '1', token: occupancy.token, endReason: 'stopped' };
    t.deepEqual(await h.store.keepalive({ taskId: 'task-x' }), gone);
    t.deepEqual(await h.store.requestCancel({ taskId: 'task-x', token: occupancy.token }), gone);
    t.deepEqual(await h.end('task-x', { reserve: { owner: 'K', leaseMs: timing.long } }), gone, 'ends once');
    t.deepEqual((await h.pass('has-x', [], { deliverable: ['x'] })).ended, [result.ended], 'handed to a caller with x');
    t.deepEqual((await h.pass('has-x', [], { deliverable: ['x'] })).ended, [], 'exactly once');
    t.like(await h.slot('1'), { status: 'reserved', owner: 'K', token: result.reserved.token }, 'passes leave the kept slot alone');
  });

  test('an end that does not act reserves nothing and changes nothing', contract, factory, async (t, h) => {
    await h.init(['1', '2', '3']);
    const first = await h.run('1', 'task-s');
    ok(await h.end('task-s'), 'end');
    const second = await h.run('2', 'task-s');
    const { reserved } = await h.pass('A', ['3']);
    must(reserved.length === 1, 'slot 3 reserved');
    const before = await h.store.inspect();
    const reserve = { owner: 'K', leaseMs: timing.long };

    t.deepEqual(await h.end('task-never', { reserve }), { ok: false, reason: 'unknown' });
    t.deepEqual(await h.end('task-s', { token: first.token, reserve }), {
      ok: false,
      reason: 'ended',
      slotId: '1',
      token: first.token,
      endReason: 'stopped',
    });
    t.deepEqual(await h.store.inspect(), before, 'ends that do not act change no slot');

    ok(await h.end('task-s', { token: second.token }), 'end without reserve');
    const idle = await h.store.inspect();
    t.like(await h.end('task-s', { reserve, notify: true }), { ok: false, reason: 'ended', slotId: '2', token: second.token });
    t.deepEqual(await h.store.inspect(), idle, 'an end of an ended task keeps nothing');
    t.like(await h.slot('2'), { status: 'idle', token: second.token, owner: null });
    t.deepEqual(
      (await h.pass('B', ['2'])).reserved.map((r) => r.slotId),
      ['2'],
      'the slot is free for the next pass',
    );
  });

  // A store without startMany or endMany runs these cases one request after the other (the
  // scheduler's fallback), so the memory store, the reference, shows what a batch must answer.
  test('startMany acts on each start in order, as start would alone', contract, factory, async (t, h) => {
    await h.init(['1', '2', '3', '4', '5']);
    const pass = await h.pass('A', ['1', '2', '3', '4', '5']);
    const [one, two, three, four, five] = pass.reserved;
    must(one && two && three && four && five, 'five slots reserved');
    await h.store.release([four]);
    const fourAgain = (await h.pass('B', ['4'])).reserved[0];
    must(fourAgain, 'slot 4 reserved again');
    const before = await h.store.inspect();
    t.deepEqual(await h.startMany([]), [], 'no requests, no results');
    t.deepEqual(await h.store.inspect(), before, 'and no change');

    const results = await h.startMany([
      startRequest(one, 'task-1', { backend: 'x', timeoutMs: 5_000, maxRuntimeMs: 20_000 }),
      startRequest(two, 'task-2'),
      startRequest(three, 'task-1'),
      startRequest(four, 'task-4'),
      startRequest(two, 'task-x'),
      startRequest(five, 'task-5', { timeoutMs: 7_000 }),
    ]);
    t.is(results.length, 6, 'one result per request');
    const first = ok(results[0]!, 'start of task-1').occupancy;
    t.like(first, { slotId: '1', token: one.token, taskId: 'task-1', backend: 'x', owner: 'A', timeoutMs: 5_000, maxRuntimeMs: 20_000 });
    t.true(first.startedAt >= pass.now, 'started after the pass began, on the store clock');
    t.is(first.deadline, first.startedAt + 5_000);
    t.is(first.maxDeadline, first.startedAt + 20_000);
    const second = ok(results[1]!, 'start of task-2').occupancy;
    t.like(second, { slotId: '2', token: two.token, taskId: 'task-2', backend, owner: 'A', maxDeadline: null });
    assertDuplicate(t, results[2]!, first, 'a task id started by an earlier request of the call');
    t.deepEqual(results[3], { ok: false, reason: 'reservation_lost' }, 'a stale token');
    t.deepEqual(results[4], { ok: false, reason: 'reservation_lost' }, 'a token whose task an earlier request started');
    const fifth = ok(results[5]!, 'start of task-5').occupancy;
    t.like(fifth, { slotId: '5', token: five.token, taskId: 'task-5', timeoutMs: 7_000 });
    t.is(fifth.deadline, fifth.startedAt + 7_000);

    // Each started request holds its own slot under its own token; the refused ones changed nothing.
    for (const occupancy of [first, second, fifth]) {
      t.deepEqual(await h.slot(occupancy.slotId), {
        slotId: occupancy.slotId,
        status: 'running',
        token: occupancy.token,
        owner: 'A',
        leaseUntil: null,
        occupancy,
        overdue: false,
      });
    }
    t.like(await h.slot('3'), { status: 'reserved', token: three.token, owner: 'A' });
    t.like(await h.slot('4'), { status: 'reserved', token: fourAgain.token, owner: 'B' });
    t.deepEqual(ok(await h.store.keepalive({ taskId: 'task-1', token: one.token }), 'keepalive').occupancy.slotId, '1');
    t.deepEqual(await h.store.keepalive({ taskId: 'task-4' }), { ok: false, reason: 'unknown' });
    t.deepEqual(await h.store.keepalive({ taskId: 'task-x' }), { ok: false, reason: 'unknown' });
    ok(await h.start(three, 'task-3'), 'start under the reservation a duplicate left alone');
  });

  test('endMany acts on each end in order, as end would alone', contract, factory, async (t, h) => {
    await h.init(['1', '2', '3', '4', '5']);
    const one = await h.run('1', 'task-1');
    const two = await h.run('2', 'task-2');
    const three = await h.run('3', 'task-3', { backend: 'x' });
    const four = await h.run('4', 'task-4');
    ok(await h.store.requestCancel({ taskId: 'task-4' }), 'requestCancel');
    const events: StoreEvent[] = [];
    const unsubscribe = await h.store.subscribe?.((event) => events.push(event));
    if (unsubscribe) t.teardown(unsubscribe);
    const before = await h.store.inspect();
    t.deepEqual(await h.endMany([]), [], 'no requests, no results');
    t.deepEqual(await h.store.inspect(), before, 'and no change');

    const reserve = { owner: 'K', leaseMs: timing.long };
    const results = await h.endMany([
      endRequest('task-1', { status: 'succeeded', reserve }),
      endRequest('task-never'),
      endRequest('task-3', { status: 'failed', error: 'exit 3' }),
      endRequest('task-2', { token: two.token, reserve, notify: true }),
      endRequest('task-4', { notify: true }),
      endRequest('task-1', { reserve }),
    ]);
    t.is(results.length, 6, 'one result per request');
    const r1 = ok(results[0]!, 'end of task-1');
    t.like(r1, { delivered: true, ended: { ...one, reason: 'stopped', status: 'succeeded', error: null } });
    t.deepEqual(results[1], { ok: false, reason: 'unknown' });
    const r3 = ok(results[2]!, 'end of task-3');
    t.like(r3, { delivered: false, ended: { ...three, reason: 'stopped', status: 'failed', error: 'exit 3' } });
    t.is(r3.reserved, undefined, 'nothing kept without reserve');
    const r2 = ok(results[3]!, 'end of task-2');
    t.like(r2, { delivered: true, ended: { ...two, reason: 'stopped' } });
    const r4 = ok(results[4]!, 'end of task-4');
    t.like(r4, { delivered: true, ended: { ...four, reason: 'cancelled', cancelRequested: true } });
    t.is(r4.reserved, undefined);
    t.deepEqual(
      results[5],
      { ok: false, reason: 'ended', slotId: '1', token: one.token, endReason: 'stopped' },
      'an end an earlier request of the call did',
    );

    // Kept slots are reserved under fresh tokens, taken in request order; the others are idle.
    const [kept1, kept2] = [r1.reserved, r2.reserved];
    must(kept1 && kept2, `ends with reserve name their reservations: ${JSON.stringify(results)}`);
    t.deepEqual([kept1.slotId, kept2.slotId], ['1', '2']);
    t.true(four.token < kept1.token && kept1.token < kept2.token, 'fresh tokens, in request order');
    for (const [kept, { ended }] of [
      [kept1, r1],
      [kept2, r2],
    ] as const) {
      t.like(await h.slot(kept.slotId), {
        status: 'reserved',
        token: kept.token,
        owner: 'K',
        leaseUntil: ended.endedAt + timing.long,
        occupancy: null,
      });
    }
    for (const slotId of ['3', '4', '5']) t.like(await h.slot(slotId), { status: 'idle', owner: null, occupancy: null });

    if (unsubscribe) {
      // Only the end with notify that frees its slot publishes (task-2's keeps it). Events arrive in
      // the order they were published: once slot 4's is here, any earlier one would be too.
      const freed = () => events.filter((e) => e.type === 'freed');
      for (const until = Date.now() + 10_000; !freed().some((e) => e.slotId === '4'); await sleep(10)) {
        must(Date.now() < until, `no freed event of slot 4 within 10 s: ${JSON.stringify(events)}`);
      }
      t.deepEqual(freed(), [{ type: 'freed', slotId: '4' }]);
    }

    // The undeliverable record went to the outbox; tombstones answer ended.
    t.deepEqual((await h.pass('no-x', [], { deliverable: [backend] })).ended, []);
    t.deepEqual((await h.pass('has-x', [], { deliverable: ['x'] })).ended, [r3.ended], 'handed to a caller with x');
    t.deepEqual((await h.pass('has-x', [], { deliverable: ['x'] })).ended, [], 'exactly once');
    const gone = (ended: typeof one, endReason: string) => ({
      ok: false,
      reason: 'ended',
      slotId: ended.slotId,
      token: ended.token,
      endReason,
    });
    t.deepEqual(await h.endMany([endRequest('task-2'), endRequest('task-3', { reserve }), endRequest('task-4')]), [
      gone(two, 'stopped'),
      gone(three, 'stopped'),
      gone(four, 'cancelled'),
    ]);
    t.deepEqual(await h.store.keepalive({ taskId: 'task-1' }), gone(one, 'stopped'));
    t.like(await h.slot('2'), { status: 'reserved', token: kept2.token, owner: 'K' }, 'an end that did not act kept nothing');
    t.like(await h.slot('3'), { status: 'idle' });
    ok(await h.start(kept1, 'task-6'), 'start in a kept slot');
  });

  registerTimingCases(test, contract, factory);
  registerTaskIdCases(test, contract, factory);
  registerDeliveryCases(test, contract, factory);
  registerHistoryCases(test, contract, factory);
  registerPeerCases(test, factory);
  registerAcquireCases(test, contract, factory);
  registerAcquirePeerCases(test, factory);
}
