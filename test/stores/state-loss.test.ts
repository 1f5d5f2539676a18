/**
 * A fleet of scheduler processes (test/helpers/worker-process) whose store loses its state or
 * restarts under it, as in operation: its own redis-server restarted without persistence, then
 * flushed; its own PostgreSQL cluster stopped fast, then immediately, and started again, with its
 * tables logged, and unlogged (`postgresUnlogged`), which the immediate stop empties. Every
 * process must reconnect by itself, the tasks running across the loss must learn it, each
 * occupancy must get exactly one stopCallback, and the fleet must run N tasks again, under
 * `maxLocalTasks`, within a timeout and a pass.
 */
import test, { type ExecutionContext } from 'ava';
import { Redis } from 'ioredis';
import pg from 'pg';
import { PostgresSlotStore } from '../../slots/postgres/postgres-store.js';
import { RedisSlotStore } from '../../slots/redis/redis-store.js';
import type { SlotStore } from '../../src/contracts/store.js';
import { ownPostgres, ownRedis } from '../helpers/own-servers.js';
import { uniqueName } from '../helpers/services.js';
import { exited, fleetNamespace, records, startWorkers, waitFor, type Entry } from '../helpers/worker-fleet.js';

const slots = 6;
const timeoutMs = 1600;
/** The cron tick of every process: a pass a second. */
const passMs = 1000;
const workers = 3;

/** A fleet of 3 processes sharing 6 slots, at most 2 tasks each, so that every process must take its share. */
function fleetEnv(ns: string, store: Record<string, string>): Record<string, string> {
  return {
    ...store,
    NS: ns,
    SLOTS: String(slots),
    TIMEOUT: `${timeoutMs}ms`,
    MAX_LOCAL_TASKS: String(slots / workers),
    TASK_MS: '800',
    CRON: '*/1 * * * * *',
  };
}

/** The store under the fleet, as the test reads it, around the processes. */
interface StoreView {
  store: SlotStore;
  /** How many connections listen to the store's events (Redis SUBSCRIBE, PostgreSQL LISTEN). */
  listening(): Promise<number>;
}

/**
 * True when the fleet runs `slots` tasks and nothing else: the store has every slot running, and
 * the tasks running in the processes are exactly those (none left running on a slot the store
 * forgot).
 */
async function runsFull(view: StoreView, redis: Redis, ns: string): Promise<boolean> {
  const running = (await view.store.inspect().catch(() => [])).flatMap((slot) => (slot.occupancy ? [slot.occupancy.taskId] : []));
  const live = await redis.smembers(`${ns}:running`);
  return running.length === slots && live.length === slots && running.every((taskId) => live.includes(taskId));
}

/**
 * Waits until the fleet runs full again after a loss that ended at `back`, and every process
 * listens to the store's events again; logs how long it took.
 */
async function fullAgain(t: ExecutionContext, what: string, view: StoreView, redis: Redis, ns: string, back: number): Promise<void> {
  // Generous: the requirement is a timeout and a pass; a fleet that stays below N never gets there.
  await waitFor(() => runsFull(view, redis, ns), `the fleet to run ${slots} tasks again after ${what}`, timeoutMs + passMs + 8000);
  t.log(`${what}: ${slots} tasks running again ${Date.now() - back} ms after (timeout ${timeoutMs} ms + pass ${passMs} ms)`);
  await waitFor(
    async () => (await view.listening().catch(() => 0)) === workers,
    `every process to listen to the store's events after ${what}`,
    10_000,
  );
}

