/**
 * PostgresSlotStore against a real PostgreSQL, each test in its own schema. Behaviour shared by
 * every store lives in the contract suite; these tests cover what is particular to PostgreSQL:
 * races between connections, the database clock, the outbox and the migration.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import test, { type ExecutionContext } from 'ava';
import type pg from 'pg';
import { StoreUnavailableError } from '../../src/errors.js';
import { PostgresSlotStore, type PostgresSlotStoreOptions } from '../../slots/postgres/index.js';
import type { BeginPassRequest } from '../../slots/store.js';
import { connectPostgres, databaseUrl, freshSchema, uniqueName } from '../helpers/services.js';

/** Short store-clock durations; tests wait five times as long. */
const shortMs = 60;
const waitMs = shortMs * 5;

interface Setup {
  pool: pg.Pool;
  schema: string;
  name: string;
  store: PostgresSlotStore;
  /** Another store on the same schema and scheduler name (another process, in effect). */
  another: (options?: Partial<PostgresSlotStoreOptions>) => PostgresSlotStore;
}

async function setup(
  t: ExecutionContext,
  slotIds: string[] = ['1', '2', '3'],
  options: Partial<PostgresSlotStoreOptions> = {},
): Promise<Setup> {
  const pool = await connectPostgres();
  t.teardown(() => pool.end());
  const schema = await freshSchema(pool);
  const name = uniqueName('sched');
  const another = (more: Partial<PostgresSlotStoreOptions> = {}) => {
    const store = new PostgresSlotStore({ name, postgres: pool, schema, ...options, ...more });
    t.teardown(() => store.close());
    return store;
  };
  const store = another();
  await store.init(slotIds);
  return { pool, schema, name, store, another };
}

function pass(overrides: Partial<BeginPassRequest> = {}): BeginPassRequest {
  return {
    slotIds: ['1', '2', '3'],
    owner: 'owner-1',
    leaseMs: 30_000,
    deliverable: ['A'],
    retentionMs: 60_000,
    limit: 100,
    ...overrides,
  };
}

const startOf = (slotId: string, token: number, taskId: string, more: { backend?: string; timeoutMs?: number; maxRuntimeMs?: number | null } = {}) => ({
  slotId,
  token,
  taskId,
  backend: more.backend ?? 'A',
  timeoutMs: more.timeoutMs ?? 30_000,
  maxRuntimeMs: more.maxRuntimeMs ?? null,
});

