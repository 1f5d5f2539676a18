/**
 * Contract cases of `acquire` and its queue: a task the caller already holds takes a free slot in
 * one step, or waits first come first served; every way a slot turns idle (an end, a release, a
 * pass reaping or finding it idle, an acquire finding it idle) gives it to the first live waiter
 * that may take it, publishes `granted`, and answers that waiter's next acquire with its occupancy.
 * They check stores that have `acquire` (or whose factory sets `acquire`).
 */
import type { ExecutionContext, Macro, TestFn } from 'ava';
import { normalizeHistoryQuery } from '../contracts/history.js';
import type { AcquireRequest, AcquireResult, Occupancy, StoreEvent } from '../contracts/store.js';
import {
  backend,
  endRequest,
  must,
  ok,
  peersMacro,
  sleep,
  timing,
  type CaseBody,
  type Harness,
  type StoreFactory,
} from './store-suite-kit.js';

/** An acquire of `taskId` by `owner` over `slotIds`, long timeout, no runtime cap. */
function request(taskId: string, owner: string, slotIds: readonly string[], overrides: Partial<AcquireRequest> = {}): AcquireRequest {
  return {
    taskId,
    backend,
    owner,
    slots: slotIds.map((slotId) => ({ slotId, timeoutMs: timing.long, maxRuntimeMs: null })),
    ...overrides,
  };
}

function acquire(h: Harness, taskId: string, owner: string, slotIds: readonly string[], overrides: Partial<AcquireRequest> = {}) {
  must(h.store.acquire, `${h.store.kind} has no acquire()`);
  return h.store.acquire(request(taskId, owner, slotIds, overrides));
}

/** Waits in the queue with a long lease (or renews the wait). */
const waitLong = { wait: { leaseMs: timing.long } };

function granted(result: AcquireResult, what: string): Occupancy {
  return ok(result, what).occupancy;
}

function queued(t: ExecutionContext<unknown>, result: AcquireResult, position: number, what: string): void {
  t.like(result, { ok: false, reason: 'queued', position }, `${what}: ${JSON.stringify(result)}`);
}

/** A case of a store that has `acquire`; passes on a store without it, unless the factory says it has it. */
function acquiring(factory: StoreFactory, body: CaseBody): CaseBody {
  return async (t, h) => {
    if ((h.store.acquire && h.store.leaveQueue) || factory.acquire) await body(t, h);
    else t.pass(`${h.store.kind} has no acquire`);
  };
}

/** Collects the store's events from now on; stops at the end of the test. */
async function listen(t: ExecutionContext<unknown>, h: Harness): Promise<StoreEvent[] | null> {
  const events: StoreEvent[] = [];
  const off = await h.store.subscribe?.((event) => events.push(event));
  if (!off) return null;
  t.teardown(off);
  return events;
}

/** Waits (up to a few seconds) until `events` holds one matching `match`; false if it never came. */
async function heard(events: readonly StoreEvent[], match: (event: StoreEvent) => boolean): Promise<boolean> {
  for (let i = 0; i < 100; i++) {
    if (events.some(match)) return true;
    await sleep(20);
  }
  return false;
}

