/**
 * RedisSlotStore against a real Redis: every answer of the contract, the Redis clock, the key
 * layout under one hash tag, the outbox, connection failures, and parity with MemorySlotStore.
 * Each test has its own key prefix, so tests run concurrently without touching each other's keys.
 */
import test, { type ExecutionContext } from 'ava';
import { setTimeout as sleep } from 'node:timers/promises';
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import { RedisSlotStore, type RedisSlotStoreOptions } from '../../slots/redis/index.js';
import { MemorySlotStore } from '../../slots/memory/memory-store.js';
import { defineScript, runScript } from '../../slots/redis/run-script.js';
import * as lua from '../../slots/redis/lua.generated.js';
import { StoreUnavailableError, isTaskSemaphoreError } from '../../src/core/errors.js';
import type { AcquireRequest, BeginPassRequest, EndRequest, SlotStore, StartRequest } from '../../src/contracts/store.js';
import { normalizeHistoryQuery } from '../../src/contracts/history.js';
import { connectRedis, redisUrl, uniqueName } from '../helpers/services.js';
import { ownRedis } from '../helpers/own-servers.js';

const NAME = 'sched';
const SLOTS = ['1', '2', '3'];

interface Setup {
  redis: Redis;
  store: RedisSlotStore;
  keyPrefix: string;
  ns: string;
}

async function setup(t: ExecutionContext, options: Partial<RedisSlotStoreOptions> = {}): Promise<Setup> {
  const redis = await connectRedis();
  t.teardown(() => redis.quit().then(() => undefined));
  const keyPrefix = uniqueName('rs');
  const store = new RedisSlotStore({ name: NAME, redis, keyPrefix, ...options });
  t.teardown(() => store.close()); // runs before the client's quit: teardowns are LIFO
  await store.init(SLOTS);
  return { redis, store, keyPrefix, ns: `{${keyPrefix}:${NAME}}` };
}

function pass(overrides: Partial<BeginPassRequest> = {}): BeginPassRequest {
  return { slotIds: SLOTS, owner: 'owner-a', leaseMs: 10_000, deliverable: ['b'], retentionMs: 60_000, limit: 100, ...overrides };
}

function startReq(slotId: string, token: number, taskId: string, overrides: Partial<StartRequest> = {}): StartRequest {
  return { slotId, token, taskId, backend: 'b', timeoutMs: 10_000, maxRuntimeMs: null, ...overrides };
}

function endReq(taskId: string, overrides: Partial<EndRequest> = {}): EndRequest {
  return { taskId, reason: 'stopped', deliverable: ['b'], ...overrides };
}

/** An acquire of `taskId` by `owner` over `slotIds`, waiting a minute when `wait` is set. */
function acquireReq(taskId: string, owner: string, slotIds: readonly string[], wait = false): AcquireRequest {
  const slots = slotIds.map((slotId) => ({ slotId, timeoutMs: 10_000, maxRuntimeMs: null }));
  return { taskId, backend: 'b', owner, slots, ...(wait ? { wait: { leaseMs: 60_000 } } : {}) };
}

/**
 * Records the commands `client` sends from now on, scripts by their name in lua.generated.ts (e.g.
 * `evalsha start3`): every ioredis command goes through sendCommand once, as bench/common.ts counts.
 */
function recordCommands(client: Redis): string[] {
  const scriptNames = new Map(Object.entries(lua).map(([name, source]) => [createHash('sha1').update(source).digest('hex'), name]));
  const sent: string[] = [];
  const original = client.sendCommand.bind(client) as (command: { name: string; args: unknown[] }, ...rest: unknown[]) => unknown;
  (client as unknown as { sendCommand: typeof original }).sendCommand = (command, ...rest) => {
    const name = command.name.toLowerCase();
    sent.push(name === 'evalsha' ? `evalsha ${scriptNames.get(String(command.args[0])) ?? '?'}` : name);
    return original(command, ...rest);
  };
  return sent;
}

async function redisNow(redis: Redis): Promise<number> {
  const [seconds, micros] = await redis.time();
  return Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
}

/** Reserves `slotId` alone and starts `taskId` in it. */
async function run(store: SlotStore, slotId: string, taskId: string, overrides: Partial<StartRequest> = {}) {
  const { reserved } = await store.beginPass(pass({ slotIds: [slotId] }));
  const reservation = reserved.find((r) => r.slotId === slotId);
  if (!reservation) throw new Error(`slot ${slotId} was not reserved`);
  const started = await store.start(startReq(slotId, reservation.token, taskId, overrides));
  if (!started.ok) throw new Error(`start failed: ${started.reason}`);
  return started.occupancy;
}

/**
 * Reserves every slot in one pass, then starts one task per entry. Only beginPass reaps, so short
 * timeouts cannot lapse into a reap between these starts, however slow the machine.
 */
async function runAll(store: SlotStore, tasks: Record<string, [taskId: string, overrides?: Partial<StartRequest>]>) {
  const { reserved } = await store.beginPass(pass());
  const started = [];
  for (const [slotId, [taskId, overrides]] of Object.entries(tasks)) {
    const token = reserved.find((r) => r.slotId === slotId)?.token;
    if (token === undefined) throw new Error(`slot ${slotId} was not reserved`);
    const result = await store.start(startReq(slotId, token, taskId, overrides));
    if (!result.ok) throw new Error(`start failed: ${result.reason}`);
    started.push(result.occupancy);
  }
  await store.release(reserved.filter((r) => !(r.slotId in tasks)));
  return started;
}

