/**
 * Contract cases that let time pass for real (deadlines, max runtimes, leases, retention) and the
 * concurrent ones. Short timeouts are `timing.short` and the waits `timing.wait`, so a lapse is
 * certain after the wait however loaded the machine; what must NOT lapse uses long timeouts, or
 * keepalives far more often than the timeout. Tasks meant to time out are started straight from
 * one reservation pass, since any later `beginPass` may already reap them.
 */
import type { Macro, TestFn } from 'ava';
import { compareSlotIds, type Lost, type Occupancy, type Reservation, type StartResult } from '../contracts/store.js';
import {
  assertDuplicate,
  backend,
  endedTaskIds,
  identity,
  must,
  ok,
  sleep,
  timing,
  type CaseBody,
  type Harness,
  type StoreFactory,
} from './store-suite-kit.js';

/** Reserves `slotIds` as one owner and starts `tasks[i]` in `slotIds[i]`, all from that one pass. */
export async function startAll(
  h: Harness,
  slotIds: readonly string[],
  tasks: readonly { taskId: string; timeoutMs?: number; maxRuntimeMs?: number | null; backend?: string }[],
): Promise<{ occupancies: Occupancy[]; spare: Reservation[] }> {
  const { reserved } = await h.pass('starter', slotIds);
  must(reserved.length === slotIds.length, `all of ${slotIds} reserved: ${JSON.stringify(reserved)}`);
  const occupancies: Occupancy[] = [];
  for (const [i, task] of tasks.entries()) {
    occupancies.push(ok(await h.start(reserved[i]!, task.taskId, task), `start ${task.taskId}`).occupancy);
  }
  return { occupancies, spare: reserved.slice(tasks.length) };
}

/** What keepalive, end and requestCancel answer for an occupancy past its deadline: `timed_out`, naming it. */
function assertTimedOut(
  t: Parameters<CaseBody>[0],
  result: { ok: boolean },
  occupancy: Occupancy,
  reason: 'timeout' | 'max_runtime',
  reaped: boolean,
  what: string,
): void {
  t.like(result, { ok: false, reason: 'timed_out', slotId: occupancy.slotId, token: occupancy.token }, what);
  const { endReason } = result as Lost;
  // Before the reap nothing has ended yet, so a store may leave endReason out; after it, it must say why.
  if (reaped) t.is(endReason, reason, `${what}: endReason`);
  else t.true(endReason === undefined || endReason === reason, `${what}: endReason ${endReason}`);
}

