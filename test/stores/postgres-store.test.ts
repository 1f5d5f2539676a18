/**
 * PostgresSlotStore against a real PostgreSQL, each test in its own schema. Behaviour shared by
 * every store lives in the contract suite; these tests cover what is particular to PostgreSQL:
 * races between connections, the database clock, the outbox and the migration.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import test, { type ExecutionContext } from 'ava';
import pg from 'pg';
import { ConfigError, StoreConflictError, StoreUnavailableError } from '../../src/core/errors.js';
import { PostgresSlotStore, type PostgresSlotStoreOptions } from '../../slots/postgres/index.js';
import { bindSchema, migrations } from '../../slots/postgres/migrate.js';
import { acknowledge, endMany, migrationsPrepare, migrationsRecord } from '../../slots/postgres/sql.generated.js';
import type { AcquireRequest, BeginPassRequest, EndRequest, StartResult } from '../../src/contracts/store.js';
import { endReasons, historyOutcome, normalizeHistoryQuery } from '../../src/contracts/history.js';
import { connectPostgres, databaseUrl, freshSchema, storeListenersLeft, uniqueName } from '../helpers/services.js';

/** The rows of the migrations table once init has applied every migration this library has. */
const everyVersion = migrations.map((m) => ({ version: m.version }));

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

const startOf = (
  slotId: string,
  token: number,
  taskId: string,
  more: { backend?: string; timeoutMs?: number; maxRuntimeMs?: number | null } = {},
) => ({
  slotId,
  token,
  taskId,
  backend: more.backend ?? 'A',
  timeoutMs: more.timeoutMs ?? 30_000,
  maxRuntimeMs: more.maxRuntimeMs ?? null,
});

const endOf = (taskId: string, more: Partial<EndRequest> = {}): EndRequest => ({
  taskId,
  reason: 'stopped',
  deliverable: ['A'],
  ...more,
});

/** An acquire of `taskId` by `owner` over `slotIds`, waiting 30 s in the queue unless `waitMs` is null. */
const acquireOf = (
  taskId: string,
  owner: string,
  slotIds: string[],
  waitMs: number | null = 30_000,
  timeoutMs = 30_000,
): AcquireRequest => ({
  taskId,
  backend: 'A',
  owner,
  slots: slotIds.map((slotId) => ({ slotId, timeoutMs, maxRuntimeMs: null })),
  ...(waitMs === null ? {} : { wait: { leaseMs: waitMs } }),
});

/** The arguments of task_semaphore_end_v2 (v3 adds history_on) for a stop of `taskId`, as a previous release sends them. */
const oldEndArguments = (name: string, schema: string, taskId: string, token: number | null): unknown[] => [
  name,
  [taskId],
  [token],
  ['stopped'],
  [null],
  [null],
  [JSON.stringify(['A'])],
  [false],
  [null],
  [null],
  100,
  'ch',
  `${schema}.task_semaphore_token`,
];

/** A bigint PostgreSQL accepts, but that overflows once added to a time: fails a request part way. */
const overflowMs = 9.223372e18;

/**
 * Records the first word of every statement sent through `pool.query` (the `-- name:` of the
 * store's SQL files), from now on.
 */