test('init creates idle slots and is idempotent', async (t) => {
  const { store } = await setup(t);
  await store.init([...SLOTS, '10']);
  const states = await store.inspect();
  t.deepEqual(
    states.map((s) => s.slotId),
    ['1', '2', '3', '10'],
  );
  for (const state of states) {
    t.like(state, { status: 'idle', token: 0, owner: null, leaseUntil: null, occupancy: null, overdue: false });
  }
});

test('a full cycle: reserve, start, keepalive, end, timed by the Redis clock', async (t) => {
  const { redis, store } = await setup(t);
  const before = await redisNow(redis);
  const first = await store.beginPass(pass());
  t.true(first.now >= before && first.now <= (await redisNow(redis)));
  // Tokens count up from wherever the counter starts (the clock: see the next test).
  const one = first.reserved[0]!.token;
  t.deepEqual(first.reserved, [
    { slotId: '1', token: one },
    { slotId: '2', token: one + 1 },
    { slotId: '3', token: one + 2 },
  ]);
  t.deepEqual(first.running, []);
  t.is(first.expiredReservations, 0);

  const reservedState = (await store.inspect())[0]!;
  t.like(reservedState, { status: 'reserved', token: one, owner: 'owner-a', leaseUntil: first.now + 10_000 });

  const started = await store.start(startReq('1', one, 'task-a', { maxRuntimeMs: 60_000 }));
  if (!started.ok) return t.fail(started.reason);
  const occ = started.occupancy;
  t.like(occ, {
    slotId: '1',
    token: one,
    taskId: 'task-a',
    backend: 'b',
    owner: 'owner-a',
    timeoutMs: 10_000,
    maxRuntimeMs: 60_000,
    cancelRequested: false,
  });
  t.is(occ.deadline, occ.startedAt + 10_000);
  t.is(occ.maxDeadline, occ.startedAt + 60_000);
  await store.release(first.reserved.slice(1));

  await sleep(20);
  const renewed = await store.keepalive({ taskId: 'task-a', token: one });
  if (!renewed.ok) return t.fail(renewed.reason);
  t.true(renewed.occupancy.lastKeepaliveAt > occ.lastKeepaliveAt);
  t.is(renewed.occupancy.deadline, renewed.occupancy.lastKeepaliveAt + 10_000);

  const second = await store.beginPass(pass());
  t.deepEqual(second.running, [renewed.occupancy]);
  t.deepEqual(second.reserved, [
    { slotId: '2', token: one + 3 },
    { slotId: '3', token: one + 4 },
  ]);
  await store.release(second.reserved);

  const ended = await store.end({ taskId: 'task-a', token: one, reason: 'stopped', status: 'succeeded', deliverable: ['b'] });
  if (!ended.ok) return t.fail(ended.reason);
  t.true(ended.delivered);
  t.deepEqual(ended.ended, { ...renewed.occupancy, reason: 'stopped', endedAt: ended.ended.endedAt, status: 'succeeded', error: null });
  t.true(ended.ended.endedAt >= renewed.occupancy.lastKeepaliveAt);

  t.deepEqual(
    await store.inspect(),
    SLOTS.map((slotId, i) => ({
      slotId,
      status: 'idle' as const,
      token: one + [0, 3, 4][i]!,
      owner: null,
      leaseUntil: null,
      occupancy: null,
      overdue: false,
    })),
  );
  t.deepEqual(await store.keepalive({ taskId: 'task-a' }), { ok: false, reason: 'ended', slotId: '1', token: one, endReason: 'stopped' });
});

test('tokens keep growing after Redis loses the keys (a restart without persistence, a flush): the counter starts from the clock', async (t) => {
  const { redis, store, ns } = await setup(t);
  const before = await store.beginPass(pass());
  // Seeded from TIME in tenths of a millisecond: below 10^14, which cjson writes exactly.
  const now = await redisNow(redis);
  t.true(before.reserved[0]!.token > (now - 60_000) * 10 && before.reserved[0]!.token <= now * 10, `token ${before.reserved[0]!.token}`);
  const started = await store.start(startReq('1', before.reserved[0]!.token, 'task-a'));
  if (!started.ok) return t.fail(started.reason);
  t.is(started.occupancy.token, before.reserved[0]!.token, 'the JSON of the slot record keeps every digit');

  // What a restart without persistence leaves of this scheduler name: nothing.
  await redis.del(...['slots', 'tasks', 'ended', 'expiry', 'ended-at', 'outbox', 'token'].map((key) => `${ns}:${key}`));
  await sleep(2); // the clock moves on, as it does across any restart
  const after = await store.beginPass(pass());
  t.deepEqual(
    after.reserved.map((r) => r.slotId),
    SLOTS,
    'missing slots are idle, and reserved',
  );
  const highest = Math.max(...before.reserved.map((r) => r.token));
  t.true(
    after.reserved.every((r) => r.token > highest),
    `${after.reserved.map((r) => r.token)} > ${highest}`,
  );
  // The task that ran across the loss is unknown now: its scheduler ends it as lost.
  t.deepEqual(await store.keepalive({ taskId: 'task-a', token: started.occupancy.token }), { ok: false, reason: 'unknown' });
});