export function registerTimingCases<C>(test: TestFn<C>, contract: Macro<[StoreFactory, CaseBody], C>, factory: StoreFactory): void {
  test('the store clock counts milliseconds', contract, factory, async (t, h) => {
    await h.init(['1']);
    const before = await h.pass('A', []);
    await sleep(timing.wait);
    const after = await h.pass('A', []);
    const elapsed = after.now - before.now;
    t.true(Number.isFinite(before.now) && before.now > 1_600_000_000_000, `now ${before.now} is epoch milliseconds`);
    t.true(elapsed >= timing.wait / 2 && elapsed < 30_000, `${timing.wait} ms of waiting read as ${elapsed} ms`);
  });

  test('keepalive extends the deadline from the store clock and changes nothing else', contract, factory, async (t, h) => {
    await h.init(['1']);
    const timeoutMs = 2_000;
    const first = await h.run('1', 'task-k', { timeoutMs, maxRuntimeMs: timing.long });
    let last = first;
    // Six keepalives 400 ms apart carry the task past its first deadline; each comes well within
    // the timeout, even on a loaded machine.
    for (let i = 0; i < 6; i++) {
      await sleep(400);
      const { occupancy } = ok(await h.store.keepalive({ taskId: 'task-k', token: first.token }), `keepalive ${i}`);
      t.true(occupancy.lastKeepaliveAt > last.lastKeepaliveAt, `keepalive ${i} moves lastKeepaliveAt`);
      t.is(occupancy.deadline, occupancy.lastKeepaliveAt + timeoutMs, `keepalive ${i}: deadline = lastKeepaliveAt + timeoutMs`);
      t.deepEqual(identity(occupancy), identity(first));
      t.like(occupancy, { maxDeadline: first.maxDeadline, timeoutMs, maxRuntimeMs: timing.long, cancelRequested: false });
      last = occupancy;
    }
    t.true(last.lastKeepaliveAt >= first.deadline, 'the task outlived its first deadline');
    t.deepEqual((await h.pass('reaper', [])).ended, []);
    t.deepEqual(await h.slot('1'), {
      slotId: '1',
      status: 'running',
      token: first.token,
      owner: 'runner',
      leaseUntil: null,
      occupancy: last,
      overdue: false,
    });
  });

  test('past its deadline an occupancy is timed_out and overdue until beginPass reaps it', contract, factory, async (t, h) => {
    await h.init(['1', '2']);
    const { occupancies, spare } = await startAll(h, ['1', '2'], [{ taskId: 'task-t', timeoutMs: timing.short }]);
    const occupancy = occupancies[0]!;
    await sleep(timing.wait);

    // Before any reap: nothing renews, stops or cancels it, and the task id still holds its slot.
    assertTimedOut(t, await h.store.keepalive({ taskId: 'task-t' }), occupancy, 'timeout', false, 'keepalive');
    assertTimedOut(
      t,
      await h.store.keepalive({ taskId: 'task-t', token: occupancy.token }),
      occupancy,
      'timeout',
      false,
      'keepalive with token',
    );
    assertTimedOut(t, await h.end('task-t', { token: occupancy.token }), occupancy, 'timeout', false, 'end');
    assertTimedOut(t, await h.store.requestCancel({ taskId: 'task-t' }), occupancy, 'timeout', false, 'requestCancel');
    // A duplicate of an overdue holder: it could have ended already (the next pass reaps it).
    const duplicate = await h.start(spare[0]!, 'task-t');
    assertDuplicate(t, duplicate, occupancy);
    t.true(!duplicate.ok && duplicate.reason === 'duplicate' && duplicate.now! >= duplicate.expiresAt!, 'judged past its expiry');
    t.deepEqual(await h.slot('1'), {
      slotId: '1',
      status: 'running',
      token: occupancy.token,
      owner: 'starter',
      leaseUntil: null,
      occupancy,
      overdue: true,
    });

    const reap = await h.pass('reaper', []);
    t.is(reap.expiredReservations, 0);
    t.is(reap.ended.length, 1);
    const record = reap.ended[0]!;
    t.deepEqual(record, { ...occupancy, reason: 'timeout', status: null, error: null, endedAt: record.endedAt });
    t.true(record.endedAt >= occupancy.deadline, 'ended at or after the deadline');
    t.like(await h.slot('1'), { status: 'idle', occupancy: null, overdue: false });

    // After the reap: timed_out with the reason, and the task id is free to start again.
    assertTimedOut(t, await h.store.keepalive({ taskId: 'task-t' }), occupancy, 'timeout', true, 'keepalive after reap');
    assertTimedOut(t, await h.end('task-t'), occupancy, 'timeout', true, 'end after reap');
    t.deepEqual((await h.pass('reaper', [])).ended, [], 'reaped once');
    const again = ok(await h.start(spare[0]!, 'task-t'), 'restart after reap').occupancy;
    t.like(ok(await h.store.keepalive({ taskId: 'task-t' }), 'keepalive of the restart').occupancy, { slotId: '2', token: again.token });
  });

  test('max runtime ends an occupancy whatever its keepalive deadline', contract, factory, async (t, h) => {
    await h.init(['1']);
    const { occupancies } = await startAll(h, ['1'], [{ taskId: 'task-m', timeoutMs: timing.long, maxRuntimeMs: timing.short }]);
    const occupancy = occupancies[0]!;
    t.is(occupancy.maxDeadline, occupancy.startedAt + timing.short);
    await sleep(timing.wait);

    assertTimedOut(t, await h.store.keepalive({ taskId: 'task-m' }), occupancy, 'max_runtime', false, 'keepalive');
    t.like(await h.slot('1'), { status: 'running', overdue: true, occupancy });
    const reap = await h.pass('reaper', ['1']);
    t.deepEqual(endedTaskIds(reap.ended), ['task-m']);
    t.like(reap.ended[0], { reason: 'max_runtime', token: occupancy.token, status: null, error: null });
    t.deepEqual(reap.running, []);
    assertTimedOut(t, await h.store.keepalive({ taskId: 'task-m' }), occupancy, 'max_runtime', true, 'keepalive after reap');
  });

  test('beginPass reaps timed-out occupancies of any slot, also outside slotIds', contract, factory, async (t, h) => {
    await h.init(['1', '2', '3', '4']);
    const long = await h.run('2', 'task-long');
    const { occupancies } = await startAll(
      h,
      ['3', '4'],
      [
        { taskId: 'task-3', timeoutMs: timing.short },
        { taskId: 'task-4', timeoutMs: timing.short },
      ],
    );
    await sleep(timing.wait);

    const pass = await h.pass('B', ['1', '2', '4']);
    t.deepEqual(endedTaskIds(pass.ended), ['task-3', 'task-4']);
    for (const occupancy of occupancies) {
      t.like(
        pass.ended.find((r) => r.taskId === occupancy.taskId),
        { ...occupancy, reason: 'timeout' },
      );
    }
    t.deepEqual(pass.running, [long]);
    t.true(pass.reserved.some((r) => r.slotId === '1'));
    t.false(
      pass.reserved.some((r) => r.slotId === '3'),
      'a reaped slot outside slotIds is not reserved',
    );
    t.like(await h.slot('3'), { status: 'idle', occupancy: null });
    // A reaped slot of slotIds is reserved by this pass or, at the latest, by the next one.
    const next = await h.pass('B', ['4']);
    t.true(
      [...pass.reserved, ...next.reserved].some((r) => r.slotId === '4'),
      'reaped slot 4 reserved again',
    );
    t.like(await h.slot('4'), { status: 'reserved', owner: 'B' });
  });

  test('reaps the caller cannot deliver wait in the outbox for a caller that can, handed out once', contract, factory, async (t, h) => {
    await h.init(['1', '2']);
    const { occupancies } = await startAll(
      h,
      ['1', '2'],
      [
        { taskId: 'task-x', timeoutMs: timing.short, backend: 'x' },
        { taskId: 'task-b', timeoutMs: timing.short },
      ],
    );
    await sleep(timing.wait);

    const first = await h.pass('no-x', [], { deliverable: [backend] });
    t.deepEqual(endedTaskIds(first.ended), ['task-b']);
    t.like(await h.slot('1'), { status: 'idle', occupancy: null }, 'reaped even though its backend is not deliverable');
    assertTimedOut(t, await h.store.keepalive({ taskId: 'task-x' }), occupancies[0]!, 'timeout', true, 'keepalive after reap');
    t.deepEqual((await h.pass('no-x', [], { deliverable: [backend, 'y'] })).ended, []);

    const withX = await h.pass('has-x', [], { deliverable: ['x'] });
    t.deepEqual(endedTaskIds(withX.ended), ['task-x']);
    t.like(withX.ended[0], { ...occupancies[0]!, reason: 'timeout', status: null, error: null });
    t.deepEqual((await h.pass('has-x', [], { deliverable: ['x', backend] })).ended, [], 'exactly once');
  });

  test('a lapsed reservation is lost, counted by the next pass and reserved again', contract, factory, async (t, h) => {
    await h.init(['1', '2', '3']);
    const a = await h.pass('A', ['1', '2'], { leaseMs: timing.short });
    const [one, two] = a.reserved;
    must(one && two, 'slots 1 and 2 reserved');
    t.is((await h.slot('1')).leaseUntil, a.now + timing.short);
    await sleep(timing.wait);

    t.deepEqual(await h.start(one, 'task-late'), { ok: false, reason: 'reservation_lost' }, 'lapsed before any pass');
    const b = await h.pass('B', ['3']);
    t.is(b.expiredReservations, 2);
    t.deepEqual(b.ended, [], 'a lapsed reservation is not an ended occupancy');
    t.like(await h.slot('1'), { status: 'idle', owner: null, leaseUntil: null });
    t.like(await h.slot('2'), { status: 'idle', owner: null, leaseUntil: null });

    const c = await h.pass('C', ['2', '1']);
    t.deepEqual(
      c.reserved.map((r) => r.slotId),
      ['2', '1'],
    );
    t.true(c.reserved.every((r) => r.token > Math.max(one.token, two.token)));
    t.deepEqual(await h.start(two, 'task-late'), { ok: false, reason: 'reservation_lost' });
    t.like(ok(await h.start(c.reserved[0]!, 'task-late'), 'start under the new reservation').occupancy, { owner: 'C', slotId: '2' });
    t.deepEqual(await h.store.keepalive({ taskId: 'task-never-started' }), { ok: false, reason: 'unknown' });
  });

  test(
    'a slot kept by end with reserve whose lease lapses is lost, counted by the next pass and reserved again',
    contract,
    factory,
    async (t, h) => {
      await h.init(['1', '2']);
      await h.run('1', 'task-k');
      const result = ok(await h.end('task-k', { reserve: { owner: 'K', leaseMs: timing.short } }), 'end with reserve');
      const kept = result.reserved;
      must(kept, 'slot 1 kept');
      t.like(await h.slot('1'), { status: 'reserved', owner: 'K', token: kept.token, leaseUntil: result.ended.endedAt + timing.short });
      await sleep(timing.wait);

      const lost = { ok: false, reason: 'reservation_lost' };
      t.deepEqual(await h.start(kept, 'task-late'), lost, 'lapsed before any pass');
      const b = await h.pass('B', ['2']);
      t.is(b.expiredReservations, 1);
      t.deepEqual(b.ended, [], 'a lapsed kept slot is not an ended occupancy');
      t.like(await h.slot('1'), { status: 'idle', token: kept.token, owner: null, leaseUntil: null });

      const c = await h.pass('C', ['1']);
      t.deepEqual(
        c.reserved.map((r) => r.slotId),
        ['1'],
      );
      t.true(c.reserved[0]!.token > kept.token);
      t.deepEqual(await h.start(kept, 'task-late'), lost);
      ok(await h.start(c.reserved[0]!, 'task-late'), 'start under the new reservation');
    },
  );

  test('end with reserve of an overdue occupancy answers timed_out and keeps nothing', contract, factory, async (t, h) => {
    await h.init(['1']);
    const { occupancies } = await startAll(h, ['1'], [{ taskId: 'task-t', timeoutMs: timing.short }]);
    const occupancy = occupancies[0]!;
    await sleep(timing.wait);
    const reserve = { owner: 'K', leaseMs: timing.long };

    const before = await h.store.inspect();
    assertTimedOut(t, await h.end('task-t', { reserve, notify: true }), occupancy, 'timeout', false, 'end with reserve');
    t.deepEqual(await h.store.inspect(), before, 'the overdue occupancy stays as it was');

    const reap = await h.pass('reaper', []);
    t.deepEqual(endedTaskIds(reap.ended), ['task-t']);
    t.is(reap.expiredReservations, 0);
    assertTimedOut(t, await h.end('task-t', { reserve }), occupancy, 'timeout', true, 'end with reserve after reap');
    t.like(await h.slot('1'), { status: 'idle', token: occupancy.token, owner: null, leaseUntil: null });
  });

  test('records of ended tasks are kept while retentionMs has not passed', contract, factory, async (t, h) => {
    await h.init(['1', '2']);
    const { occupancies } = await startAll(h, ['1', '2'], [{ taskId: 'task-kept' }, { taskId: 'task-reaped', timeoutMs: timing.short }]);
    ok(await h.end('task-kept'), 'end');
    await sleep(timing.wait);
    t.deepEqual(endedTaskIds((await h.pass('reaper', [], { retentionMs: timing.long })).ended), ['task-reaped']);
    await sleep(timing.wait);
    await h.pass('reaper', [], { retentionMs: timing.long });

    t.like(await h.store.keepalive({ taskId: 'task-kept' }), {
      ok: false,
      reason: 'ended',
      endReason: 'stopped',
      token: occupancies[0]!.token,
    });
    assertTimedOut(t, await h.store.keepalive({ taskId: 'task-reaped' }), occupancies[1]!, 'timeout', true, 'keepalive');
  });

  test('records of ended tasks older than retentionMs are pruned, then calls answer unknown', contract, factory, async (t, h) => {
    await h.init(['1', '2']);
    const retention = { retentionMs: timing.short };
    await startAll(h, ['1', '2'], [{ taskId: 'task-ended' }, { taskId: 'task-reaped', timeoutMs: timing.short }]);
    ok(await h.end('task-ended'), 'end');
    await sleep(timing.wait);
    t.deepEqual(endedTaskIds((await h.pass('reaper', [], retention)).ended), ['task-reaped']);
    await sleep(timing.wait);
    await h.pass('reaper', [], retention);

    const unknown = { ok: false, reason: 'unknown' };
    for (const taskId of ['task-ended', 'task-reaped']) {
      t.deepEqual(await h.store.keepalive({ taskId }), unknown, `keepalive ${taskId}`);
      t.deepEqual(await h.end(taskId), unknown, `end ${taskId}`);
      t.deepEqual(await h.store.requestCancel({ taskId }), unknown, `requestCancel ${taskId}`);
    }
  });

  test('each end of a task is pruned by its own age: an earlier one goes while a later one is kept', contract, factory, async (t, h) => {
    await h.init(['1', '2']);
    // Long enough that the pass right after the second end finds it recent on a loaded machine.
    const retention = { retentionMs: 1500 };
    const first = await h.run('1', 'task-p');
    ok(await h.end('task-p', { token: first.token }), 'end the first');
    await sleep(retention.retentionMs + timing.wait);
    const second = await h.run('2', 'task-p');
    ok(await h.end('task-p', { token: second.token }), 'end the second');
    await h.pass('reaper', [], retention);

    t.deepEqual(await h.store.keepalive({ taskId: 'task-p', token: first.token }), { ok: false, reason: 'unknown' }, 'the first is pruned');
    const last = { ok: false, reason: 'ended', slotId: '2', token: second.token, endReason: 'stopped' };
    t.deepEqual(await h.store.keepalive({ taskId: 'task-p', token: second.token }), last, 'the second is kept');
    t.deepEqual(await h.store.keepalive({ taskId: 'task-p' }), last);

    await sleep(retention.retentionMs + timing.wait);
    await h.pass('reaper', [], retention);
    t.deepEqual(await h.store.keepalive({ taskId: 'task-p' }), { ok: false, reason: 'unknown' }, 'then the second');
  });

  test('limit bounds how many occupancies a pass reaps and outbox entries it takes', contract, factory, async (t, h) => {
    await h.init(['1', '2', '3', '4', '5', '6']);
    const tasks = ['task-1', 'task-2', 'task-3'].map((taskId) => ({ taskId, timeoutMs: timing.short }));
    await startAll(h, ['1', '2', '3'], tasks);
    await sleep(timing.wait);

    const seen: string[] = [];
    for (const [limit, expected] of [
      [1, 1],
      [1, 1],
      [5, 1],
      [5, 0],
    ] as const) {
      const { ended } = await h.pass('reaper', [], { limit });
      t.is(ended.length, expected, `limit ${limit}`);
      seen.push(...endedTaskIds(ended));
      t.is((await h.store.inspect()).filter((s) => s.overdue).length, 3 - seen.length, 'the rest stay overdue');
    }
    t.deepEqual(seen.sort(), ['task-1', 'task-2', 'task-3']);

    // Undelivered ends: three in the outbox, taken at most `limit` per pass.
    await startAll(
      h,
      ['4', '5', '6'],
      ['task-4', 'task-5', 'task-6'].map((taskId) => ({ taskId, backend: 'x' })),
    );
    for (const taskId of ['task-4', 'task-5', 'task-6']) t.false(ok(await h.end(taskId), 'end').delivered);
    const taken: string[] = [];
    for (const [limit, expected] of [
      [2, 2],
      [2, 1],
      [2, 0],
    ] as const) {
      const { ended } = await h.pass('has-x', [], { limit, deliverable: ['x'] });
      t.is(ended.length, expected, `outbox, limit ${limit}`);
      taken.push(...endedTaskIds(ended));
    }
    t.deepEqual(taken.sort(), ['task-4', 'task-5', 'task-6']);
  });

  test('concurrent passes and starts never give one slot to two owners nor one task id two slots', contract, factory, async (t, h) => {
    const slotIds = ['1', '2', '3', '4', '5'];
    await h.init(slotIds);
    const owners = Array.from({ length: 20 }, (_, i) => `owner-${i}`);
    // Each owner lists the slots in its own order, as differently configured schedulers would.
    const passes = await Promise.all(owners.map((owner, i) => h.pass(owner, [...slotIds.slice(i % 5), ...slotIds.slice(0, i % 5)])));
    const claims = passes.flatMap((pass, i) => pass.reserved.map((r) => ({ ...r, owner: owners[i]! })));
    t.deepEqual(claims.map((c) => c.slotId).sort(compareSlotIds), slotIds, 'each slot reserved exactly once');
    t.is(new Set(claims.map((c) => c.token)).size, claims.length, 'tokens are distinct');
    for (const claim of claims) t.like(await h.slot(claim.slotId), { status: 'reserved', owner: claim.owner, token: claim.token });

    // Twenty starts, four per reservation back to back, each id tried in every slot: a store that
    // checks the reservation or the task id apart from its write lets two of them through.
    const attempts = Array.from({ length: 20 }, (_, j) => ({ reservation: claims[Math.floor(j / 4)]!, taskId: `task-${j % 3}` }));
    const results: StartResult[] = await Promise.all(attempts.map((a) => h.start(a.reservation, a.taskId)));
    const started = results.flatMap((r) => (r.ok ? [r.occupancy] : []));
    t.deepEqual(started.map((o) => o.taskId).sort(), ['task-0', 'task-1', 'task-2']);
    t.is(new Set(started.map((o) => o.slotId)).size, 3, 'no slot holds two tasks');
    const holder = new Map(started.map((o) => [o.taskId, o.slotId]));
    for (const [j, result] of results.entries()) {
      if (result.ok) continue;
      if (result.reason === 'duplicate')
        t.is<string | undefined, string | undefined>(result.slotId, holder.get(attempts[j]!.taskId), `attempt ${j} names the holder`);
      else t.is(result.reason, 'reservation_lost');
    }
    const states = await h.store.inspect();
    const running = states.filter((s) => s.status === 'running');
    t.deepEqual(running.map((s) => s.occupancy?.taskId).sort(), ['task-0', 'task-1', 'task-2']);
    for (const state of running) t.is(holder.get(state.occupancy!.taskId), state.slotId);
    t.is(states.filter((s) => s.status === 'reserved').length, 2);

    // Ends racing with twenty more passes: a freed slot goes to at most one of them.
    const [, ...again] = await Promise.all([
      Promise.all(started.map((o) => h.end(o.taskId, { token: o.token }))),
      ...owners.map((owner) => h.pass(`${owner}-again`, slotIds)),
    ]);
    const reclaims = again.flatMap((pass, i) => pass.reserved.map((r) => ({ ...r, owner: `${owners[i]}-again` })));
    const reclaimed = reclaims.map((r) => r.slotId);
    t.is(new Set(reclaimed).size, reclaimed.length, 'no slot reserved twice');
    const freed = new Set(holder.values());
    t.true(
      reclaimed.every((id) => freed.has(id)),
      `only freed slots are reserved again: ${reclaimed}`,
    );
    for (const claim of reclaims) t.like(await h.slot(claim.slotId), { status: 'reserved', owner: claim.owner, token: claim.token });
  });

  test('an occupancy ends exactly once under concurrent ends, keepalives and reaps', contract, factory, async (t, h) => {
    await h.init(['1', '2']);
    const { occupancies } = await startAll(h, ['1', '2'], [{ taskId: 'task-race' }, { taskId: 'task-reap', timeoutMs: timing.short }]);

    const ends = await Promise.all(Array.from({ length: 10 }, () => h.end('task-race', { token: occupancies[0]!.token })));
    t.is(ends.filter((r) => r.ok).length, 1, 'one end succeeds');
    for (const r of ends.filter((r) => !r.ok)) t.like(r, { reason: 'ended', endReason: 'stopped' });

    await sleep(timing.wait);
    const [passes, lateEnds, lateKeepalives] = await Promise.all([
      Promise.all(Array.from({ length: 10 }, (_, i) => h.pass(`reaper-${i}`, []))),
      Promise.all(Array.from({ length: 5 }, () => h.end('task-reap'))),
      Promise.all(Array.from({ length: 5 }, () => h.store.keepalive({ taskId: 'task-reap' }))),
    ]);
    t.deepEqual(endedTaskIds(passes.flatMap((p) => p.ended)), ['task-reap'], 'reaped once, by one pass');
    for (const r of [...lateEnds, ...lateKeepalives]) t.like(r, { ok: false, reason: 'timed_out', token: occupancies[1]!.token });
  });
}