/** Runs `ids` through the fleet, applying each loss once the fleet runs full; returns the records. */
async function runThrough(
  t: ExecutionContext,
  env: Record<string, string>,
  view: StoreView,
  losses: Array<[string, () => Promise<void>]>,
): Promise<{ starts: Entry[]; stops: Entry[]; aborts: Entry[]; lossesAt: number[] }> {
  const { redis, ns } = await fleetNamespace(t);
  const fullEnv = fleetEnv(ns, env);
  const ids = Array.from({ length: 100 }, (_, i) => `job-${i}`);
  await redis.rpush(`${ns}:queue`, ...ids);
  const children = startWorkers(t, workers, fullEnv);
  await waitFor(() => runsFull(view, redis, ns), `the fleet to run ${slots} tasks`, 30_000);
  const lossesAt: number[] = [];
  for (const [what, loss] of losses) {
    // Mid-task: some tasks finish while the store is away, and their stop() fails.
    await new Promise((resolve) => setTimeout(resolve, 500));
    lossesAt.push(Date.now());
    await loss();
    await fullAgain(t, what, view, redis, ns, Date.now());
  }
  await waitFor(async () => (await redis.llen(`${ns}:queue`)) === 0, 'the queue to drain', 60_000);
  await waitFor(
    async () => (await redis.llen(`${ns}:stops`)) >= (await redis.llen(`${ns}:starts`)) && (await redis.scard(`${ns}:running`)) === 0,
    'every started occupancy to end',
    30_000,
  );
  await redis.set(`${ns}:done`, '1');
  t.deepEqual(
    await Promise.all(children.map(exited)),
    Array.from({ length: workers }, () => 0),
  );
  const starts = await records(redis, `${ns}:starts`);
  const stops = await records(redis, `${ns}:stops`);
  const aborts = await records(redis, `${ns}:aborts`);
  t.deepEqual(await redis.lrange(`${ns}:violations`, 0, -1), []);
  // The outage was felt: tasks that finished meanwhile could not stop, and gave up.
  t.true((await redis.llen(`${ns}:stop-errors`)) > 0, 'some stops failed while the store was away');
  t.deepEqual([...new Set(starts.map((s) => s.taskId))].sort(), [...ids].sort(), 'every id ran');
  // Exactly one stopCallback per occupancy, whatever happened to the store.
  const key = (e: Entry) => `${e.taskId}/${e.token}`;
  t.deepEqual(stops.map(key).sort(), starts.map(key).sort(), 'one stopCallback per occupancy');
  t.is(new Set(stops.map(key)).size, stops.length);
  return { starts, stops, aborts, lossesAt };
}

/** Whether every occupancy started after `at` (and 100 ms to settle) has a token above all started before it. */
function tokensGrewAcross(starts: readonly Entry[], at: number): boolean {
  const before = Math.max(...starts.filter((s) => s.at < at).map((s) => s.token));
  return starts.filter((s) => s.at > at + 100).every((s) => s.token > before);
}

/**
 * A fleet's environment on its own PostgreSQL cluster, schema `slots`, with the tables
 * `unlogged` or not, and the store and event listeners as the test sees them.
 */
async function postgresFleet(t: ExecutionContext, unlogged: boolean) {
  const server = await ownPostgres(t);
  const name = uniqueName('sl');
  const env = { KIND: 'postgres', SCHEMA: 'slots', STORE_URL: server.url, NAME: name, ...(unlogged ? { POSTGRES_UNLOGGED: '1' } : {}) };
  const store = new PostgresSlotStore({ name, postgres: server.url, schema: 'slots', ...(unlogged ? { unlogged } : {}) });
  t.teardown(() => store.close());
  await store.init([]);
  const admin = new pg.Pool({ connectionString: server.url, max: 1 });
  admin.on('error', () => {});
  t.teardown(() => admin.end());
  const listening = async () =>
    Number((await admin.query<{ n: string }>("SELECT count(*) AS n FROM pg_stat_activity WHERE query LIKE 'LISTEN %'")).rows[0]!.n);
  return { server, env, admin, view: { store, listening } };
}