test('a task id cannot occupy two slots', async (t) => {
  const { store } = await setup(t);
  const { reserved } = await store.beginPass(pass());
  t.true((await store.start(startReq('1', reserved[0]!.token, 'dup'))).ok);
  t.like(await store.start(startReq('2', reserved[1]!.token, 'dup')), { ok: false, reason: 'duplicate', slotId: '1' });
  // The refused slot is still reserved and can take another task.
  t.true((await store.start(startReq('2', reserved[1]!.token, 'other'))).ok);
});

test('a reservation is lost when its lease lapses or its token is stale', async (t) => {
  const { store } = await setup(t);
  const { reserved } = await store.beginPass(pass({ slotIds: ['1', '2'], leaseMs: 100 }));
  t.deepEqual(await store.start(startReq('1', reserved[0]!.token + 100, 'x')), { ok: false, reason: 'reservation_lost' });
  t.deepEqual(await store.start(startReq('9', 1, 'x')), { ok: false, reason: 'reservation_lost' });
  await sleep(500);
  t.deepEqual(await store.start(startReq('1', reserved[0]!.token, 'x')), { ok: false, reason: 'reservation_lost' });

  const next = await store.beginPass(pass({ slotIds: ['1'], owner: 'owner-b' }));
  t.is(next.expiredReservations, 2);
  t.deepEqual(next.reserved, [{ slotId: '1', token: reserved[1]!.token + 1 }]);
  // Releasing under the lapsed token does nothing to the new reservation.
  await store.release([reserved[0]!]);
  t.like((await store.inspect())[0], { status: 'reserved', owner: 'owner-b' });
});

test('beginPass reaps timeouts and max runtimes with the right reason', async (t) => {
  const { store } = await setup(t);
  const [a, b] = await runAll(store, {
    1: ['slow', { timeoutMs: 100 }],
    2: ['long', { timeoutMs: 60_000, maxRuntimeMs: 100 }],
  });
  await sleep(500);

  // Overdue but not yet reaped: answered timed_out, never renewed.
  t.deepEqual(await store.keepalive({ taskId: 'slow' }), {
    ok: false,
    reason: 'timed_out',
    slotId: '1',
    token: a!.token,
    endReason: 'timeout',
  });
  t.deepEqual(await store.end({ taskId: 'long', reason: 'stopped', deliverable: ['b'] }), {
    ok: false,
    reason: 'timed_out',
    slotId: '2',
    token: b!.token,
    endReason: 'max_runtime',
  });
  t.true((await store.inspect())[0]!.overdue);

  const result = await store.beginPass(pass({ slotIds: [] }));
  const byTask = Object.fromEntries(result.ended.map((e) => [e.taskId, e]));
  t.is(result.ended.length, 2);
  t.deepEqual(byTask.slow, { ...a!, reason: 'timeout', endedAt: result.now, status: null, error: null });
  t.deepEqual(byTask.long, { ...b!, reason: 'max_runtime', endedAt: result.now, status: null, error: null });

  t.deepEqual(await store.requestCancel({ taskId: 'slow' }), {
    ok: false,
    reason: 'timed_out',
    slotId: '1',
    token: a!.token,
    endReason: 'timeout',
  });
  t.deepEqual(await store.keepalive({ taskId: 'long', token: b!.token }), {
    ok: false,
    reason: 'timed_out',
    slotId: '2',
    token: b!.token,
    endReason: 'max_runtime',
  });
  t.like((await store.inspect())[0], { status: 'idle', overdue: false });
  t.deepEqual((await store.beginPass(pass({ slotIds: [] }))).ended, []);
});

test('beginPass reaps at most `limit` and leaves the rest for the next pass', async (t) => {
  const { store } = await setup(t);
  await runAll(store, { 1: ['a', { timeoutMs: 100 }], 2: ['b', { timeoutMs: 100 }], 3: ['c', { timeoutMs: 100 }] });
  await sleep(500);
  const first = await store.beginPass(pass({ slotIds: [], limit: 2 }));
  t.is(first.ended.length, 2);
  const second = await store.beginPass(pass({ slotIds: [], limit: 2 }));
  t.is(second.ended.length, 1);
  t.deepEqual(new Set([...first.ended, ...second.ended].map((e) => e.taskId)), new Set(['a', 'b', 'c']));
});