function recordQueries(pool: pg.Pool): string[] {
  const sent: string[] = [];
  const original = pool.query.bind(pool) as (...args: unknown[]) => unknown;
  pool.query = ((...args: unknown[]) => {
    const text = typeof args[0] === 'string' ? args[0] : (args[0] as { text: string }).text;
    sent.push(/^--\s*([\w-]+)/.exec(text)?.[1] ?? text);
    return original(...args);
  }) as typeof pool.query;
  return sent;
}

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

  const ended = await store.end({ taskId: 'task-a', reason: 'stopped', status: 'succeeded', deliverable: ['A'] });
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
  t.deepEqual(await store.end({ taskId: 'task-a', reason: 'stopped', deliverable: ['A'] }), {
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
  t.like(await store.start(startOf('2', reserved[1]!.token, 'dup')), { ok: false, reason: 'duplicate', slotId: '1' });
  await store.end({ taskId: 'dup', reason: 'stopped', deliverable: ['A'] });
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
    t.like(loser, { ok: false, reason: 'duplicate', slotId: winner.occupancy.slotId, expiresAt: winner.occupancy.deadline });
    const holders = (await store.inspect()).filter((s) => s.occupancy?.taskId === taskId);
    t.is(holders.length, 1);
    t.true((await store.end({ taskId, reason: 'stopped', deliverable: ['A'] })).ok);
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
  t.like(await store.end({ taskId: 'long-task', reason: 'stopped', deliverable: ['A'] }), {
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

test('unknown, ended and cancelled answers; token fencing', async (t) => {
  const { store } = await setup(t, ['1', '2']);
  t.deepEqual(await store.keepalive({ taskId: 'nobody' }), { ok: false, reason: 'unknown' });
  t.deepEqual(await store.requestCancel({ taskId: 'nobody' }), { ok: false, reason: 'unknown' });
  t.deepEqual(await store.end({ taskId: 'nobody', reason: 'stopped', deliverable: [] }), {
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

  // A stale token (here one the task never ran under) never touches the current occupancy.
  const stale = { taskId: 'task', token: old.token };
  const unknown = { ok: false, reason: 'unknown' };
  t.deepEqual(await store.keepalive(stale), unknown);
  t.deepEqual(await store.requestCancel(stale), unknown);
  t.deepEqual(await store.end({ ...stale, reason: 'stopped', deliverable: ['A'] }), unknown);

  const cancel = await store.requestCancel({ taskId: 'task', token: current.token });
  t.like(cancel, { ok: true, alreadyRequested: false, occupancy: { cancelRequested: true } });
  t.like(await store.requestCancel({ taskId: 'task' }), { ok: true, alreadyRequested: true });
  t.like(await store.keepalive({ taskId: 'task' }), { ok: true, occupancy: { cancelRequested: true } });
  const ended = await store.end({ taskId: 'task', token: current.token, reason: 'stopped', deliverable: ['A'] });
  t.like(ended, { ok: true, ended: { reason: 'cancelled', cancelRequested: true } });
  t.deepEqual(await store.keepalive(stale), unknown);
  t.deepEqual(await store.keepalive({ taskId: 'task' }), {
    ok: false,
    reason: 'ended',
    slotId: '1',
    token: current.token,
    endReason: 'cancelled',
  });

  // A restart of the task keeps the end of its earlier occupancy; status 'cancelled' also makes
  // 'stopped' a cancel.
  const { reserved: third } = await store.beginPass(pass({ slotIds: ['2'] }));
  t.true((await store.start(startOf('2', third[0]!.token, 'task'))).ok);
  t.like(await store.keepalive({ taskId: 'task' }), { ok: true, occupancy: { slotId: '2', cancelRequested: false } });
  t.like(await store.keepalive({ taskId: 'task', token: current.token }), {
    ok: false,
    reason: 'ended',
    slotId: '1',
    endReason: 'cancelled',
  });
  t.like(await store.end({ taskId: 'task', reason: 'stopped', status: 'cancelled', deliverable: ['A'] }), {
    ok: true,
    ended: { reason: 'cancelled', status: 'cancelled' },
  });
  const { reserved: fourth } = await store.beginPass(pass({ slotIds: ['2'] }));
  await store.start(startOf('2', fourth[0]!.token, 'task2'));
  t.like(await store.end({ taskId: 'task2', reason: 'start_failed', error: 'boom', deliverable: ['A'] }), {
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
    store.end({ taskId: 'kept', reason: 'stopped', deliverable: ['A'], reserve: { owner: 'k', leaseMs: 10_000 }, ...ref });

  const before = await counter();
  t.like(await end({ token: token + 1 }), { ok: false, reason: 'unknown' });
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

  const ended = await onlyA.end({ taskId: 'b-stopped', reason: 'stopped', deliverable: ['A'] });
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
    await store.end({ taskId, reason: 'stopped', deliverable: [] });
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
  const versions = await pool.query(`SELECT version FROM ${schema}.task_semaphore_migrations ORDER BY 1`);
  t.deepEqual(versions.rows, everyVersion);
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
      for (const r of result.reserved)
        t.like(
          states.find((s) => s.slotId === r.slotId),
          { owner: `owner-${i}`, token: r.token },
        );
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
      Promise.all(taskIds.map((taskId, i) => stores[i % 3]!.end({ taskId, reason: 'stopped', deliverable: ['A'] }))),
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

test('startMany and endMany of five requests are one query and one transaction each; of none, no query', async (t) => {
  const slotIds = ['1', '2', '3', '4', '5'];
  const { pool, schema, name, store } = await setup(t, slotIds);
  const { reserved } = await store.beginPass(pass({ slotIds }));
  // xmin is the transaction that wrote a row version: one value for the rows of one transaction.
  const writers = async (table: string) =>
    (await pool.query(`SELECT DISTINCT xmin::text FROM ${schema}.${table} WHERE scheduler = $1`, [name])).rowCount;
  const sent = recordQueries(pool);

  t.deepEqual(await store.startMany([]), []);
  t.deepEqual(await store.endMany([]), []);
  t.deepEqual(sent, [], 'no requests, no round trip');

  const started = await store.startMany(reserved.map((r) => startOf(r.slotId, r.token, `task-${r.slotId}`)));
  t.deepEqual(sent, ['start-many']);
  const occupancies = started.map((r) => (r.ok ? r.occupancy : t.fail(`start failed: ${JSON.stringify(r)}`)));
  t.deepEqual(
    occupancies.map((o) => o?.slotId),
    slotIds,
  );
  t.is(new Set(occupancies.map((o) => o?.startedAt)).size, 1, 'one now(): one transaction');
  t.is(await writers('task_semaphore_slots'), 1, 'the five slots written by one transaction');

  sent.length = 0;
  const ended = await store.endMany(
    slotIds.map((id) => endOf(`task-${id}`, Number(id) % 2 ? { reserve: { owner: 'k', leaseMs: 10_000 } } : {})),
  );
  t.deepEqual(sent, ['end-many']);
  t.deepEqual(
    ended.map((r) => r.ok && [r.ended.taskId, r.reserved?.slotId ?? null]),
    [
      ['task-1', '1'],
      ['task-2', null],
      ['task-3', '3'],
      ['task-4', null],
      ['task-5', '5'],
    ],
  );
  t.is(await writers('task_semaphore_slots'), 1, 'the five slots written by one transaction');
  t.is(await writers('task_semaphore_occupancy_ends'), 1, 'and the five ends kept by the same one');
});

test('a startMany or endMany that fails part way leaves nothing of it applied', async (t) => {
  const { pool, schema, name, store } = await setup(t, ['1', '2']);
  // The end of an earlier occupancy of task a, which a start of a keeps.
  const { reserved: first } = await store.beginPass(pass({ slotIds: ['1'] }));
  t.true((await store.start(startOf('1', first[0]!.token, 'a'))).ok);
  t.true((await store.end(endOf('a'))).ok);
  const { reserved } = await store.beginPass(pass({ slotIds: ['1', '2'] }));
  const [one, two] = reserved;
  if (!one || !two) throw new Error('slots 1 and 2 not reserved');
  const counts = async () =>
    (
      await pool.query<{ ended: string; outbox: string }>(
        `SELECT (SELECT count(*) FROM ${schema}.task_semaphore_occupancy_ends WHERE scheduler = $1) AS ended,
                (SELECT count(*) FROM ${schema}.task_semaphore_outbox WHERE scheduler = $1) AS outbox`,
        [name],
      )
    ).rows[0];

  const reservedState = await store.inspect();
  // The first request acts (a starts), then the second overflows a bigint.
  await t.throwsAsync(store.startMany([startOf('1', one.token, 'a'), startOf('2', two.token, 'b', { timeoutMs: overflowMs })]), {
    message: /bigint out of range/,
  });
  t.deepEqual(await store.inspect(), reservedState, 'the start before it did not act');
  t.deepEqual(await counts(), { ended: '1', outbox: '0' });
  t.like(await store.keepalive({ taskId: 'a' }), { ok: false, reason: 'ended' });

  t.true((await store.startMany([startOf('1', one.token, 'a'), startOf('2', two.token, 'b')])).every((r) => r.ok));
  t.deepEqual(await counts(), { ended: '1', outbox: '0' }, 'the end of the earlier occupancy of a is kept');
  const runningState = await store.inspect();
  // The first end frees its slot, keeps its end and queues its record (A is not deliverable).
  await t.throwsAsync(
    store.endMany([endOf('a', { deliverable: [], notify: true }), endOf('b', { reserve: { owner: 'k', leaseMs: overflowMs } })]),
    {
      message: /bigint out of range/,
    },
  );
  t.deepEqual(await store.inspect(), runningState, 'the end before it did not act');
  t.deepEqual(await counts(), { ended: '1', outbox: '0' }, 'no end kept, nothing queued');
  t.like(await store.end(endOf('a', { deliverable: [] })), { ok: true, delivered: false, ended: { taskId: 'a' } });
  t.deepEqual(await counts(), { ended: '2', outbox: '1' });
});

test('racing startMany batches of the same task ids: each task id in one slot, every answer consistent', async (t) => {
  const size = 10;
  const slotIds = Array.from({ length: 2 * size }, (_, i) => String(i + 1));
  const { pool, store, another } = await setup(t, slotIds);
  const other = another();
  const sent = recordQueries(pool);
  for (let round = 0; round < 8; round++) {
    const taskIds = Array.from({ length: size }, (_, i) => `r${round}-${i}`);
    const mine = (await store.beginPass(pass({ slotIds: slotIds.slice(0, size), owner: 'A' }))).reserved;
    const theirs = (await other.beginPass(pass({ slotIds: slotIds.slice(size), owner: 'B' }))).reserved;
    t.is(mine.length + theirs.length, 2 * size);
    // Same order: the later batch waits on the earlier one's index entries, then gets 23505.
    // Opposite orders: each may wait on the other, a deadlock PostgreSQL breaks by failing one.
    const theirIds = round % 2 ? [...taskIds].reverse() : taskIds;
    sent.length = 0;
    const [a, b] = await Promise.all([
      store.startMany(mine.map((r, i) => startOf(r.slotId, r.token, taskIds[i]!))),
      other.startMany(theirs.map((r, i) => startOf(r.slotId, r.token, theirIds[i]!))),
    ]);
    t.log(`round ${round}: ${sent.length - 2} batch(es) run again`);

    const holders = new Map<string, string>();
    for (const state of await store.inspect()) if (state.occupancy) holders.set(state.occupancy.taskId, state.slotId);
    t.deepEqual([...holders.keys()].sort(), taskIds, `round ${round}: every task id runs, each in one slot`);
    const answers: Array<[string, StartResult]> = [
      ...a.map((r, i): [string, StartResult] => [taskIds[i]!, r]),
      ...b.map((r, i): [string, StartResult] => [theirIds[i]!, r]),
    ];
    for (const [taskId, result] of answers) {
      if (result.ok) t.is(result.occupancy.slotId, holders.get(taskId)!, `round ${round}: ${taskId} started where it runs`);
      else t.like(result, { ok: false, reason: 'duplicate', slotId: holders.get(taskId)! }, `round ${round}: ${taskId} names its holder`);
    }
    t.is(answers.filter(([, r]) => r.ok).length, taskIds.length, `round ${round}: one start of each task id`);

    t.true((await store.endMany(taskIds.map((taskId) => endOf(taskId)))).every((r) => r.ok));
    await store.release(mine);
    await other.release(theirs);
  }
});

test('a startMany refused by the task index, or failed to break a deadlock, runs again as a whole', async (t) => {
  const { pool, schema, name, store, another } = await setup(t, ['1', '2', '3', '4']);
  const other = another();
  const sent = recordQueries(pool);
  // A third transaction holds slot rows locked, so that the batches wait where the test wants them.
  const lockSlots = async (slotIds: string[]) => {
    const client = await pool.connect();
    await client.query('BEGIN');
    await client.query(`SELECT 1 FROM ${schema}.task_semaphore_slots WHERE scheduler = $1 AND slot_id = ANY ($2) FOR UPDATE`, [
      name,
      slotIds,
    ]);
    const pid = (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
    return {
      /** Resolves once `count` backends wait for this lock holder. */
      waitedOnBy: async (count: number) => {
        for (const until = Date.now() + 10_000; ; await sleep(5)) {
          const { rows } = await pool.query<{ n: number }>(
            'SELECT count(*)::int AS n FROM pg_stat_activity WHERE $1 = ANY (pg_blocking_pids(pid))',
            [pid],
          );
          if (rows[0]!.n >= count) return;
          if (Date.now() > until) throw new Error(`${count} backend(s) did not wait for the lock holder within 10 s`);
        }
      },
      unlock: async () => {
        await client.query('ROLLBACK');
        client.release();
      },
    };
  };
  const reserve = async () => ({
    mine: (await store.beginPass(pass({ slotIds: ['1', '2'], owner: 'A' }))).reserved,
    theirs: (await other.beginPass(pass({ slotIds: ['3', '4'], owner: 'B' }))).reserved,
  });
  const startsOf = (sent: string[]) => sent.filter((name) => name === 'start-many').length;
  const cleanUp = async (taskIds: string[], mine: { slotId: string; token: number }[], theirs: { slotId: string; token: number }[]) => {
    t.true((await store.endMany(taskIds.map((taskId) => endOf(taskId)))).every((r) => r.ok));
    await store.release(mine);
    await other.release(theirs);
  };

  // 23505: their batch waits on slot 3 after looking for holders; ours starts the same task ids and
  // commits; theirs is refused by the index, runs again and finds our slots holding them.
  {
    const { mine, theirs } = await reserve();
    const lock = await lockSlots(['3']);
    sent.length = 0;
    const late = other.startMany([startOf('3', theirs[0]!.token, 'x0'), startOf('4', theirs[1]!.token, 'x1')]);
    await lock.waitedOnBy(1);
    const first = await store.startMany([startOf('1', mine[0]!.token, 'x0'), startOf('2', mine[1]!.token, 'x1')]);
    t.deepEqual(
      first.map((r) => r.ok && r.occupancy.slotId),
      ['1', '2'],
    );
    await lock.unlock();
    t.deepEqual((await late).map(holderOf), ['1', '2'], 'duplicates naming our slots');
    t.is(startsOf(sent), 3, 'the refused batch ran twice');
    await cleanUp(['x0', 'x1'], mine, theirs);
  }

  // 40P01: each batch has started one task id and waits on the locked slot of its second, the task
  // id the other batch started. Once unlocked, each waits for the other's commit: PostgreSQL fails one.
  {
    const { mine, theirs } = await reserve();
    const deadlocks = async () =>
      Number(
        (await pool.query<{ n: string }>('SELECT deadlocks AS n FROM pg_stat_database WHERE datname = current_database()')).rows[0]!.n,
      );
    const before = await deadlocks();
    const lock = await lockSlots(['2', '4']);
    sent.length = 0;
    const batches = Promise.all([
      store.startMany([startOf('1', mine[0]!.token, 'y0'), startOf('2', mine[1]!.token, 'y1')]),
      other.startMany([startOf('3', theirs[0]!.token, 'y1'), startOf('4', theirs[1]!.token, 'y0')]),
    ]);
    await lock.waitedOnBy(2);
    await lock.unlock();
    const [a, b] = await batches;
    const winner = a.every((r) => r.ok) ? a : b;
    const loser = winner === a ? b : a;
    t.true(
      winner.every((r) => r.ok),
      JSON.stringify([a, b]),
    );
    const slotOf = new Map(winner.flatMap((r) => (r.ok ? [[r.occupancy.taskId, r.occupancy.slotId] as const] : [])));
    const loserIds = winner === a ? ['y1', 'y0'] : ['y0', 'y1'];
    t.deepEqual(
      loser.map(holderOf),
      loserIds.map((taskId) => slotOf.get(taskId)),
    );
    // Its second run may also meet the winner's task ids uncommitted, then be refused by the index.
    const runs = startsOf(sent);
    t.true(runs >= 3 && runs <= 6, `the batch PostgreSQL failed ran again: ${runs} start-many in all`);
    // Other tests' deadlocks count as well; ours is among them. Backends report the count a
    // little later, at most PostgreSQL's 10 s idle interval.
    for (const until = Date.now() + 15_000; (await deadlocks()) <= before && Date.now() < until;) await sleep(50);
    t.true((await deadlocks()) > before, 'a deadlock was detected');
    await cleanUp(['y0', 'y1'], mine, theirs);
  }
});

/** Idle slots, as every release has added them to a schema it migrated (ensure-slots.sql needs migrate-010). */
async function addIdleSlots(pool: pg.Pool, schema: string, name: string, slotIds: string[]): Promise<void> {
  await pool.query(`INSERT INTO ${schema}.task_semaphore_slots (scheduler, slot_id) SELECT $1, unnest($2::text[])`, [name, slotIds]);
}

test('init brings a schema at migration 1 to the latest, and the store then works on the state it finds', async (t) => {
  const pool = await connectPostgres();
  t.teardown(() => pool.end());
  const schema = await freshSchema(pool);
  const name = uniqueName('sched');
  // The schema as the library before migration 2 left it, with a task running in slot 1.
  await pool.query(bindSchema(migrationsPrepare, schema));
  await pool.query(bindSchema(migrations.find((m) => m.version === 1)!.sql, schema));
  await pool.query(bindSchema(migrationsRecord, schema), [1]);
  await addIdleSlots(pool, schema, name, ['1', '2']);
  await pool.query(
    `UPDATE ${schema}.task_semaphore_slots
     SET status = 'running', token = nextval('${schema}.task_semaphore_token'), owner = 'old', task_id = 'old-task', backend = 'A',
         started_at = 1, last_keepalive_at = 1, deadline = 9e15, timeout_ms = 30000
     WHERE scheduler = $1 AND slot_id = '1'`,
    [name],
  );
  // And the tombstone of a task that ended, which migration 5 carries over as the end of its occupancy.
  await pool.query(
    `INSERT INTO ${schema}.task_semaphore_ended (scheduler, task_id, slot_id, token, reason, ended_at) VALUES ($1, 'done-task', '2', 3, 'stopped', 9e15)`,
    [name],
  );
  const functions = async () =>
    (
      await pool.query<{ proname: string }>(
        `SELECT p.proname FROM pg_proc AS p JOIN pg_namespace AS n ON n.oid = p.pronamespace WHERE n.nspname = $1 ORDER BY 1`,
        [schema],
      )
    ).rows.map((r) => r.proname);
  t.deepEqual(await functions(), []);

  const store = new PostgresSlotStore({ name, postgres: pool, schema });
  t.teardown(() => store.close());
  await store.init(['1', '2']);
  t.deepEqual((await pool.query(`SELECT version FROM ${schema}.task_semaphore_migrations ORDER BY 1`)).rows, everyVersion);
  t.deepEqual(await functions(), [
    'task_semaphore_acquire_v1',
    'task_semaphore_end_v1',
    'task_semaphore_end_v2',
    'task_semaphore_end_v3',
    'task_semaphore_end_v4',
    'task_semaphore_end_v5',
    'task_semaphore_end_v6',
    'task_semaphore_grant_v1',
    'task_semaphore_history_outcome_v1',
    'task_semaphore_leave_queue_v1',
    'task_semaphore_occupancy_end_v1',
    'task_semaphore_occupancy_v1',
    'task_semaphore_occupy_v1',
    'task_semaphore_release_v1',
    'task_semaphore_slot_token_v1',
    'task_semaphore_start_v1',
    'task_semaphore_start_v2',
    'task_semaphore_start_v3',
    'task_semaphore_start_v4',
    'task_semaphore_token_floor_v1',
  ]);
  t.deepEqual(await store.keepalive({ taskId: 'done-task', token: 3 }), {
    ok: false,
    reason: 'ended',
    slotId: '2',
    token: 3,
    endReason: 'stopped',
  });

  const ended = await store.end(endOf('old-task', { reserve: { owner: 'new', leaseMs: 30_000 } }));
  if (!ended.ok || !ended.reserved) return t.fail(`end failed: ${JSON.stringify(ended)}`);
  t.like(ended.ended, { slotId: '1', taskId: 'old-task', owner: 'old', startedAt: 1 });
  const { reserved } = await store.beginPass(pass({ slotIds: ['2'] }));
  const started = await store.startMany([startOf('1', ended.reserved.token, 'new-1'), startOf('2', reserved[0]!.token, 'new-2')]);
  t.deepEqual(
    started.map((r) => r.ok && r.occupancy.slotId),
    ['1', '2'],
  );
  await store.init(['1', '2']); // idempotent
  t.like(await store.keepalive({ taskId: 'old-task' }), { ok: false, reason: 'ended', slotId: '1' });
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

test('init refuses connections that default to an isolation level stricter than READ COMMITTED, before migrating', async (t) => {
  const admin = await connectPostgres();
  t.teardown(() => admin.end());
  const schema = await freshSchema(admin);
  for (const level of ['repeatable read', 'serializable']) {
    const pool = new pg.Pool({
      connectionString: databaseUrl,
      max: 1,
      options: `-c default_transaction_isolation=${level.replace(' ', '\\ ')}`,
    });
    t.teardown(() => pool.end());
    const store = new PostgresSlotStore({ name: uniqueName('iso'), postgres: pool, schema });
    const error = await t.throwsAsync(store.init(['1']), { instanceOf: ConfigError });
    t.is(error?.field, 'PostgresSlotStoreOptions.postgres (default_transaction_isolation)');
    t.regex(error?.message ?? '', new RegExp(`got "${level}".*'read committed'`));
  }
  const tables = await admin.query('SELECT 1 FROM pg_tables WHERE schemaname = $1', [schema]);
  t.is(tables.rowCount, 0, 'nothing migrated');
});

test('a task whose row keeps changing under every attempt ends the call with ERR_STORE_CONFLICT, having changed nothing', async (t) => {
  const { pool, schema, store } = await setup(t, ['1']);
  const { reserved } = await store.beginPass(pass({ slotIds: ['1'] }));
  t.true((await store.start(startOf('1', reserved[0]!.token, 'x'))).ok);
  // A row no statement of the store ever writes: it names task x with a live deadline, yet is not
  // running. Each attempt then finds the task live but cannot lock it, as when another
  // transaction changes it every time; the store gives up after its attempts rather than loop.
  await pool.query(`ALTER TABLE ${schema}.task_semaphore_slots DROP CONSTRAINT task_semaphore_slots_running_check`);
  await pool.query(`UPDATE ${schema}.task_semaphore_slots SET status = 'reserved', lease_until = deadline WHERE task_id = 'x'`);
  const before = await store.inspect();
  const conflict = {
    instanceOf: StoreConflictError,
    code: 'ERR_STORE_CONFLICT',
    message: /task "x" kept changing under \d+ attempts; retry the call/,
  };
  const endError = await t.throwsAsync(store.end(endOf('x')), conflict);
  t.is((endError as unknown as { taskId?: string }).taskId, 'x');
  await t.throwsAsync(store.endMany([endOf('x', { reserve: { owner: 'k', leaseMs: 1000 } })]), conflict);
  await t.throwsAsync(store.keepalive({ taskId: 'x' }), conflict);
  t.deepEqual(await store.inspect(), before);
});

/** The holder slot a start answered `duplicate` with, or the result's reason otherwise. */
function holderOf(result: StartResult): string {
  return !result.ok && result.reason === 'duplicate' ? result.slotId : result.ok ? 'started' : result.reason;
}

test('the outcome SQL gives each ended occupancy is the one historyOutcome gives', async (t) => {
  const { pool, schema } = await setup(t, []);
  const combinations = endReasons.flatMap((reason) =>
    [null, 'failed', 'succeeded', 'cancelled'].flatMap((status) =>
      [null, 'boom'].flatMap((error) => [false, true].map((lease) => ({ reason, status, error, lease }))),
    ),
  );
  const { rows } = await pool.query<{ outcome: string }>(
    `SELECT ${schema}.task_semaphore_history_outcome_v1(c.reason, c.status, c.error, c.lease) AS outcome
     FROM unnest($1::text[], $2::text[], $3::text[], $4::boolean[]) WITH ORDINALITY AS c(reason, status, error, lease, ord)
     ORDER BY c.ord`,
    [
      combinations.map((c) => c.reason),
      combinations.map((c) => c.status),
      combinations.map((c) => c.error),
      combinations.map((c) => c.lease),
    ],
  );
  t.deepEqual(
    rows.map((r) => r.outcome),
    combinations.map((c) => historyOutcome(c.reason, c.status, c.error, c.lease)),
  );
});

test('a pass prunes at most `limit` history records past the retention', async (t) => {
  const slotIds = Array.from({ length: 10 }, (_, i) => String(i + 1));
  const { store, pool, schema, name } = await setup(t, slotIds, { history: { retentionMs: shortMs } });
  const { reserved } = await store.beginPass(pass({ slotIds }));
  await store.startMany(reserved.map((r, i) => startOf(r.slotId, r.token, `task-${i}`)));
  await store.endMany(reserved.map((_, i) => endOf(`task-${i}`)));
  const count = async () =>
    Number((await pool.query(`SELECT count(*) AS n FROM ${schema}.task_semaphore_history WHERE scheduler = $1`, [name])).rows[0].n);
  t.is(await count(), 10);
  await sleep(waitMs);
  await store.beginPass(pass({ slotIds: [], limit: 4 }));
  t.is(await count(), 6, 'a bounded batch per pass');
  await store.beginPass(pass({ slotIds: [], limit: 100 }));
  t.is(await count(), 0);
});

test('a schema at migration 5 with running tasks migrates to 6; its tasks end with their records, and the previous release’s functions still work', async (t) => {
  const pool = await connectPostgres();
  t.teardown(() => pool.end());
  const schema = await freshSchema(pool);
  const name = uniqueName('sched');
  // The schema as the previous release left it, with tasks started by its functions.
  await pool.query(bindSchema(migrationsPrepare, schema));
  for (const { version, sql } of migrations.filter((m) => m.version <= 5)) {
    await pool.query(bindSchema(sql, schema));
    await pool.query(bindSchema(migrationsRecord, schema), [version]);
  }
  await addIdleSlots(pool, schema, name, ['1', '2', '3']);
  const reserve = (slotId: string) =>
    pool.query<{ token: string }>(
      `UPDATE ${schema}.task_semaphore_slots SET status = 'reserved', token = nextval('${schema}.task_semaphore_token'),
         owner = 'old', lease_until = 9e15 WHERE scheduler = $1 AND slot_id = $2 RETURNING token`,
      [name, slotId],
    );
  const oldStart = async (slotId: string, taskId: string) => {
    const token = Number((await reserve(slotId)).rows[0]!.token);
    await pool.query(`SELECT * FROM ${schema}.task_semaphore_start_v2($1, $2, $3, $4, $5, $6, $7)`, [
      name,
      [slotId],
      [token],
      [taskId],
      ['A'],
      [30_000],
      [null],
    ]);
    return token;
  };
  const oldToken = await oldStart('1', 'old-1');
  const stillOld = await oldStart('2', 'old-2');

  const store = new PostgresSlotStore({ name, postgres: pool, schema });
  t.teardown(() => store.close());
  await store.init(['1', '2', '3']);
  t.deepEqual((await pool.query(`SELECT version FROM ${schema}.task_semaphore_migrations ORDER BY 1`)).rows, everyVersion);
  t.like(await store.history(normalizeHistoryQuery({})), [
    { taskId: 'old-2', token: stillOld, outcome: 'running', reservedAt: null, keepalives: 0 },
    { taskId: 'old-1', token: oldToken, outcome: 'running', reservedAt: null, keepalives: 0 },
  ]);

  ok(await store.keepalive({ taskId: 'old-1' }));
  t.true((await store.end(endOf('old-1', { status: 'succeeded' }))).ok);
  t.like(await store.history(normalizeHistoryQuery({ taskId: 'old-1' })), [
    { token: oldToken, outcome: 'succeeded', reason: 'stopped', owner: 'old', reservedAt: null, keepalives: 1 },
  ]);

  // A process of the previous release ends its task with its own function: no record, nothing broken.
  const ended = await pool.query(
    `SELECT acted FROM ${schema}.task_semaphore_end_v2($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
    oldEndArguments(name, schema, 'old-2', stillOld),
  );
  t.deepEqual(ended.rows, [{ acted: true }]);
  t.deepEqual(
    (await store.history(normalizeHistoryQuery({}))).map((r) => r.taskId),
    ['old-1'],
  );
  // And the slot it freed serves the new release as any other.
  const { reserved } = await store.beginPass(pass({ slotIds: ['2'] }));
  const started = await store.start({ ...startOf('2', reserved[0]!.token, 'new-2'), processLease: true });
  t.true(started.ok);
  t.like(await store.history(normalizeHistoryQuery({ taskId: 'new-2' })), [{ outcome: 'running', keepalives: 0 }]);
});

test('an acquire that queues, or renews its place, never misses the slot an end, a release or a reaping pass frees at the same moment', async (t) => {
  const { store, another } = await setup(t, ['1']);
  const other = another();
  let reservation = 0;
  /** Makes slot 1 busy, and returns what frees it. */
  const ways: Record<string, () => Promise<() => Promise<unknown>>> = {
    end: async () => {
      ok(await store.acquire(acquireOf('holder', 'H', ['1'], null)));
      return async () => ok(await store.end(endOf('holder')));
    },
    'end that keeps the slot': async () => {
      ok(await store.acquire(acquireOf('holder', 'H', ['1'], null)));
      return async () => ok(await store.end(endOf('holder', { reserve: { owner: 'H', leaseMs: 30_000 } })));
    },
    release: async () => {
      reservation = (await store.beginPass(pass({ slotIds: ['1'], owner: 'H' }))).reserved[0]!.token;
      return () => store.release([{ slotId: '1', token: reservation }]);
    },
    'reaping pass': async () => {
      ok(await store.acquire(acquireOf('holder', 'H', ['1'], null, shortMs)));
      await sleep(shortMs + 20);
      return () => store.beginPass(pass({ slotIds: [] }));
    },
  };
  const outcomes = new Map<string, number>();
  for (const [way, hold] of Object.entries(ways)) {
    for (let round = 0; round < 16; round++) {
      const free = await hold();
      // Odd rounds race a renewal, which locks no slot: its entry was there all along.
      const renewal = round % 2 === 1;
      if (renewal) t.like(await other.acquire(acquireOf('w', 'W', ['1'])), { ok: false, reason: 'queued' });
      const jitter = () => sleep(Math.random() * 3);
      const [, answer] = await Promise.all([jitter().then(free), jitter().then(() => other.acquire(acquireOf('w', 'W', ['1'])))]);
      const [slot] = await store.inspect();
      const left = await other.leaveQueue({ taskId: 'w', owner: 'W' });
      const what = `${way}, round ${round}: ${JSON.stringify({ answer, slot, left })}`;
      if (left.left) t.not(slot!.status, 'idle', `${what}: queued while the slot sat idle`);
      else t.like(slot, { status: 'running', occupancy: { taskId: 'w', owner: 'W' } }, what);
      const outcome = `${way}${renewal ? ' (renewal)' : ''}: ${answer.ok ? 'took it' : left.left ? 'still queued' : 'granted'}`;
      outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
      // A pass skips a slot the acquire holds locked: its holder may be left to reap.
      if (slot!.overdue) await store.beginPass(pass({ slotIds: [] }));
      else if (slot!.status === 'running') ok(await store.end(endOf(slot!.occupancy!.taskId)));
      if (slot!.status === 'reserved') await store.release([{ slotId: '1', token: slot!.token }]);
    }
  }
  t.log([...outcomes].map(([outcome, n]) => `${outcome} ${n}`).join('; '));
});

test('a slot that a process of the previous release frees goes to the waiter at the next pass that finds it idle', async (t) => {
  const { pool, schema, name, store } = await setup(t, ['1']);
  ok(await store.acquire(acquireOf('holder', 'H', ['1'], null)));
  t.like(await store.acquire(acquireOf('w', 'W', ['1'])), { ok: false, reason: 'queued', position: 1 });
  // The previous release ends with task_semaphore_end_v3, which grants nothing.
  const ended = await pool.query(
    `SELECT acted FROM ${schema}.task_semaphore_end_v3($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
    [...oldEndArguments(name, schema, 'holder', null), true],
  );
  t.deepEqual(ended.rows, [{ acted: true }]);
  t.like((await store.inspect())[0], { status: 'idle' });
  const { reserved, running } = await store.beginPass(pass({ slotIds: ['1'] }));
  t.deepEqual(reserved, [], 'the waiter comes first');
  t.like(running, [{ slotId: '1', taskId: 'w', owner: 'W' }], 'and its occupancy is among those the pass lists');
  t.like(await store.acquire(acquireOf('w', 'W', ['1'])), { ok: true, occupancy: { slotId: '1', taskId: 'w' } });
});

test('leaveQueue racing the grant of its slot either leaves the queue or names the occupancy granted', async (t) => {
  const { store, another } = await setup(t, ['1']);
  const other = another();
  let left = 0;
  for (let round = 0; round < 20; round++) {
    ok(await store.acquire(acquireOf('holder', 'H', ['1'], null)));
    t.like(await other.acquire(acquireOf('w', 'W', ['1'])), { ok: false, reason: 'queued', position: 1 });
    const jitter = () => sleep(Math.random() * 3);
    const [, leave] = await Promise.all([
      jitter().then(() => store.end(endOf('holder'))),
      jitter().then(() => other.leaveQueue({ taskId: 'w', owner: 'W' })),
    ]);
    const [slot] = await store.inspect();
    if (leave.left) {
      left++;
      t.like(slot, { status: 'idle' }, `round ${round}`);
    } else {
      t.deepEqual(leave.occupancy, slot!.occupancy, `round ${round}: the grant it did not hear of`);
      ok(await store.end(endOf('w')));
    }
  }
  t.log(`left the queue ${left} times, granted ${20 - left}`);
});

test('ends from several processes at once serve each waiter once, in arrival order, and leave no slot idle while one waits', async (t) => {
  const slotIds = ['1', '2', '3', '4'];
  const { pool, store, another } = await setup(t, slotIds);
  const stores = [store, another(), another(), another()];
  for (const i of slotIds.keys()) ok(await stores[i]!.acquire(acquireOf(`holder-${i}`, 'H', slotIds, null)));
  const waiters = Array.from({ length: 16 }, (_, i) => `w${i}`);
  for (const [i, taskId] of waiters.entries()) {
    t.like(await stores[i % 4]!.acquire(acquireOf(taskId, `owner-${i % 4}`, slotIds)), { ok: false, reason: 'queued', position: i + 1 });
  }
  const granted = new Map<string, number>();
  const sent = recordQueries(pool);
  let ended = 0;
  for (let round = 0; ; round++) {
    const running = (await store.inspect()).flatMap((s) => (s.occupancy ? [s.occupancy] : []));
    for (const o of running) if (o.taskId.startsWith('w')) granted.set(o.taskId, o.token);
    t.is(
      running.length,
      Math.min(slotIds.length, waiters.length + slotIds.length - 4 * round),
      `round ${round}: every slot runs while waiters are left`,
    );
    if (running.length === 0) break;
    // Each from another process than the last, all at once.
    const ends = await Promise.all(running.map((o, i) => stores[(round + i) % 4]!.end(endOf(o.taskId, { notify: true }))));
    t.true(
      ends.every((e) => e.ok),
      JSON.stringify(ends),
    );
    ended += ends.length;
  }
  t.is(sent.filter((name) => name === 'end-many').length, ended, 'no end ran twice: the grants took turns, never in one another’s way');
  t.deepEqual([...granted.keys()].sort(), [...waiters].sort(), 'each waiter granted once');
  const tokens = waiters.map((taskId) => granted.get(taskId)!);
  t.deepEqual(
    tokens,
    [...tokens].sort((a, b) => a - b),
    'granted in arrival order: the grants of a name take turns, and their tokens grow',
  );
});

function ok(result: { ok: boolean }): true {
  if (!result.ok) throw new Error(`expected ok: ${JSON.stringify(result)}`);
  return true;
}

type PlanNode = Record<string, unknown>;

/** A plan's nodes, the plan itself first, then each subplan's in order (EXPLAIN's JSON "Plans"). */
function planNodes(plan: PlanNode): PlanNode[] {
  return [plan, ...((plan['Plans'] as PlanNode[] | undefined) ?? []).flatMap(planNodes)];
}

/** Index entries a plan read from the tables named: each index scan's rows times its loops. */
function indexEntriesRead(plan: PlanNode, table: string): number {
  return planNodes(plan)
    .filter((node) => typeof node['Index Name'] === 'string' && (node['Index Name'] as string).startsWith(table))
    .reduce((sum, node) => sum + (node['Actual Rows'] as number) * (node['Actual Loops'] as number), 0);
}

/** The plan's scans that read a table whole, or a whole index range of it through a bitmap: their node types. */
function wholeTableReads(plan: PlanNode, table: string): string[] {
  return planNodes(plan)
    .filter((node) => node['Relation Name'] === table)
    .map((node) => node['Node Type'] as string)
    .filter((type) => type === 'Seq Scan' || type === 'Bitmap Heap Scan');
}

test('acknowledging deliveries reads only their own records, however many were deleted since the last vacuum', async (t) => {
  const { pool, schema, name, store } = await setup(t);
  const table = `${schema}.task_semaphore_deliveries`;
  const churn = async (from: number) => {
    await pool.query(
      `INSERT INTO ${table} SELECT $1, 'gone-' || i, i, 'A', 'owner-1', 1000 + i, '{}' FROM generate_series($2::int, $2::int + 2999) AS i`,
      [name, from],
    );
    await pool.query(`DELETE FROM ${table}`);
  };
  // What a busy log looks like to the planner: autovacuum found few live records in many pages,
  // and records delivered since then left their index entries behind.
  await churn(1);
  await pool.query(`VACUUM ANALYZE ${table}`);
  await churn(10_000);
  await pool.query(`INSERT INTO ${table} SELECT $1, 'live-' || i, i, 'A', 'owner-1', 1000 + i, '{}' FROM generate_series(1, 10) AS i`, [
    name,
  ]);
  const taskIds = Array.from({ length: 5 }, (_, i) => `live-${i + 1}`);
  const tokens = taskIds.map((_, i) => i + 1);
  const client = await pool.connect();
  t.teardown(() => client.release());
  // The plan a long-lived connection keeps for a prepared statement.
  await client.query('SET plan_cache_mode = force_generic_plan');
  // EXECUTE of a prepared statement: the generic plan, not one made for these values.
  let prepared = 0;
  const explain = async (sql: string, params: unknown[]) => {
    const statement = `plan_${++prepared}`;
    await client.query(`PREPARE ${statement} AS ${bindSchema(sql, schema)}`);
    await client.query('BEGIN');
    try {
      // EXECUTE takes no bound parameters: its arguments go as literals, typed by the statement.
      const literal = (value: unknown): string => {
        if (value === null) return 'NULL';
        if (Array.isArray(value)) {
          const elements = value.map((e) => (e === null ? 'NULL' : `"${String(e).replace(/["\\]/g, '\\$&')}"`));
          return client.escapeLiteral(`{${elements.join(',')}}`);
        }
        return typeof value === 'string' ? client.escapeLiteral(value) : String(value);
      };
      const { rows } = await client.query(`EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE ${statement}(${params.map(literal).join(', ')})`);
      return (rows[0]['QUERY PLAN'] as Array<{ Plan: Record<string, unknown> }>)[0]!.Plan;
    } finally {
      await client.query('ROLLBACK');
    }
  };
  const alone = await explain(acknowledge, [name, taskIds, tokens]);
  t.true(indexEntriesRead(alone, 'task_semaphore_deliveries') <= 2 * taskIds.length, JSON.stringify(alone));
  t.deepEqual(wholeTableReads(alone, 'task_semaphore_deliveries'), [], JSON.stringify(alone));
  // The same deletion rides on end-many (here with no end of its own).
  const none: unknown[] = [];
  // $1, then no ends ($2 to $10), the call's settings ($11 to $15), the acknowledgements ($16,
  // $17), no history ($18) and no next tasks ($19 to $23).
  const noEnds = (n: number) => Array.from({ length: n }, () => none);
  const withEnds = await explain(endMany, [
    name,
    ...noEnds(9),
    100,
    'unused',
    `${schema}.task_semaphore_token`,
    null,
    null,
    taskIds,
    tokens,
    null,
    ...noEnds(5),
  ]);
  t.true(indexEntriesRead(withEnds, 'task_semaphore_deliveries') <= 2 * taskIds.length, JSON.stringify(withEnds));
  t.deepEqual(wholeTableReads(withEnds, 'task_semaphore_deliveries'), [], JSON.stringify(withEnds));
  // And the records go.
  await store.acknowledge(taskIds.map((taskId, i) => ({ taskId, token: tokens[i]! })));
  t.deepEqual(
    (await pool.query(`SELECT task_id FROM ${table} ORDER BY token`)).rows.map((row) => row.task_id),
    Array.from({ length: 5 }, (_, i) => `live-${i + 6}`),
  );
});

test('each end call deletes up to twice as many due history records as it ends, oldest first: they cannot outgrow the passes', async (t) => {
  const { pool, schema, name, store } = await setup(t, ['1', '2', '3'], { history: { retentionMs: 60_000 } });
  const runAndEnd = async (taskIds: string[]) => {
    const { reserved } = await store.beginPass(pass({ limit: 0 })); // limit 0: the pass deletes nothing
    for (const [i, taskId] of taskIds.entries()) ok(await store.start(startOf(reserved[i]!.slotId, reserved[i]!.token, taskId)));
    await store.release(reserved.slice(taskIds.length));
    await store.endMany(taskIds.map((taskId) => endOf(taskId)));
  };
  const kept = async () =>
    (
      await pool.query(`SELECT task_id FROM ${schema}.task_semaphore_history WHERE scheduler = $1 ORDER BY started_at, task_id`, [name])
    ).rows.map((row) => row.task_id);
  for (const taskId of ['old-1', 'old-2', 'old-3', 'old-4', 'old-5']) await runAndEnd([taskId]);
  // Two minutes older, by the database clock's measure: past the retention, however slowly the
  // calls above ran, while the records below stay within it.
  await pool.query(
    `UPDATE ${schema}.task_semaphore_history SET started_at = started_at - 120000, ended_at = ended_at - 120000 WHERE scheduler = $1`,
    [name],
  );
  await runAndEnd(['new-1']);
  t.deepEqual(await kept(), ['old-3', 'old-4', 'old-5', 'new-1']);
  await runAndEnd(['new-2', 'new-3']);
  t.deepEqual(await kept(), ['new-1', 'new-2', 'new-3']);
});

/** Every plan auto_explain reports on the pool's connections, nested statements included (JSON). */
async function explainedPool(t: ExecutionContext): Promise<{ pool: pg.Pool; plans: PlanNode[] }> {
  const settings = {
    session_preload_libraries: 'auto_explain',
    'auto_explain.log_min_duration': '0',
    'auto_explain.log_nested_statements': 'on',
    'auto_explain.log_level': 'notice',
    'auto_explain.log_format': 'json',
    // The plan a long-lived connection keeps, whatever values the first calls bring.
    plan_cache_mode: 'force_generic_plan',
  };
  const options = Object.entries(settings)
    .map(([key, value]) => `-c ${key}=${value}`)
    .join(' ');
  const pool = new pg.Pool({ connectionString: databaseUrl, options });
  t.teardown(() => pool.end());
  const plans: PlanNode[] = [];
  pool.on('connect', (client) =>
    client.on('notice', (notice) => {
      const json = notice.message?.match(/plan:\n([\s\S]*)$/)?.[1];
      if (json) plans.push((JSON.parse(json) as { Plan: PlanNode }).Plan);
    }),
  );
  return { pool, plans };
}

/** The plan's scans of a table: each node's type and index, if any. */
function scansOf(plan: PlanNode, table: string): string[] {
  return planNodes(plan)
    .filter((node) => node['Relation Name'] === table)
    .map((node) => `${node['Node Type'] as string} ${(node['Index Name'] as string | undefined) ?? ''}`.trim());
}

test('an end that starts the next task in the slot it keeps writes the row once, where its lock found it: a long transaction’s old versions are not read', async (t) => {
  const { pool, schema, name, store } = await setup(t, ['1']);
  // What a report left open in the same database does: every version of the slot's row written
  // from now on stays, and a lookup by slot id, or a new entry in the primary key, reads them all.
  const report = await pool.connect();
  t.teardown(() => report.release());
  await report.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
  t.teardown(() => report.query('ROLLBACK'));
  await report.query('SELECT 1');

  const { pool: explained, plans } = await explainedPool(t);
  const watched = new PostgresSlotStore({ name, postgres: explained, schema });
  t.teardown(() => watched.close());
  const { reserved } = await store.beginPass(pass({ slotIds: ['1'] }));
  ok(await store.start(startOf('1', reserved[0]!.token, 'task-0')));
  const endAndNext = async (i: number) => {
    const [result] = await watched.endMany([
      endOf(`task-${i}`, {
        reserve: { owner: 'owner-1', leaseMs: 30_000 },
        next: { taskId: `task-${i + 1}`, backend: 'A', timeoutMs: 30_000, maxRuntimeMs: null },
      }),
    ]);
    if (!result?.ok || !result.next?.ok) throw new Error(`task-${i + 1} did not start: ${JSON.stringify(result)}`);
  };
  // Enough calls for the statements inside the function to keep their generic plans.
  for (let i = 0; i < 200; i++) await endAndNext(i);
  plans.length = 0;
  await endAndNext(200);
  t.like(await store.keepalive({ taskId: 'task-201' }), { ok: true, occupancy: { slotId: '1' } });

  const scans = plans.flatMap((plan) => scansOf(plan, 'task_semaphore_slots'));
  t.is(scans.filter((scan) => scan === 'ModifyTable').length, 1, `one write of the slot per task: ${scans.join('; ')}`);
  t.true(scans.includes('Tid Scan'), scans.join('; '));
  t.deepEqual(
    scans.filter((scan) => scan.includes('pkey')),
    [],
    'no statement of an end with a next looks a slot up by its id',
  );
});

test('close() while subscribe() still connects ends that connection: no LISTEN is left behind', async (t) => {
  const admin = await connectPostgres();
  t.teardown(() => admin.end());
  const schema = await freshSchema(admin);
  const store = new PostgresSlotStore({ name: uniqueName('pg'), postgres: databaseUrl, schema });
  await store.init([]);
  const subscribing = store.subscribe(() => {});
  await store.close();
  // Closed, the store owes its caller no unsubscribe() call: it ends what it opened.
  const unsubscribe = await subscribing.catch(() => undefined);
  t.teardown(() => unsubscribe?.()); // should the connection be left, it must not hold the test run
  t.is(await storeListenersLeft(admin, schema), 0);
});