test('full cycle: reserve in slot order, start, keepalive, end, inspect', async (t) => {
  const { store } = await setup(t, ['2', '10', '1']);
  const first = await store.beginPass(pass({ slotIds: ['10', '1', '2'] }));
  t.deepEqual(
    first.reserved.map((r) => r.slotId),
    ['10', '1', '2'],
  );
  const tokens = first.reserved.map((r) => r.token);
  t.true(tokens[0]! < tokens[1]! && tokens[1]! < tokens[2]!, 'tokens grow in slotIds order');
  t.true(Math.abs(first.now - Date.now()) < 5_000, 'now is epoch milliseconds');
  t.is(first.expiredReservations, 0);

  const [r10, r1, r2] = first.reserved;
  const started = await store.start(startOf('1', r1!.token, 'task-a', { timeoutMs: 5_000, maxRuntimeMs: 60_000 }));
  if (!started.ok) return t.fail(`start failed: ${started.reason}`);
  const occ = started.occupancy;
  t.like(occ, { slotId: '1', token: r1!.token, taskId: 'task-a', backend: 'A', owner: 'owner-1', cancelRequested: false });
  t.is(occ.deadline, occ.startedAt + 5_000);
  t.is(occ.maxDeadline, occ.startedAt + 60_000);
  t.is(occ.lastKeepaliveAt, occ.startedAt);
  await store.release([r10!, r2!]);

  await sleep(20);
  const renewed = await store.keepalive({ taskId: 'task-a', token: r1!.token });
  if (!renewed.ok) return t.fail(`keepalive failed: ${renewed.reason}`);
  t.true(renewed.occupancy.lastKeepaliveAt > occ.lastKeepaliveAt);
  t.is(renewed.occupancy.deadline, renewed.occupancy.lastKeepaliveAt + 5_000);
  t.is(renewed.occupancy.startedAt, occ.startedAt);

  const second = await store.beginPass(pass({ slotIds: ['1', '2'] }));
  t.deepEqual(second.running, [renewed.occupancy]);
  t.deepEqual(
    second.reserved.map((r) => r.slotId),
    ['2'],
  );
  t.true(second.reserved[0]!.token > tokens[2]!);

  const states = await store.inspect();
  t.deepEqual(
    states.map((s) => [s.slotId, s.status]),
    [
      ['1', 'running'],
      ['2', 'reserved'],
      ['10', 'idle'],
    ],
  );
  t.deepEqual(states[0]!.occupancy, renewed.occupancy);
  t.is(states[0]!.owner, 'owner-1');
  t.is(states[0]!.leaseUntil, null);
  t.false(states[0]!.overdue);
  t.is(states[1]!.leaseUntil, second.now + 30_000);
  t.like(states[2], { token: r10!.token, owner: null, leaseUntil: null, occupancy: null });

  const ended = await store.end({ taskId: 'task-a', reason: 'stopped', status: 'succeeded', deliverable: ['A'], retentionMs: 60_000 });
  if (!ended.ok) return t.fail(`end failed: ${ended.reason}`);
  t.true(ended.delivered);
  t.like(ended.ended, { ...renewed.occupancy, reason: 'stopped', status: 'succeeded', error: null });
  t.true(ended.ended.endedAt >= renewed.occupancy.lastKeepaliveAt);

  t.like((await store.inspect())[0], { slotId: '1', status: 'idle', owner: null, occupancy: null, token: r1!.token });
  t.deepEqual(await store.keepalive({ taskId: 'task-a' }), {
    ok: false,
    reason: 'ended',
    slotId: '1',
    token: r1!.token,
    endReason: 'stopped',
  });
  t.deepEqual(await store.end({ taskId: 'task-a', reason: 'stopped', deliverable: ['A'], retentionMs: 60_000 }), {
    ok: false,
    reason: 'ended',
    slotId: '1',
    token: r1!.token,
    endReason: 'stopped',
  });
});

test('a task id occupies one slot: sequential and racing starts', async (t) => {
  const { store, another } = await setup(t, ['1', '2']);
  const { reserved } = await store.beginPass(pass({ slotIds: ['1', '2'] }));
  t.true((await store.start(startOf('1', reserved[0]!.token, 'dup'))).ok);
  t.deepEqual(await store.start(startOf('2', reserved[1]!.token, 'dup')), { ok: false, reason: 'duplicate', slotId: '1' });
  await store.end({ taskId: 'dup', reason: 'stopped', deliverable: ['A'], retentionMs: 60_000 });
  await store.release(reserved);

  // Two stores (two connections) start the same task id in two slots at once, many times over.
  const other = another();
  for (let round = 0; round < 25; round++) {
    const { reserved: pair } = await store.beginPass(pass({ slotIds: ['1', '2'] }));
    t.is(pair.length, 2);
    const taskId = `race-${round}`;
    const results = await Promise.all([
      store.start(startOf('1', pair[0]!.token, taskId)),
      other.start(startOf('2', pair[1]!.token, taskId)),
    ]);
    const winners = results.filter((r) => r.ok);
    t.is(winners.length, 1, `round ${round}: exactly one start wins`);
    const winner = winners[0]!;
    const loser = results.find((r) => !r.ok)!;
    if (!winner.ok) return;
    t.deepEqual(loser, { ok: false, reason: 'duplicate', slotId: winner.occupancy.slotId });
    const holders = (await store.inspect()).filter((s) => s.occupancy?.taskId === taskId);
    t.is(holders.length, 1);
    t.true((await store.end({ taskId, reason: 'stopped', deliverable: ['A'], retentionMs: 60_000 })).ok);
    await store.release(pair);
  }
});