test('unknown, ended and cancelled answers', async (t) => {
  const { store } = await setup(t);
  t.deepEqual(await store.keepalive({ taskId: 'never' }), { ok: false, reason: 'unknown' });

  const occ = await run(store, '1', 'task');
  t.deepEqual(
    await store.keepalive({ taskId: 'task', token: occ.token + 1 }),
    { ok: false, reason: 'unknown' },
    'a token the task never ran under',
  );

  const cancel = await store.requestCancel({ taskId: 'task', token: occ.token });
  t.like(cancel, { ok: true, alreadyRequested: false, occupancy: { cancelRequested: true } });
  t.like(await store.requestCancel({ taskId: 'task' }), { ok: true, alreadyRequested: true });
  t.like(await store.keepalive({ taskId: 'task' }), { ok: true, occupancy: { cancelRequested: true } });

  const ended = await store.end({ taskId: 'task', reason: 'stopped', error: '', deliverable: ['b'] });
  t.like(ended, { ok: true, ended: { reason: 'cancelled', status: null, error: '' } });
  t.deepEqual(await store.end({ taskId: 'task', reason: 'stopped', deliverable: ['b'] }), {
    ok: false,
    reason: 'ended',
    slotId: '1',
    token: occ.token,
    endReason: 'cancelled',
  });
  t.deepEqual(await store.keepalive({ taskId: 'task', token: occ.token + 7 }), { ok: false, reason: 'unknown' });

  // A stop reported with status `cancelled` ends as cancelled too; other reasons are kept.
  await run(store, '2', 'other');
  t.like(await store.end({ taskId: 'other', reason: 'stopped', status: 'cancelled', deliverable: ['b'] }), {
    ok: true,
    ended: { reason: 'cancelled' },
  });
  await run(store, '2', 'failing');
  t.like(await store.end({ taskId: 'failing', reason: 'start_failed', error: 'boom', deliverable: ['b'] }), {
    ok: true,
    ended: { reason: 'start_failed', error: 'boom' },
  });
});

test('tombstones are pruned after retentionMs, then the task is unknown', async (t) => {
  const { store } = await setup(t);
  await run(store, '1', 'gone');
  await store.end({ taskId: 'gone', reason: 'stopped', deliverable: ['b'] });
  t.like(await store.keepalive({ taskId: 'gone' }), { reason: 'ended' });
  await sleep(300);
  await store.beginPass(pass({ slotIds: [], retentionMs: 50 }));
  t.deepEqual(await store.keepalive({ taskId: 'gone' }), { ok: false, reason: 'unknown' });
});

test('each end call prunes up to twice as many due tombstones as it ends, oldest first: they cannot outgrow the passes', async (t) => {
  const { store, redis, ns } = await setup(t);
  for (const taskId of ['old-1', 'old-2', 'old-3', 'old-4', 'old-5', 'old-6', 'old-7']) {
    await run(store, '1', taskId);
    await store.end(endReq(taskId)); // no retentionMs: prunes nothing
  }
  t.is(await redis.hlen(`${ns}:ended`), 7);
  await sleep(1100);
  await run(store, '1', 'new-1');
  await store.end(endReq('new-1', { retentionMs: 1000 }));
  t.is(await redis.hlen(`${ns}:ended`), 6, 'one end: two pruned, one kept');
  t.deepEqual(await store.keepalive({ taskId: 'old-2' }), { ok: false, reason: 'unknown' });
  t.like(await store.keepalive({ taskId: 'old-3' }), { reason: 'ended' });
  await runAll(store, { '1': ['new-2'], '2': ['new-3'] });
  await store.endMany([endReq('new-2', { retentionMs: 1000 }), endReq('new-3', { retentionMs: 1000 })]);
  t.deepEqual((await redis.hkeys(`${ns}:ended`)).sort(), ['new-1', 'new-2', 'new-3', 'old-7']);
  // Within retention nothing goes, whatever the call ends.
  await run(store, '1', 'new-4');
  await store.end(endReq('new-4', { retentionMs: 60_000 }));
  t.is(await redis.hlen(`${ns}:ended`), 5);
});

test('starting a task again keeps the end of its earlier occupancy, in the same field', async (t) => {
  const { redis, store, ns } = await setup(t);
  const first = await run(store, '1', 'again');
  await store.end({ taskId: 'again', reason: 'stopped', deliverable: ['b'] });
  const second = await run(store, '2', 'again');
  await store.end({ taskId: 'again', reason: 'backend_removed', deliverable: ['b'] });
  t.deepEqual(await store.keepalive({ taskId: 'again' }), {
    ok: false,
    reason: 'ended',
    slotId: '2',
    token: second.token,
    endReason: 'backend_removed',
  });
  t.deepEqual(await store.keepalive({ taskId: 'again', token: first.token }), {
    ok: false,
    reason: 'ended',
    slotId: '1',
    token: first.token,
    endReason: 'stopped',
  });
  t.deepEqual(await redis.hkeys(`${ns}:ended`), ['again']);
  t.is(
    Number(await redis.zscore(`${ns}:ended-at`, 'again')),
    JSON.parse((await redis.hget(`${ns}:ended`, 'again'))!).earlier[0].endedAt,
    'due by its oldest end',
  );
});

test('token fencing: an end with an old token does nothing', async (t) => {
  const { store } = await setup(t);
  const first = await run(store, '1', 'fenced');
  await store.end({ taskId: 'fenced', token: first.token, reason: 'stopped', deliverable: ['b'] });
  const second = await run(store, '1', 'fenced');
  t.true(second.token > first.token);

  const firstEnd = { ok: false, reason: 'ended', slotId: '1', token: first.token, endReason: 'stopped' };
  t.deepEqual(await store.end({ taskId: 'fenced', token: first.token, reason: 'stopped', deliverable: ['b'] }), firstEnd);
  t.deepEqual(await store.requestCancel({ taskId: 'fenced', token: first.token }), firstEnd);
  const state = (await store.inspect())[0]!;
  t.like(state, { status: 'running', token: second.token, occupancy: { taskId: 'fenced', cancelRequested: false } });
  t.true((await store.end({ taskId: 'fenced', token: second.token, reason: 'stopped', deliverable: ['b'] })).ok);
});

