/**
 * Contract cases on several stores sharing one backing, declared only when the factory has
 * `createPeers`: stores of one scheduler name must behave as one store (they stand for schedulers
 * in many processes), and scheduler names sharing a server, schema or key prefix must never see
 * each other's slots, task ids, outbox or records.
 */
import type { TestFn } from 'ava';
import { compareSlotIds, type StartResult, type StoreEvent } from '../contracts/store.js';
import {
  assertDuplicate,
  endedTaskIds,
  identity,
  must,
  ok,
  peersMacro,
  sleep,
  timing,
  type Harness,
  type StoreFactory,
} from './store-suite-kit.js';

/** `slotIds` starting at index `i`, wrapping: each owner lists the slots in its own order. */
function rotate<T>(items: readonly T[], i: number): T[] {
  const k = i % items.length;
  return [...items.slice(k), ...items.slice(0, k)];
}

export function registerPeerCases<C>(test: TestFn<C>, factory: StoreFactory): void {
  if (!factory.createPeers) return;
  const peers = peersMacro(test);

  test('stores of one scheduler name share slots, tokens, task ids and the outbox', peers, factory, ['a', 'a', 'a'], async (t, stores) => {
    const [a, b, c] = stores as [Harness, Harness, Harness];
    // Several processes starting at once on a fresh backing all initialise it.
    await Promise.all(stores.map((h) => h.init(['1', '2', '3'])));
    t.deepEqual(
      (await b.store.inspect()).map((s) => s.slotId),
      ['1', '2', '3'],
    );

    const pa = await a.pass('A', ['1', '2']);
    const pb = await b.pass('B', ['1', '2', '3']);
    t.deepEqual(
      pb.reserved.map((r) => r.slotId),
      ['3'],
      'B gets only the slot A did not reserve',
    );
    t.true(pb.reserved[0]!.token > Math.max(...pa.reserved.map((r) => r.token)), 'one token counter');
    t.like(await c.slot('1'), { status: 'reserved', owner: 'A', token: pa.reserved[0]!.token });

    const occupancy = ok(await a.start(pa.reserved[0]!, 'task-1'), 'start').occupancy;
    assertDuplicate(t, await b.start(pb.reserved[0]!, 'task-1'), occupancy, 'start through B');
    t.deepEqual(ok(await c.store.keepalive({ taskId: 'task-1', token: occupancy.token }), 'keepalive through C').occupancy.slotId, '1');
    t.false(ok(await b.store.requestCancel({ taskId: 'task-1' }), 'requestCancel through B').alreadyRequested);
    t.true(ok(await c.store.requestCancel({ taskId: 'task-1' }), 'requestCancel through C').alreadyRequested);

    const ended = ok(await c.end('task-1', { deliverable: [] }), 'end through C');
    t.false(ended.delivered);
    t.like(ended.ended, { ...identity(occupancy), reason: 'cancelled' });
    t.deepEqual((await b.pass('B', [])).ended, [ended.ended], 'an outbox entry queued through C is taken through B');
    t.deepEqual((await a.pass('A', [])).ended, [], 'and only once');
    t.like(await a.store.keepalive({ taskId: 'task-1' }), { ok: false, reason: 'ended', endReason: 'cancelled' });
    await c.store.release(pa.reserved.slice(1));
    t.like(await a.slot('2'), { status: 'idle', owner: null });
  });

  test(
    'concurrent calls through several stores of one name never share a slot or a task id',
    peers,
    factory,
    ['a', 'a', 'a', 'a'],
    async (t, stores) => {
      const slotIds = ['1', '2', '3', '4', '5', '6'];
      await stores[0]!.init(slotIds);
      const via = (i: number) => stores[i % stores.length]!;

      const passes = await Promise.all(Array.from({ length: 24 }, (_, i) => via(i).pass(`owner-${i}`, rotate(slotIds, i))));
      const claims = passes.flatMap((pass, i) => pass.reserved.map((r) => ({ ...r, owner: `owner-${i}` })));
      t.deepEqual(claims.map((c) => c.slotId).sort(compareSlotIds), slotIds, 'each slot reserved exactly once');
      t.is(new Set(claims.map((c) => c.token)).size, claims.length, 'tokens are distinct');

      // Four starts per reservation back to back, through different stores, each id tried in every slot.
      const attempts = Array.from({ length: 24 }, (_, j) => ({ reservation: claims[Math.floor(j / 4)]!, taskId: `task-${j % 4}` }));
      const results: StartResult[] = await Promise.all(attempts.map((a, j) => via(j + Math.floor(j / 4)).start(a.reservation, a.taskId)));
      const started = results.flatMap((r) => (r.ok ? [r.occupancy] : []));
      t.deepEqual(started.map((o) => o.taskId).sort(), ['task-0', 'task-1', 'task-2', 'task-3']);
      t.is(new Set(started.map((o) => o.slotId)).size, 4, 'no slot holds two tasks');
      const holder = new Map(started.map((o) => [o.taskId, o.slotId]));
      for (const [j, result] of results.entries()) {
        if (result.ok) continue;
        if (result.reason === 'duplicate') t.is<string | undefined, string | undefined>(result.slotId, holder.get(attempts[j]!.taskId));
        else t.is(result.reason, 'reservation_lost');
      }
      for (const state of (await stores[1]!.store.inspect()).filter((s) => s.status === 'running')) {
        t.is(holder.get(state.occupancy!.taskId), state.slotId);
      }

      // Ends through every store racing with 24 more passes: a freed slot goes to at most one pass.
      const [ends, ...again] = await Promise.all([
        Promise.all(started.map((o, i) => via(i + 1).end(o.taskId, { token: o.token }))),
        ...Array.from({ length: 24 }, (_, i) => via(i + 2).pass(`again-${i}`, rotate(slotIds, i))),
      ]);
      t.true(
        ends.every((r) => r.ok),
        'every end acts once',
      );
      const reclaimed = again.flatMap((pass) => pass.reserved.map((r) => r.slotId));
      t.is(new Set(reclaimed).size, reclaimed.length, `no slot reserved twice: ${reclaimed}`);
      const freed = new Set(holder.values());
      t.true(
        reclaimed.every((id) => freed.has(id)),
        `only freed slots are reserved again: ${reclaimed}`,
      );
    },
  );

  test(
    'a slot kept by end with reserve is not taken by another store of the name, and no freed event is published',
    peers,
    factory,
    ['a', 'a'],
    async (t, stores) => {
      const [a, b] = stores as [Harness, Harness];
      await a.init(['1', '2']);
      const events: StoreEvent[] = [];
      const unsubscribe = await a.store.subscribe?.((event) => events.push(event));
      if (unsubscribe) t.teardown(unsubscribe);

      await b.run('1', 'task-1', {}, 'B');
      const two = await b.run('2', 'task-2', {}, 'B');
      // notify as well: reserve wins, since the slot is not free.
      const kept = ok(
        await b.end('task-1', { notify: true, reserve: { owner: 'B', leaseMs: timing.long } }),
        'end with reserve through B',
      ).reserved;
      must(kept, 'slot 1 kept');

      const pa = await a.pass('A', ['1', '2']);
      t.deepEqual(pa.reserved, [], "A's pass takes neither B's kept slot nor the running one");
      t.deepEqual(pa.running, [two]);
      t.like(await a.slot('1'), { status: 'reserved', owner: 'B', token: kept.token });
      const started = ok(await a.start(kept, 'task-3'), 'start of the kept reservation through another store').occupancy;
      t.like(started, { slotId: '1', token: kept.token, owner: 'B', taskId: 'task-3' });

      if (!unsubscribe) return; // subscribe is optional
      // Events of one name arrive in the order they were published: once the freed event of this
      // later end arrives, a freed event of slot 1 would have arrived before it.
      ok(await b.end('task-2', { notify: true }), 'end with notify and no reserve');
      const freed = () => events.filter((e) => e.type === 'freed');
      for (const until = Date.now() + 10_000; !freed().some((e) => e.slotId === '2'); await sleep(10)) {
        must(Date.now() < until, `no freed event of slot 2 within 10 s: ${JSON.stringify(events)}`);
      }
      t.deepEqual(freed(), [{ type: 'freed', slotId: '2' }]);
    },
  );

  test(
    'concurrent passes that may each reserve one slot each get one while enough are idle: none holds more than it takes',
    peers,
    factory,
    ['a', 'a', 'a', 'a'],
    async (t, stores) => {
      const slotIds = ['1', '2', '3', '4'];
      await stores[0]!.init(slotIds);
      // As schedulers under maxLocalTasks on one cron tick: their passes run at once, each with room for one.
      for (let round = 1; round <= 10; round++) {
        const passes = await Promise.all(stores.map((h, i) => h.pass(`owner-${i}`, slotIds, { maxReserve: 1 })));
        const reserved = passes.flatMap((p) => p.reserved);
        t.deepEqual(
          passes.map((p) => p.reserved.length),
          [1, 1, 1, 1],
          `round ${round}: ${JSON.stringify(reserved)}`,
        );
        t.deepEqual(reserved.map((r) => r.slotId).sort(compareSlotIds), slotIds);
        await stores[0]!.store.release(reserved);
      }
    },
  );

  test('a pass with notify announces the slots it reaps and leaves idle', peers, factory, ['a', 'a'], async (t, stores) => {
    const [a, b] = stores as [Harness, Harness];
    await a.init(['1', '2', '3']);
    const events: StoreEvent[] = [];
    const unsubscribe = await a.store.subscribe?.((event) => events.push(event));
    if (!unsubscribe) return; // subscribe is optional
    t.teardown(unsubscribe);
    // Slot 1: a task that times out; slot 2: a reservation that lapses; slot 3: a task that times
    // out in a slot the reaping pass may also reserve. Slots 1 and 3 are reserved on a long lease,
    // so a slow start under load still finds its reservation; nothing lapses before the last pass.
    const { reserved } = await b.pass('B', ['1', '3']);
    await b.pass('B', ['2'], { leaseMs: timing.wait });
    for (const [slotId, taskId] of [
      ['1', 'task-1'],
      ['3', 'task-3'],
    ] as const) {
      ok(
        await b.start(
          reserved.find((r) => r.slotId === slotId)!,
          taskId,
          { timeoutMs: timing.short },
        ),
        `start of ${taskId}`,
      );
    }
    await sleep(2 * timing.wait);
    const pass = await b.pass('B', ['3'], { notify: true });
    t.deepEqual(endedTaskIds(pass.ended), ['task-1', 'task-3']);
    t.is(pass.expiredReservations, 1);
    // A marker published after the pass: once it arrives, every event of the pass has.
    await b.run('1', 'marker', {}, 'B');
    ok(await b.end('marker', { notify: true }), 'end of the marker');
    const freed = () => events.filter((e) => e.type === 'freed').map((e) => (e as { slotId: string }).slotId);
    for (const until = Date.now() + 10_000; freed().filter((id) => id === '1').length < 2; await sleep(10)) {
      must(Date.now() < until, `no marker within 10 s: ${JSON.stringify(events)}`);
    }
    // Slot 3 is announced only where the reaping pass left it idle rather than reserving it.
    const three = pass.reserved.some((r) => r.slotId === '3') ? [] : ['3'];
    t.deepEqual(freed().slice(0, -1).sort(compareSlotIds), ['1', '2', ...three]);
    t.deepEqual(freed().at(-1), '1');
  });

  test('scheduler names sharing a backing never see each other', peers, factory, ['x', 'y'], async (t, stores) => {
    const [x, y] = stores as [Harness, Harness];
    await Promise.all([x.init(['1', '2']), y.init(['2', '3'])]);
    t.deepEqual(
      (await x.store.inspect()).map((s) => s.slotId),
      ['1', '2'],
    );
    t.deepEqual(
      (await y.store.inspect()).map((s) => s.slotId),
      ['2', '3'],
    );

    const px = await x.pass('X', ['1', '2']);
    must(px.reserved.length === 2, 'x reserves its two slots');
    const xShared = ok(await x.start(px.reserved[1]!, 'task-shared', { timeoutMs: timing.short }), 'start in x').occupancy;
    ok(await x.start(px.reserved[0]!, 'task-x', { backend: 'q' }), 'start in x');
    const py = await y.pass('Y', ['2', '3']);
    t.deepEqual(
      py.reserved.map((r) => r.slotId),
      ['2', '3'],
      "x's slot 2 is not y's",
    );
    t.deepEqual(py.running, []);
    const yShared = ok(await y.start(py.reserved[0]!, 'task-shared'), 'the same task id in y').occupancy;

    const unknown = { ok: false, reason: 'unknown' };
    t.deepEqual(await y.store.keepalive({ taskId: 'task-x' }), unknown);
    t.deepEqual(await y.store.requestCancel({ taskId: 'task-x' }), unknown);
    t.deepEqual(await y.end('task-x'), unknown);
    t.false(ok(await x.end('task-x', { deliverable: [] }), 'end in x').delivered);
    t.deepEqual(await y.store.keepalive({ taskId: 'task-x' }), unknown, "x's record is not y's");
    t.deepEqual((await y.pass('Y', [], { deliverable: ['q', 'b'] })).ended, [], "x's outbox is not y's");

    await sleep(timing.wait);
    t.deepEqual((await y.pass('Y', [])).ended, [], "y's pass does not reap x's slots");
    t.like(await x.slot('2'), { status: 'running', overdue: true });
    t.like(ok(await y.store.keepalive({ taskId: 'task-shared' }), 'keepalive in y').occupancy, identity(yShared));
    t.like(await x.store.keepalive({ taskId: 'task-shared' }), { ok: false, reason: 'timed_out', token: xShared.token });

    const reap = await x.pass('X', [], { deliverable: ['q', 'b'] });
    t.deepEqual(endedTaskIds(reap.ended), ['task-shared', 'task-x']);
    t.like(await y.slot('2'), { status: 'running', occupancy: { taskId: 'task-shared', token: yShared.token } });
    t.is((await y.store.inspect()).length, 2);
  });
}