test('a lapsed reservation is lost, then reaped by the next pass', async (t) => {
  const { store } = await setup(t, ['1', '2']);
  const { reserved } = await store.beginPass(pass({ slotIds: ['1'], leaseMs: shortMs }));
  await sleep(waitMs);
  t.deepEqual(await store.start(startOf('1', reserved[0]!.token, 'late')), { ok: false, reason: 'reservation_lost' });
  const next = await store.beginPass(pass({ slotIds: ['1', '2'] }));
  t.is(next.expiredReservations, 1);
  t.deepEqual(next.ended, []);
  // The reaped slot may wait for the next pass; the other one is reserved now.
  t.true(next.reserved.some((r) => r.slotId === '2'));
  const after = await store.beginPass(pass({ slotIds: ['1'] }));
  t.is(after.expiredReservations, 0);
  t.deepEqual(
    after.reserved.map((r) => r.slotId),
    next.reserved.some((r) => r.slotId === '1') ? [] : ['1'],
  );
});

test('timeouts are answered timed_out, then reaped with reason timeout or max_runtime', async (t) => {
  const { store } = await setup(t, ['1', '2']);
  const { reserved } = await store.beginPass(pass({ slotIds: ['1', '2'] }));
  await store.start(startOf('1', reserved[0]!.token, 'idle-task', { timeoutMs: shortMs }));
  await store.start(startOf('2', reserved[1]!.token, 'long-task', { timeoutMs: 30_000, maxRuntimeMs: shortMs }));
  await sleep(waitMs);

  // Overdue but not reaped: never renewed, stopped or cancelled.
  t.like(await store.keepalive({ taskId: 'idle-task' }), { ok: false, reason: 'timed_out', slotId: '1', endReason: 'timeout' });
  t.like(await store.requestCancel({ taskId: 'long-task' }), { ok: false, reason: 'timed_out', endReason: 'max_runtime' });
  t.like(await store.end({ taskId: 'long-task', reason: 'stopped', deliverable: ['A'], retentionMs: 60_000 }), {
    ok: false,
    reason: 'timed_out',
  });
  t.deepEqual(
    (await store.inspect()).map((s) => s.overdue),
    [true, true],
  );

  const reaped = await store.beginPass(pass({ slotIds: [] }));
  t.deepEqual(
    reaped.ended.map((e) => [e.slotId, e.taskId, e.reason, e.status, e.error]),
    [
      ['1', 'idle-task', 'timeout', null, null],
      ['2', 'long-task', 'max_runtime', null, null],
    ],
  );
  t.is(reaped.ended[0]!.endedAt, reaped.now);
  t.true(reaped.now >= reaped.ended[0]!.deadline);
  t.deepEqual(await store.keepalive({ taskId: 'idle-task', token: reserved[0]!.token }), {
    ok: false,
    reason: 'timed_out',
    slotId: '1',
    token: reserved[0]!.token,
    endReason: 'timeout',
  });
  t.like(await store.keepalive({ taskId: 'long-task' }), { reason: 'timed_out', endReason: 'max_runtime' });
  t.deepEqual((await store.beginPass(pass({ slotIds: [] }))).ended, [], 'each occupancy ends once');
  t.deepEqual(
    (await store.inspect()).map((s) => s.status),
    ['idle', 'idle'],
  );
});

test('reaping is bounded by limit; tombstones are pruned after retentionMs', async (t) => {
  const { store } = await setup(t, ['1', '2', '3']);
  const { reserved } = await store.beginPass(pass());
  for (const [i, r] of reserved.entries()) await store.start(startOf(r.slotId, r.token, `t${i}`, { timeoutMs: shortMs }));
  await sleep(waitMs);
  const firstPass = await store.beginPass(pass({ slotIds: [], limit: 2 }));
  t.deepEqual(
    firstPass.ended.map((e) => e.taskId),
    ['t0', 't1'],
  );
  const second = await store.beginPass(pass({ slotIds: [], limit: 2, retentionMs: waitMs }));
  t.deepEqual(
    second.ended.map((e) => e.taskId),
    ['t2'],
  );
  await sleep(waitMs * 2);
  await store.beginPass(pass({ slotIds: [], retentionMs: waitMs }));
  t.deepEqual(await store.keepalive({ taskId: 't0' }), { ok: false, reason: 'unknown' });
});