test('an end with reserve takes a token and indexes the lease only when it acts', async (t) => {
  const { redis, store, ns } = await setup(t);
  const occupancy = await run(store, '1', 'kept');
  const counter = async () => Number(await redis.get(`${ns}:token`));
  const end = (token?: number) =>
    store.end({ taskId: 'kept', token, reason: 'stopped', deliverable: ['b'], reserve: { owner: 'k', leaseMs: 10_000 } });

  const before = await counter();
  t.like(await end(occupancy.token + 1), { ok: false, reason: 'unknown' });
  t.is(await counter(), before, 'a refused end takes no token');
  const result = await end(occupancy.token);
  if (!result.ok) throw new Error(`end failed: ${result.reason}`);
  t.deepEqual(result.reserved, { slotId: '1', token: before + 1 });
  t.is(await counter(), before + 1);
  // The lease is in the expiry index, scored as beginPass scores a reservation.
  t.is(Number(await redis.zscore(`${ns}:expiry`, '1')), result.ended.endedAt + 10_000);
  t.like(await end(), { ok: false, reason: 'ended' });
  t.is(await counter(), before + 1);
});

test('startMany and endMany of five requests are one EVALSHA each; of none, no command', async (t) => {
  const { redis, store } = await setup(t);
  const slotIds = ['1', '2', '3', '4', '5'];
  await store.init(slotIds);
  // One start and one end first: both scripts are then cached, so no NOSCRIPT and EVAL below.
  await run(store, '1', 'warm-up');
  await store.end(endReq('warm-up'));
  const { reserved } = await store.beginPass(pass({ slotIds }));
  const sent = recordCommands(redis);

  t.deepEqual(await store.startMany([]), []);
  t.deepEqual(await store.endMany([]), []);
  t.deepEqual(sent, [], 'no requests, no round trip');

  const started = await store.startMany(reserved.map((r) => startReq(r.slotId, r.token, `task-${r.slotId}`)));
  t.deepEqual(
    started.map((r) => r.ok && r.occupancy.slotId),
    slotIds,
  );
  t.deepEqual(sent, ['evalsha start3']);
  const ended = await store.endMany(
    slotIds.map((id) => endReq(`task-${id}`, Number(id) % 2 ? { reserve: { owner: 'k', leaseMs: 10_000 } } : {})),
  );
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
  t.deepEqual(sent, ['evalsha start3', 'evalsha end13']);
});

test('a malformed request fails the whole startMany or endMany before any request acts', async (t) => {
  const { store } = await setup(t);
  const { reserved } = await store.beginPass(pass({ slotIds: ['1', '2'] }));
  const [one, two] = reserved;
  if (!one || !two) throw new Error('slots 1 and 2 not reserved');
  const reservedState = await store.inspect();
  await t.throwsAsync(store.startMany([startReq('1', one.token, 'a'), startReq('2', two.token, 'b', { timeoutMs: NaN })]), {
    message: /start-3: ARGV\[12\] is not a finite number/,
  });
  t.deepEqual(await store.inspect(), reservedState, 'the valid start before it did not act');

  t.true((await store.startMany([startReq('1', one.token, 'a'), startReq('2', two.token, 'b')])).every((r) => r.ok));
  const runningState = await store.inspect();
  await t.throwsAsync(store.endMany([endReq('a'), endReq('b', { reserve: { owner: 'k', leaseMs: NaN } })]), {
    message: /end-13: request 2 is malformed/,
  });
  t.deepEqual(await store.inspect(), runningState, 'the valid end before it did not act');
  t.like(await store.end(endReq('a')), { ok: true, ended: { taskId: 'a' } });
});

test('the outbox delivers ended records to a caller that has the backend, once', async (t) => {
  const { store } = await setup(t);
  await runAll(store, {
    1: ['stopped-elsewhere', { backend: 'remote' }],
    2: ['timing-out', { backend: 'remote', timeoutMs: 100 }],
  });
  const ended = await store.end({ taskId: 'stopped-elsewhere', reason: 'stopped', deliverable: ['b'] });
  t.like(ended, { ok: true, delivered: false, ended: { backend: 'remote' } });
  await sleep(500);

  // Reaped by a caller without the backend: it goes to the outbox as well.
  const blind = await store.beginPass(pass({ slotIds: [], deliverable: ['b'] }));
  t.deepEqual(blind.ended, []);
  t.deepEqual((await store.beginPass(pass({ slotIds: [], deliverable: [] }))).ended, []);

  const taker = await store.beginPass(pass({ slotIds: [], deliverable: ['remote'] }));
  t.deepEqual(
    taker.ended.map((e) => [e.taskId, e.reason]),
    [
      ['stopped-elsewhere', 'stopped'],
      ['timing-out', 'timeout'],
    ],
  );
  t.deepEqual(taker.ended[0], ended.ok ? ended.ended : undefined);
  t.deepEqual((await store.beginPass(pass({ slotIds: [], deliverable: ['remote'] }))).ended, []);
});