export function registerAcquireCases<C>(test: TestFn<C>, contract: Macro<[StoreFactory, CaseBody], C>, factory: StoreFactory): void {
  test(
    'acquire takes the first idle slot in the order asked, started under a fresh token',
    contract,
    factory,
    acquiring(factory, async (t, h) => {
      await h.init(['1', '2', '3']);
      const before = await h.run('2', 'running-in-2');
      const occupancy = granted(
        await acquire(h, 'task-a', 'A', ['2', '3', '1'], {
          slots: [
            { slotId: '2', timeoutMs: 5_000, maxRuntimeMs: null },
            { slotId: '3', timeoutMs: 7_000, maxRuntimeMs: 9_000 },
            { slotId: '1', timeoutMs: 5_000, maxRuntimeMs: null },
          ],
        }),
        'acquire',
      );
      t.like(occupancy, {
        slotId: '3',
        taskId: 'task-a',
        backend,
        owner: 'A',
        timeoutMs: 7_000,
        maxRuntimeMs: 9_000,
        cancelRequested: false,
      });
      t.true(occupancy.token > before.token, 'tokens keep growing');
      t.is(occupancy.lastKeepaliveAt, occupancy.startedAt);
      t.is(occupancy.deadline, occupancy.startedAt + 7_000, 'deadline by the store clock, with the limits of the slot taken');
      t.is(occupancy.maxDeadline, occupancy.startedAt + 9_000);
      t.like(await h.slot('3'), { status: 'running', owner: 'A', token: occupancy.token, occupancy });

      // An acquired occupancy is like any other: renewed, ended, its end kept.
      t.like(ok(await h.store.keepalive({ taskId: 'task-a', token: occupancy.token }), 'keepalive').occupancy, { slotId: '3' });
      t.like(ok(await h.end('task-a'), 'end').ended, { slotId: '3', token: occupancy.token, reason: 'stopped' });
      t.like(await h.slot('3'), { status: 'idle' });
      t.like(await h.store.keepalive({ taskId: 'task-a' }), { ok: false, reason: 'ended', token: occupancy.token });
    }),
  );

  test(
    'acquire without wait answers busy while no slot it lists is idle, and changes nothing',
    contract,
    factory,
    acquiring(factory, async (t, h) => {
      await h.init(['1', '2', '3']);
      await h.run('1', 'running-in-1');
      const { reserved } = await h.pass('P', ['2']);
      t.like(await acquire(h, 'task-a', 'A', ['1', '2', 'no-such-slot']), { ok: false, reason: 'busy' });
      t.like(await h.slot('2'), { status: 'reserved', owner: 'P', token: reserved[0]!.token }, 'a reserved slot is not taken');
      t.like(await h.store.keepalive({ taskId: 'task-a' }), { ok: false, reason: 'unknown' });
      t.like(await h.slot('3'), { status: 'idle' }, 'a slot not listed is not taken');
    }),
  );

  test(
    'a task id that holds a slot answers ok to its owner and duplicate to another',
    contract,
    factory,
    acquiring(factory, async (t, h) => {
      await h.init(['1', '2']);
      const occupancy = granted(await acquire(h, 'task-a', 'A', ['1', '2']), 'acquire');
      t.deepEqual(granted(await acquire(h, 'task-a', 'A', ['2'], waitLong), 'again by its owner'), occupancy);
      const other = await acquire(h, 'task-a', 'B', ['2'], waitLong);
      t.like(other, { ok: false, reason: 'duplicate', slotId: '1', expiresAt: occupancy.deadline });
      t.like(await h.slot('2'), { status: 'idle' }, 'neither took the other slot');

      // A task started by a pass is held the same way.
      const started = await h.run('2', 'task-p', {}, 'P');
      t.like(await acquire(h, 'task-p', 'A', ['1', '2']), { ok: false, reason: 'duplicate', slotId: '2', expiresAt: started.deadline });
    }),
  );

  test(
    'waiters queue in arrival order and an end grants the freed slot to the first',
    contract,
    factory,
    acquiring(factory, async (t, h) => {
      await h.init(['1']);
      const events = await listen(t, h);
      const holder = granted(await acquire(h, 'holder', 'H', ['1']), 'holder');
      queued(t, await acquire(h, 'w1', 'A', ['1'], waitLong), 1, 'w1');
      queued(t, await acquire(h, 'w2', 'B', ['1'], waitLong), 2, 'w2');
      queued(t, await acquire(h, 'w1', 'A', ['1'], waitLong), 1, 'w1 renewed keeps its place');
      t.like(await acquire(h, 'w3', 'C', ['1']), { ok: false, reason: 'busy' }, 'no jumping the queue without waiting');

      // A pass's refill asked to keep the slot: the waiter comes first, and no reservation is named.
      const next = { taskId: 'refill', backend, timeoutMs: timing.long, maxRuntimeMs: null };
      const end = ok(await h.end('holder', { reserve: { owner: 'H', leaseMs: timing.long }, next }), 'end of the holder');
      t.is(end.reserved, undefined, 'the slot went to the waiter, not back to the caller');
      t.is(end.next, undefined, "the caller's next task did not start");
      t.like(await h.store.keepalive({ taskId: 'refill' }), { ok: false, reason: 'unknown' });
      const slot = await h.slot('1');
      must(slot.occupancy, `slot 1 holds no occupancy after the end: ${JSON.stringify(slot)}`);
      t.like(slot, { status: 'running', owner: 'A', occupancy: { taskId: 'w1', owner: 'A', startedAt: end.ended.endedAt } });
      t.true(slot.token > holder.token);
      t.deepEqual(
        granted(await acquire(h, 'w1', 'A', ['1'], waitLong), 'w1 asks again'),
        slot.occupancy,
        'the grant answers its next acquire',
      );
      queued(t, await acquire(h, 'w2', 'B', ['1'], waitLong), 1, 'w2 is next');
      if (events) {
        t.true(
          await heard(events, (e) => e.type === 'granted' && e.taskId === 'w1' && e.token === slot.token && e.slotId === '1'),
          `granted event published: ${JSON.stringify(events)}`,
        );
      }
    }),
  );

  test(
    'a slot goes to the first waiter that lists it; the others keep their places',
    contract,
    factory,
    acquiring(factory, async (t, h) => {
      await h.init(['1', '2']);
      granted(await acquire(h, 'in-1', 'H', ['1']), 'in-1');
      granted(await acquire(h, 'in-2', 'H', ['2']), 'in-2');
      queued(t, await acquire(h, 'wants-1', 'A', ['1'], waitLong), 1, 'wants-1');
      queued(t, await acquire(h, 'wants-2', 'B', ['2'], waitLong), 2, 'wants-2');
      queued(t, await acquire(h, 'wants-any', 'C', ['2', '1'], waitLong), 3, 'wants-any');
      ok(await h.end('in-2'), 'end in 2');
      t.like(await h.slot('2'), { status: 'running', occupancy: { taskId: 'wants-2', owner: 'B' } });
      queued(t, await acquire(h, 'wants-1', 'A', ['1'], waitLong), 1, 'wants-1 still first');
      queued(t, await acquire(h, 'wants-any', 'C', ['2', '1'], waitLong), 2, 'wants-any second');
      ok(await h.end('in-1'), 'end in 1');
      t.like(await h.slot('1'), { status: 'running', occupancy: { taskId: 'wants-1' } });
    }),
  );

  test(
    'an end that keeps a slot no waiter lists starts its next task there, or refuses a duplicate, with waiters queued',
    contract,
    factory,
    acquiring(factory, async (t, h) => {
      await h.init(['1', '2', '3']);
      await h.run('1', 'task-a');
      await h.run('2', 'task-b');
      await h.run('3', 'task-c');
      queued(t, await acquire(h, 'wants-3', 'W', ['3'], waitLong), 1, 'wants-3');
      const keep = { owner: 'K', leaseMs: timing.long };
      const nextOf = (taskId: string) => ({ taskId, backend, timeoutMs: timing.long, maxRuntimeMs: null });
      const [a, b] = await h.endMany([
        endRequest('task-a', { reserve: keep, next: nextOf('task-d') }),
        endRequest('task-b', { reserve: keep, next: nextOf('task-c') }),
      ]);
      t.like(ok(a!, 'end of task-a').next, { ok: true, occupancy: { slotId: '1', taskId: 'task-d', owner: 'K' } });
      const refused = ok(b!, 'end of task-b');
      t.like(refused.next, { ok: false, reason: 'duplicate', slotId: '3' });
      t.like(await h.slot('2'), { status: 'reserved', owner: 'K', token: refused.reserved?.token });
      queued(t, await acquire(h, 'wants-3', 'W', ['3'], waitLong), 1, 'wants-3 still waits for slot 3');
      ok(await h.end('task-c'), 'end of task-c');
      t.like(await h.slot('3'), { status: 'running', occupancy: { taskId: 'wants-3', owner: 'W' } });
    }),
  );

  test(
    'a grant passes over a waiter whose task id holds a slot already',
    contract,
    factory,
    acquiring(factory, async (t, h) => {
      await h.init(['1', '2']);
      granted(await acquire(h, 'holder', 'H', ['1']), 'holder');
      queued(t, await acquire(h, 'twice', 'A', ['1'], waitLong), 1, 'twice');
      queued(t, await acquire(h, 'next', 'B', ['1'], waitLong), 2, 'next');
      // The waiting task id starts elsewhere, through a pass: a task id holds at most one slot.
      const started = await h.run('2', 'twice');
      ok(await h.end('holder'), 'end of the holder');
      t.like(await h.slot('1'), { status: 'running', occupancy: { taskId: 'next', owner: 'B' } });
      t.like(await h.slot('2'), { status: 'running', occupancy: { taskId: 'twice', token: started.token } });
      t.like(await acquire(h, 'twice', 'A', ['1'], waitLong), { ok: false, reason: 'duplicate', slotId: '2' });
    }),
  );

  test(
    'an idle slot goes to an earlier waiter before a new acquire takes it',
    contract,
    factory,
    acquiring(factory, async (t, h) => {
      await h.init(['1']);
      granted(await acquire(h, 'holder', 'H', ['1']), 'holder');
      queued(t, await acquire(h, 'early', 'A', ['1', 'later'], waitLong), 1, 'early, also listing a slot not made yet');
      // A slot made after the waiter queued turns up idle: the newcomer's acquire serves the queue first.
      await h.init(['later']);
      t.like(await acquire(h, 'newcomer', 'B', ['later']), { ok: false, reason: 'busy' });
      t.like(await h.slot('later'), { status: 'running', occupancy: { taskId: 'early', owner: 'A' } });
    }),
  );

  test(
    'release and a pass give idle slots to waiters before reserving them',
    contract,
    factory,
    acquiring(factory, async (t, h) => {
      await h.init(['1', '2']);
      const { reserved } = await h.pass('P', ['1', '2']);
      queued(t, await acquire(h, 'w1', 'A', ['1'], waitLong), 1, 'w1');
      queued(t, await acquire(h, 'w2', 'B', ['2'], waitLong), 2, 'w2');
      await h.store.release(reserved.filter((r) => r.slotId === '1'));
      t.like(await h.slot('1'), { status: 'running', occupancy: { taskId: 'w1' } }, 'a release grants');

      await h.store.release(reserved.filter((r) => r.slotId === '2'));
      t.like(await h.slot('2'), { status: 'running', occupancy: { taskId: 'w2' } });
      ok(await h.end('w2'), 'end w2');
      t.like(await h.slot('2'), { status: 'idle' }, 'no waiter left: idle');

      granted(await acquire(h, 'short', 'C', ['2'], { slots: [{ slotId: '2', timeoutMs: timing.short, maxRuntimeMs: null }] }), 'short');
      queued(t, await acquire(h, 'w3', 'D', ['2'], waitLong), 1, 'w3');
      await sleep(timing.wait);
      const pass = await h.pass('P', ['2']);
      t.deepEqual(
        pass.ended.map((e) => [e.taskId, e.reason]),
        [['short', 'timeout']],
      );
      t.deepEqual(pass.reserved, [], 'the reaped slot went to the waiter');
      t.like(await h.slot('2'), { status: 'running', occupancy: { taskId: 'w3', owner: 'D' } });
    }),
  );

  test(
    'a waiter whose entry lapsed is passed over, and queues anew at the end',
    contract,
    factory,
    acquiring(factory, async (t, h) => {
      await h.init(['1']);
      granted(await acquire(h, 'holder', 'H', ['1']), 'holder');
      const gone = await acquire(h, 'gone', 'A', ['1'], { wait: { leaseMs: timing.short } });
      queued(t, gone, 1, 'gone');
      const alive = await acquire(h, 'alive', 'B', ['1'], waitLong);
      // Behind `gone` while its entry lives, by the store's clock: a loaded machine may take longer
      // than its short lease between the two calls.
      const goneLives = !gone.ok && !alive.ok && alive.now < gone.now + timing.short;
      queued(t, alive, goneLives ? 2 : 1, 'alive');
      await sleep(timing.wait);
      queued(t, await acquire(h, 'alive', 'B', ['1'], waitLong), 1, 'a lapsed entry does not count');
      ok(await h.end('holder'), 'end');
      t.like(await h.slot('1'), { status: 'running', occupancy: { taskId: 'alive' } });
      queued(t, await acquire(h, 'gone', 'A', ['1'], waitLong), 1, 'back at the end of the queue');
    }),
  );

  test(
    'leaveQueue removes a waiter, or names the grant it did not hear of',
    contract,
    factory,
    acquiring(factory, async (t, h) => {
      must(h.store.leaveQueue, `${h.store.kind} has no leaveQueue()`);
      await h.init(['1']);
      granted(await acquire(h, 'holder', 'H', ['1']), 'holder');
      queued(t, await acquire(h, 'quits', 'A', ['1'], waitLong), 1, 'quits');
      queued(t, await acquire(h, 'stays', 'B', ['1'], waitLong), 2, 'stays');
      t.deepEqual(await h.store.leaveQueue({ taskId: 'quits', owner: 'other' }), { left: false, occupancy: null }, 'not its entry');
      t.deepEqual(await h.store.leaveQueue({ taskId: 'quits', owner: 'A' }), { left: true });
      t.deepEqual(await h.store.leaveQueue({ taskId: 'quits', owner: 'A' }), { left: false, occupancy: null }, 'gone already');
      queued(t, await acquire(h, 'stays', 'B', ['1'], waitLong), 1, 'stays moved up');
      ok(await h.end('holder'), 'end');
      const slot = await h.slot('1');
      t.deepEqual(await h.store.leaveQueue({ taskId: 'stays', owner: 'B' }), { left: false, occupancy: slot.occupancy });
    }),
  );

  test(
    'an acquired occupancy keeps its history, reserved when it started',
    contract,
    factory,
    acquiring(factory, async (t, h) => {
      if (!h.store.history) {
        t.pass(`${h.store.kind} keeps no history`);
        return;
      }
      await h.init(['1']);
      const occupancy = granted(await acquire(h, 'task-a', 'A', ['1'], { processLease: true }), 'acquire');
      const ended = ok(await h.end('task-a', { status: 'succeeded' }), 'end').ended;
      const [record] = await h.store.history(normalizeHistoryQuery({ taskId: 'task-a', limit: 10 }));
      t.like(record, {
        taskId: 'task-a',
        token: occupancy.token,
        owner: 'A',
        reservedAt: occupancy.startedAt,
        startedAt: occupancy.startedAt,
        endedAt: ended.endedAt,
        outcome: 'succeeded',
      });
    }),
  );

  test(
    'purge removes the queue',
    contract,
    factory,
    acquiring(factory, async (t, h) => {
      if (!h.store.purge) {
        t.pass(`${h.store.kind} cannot purge`);
        return;
      }
      await h.init(['1']);
      const { reserved } = await h.pass('P', ['1'], { leaseMs: timing.short });
      queued(t, await acquire(h, 'w', 'A', ['1'], waitLong), 1, 'w');
      await sleep(timing.wait);
      t.like(await h.store.purge({ force: false }), { purged: true, slots: 1 });
      await h.init(['1']);
      t.deepEqual(
        (await h.pass('P', ['1'])).reserved.map((r) => r.slotId),
        ['1'],
        'no waiter left to grant the idle slot to',
      );
      t.true(reserved.length === 1);
      queued(t, await acquire(h, 'w', 'A', ['1'], waitLong), 1, 'its owner queues anew');
    }),
  );
}