test('unknown, superseded, ended and cancelled answers; token fencing', async (t) => {
  const { store } = await setup(t, ['1', '2']);
  t.deepEqual(await store.keepalive({ taskId: 'nobody' }), { ok: false, reason: 'unknown' });
  t.deepEqual(await store.requestCancel({ taskId: 'nobody' }), { ok: false, reason: 'unknown' });
  t.deepEqual(await store.end({ taskId: 'nobody', reason: 'stopped', deliverable: [], retentionMs: 1000 }), {
    ok: false,
    reason: 'unknown',
  });

  // Release only acts under the current token.
  const { reserved } = await store.beginPass(pass({ slotIds: ['1'] }));
  const old = reserved[0]!;
  await store.release([{ slotId: '1', token: old.token + 1000 }]);
  t.is((await store.inspect())[0]!.status, 'reserved');
  await store.release([old]);
  t.is((await store.inspect())[0]!.status, 'idle');
  const { reserved: again } = await store.beginPass(pass({ slotIds: ['1'] }));
  const current = again[0]!;
  t.true(current.token > old.token);
  t.deepEqual(await store.start(startOf('1', old.token, 'task')), { ok: false, reason: 'reservation_lost' });
  t.true((await store.start(startOf('1', current.token, 'task'))).ok);

  // A stale token never touches the current occupancy.
  const stale = { taskId: 'task', token: old.token };
  const superseded = { ok: false, reason: 'superseded', slotId: '1', token: current.token };
  t.deepEqual(await store.keepalive(stale), superseded);
  t.deepEqual(await store.requestCancel(stale), superseded);
  t.deepEqual(await store.end({ ...stale, reason: 'stopped', deliverable: ['A'], retentionMs: 60_000 }), superseded);

  const cancel = await store.requestCancel({ taskId: 'task', token: current.token });
  t.like(cancel, { ok: true, alreadyRequested: false, occupancy: { cancelRequested: true } });
  t.like(await store.requestCancel({ taskId: 'task' }), { ok: true, alreadyRequested: true });
  t.like(await store.keepalive({ taskId: 'task' }), { ok: true, occupancy: { cancelRequested: true } });
  const ended = await store.end({ taskId: 'task', token: current.token, reason: 'stopped', deliverable: ['A'], retentionMs: 60_000 });
  t.like(ended, { ok: true, ended: { reason: 'cancelled', cancelRequested: true } });
  t.deepEqual(await store.keepalive(stale), { ok: false, reason: 'superseded', slotId: '1', token: current.token });
  t.deepEqual(await store.keepalive({ taskId: 'task' }), {
    ok: false,
    reason: 'ended',
    slotId: '1',
    token: current.token,
    endReason: 'cancelled',
  });

  // A restart of the task clears its tombstone; status 'cancelled' also makes 'stopped' a cancel.
  const { reserved: third } = await store.beginPass(pass({ slotIds: ['2'] }));
  t.true((await store.start(startOf('2', third[0]!.token, 'task'))).ok);
  t.like(await store.keepalive({ taskId: 'task' }), { ok: true, occupancy: { slotId: '2', cancelRequested: false } });
  t.like(await store.end({ taskId: 'task', reason: 'stopped', status: 'cancelled', deliverable: ['A'], retentionMs: 1 }), {
    ok: true,
    ended: { reason: 'cancelled', status: 'cancelled' },
  });
  const { reserved: fourth } = await store.beginPass(pass({ slotIds: ['2'] }));
  await store.start(startOf('2', fourth[0]!.token, 'task2'));
  t.like(await store.end({ taskId: 'task2', reason: 'start_failed', error: 'boom', deliverable: ['A'], retentionMs: 1 }), {
    ok: true,
    ended: { reason: 'start_failed', error: 'boom', status: null },
  });
});