test('outbox takes count against limit and the outbox is capped', async (t) => {
  const { store, redis, ns } = await setup(t, { outboxLimit: 2 });
  for (const id of ['o1', 'o2', 'o3']) {
    await run(store, '1', id, { backend: 'remote' });
    await store.end({ taskId: id, reason: 'stopped', deliverable: [] });
  }
  t.is(await redis.llen(`${ns}:outbox`), 2);
  const first = await store.beginPass(pass({ slotIds: [], deliverable: ['remote'], limit: 1 }));
  t.deepEqual(
    first.ended.map((e) => e.taskId),
    ['o2'],
  );
  const second = await store.beginPass(pass({ slotIds: [], deliverable: ['remote'], limit: 1 }));
  t.deepEqual(
    second.ended.map((e) => e.taskId),
    ['o3'],
  );
});

test('an unreachable Redis URL gives StoreUnavailableError without the password', async (t) => {
  const store = new RedisSlotStore({ name: NAME, redis: 'redis://user:s3cret-pw@127.0.0.1:1/0' });
  t.teardown(() => store.close());
  const error = await t.throwsAsync(store.init(SLOTS), { instanceOf: StoreUnavailableError });
  t.true(isTaskSemaphoreError(error));
  t.is(error?.code, 'ERR_STORE_UNAVAILABLE');
  t.false(error?.message.includes('s3cret-pw'), error?.message);
  t.false(String(error?.stack).includes('s3cret-pw'));
  t.regex(error?.message ?? '', /cannot reach Redis at redis:\/\/user:\*\*\*@127\.0\.0\.1:1/);
  t.regex(error?.message ?? '', /ECONNREFUSED/);
  // A second init tries again with a fresh client, and fails the same way.
  await t.throwsAsync(store.init(SLOTS), { instanceOf: StoreUnavailableError });
});

test('a store given a URL owns its client; a store given a client leaves it open', async (t) => {
  const keyPrefix = uniqueName('rs');
  const owning = new RedisSlotStore({ name: NAME, redis: redisUrl, keyPrefix });
  t.teardown(() => owning.close());
  await owning.init(SLOTS);
  await owning.init(SLOTS);
  t.is((await owning.beginPass(pass())).reserved.length, 3);
  await owning.close();
  await owning.close();
  await t.throwsAsync(owning.inspect(), { message: /Connection is closed/ });
  // init() after close() opens a fresh client, which the next close() closes.
  await owning.init(SLOTS);
  t.is((await owning.inspect()).length, 3);
  await owning.close();

  const { redis, store } = await setup(t);
  await store.close();
  t.is(await redis.ping(), 'PONG');
});

test('options are validated', (t) => {
  t.throws(() => new RedisSlotStore({ name: '', redis: redisUrl }), { message: /^name: / });
  t.throws(() => new RedisSlotStore({ name: 'a}b', redis: redisUrl }), { message: /^name: / });
  t.throws(() => new RedisSlotStore({ name: 'a', keyPrefix: '{x', redis: redisUrl }), { message: /^keyPrefix: / });
  t.throws(() => new RedisSlotStore({ name: 'a', redis: redisUrl, outboxLimit: 0 }), { message: /^outboxLimit: / });
  const bad = t.throws(() => new RedisSlotStore({ name: 'a', redis: 'http://:pw@x' }), { message: /^redis: / });
  t.false(bad?.message.includes(':pw@'));
});

test('every key lives under the one hash tag', async (t) => {
  const { redis, store, keyPrefix, ns } = await setup(t);
  await run(store, '1', 'kept', { backend: 'remote' });
  await run(store, '2', 'ended', { backend: 'remote' });
  await store.end({ taskId: 'ended', reason: 'stopped', deliverable: [] }); // to the outbox
  await run(store, '3', 'delivered', { backend: 'remote' });
  await store.end({ taskId: 'delivered', reason: 'stopped', deliverable: ['remote'], delivery: { owner: 'x', leaseMs: 60_000 } }); // to the delivery log
  await store.beginPass(pass());
  t.like(await store.acquire(acquireReq('waiting', 'w', ['1'], true)), { reason: 'queued' }); // to the acquire queue

  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await redis.scan(cursor, 'MATCH', `*${keyPrefix}*`, 'COUNT', 1000);
    cursor = next;
    keys.push(...batch);
  } while (cursor !== '0');
  t.deepEqual(
    keys.sort(),
    [
      'deliveries',
      'delivery-due',
      'ended',
      'ended-at',
      'expiry',
      'history',
      'outbox',
      'queue',
      'queue-due',
      'slots',
      'tasks',
      'token',
      'waiters',
    ].map((k) => `${ns}:${k}`),
  );
});