test('Redis: a fleet on a Redis that loses every key (restart without persistence, FLUSHALL) runs N again and tells the tasks that lost their slot', async (t) => {
  const server = await ownRedis(t);
  const keyPrefix = uniqueName('sl');
  const name = uniqueName('sl');
  const env = { KIND: 'redis', KEY_PREFIX: keyPrefix, STORE_URL: server.url, NAME: name };
  const store = new RedisSlotStore({ name, redis: server.url, keyPrefix });
  t.teardown(() => store.close());
  await store.init([]);
  const admin = new Redis(server.url, { maxRetriesPerRequest: 1 });
  admin.on('error', () => {});
  t.teardown(() => admin.disconnect());
  const channel = `{${keyPrefix}:${name}}:events`;
  const listening = async () => Number(((await admin.pubsub('NUMSUB', channel)) as [string, number])[1]);
  const { starts, stops, aborts, lossesAt } = await runThrough(t, env, { store, listening }, [
    ['SHUTDOWN NOSAVE and a restart', () => server.restart(1500)],
    ['FLUSHALL', () => server.flushAll()],
  ]);
  const key = (e: Entry) => `${e.taskId}/${e.token}`;
  const lost = stops.filter((s) => s.reason === 'lost');
  t.true(
    stops.every((s) => s.reason === 'stopped' || s.reason === 'lost'),
    JSON.stringify(stops.filter((s) => s.reason !== 'stopped')),
  );
  // The tasks that ran across a loss learnt it: their stopCallback says lost, each time.
  for (const at of lossesAt) {
    t.true(
      lost.some((s) => starts.find((start) => key(start) === key(s))!.at < at && s.at > at),
      `occupancies running at the loss at ${at} ended lost`,
    );
  }
  // A task told by its signal that its slot was lost hears it with cause lost, and its stopCallback says lost.
  t.true(aborts.length > 0, 'some running tasks learnt the loss through their signal');
  for (const abort of aborts) {
    t.is(abort.cause, 'lost');
    t.is(stops.find((s) => key(s) === key(abort))?.reason, 'lost', `${key(abort)} ended lost`);
  }
  // Tokens keep growing across the losses: they are the idempotency key of the stop callbacks.
  t.true(tokensGrewAcross(starts, lossesAt[0]!), 'tokens after the loss exceed those before it');
});

test('PostgreSQL: a fleet whose PostgreSQL restarts (fast, then immediate) runs N again within a timeout and a pass', async (t) => {
  const { server, env, view } = await postgresFleet(t, false);
  const { stops, aborts } = await runThrough(t, env, view, [
    ['a fast restart', () => server.restart('fast', 1500)],
    ['an immediate restart', () => server.restart('immediate', 1500)],
  ]);
  // The slots persist: a task ends as it stopped, or timed out when its stop or keepalives could not get through.
  t.true(
    stops.every((s) => s.reason === 'stopped' || s.reason === 'timeout'),
    JSON.stringify(stops.filter((s) => s.reason !== 'stopped')),
  );
  t.true(
    aborts.every((a) => a.cause === 'lost' || a.cause === 'timeout'),
    JSON.stringify(aborts),
  );
});

test('PostgreSQL with unlogged tables: a fast restart keeps the slots, a crash empties them; the fleet runs N again, tells the tasks that lost their slot, and tokens keep growing', async (t) => {
  const { server, env, admin, view } = await postgresFleet(t, true);
  const { rows } = await admin.query<{ relpersistence: string }>(
    "SELECT relpersistence FROM pg_class WHERE oid = 'slots.task_semaphore_slots'::regclass",
  );
  t.is(rows[0]!.relpersistence, 'u');
  const { starts, stops, lossesAt } = await runThrough(t, env, view, [
    ['a fast restart', () => server.restart('fast', 1500)],
    // Crash recovery resets every unlogged table to empty, as a restart without persistence does Redis.
    ['an immediate stop (a crash)', () => server.restart('immediate', 1500)],
  ]);
  const key = (e: Entry) => `${e.taskId}/${e.token}`;
  const startOf = (s: Entry) => starts.find((start) => key(start) === key(s))!;
  const [fast, crash] = lossesAt as [number, number];
  t.true(
    stops.every((s) => s.reason === 'stopped' || s.reason === 'timeout' || s.reason === 'lost'),
    JSON.stringify(stops.filter((s) => s.reason !== 'stopped')),
  );
  // The fast restart lost nothing: no occupancy that ran across it, and ended before the crash, was lost.
  t.false(
    stops.some((s) => s.reason === 'lost' && startOf(s).at < fast && s.at < crash),
    'no occupancy lost to the fast restart',
  );
  // The crash emptied the slots: the tasks that ran across it learnt it, with stopCallback reason lost.
  t.true(
    stops.some((s) => s.reason === 'lost' && startOf(s).at < crash && s.at > crash),
    'occupancies running at the crash ended lost',
  );
  // Tokens keep growing across the crash. The sequence usually resumes at or above its last value
  // here, so this is the end-to-end check; that the slots' raise holds when it does not is
  // postgres-persistence.test.ts's.
  t.true(tokensGrewAcross(starts, crash), 'tokens after the crash exceed those before it');
});