test('an end with reserve takes a token from the sequence only when it acts', async (t) => {
  const { pool, schema, store } = await setup(t);
  const { reserved } = await store.beginPass(pass({ slotIds: ['1'] }));
  const started = await store.start(startOf('1', reserved[0]!.token, 'kept'));
  if (!started.ok) throw new Error(`start failed: ${started.reason}`);
  const { token } = started.occupancy;
  // The sequence's own counter: last_value moves with every nextval(), rolled back or not.
  const counter = async () =>
    Number((await pool.query<{ last_value: string }>(`SELECT last_value FROM ${schema}.task_semaphore_token`)).rows[0]!.last_value);
  const end = (ref: { token?: number; notify?: boolean }) =>
    store.end({ taskId: 'kept', reason: 'stopped', deliverable: ['A'], retentionMs: 60_000, reserve: { owner: 'k', leaseMs: 10_000 }, ...ref });

  const before = await counter();
  t.like(await end({ token: token + 1 }), { ok: false, reason: 'superseded' });
  t.is(await counter(), before, 'a refused end takes no token');
  const result = await end({ token, notify: true });
  if (!result.ok) throw new Error(`end failed: ${result.reason}`);
  t.deepEqual(result.reserved, { slotId: '1', token: before + 1 });
  t.like((await store.inspect())[0], { status: 'reserved', owner: 'k', token: before + 1, leaseUntil: result.ended.endedAt + 10_000 });
  t.like(await end({}), { ok: false, reason: 'ended' });
  t.is(await counter(), before + 1);
});

test('the outbox holds records for a caller that can deliver them, once', async (t) => {
  const { store, another } = await setup(t, ['1', '2', '3', '4']);
  const onlyA = another();
  const { reserved } = await store.beginPass(pass({ slotIds: ['1', '2', '3', '4'] }));
  await store.start(startOf('1', reserved[0]!.token, 'b-stopped', { backend: 'B' }));
  await store.start(startOf('2', reserved[1]!.token, 'b-timeout', { backend: 'B', timeoutMs: shortMs }));
  await store.start(startOf('3', reserved[2]!.token, 'a-timeout', { backend: 'A', timeoutMs: shortMs }));
  await store.release([reserved[3]!]);

  const ended = await onlyA.end({ taskId: 'b-stopped', reason: 'stopped', deliverable: ['A'], retentionMs: 60_000 });
  t.like(ended, { ok: true, delivered: false, ended: { taskId: 'b-stopped', reason: 'stopped' } });
  await sleep(waitMs);
  const byA = await onlyA.beginPass(pass({ slotIds: [], deliverable: ['A'] }));
  t.deepEqual(
    byA.ended.map((e) => e.taskId),
    ['a-timeout'],
    'the reaped B occupancy went to the outbox',
  );
  const byB = await store.beginPass(pass({ slotIds: [], deliverable: ['B'] }));
  t.deepEqual(
    byB.ended.map((e) => [e.taskId, e.reason]),
    [
      ['b-stopped', 'stopped'],
      ['b-timeout', 'timeout'],
    ],
  );
  if (ended.ok) t.deepEqual(byB.ended[0], ended.ended, 'the outbox keeps the whole record');
  t.deepEqual((await store.beginPass(pass({ slotIds: [], deliverable: ['A', 'B'] }))).ended, [], 'taken once');
});

test('the outbox keeps the newest outboxLimit records; taking them respects limit', async (t) => {
  const { store } = await setup(t, ['1'], { outboxLimit: 2 });
  for (const taskId of ['o1', 'o2', 'o3']) {
    const { reserved } = await store.beginPass(pass({ slotIds: ['1'] }));
    await store.start(startOf('1', reserved[0]!.token, taskId, { backend: 'B' }));
    await store.end({ taskId, reason: 'stopped', deliverable: [], retentionMs: 60_000 });
  }
  const first = await store.beginPass(pass({ slotIds: [], deliverable: ['B'], limit: 1 }));
  t.deepEqual(
    first.ended.map((e) => e.taskId),
    ['o2'],
  );
  const second = await store.beginPass(pass({ slotIds: [], deliverable: ['B'], limit: 5 }));
  t.deepEqual(
    second.ended.map((e) => e.taskId),
    ['o3'],
  );
});

test('concurrent init from several stores on one new schema', async (t) => {
  const pool = await connectPostgres();
  t.teardown(() => pool.end());
  const schema = uniqueName('ts'); // not created: init creates it
  const name = uniqueName('sched');
  const stores = Array.from({ length: 6 }, () => new PostgresSlotStore({ name, postgres: databaseUrl, schema }));
  t.teardown(() => Promise.all(stores.map((s) => s.close())));
  await t.notThrowsAsync(Promise.all(stores.map((s, i) => s.init(['1', '2', String(3 + i)]))));
  await stores[0]!.init(['1']); // idempotent
  const versions = await pool.query(`SELECT version FROM ${schema}.task_semaphore_migrations`);
  t.deepEqual(versions.rows, [{ version: 1 }]);
  t.deepEqual(
    (await stores[0]!.inspect()).map((s) => s.slotId),
    ['1', '2', '3', '4', '5', '6', '7', '8'],
  );
});