test('runScript falls back to EVAL on NOSCRIPT, then runs by SHA', async (t) => {
  const redis = await connectRedis();
  t.teardown(() => redis.quit().then(() => undefined));
  // A source no server has seen: a unique comment gives it a fresh SHA.
  const source = `-- ${uniqueName('probe')}\nreturn {KEYS[1], ARGV[1]}`;
  const script = defineScript('probe-1', source, 1);
  t.is(script.sha, createHash('sha1').update(source).digest('hex'));
  t.deepEqual(await redis.script('EXISTS', script.sha), [0]);
  t.deepEqual(await runScript(redis, script, ['k'], ['v']), ['k', 'v']);
  t.deepEqual(await redis.script('EXISTS', script.sha), [1]);
  t.deepEqual(await runScript(redis, script, ['k2'], [3]), ['k2', '3']);
  await t.throwsAsync(runScript(redis, script, [], []), { message: /takes 1 keys/ });
});

/** The fields that hold times: they differ between the two stores' clocks. */
const timeFields = new Set(['now', 'expiresAt', 'startedAt', 'lastKeepaliveAt', 'deadline', 'maxDeadline', 'endedAt', 'leaseUntil']);

/**
 * Runs `script` on `redisStore` and on a fresh MemorySlotStore of the same slots, and checks both
 * answer alike, times aside. The script returns what it read and the token before its first, as
 * the stores' counters start at different values: tokens are compared as numbers past it.
 */
async function sameAnswers(
  t: ExecutionContext,
  redisStore: SlotStore,
  script: (s: SlotStore) => Promise<{ out: unknown[]; base: number }>,
): Promise<void> {
  const memory = new MemorySlotStore();
  await memory.init(SLOTS);
  const run = async (s: SlotStore) => {
    const { out, base } = await script(s);
    // A slot never reserved keeps token 0.
    return JSON.parse(
      JSON.stringify(out, (key, v: unknown) =>
        typeof v !== 'number' ? v : timeFields.has(key) ? 'T' : key === 'token' && v > 0 ? v - base : v,
      ),
    ) as unknown;
  };
  const [fromRedis, fromMemory] = [await run(redisStore), await run(memory)];
  t.deepEqual(fromRedis, fromMemory);
}

test('gives the same answers as MemorySlotStore for the same calls', async (t) => {
  const { store } = await setup(t);
  await sameAnswers(t, store, async (s) => {
    const out: unknown[] = [];
    const p1 = await s.beginPass(pass({ slotIds: ['1', '2', '3'], leaseMs: 60_000 }));
    out.push(p1);
    // Token n of this script.
    const base = p1.reserved[0]!.token - 1;
    const token = (n: number) => base + n;
    out.push(await s.start(startReq('1', token(1), 'a', { maxRuntimeMs: 60_000 })));
    out.push(await s.start(startReq('2', token(2), 'a')));
    out.push(await s.start(startReq('2', token(2), 'b', { backend: 'remote', timeoutMs: 30 })));
    out.push(await s.start(startReq('3', token(99), 'c')));
    await s.release([{ slotId: '3', token: token(3) }]);
    out.push(await s.requestCancel({ taskId: 'a' }));
    out.push(await s.keepalive({ taskId: 'a', token: token(1) }));
    out.push(await s.keepalive({ taskId: 'a', token: token(2) }));
    out.push(await s.keepalive({ taskId: 'zzz' }));
    await sleep(150);
    out.push(await s.keepalive({ taskId: 'b' }));
    out.push(await s.beginPass(pass({ slotIds: ['3', '2'], deliverable: ['b'] })));
    out.push(await s.end({ taskId: 'a', reason: 'stopped', status: 'done', deliverable: ['b'] }));
    out.push(await s.end({ taskId: 'a', reason: 'stopped', deliverable: ['b'] }));
    out.push(await s.keepalive({ taskId: 'b', token: token(2) }));
    out.push(await s.beginPass(pass({ slotIds: ['1'], deliverable: ['remote', 'b'] })));
    out.push(await s.inspect());
    return { out, base };
  });
});

test('acquire and its queue give the same answers as MemorySlotStore', async (t) => {
  const { store } = await setup(t);
  await sameAnswers(t, store, async (s) => {
    const acquire = (request: AcquireRequest) => s.acquire!(request);
    const out: unknown[] = [];
    const first = await acquire({ ...acquireReq('a', 'A', ['1']), processLease: true });
    out.push(first);
    const base = (first.ok ? first.occupancy.token : 0) - 1;
    out.push(await acquire({ ...acquireReq('b', 'B', ['2', '1']), slots: [{ slotId: '2', timeoutMs: 5_000, maxRuntimeMs: 9_000 }] }));
    const held = await s.beginPass(pass({ slotIds: ['3'] }));
    out.push(held);
    out.push(await acquire(acquireReq('c', 'C', ['1', '3'], true)));
    out.push(await acquire(acquireReq('d', 'D', ['2'], true)));
    out.push(await acquire(acquireReq('e', 'E', ['3'], true)));
    out.push(await acquire(acquireReq('c', 'X', ['1'], true)), 'waits for another owner');
    out.push(await acquire(acquireReq('a', 'X', ['1'])), 'runs for another owner');
    out.push(await acquire(acquireReq('c', 'C', ['1', '3'], true)), 'renewed in place');
    out.push(await acquire(acquireReq('f', 'F', ['2'])), 'busy');
    await s.release(held.reserved); // slot 3: to c, the first waiter listing it
    out.push(await s.end(endReq('b', { reserve: { owner: 'P', leaseMs: 60_000 }, notify: true }))); // slot 2: to d
    out.push(await s.leaveQueue!({ taskId: 'c', owner: 'C' }), 'granted meanwhile');
    out.push(await s.leaveQueue!({ taskId: 'e', owner: 'E' }), 'left');
    out.push(await s.end(endReq('a', { reserve: { owner: 'P', leaseMs: 60_000 } })), 'no waiter: kept');
    out.push(await acquire(acquireReq('e', 'E', ['1', '2', '3'], true)), 'queued anew');
    out.push(await s.end(endReq('d')), 'slot 2: to e');
    out.push(await s.beginPass(pass({ slotIds: ['1', '2', '3'] })));
    out.push(await s.inspect());
    return { out, base };
  });
});