export function registerAcquirePeerCases<C>(test: TestFn<C>, factory: StoreFactory): void {
  if (!factory.createPeers) return;
  const peers = peersMacro(test);

  test(
    'a waiter of one process is granted a slot another process frees, and hears of it',
    peers,
    factory,
    ['a', 'a', 'b'],
    async (t, stores) => {
      const [a, b, other] = stores as [Harness, Harness, Harness];
      if (!a.store.acquire && !factory.acquire) {
        t.pass(`${a.store.kind} has no acquire`);
        return;
      }
      await Promise.all(stores.map((h) => h.init(['1'])));
      const eventsOfA = await listen(t, a);
      const eventsOfOther = await listen(t, other);
      granted(await acquire(b, 'holder', 'B', ['1']), 'holder through B');
      queued(t, await acquire(a, 'waiter', 'A', ['1'], waitLong), 1, 'waiter through A');
      granted(await acquire(other, 'waiter', 'X', ['1']), 'the same id under another name is its own');
      ok(await b.end('holder'), 'end through B');
      const occupancy = granted(await acquire(a, 'waiter', 'A', ['1'], waitLong), 'waiter asks again');
      if (eventsOfA) {
        t.true(
          await heard(eventsOfA, (e) => e.type === 'granted' && e.taskId === 'waiter' && e.token === occupancy.token),
          `A hears the grant: ${JSON.stringify(eventsOfA)}`,
        );
        await sleep(100);
        t.false(
          eventsOfOther!.some((e) => e.type === 'granted'),
          'another name hears nothing of it',
        );
      }
    },
  );
}