test('concurrent passes never reserve the same slot', async (t) => {
  const slotIds = Array.from({ length: 20 }, (_, i) => String(i + 1));
  const { store, another } = await setup(t, slotIds);
  const stores = [store, another(), another(), another()];
  for (let round = 0; round < 10; round++) {
    const results = await Promise.all(stores.map((s, i) => s.beginPass(pass({ slotIds, owner: `owner-${i}` }))));
    const taken = results.flatMap((r) => r.reserved.map((x) => x.slotId));
    t.is(new Set(taken).size, taken.length, `round ${round}: no slot reserved twice`);
    t.is(taken.length, slotIds.length, `round ${round}: every idle slot reserved by someone`);
    const states = await store.inspect();
    for (const [i, result] of results.entries()) {
      for (const r of result.reserved) t.like(states.find((s) => s.slotId === r.slotId), { owner: `owner-${i}`, token: r.token });
    }
    await Promise.all(results.map((r, i) => stores[i]!.release(r.reserved)));
  }
});

test('each occupancy ends exactly once while ends race concurrent reaping passes', async (t) => {
  const slotIds = Array.from({ length: 12 }, (_, i) => String(i + 1));
  const { store, another } = await setup(t, slotIds);
  const stores = [store, another(), another()];
  const timeoutMs = 100;
  let endedByStop = 0;
  let endedByReap = 0;
  // Each round starts the race a little closer to the deadlines, so that both outcomes occur.
  for (const [round, lead] of [60, 40, 25, 15, 5].entries()) {
    const taskIds = slotIds.map((id) => `r${round}-${id}`);
    const { reserved } = await store.beginPass(pass({ slotIds }));
    t.is(reserved.length, slotIds.length);
    for (const [i, r] of reserved.entries()) await store.start(startOf(r.slotId, r.token, taskIds[i]!, { timeoutMs }));
    await Promise.all(taskIds.map((taskId) => store.keepalive({ taskId })));
    await sleep(timeoutMs - lead);
    const [ends, passes] = await Promise.all([
      Promise.all(taskIds.map((taskId, i) => stores[i % 3]!.end({ taskId, reason: 'stopped', deliverable: ['A'], retentionMs: 60_000 }))),
      Promise.all([...stores, ...stores].map((s) => s.beginPass(pass({ slotIds: [] })))),
    ]);
    await sleep(timeoutMs * 2);
    const last = await store.beginPass(pass({ slotIds: [] }));
    const byEnd = ends.flatMap((r) => (r.ok ? [r.ended.taskId] : []));
    const byReap = [...passes, last].flatMap((p) => p.ended.map((e) => e.taskId));
    t.deepEqual([...byEnd, ...byReap].sort(), [...taskIds].sort(), `round ${round}: each task ended once`);
    for (const r of ends) if (!r.ok) t.is(r.reason, 'timed_out');
    endedByStop += byEnd.length;
    endedByReap += byReap.length;
  }
  t.log(`ended by end(): ${endedByStop}, by reaping: ${endedByReap}`);
  t.deepEqual(
    (await store.inspect()).filter((s) => s.status !== 'idle'),
    [],
  );
});

test('an unreachable database gives StoreUnavailableError without the password', async (t) => {
  const store = new PostgresSlotStore({ name: 'x', postgres: 'postgres://someone:s3cret-pw@127.0.0.1:1/test' });
  t.teardown(() => store.close());
  const error = await t.throwsAsync(store.init(['1']), { instanceOf: StoreUnavailableError });
  t.is(error?.code, 'ERR_STORE_UNAVAILABLE');
  t.false(error?.message.includes('s3cret-pw'));
  t.false(String(error?.url).includes('s3cret-pw'));
  t.regex(error?.message ?? '', /127\.0\.0\.1:1/);
  await store.close();
  await t.notThrowsAsync(store.close(), 'close is idempotent');
});