test('a grant passes over a waiter whose task id holds a slot already', async (t) => {
  const { store } = await setup(t);
  t.like(await store.acquire(acquireReq('holder', 'H', ['1'])), { ok: true });
  t.like(await store.acquire(acquireReq('twice', 'A', ['1'], true)), { reason: 'queued', position: 1 });
  t.like(await store.acquire(acquireReq('next', 'B', ['1'], true)), { reason: 'queued', position: 2 });
  // The waiting task id starts elsewhere, through a pass: a task id holds at most one slot.
  await run(store, '2', 'twice');
  t.like(await store.end(endReq('holder')), { ok: true });
  const slots = await store.inspect();
  t.like(slots[0], { slotId: '1', occupancy: { taskId: 'next', owner: 'B' } });
  t.like(slots[1], { slotId: '2', occupancy: { taskId: 'twice', owner: 'owner-a' } });
  t.like(await store.acquire(acquireReq('twice', 'A', ['1'], true)), { ok: false, reason: 'duplicate', slotId: '2' });
});

test('a malformed acquire fails before it acts', async (t) => {
  const { store } = await setup(t);
  const before = await store.inspect();
  const nan = {
    ...acquireReq('a', 'A', ['1', '2']),
    slots: [
      { slotId: '1', timeoutMs: 10_000, maxRuntimeMs: null },
      { slotId: '2', timeoutMs: NaN, maxRuntimeMs: null },
    ],
  };
  await t.throwsAsync(store.acquire(nan), { message: /acquire-7: ARGV\[11\] is not a finite number/ });
  await t.throwsAsync(store.acquire({ ...acquireReq('a', 'A', []), wait: { leaseMs: 1_000 } }), {
    message: /acquire-7: .*at least one slot/,
  });
  t.deepEqual(await store.inspect(), before);
  t.like(await store.leaveQueue({ taskId: 'a', owner: 'A' }), { left: false, occupancy: null }, 'nothing queued');
});

test('with waitReplicas, a write no replica confirms fails as StoreUnavailableError; reads and init do not wait', async (t) => {
  // A server of the test's own, which surely has no replica.
  const server = await ownRedis(t);
  const store = new RedisSlotStore({ name: NAME, redis: server.url, waitReplicas: 1, waitTimeoutMs: 50 });
  t.teardown(() => store.close());
  await store.init(SLOTS);
  t.is((await store.inspect()).length, SLOTS.length);
  const failed = await store
    .beginPass({ slotIds: SLOTS, owner: 'o', leaseMs: 60_000, deliverable: ['b'], retentionMs: 60_000, limit: 100 })
    .catch((error: unknown) => error);
  t.true(failed instanceof StoreUnavailableError, `expected StoreUnavailableError, got ${String(failed)}`);
  t.regex(String((failed as StoreUnavailableError).cause), /WAIT: 0 of 1 replicas confirmed the write within 50 ms/);
  // The master ran it all the same: the reservations are there, unacknowledged.
  t.true((await store.inspect()).every((slot) => slot.status === 'reserved'));
});

test('the history stream keeps at least the newest maxEntries records, a bounded number more, and none when off', async (t) => {
  const endAll = async (store: RedisSlotStore, rounds: number, prefix: string) => {
    const tokens: number[] = [];
    for (let round = 0; round < rounds; round++) {
      const { reserved } = await store.beginPass(pass());
      await store.startMany(reserved.map((r) => startReq(r.slotId, r.token, `${prefix}-${round}-${r.slotId}`)));
      for (const result of await store.endMany(reserved.map((r) => endReq(`${prefix}-${round}-${r.slotId}`)))) {
        if (result.ok) tokens.push(result.ended.token);
      }
    }
    return tokens;
  };
  const { redis, store, ns } = await setup(t, { history: { maxEntries: 10 } });
  const tokens = await endAll(store, 100, 'task');
  t.is(tokens.length, 300);
  const length = await redis.xlen(`${ns}:history`);
  t.true(length >= 10 && length < 300, `${length} entries kept of 300`);
  const kept = (await store.history(normalizeHistoryQuery({ limit: 10_000 }))).map((r) => r.token);
  t.is(kept.length, length);
  t.deepEqual(kept.slice(0, 10).sort(), tokens.slice(-10).sort(), 'the newest are kept');

  const off = await setup(t, { history: false });
  await endAll(off.store, 2, 'off');
  t.is(await off.redis.exists(`${off.ns}:history`), 0, 'no stream written');
});
