/**
 * RedisSlot on a Redis Cluster of the test's own while the master holding the scheduler name's
 * hash slot changes: a manual failover (CLUSTER FAILOVER on its replica), and a kill of the master
 * (SIGKILL; its replica is promoted once the other masters judge it failed). What a user relies on:
 * the store follows the new master by itself, its calls fail as `StoreUnavailableError` while no
 * master serves the slot, and every write that was replicated survives.
 */
import test, { type ExecutionContext } from 'ava';
import { Cluster } from 'ioredis';
import { StoreUnavailableError } from '../../src/errors.js';
import { RedisSlotStore } from '../../slots/redis/index.js';
import type { Occupancy } from '../../slots/store.js';
import { ownCluster, type OwnCluster } from '../helpers/own-cluster.js';

const keyPrefix = 'cluster';
const name = 'failover';
/** The hash tag of every key of the name (slots/redis/redis-store.ts). */
const tag = `{${keyPrefix}:${name}}`;
const slotIds = ['1', '2', '3'];
const long = 60_000;

/** A client as the README tells users to build one, closed at teardown. */
function clusterClient(t: ExecutionContext, cluster: OwnCluster): Cluster {
  const client = new Cluster([...cluster.startupNodes], { redisOptions: { maxRetriesPerRequest: 3 } });
  client.on('error', () => {});
  t.teardown(() => client.disconnect());
  return client;
}

/** A store on the cluster with a task running in each of its slots. */
async function storeWithTasks(t: ExecutionContext, cluster: OwnCluster): Promise<{ store: RedisSlotStore; running: Occupancy[] }> {
  const store = new RedisSlotStore({ name, redis: clusterClient(t, cluster), keyPrefix });
  t.teardown(() => store.close());
  await store.init(slotIds);
  const { reserved } = await store.beginPass({ slotIds, owner: 'p1', leaseMs: long, deliverable: ['b'], retentionMs: long, limit: 100 });
  const started = await store.startMany(reserved.map((r) => ({ ...r, taskId: `task-${r.slotId}`, backend: 'b', timeoutMs: long, maxRuntimeMs: null })));
  const running = started.map((result) => (result.ok ? result.occupancy : t.fail(`start failed: ${JSON.stringify(result)}`)) as Occupancy);
  t.is(running.length, slotIds.length);
  return { store, running };
}

/** Renews every task until `done` settles; returns what each renewal answered or threw. */
async function renewWhile(store: RedisSlotStore, running: readonly Occupancy[], done: Promise<unknown>): Promise<Array<boolean | unknown>> {
  let over = false;
  void done.finally(() => (over = true));
  const outcomes: Array<boolean | unknown> = [];
  while (!over) {
    for (const o of running) outcomes.push(await store.keepalive({ taskId: o.taskId, token: o.token }).then((r) => r.ok, (error: unknown) => error));
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return outcomes;
}

/** Each task still holds its slot under its token, and the name's state goes on: an end, a new start. */
async function stateKept(t: ExecutionContext, store: RedisSlotStore, running: readonly Occupancy[]): Promise<void> {
  for (const o of running) {
    const renewed = await store.keepalive({ taskId: o.taskId, token: o.token });
    t.true(renewed.ok, `${o.taskId} lost its slot: ${JSON.stringify(renewed)}`);
  }
  const ended = await store.end({ taskId: running[0]!.taskId, token: running[0]!.token, reason: 'stopped', deliverable: ['b'] });
  t.true(ended.ok);
  const { reserved } = await store.beginPass({ slotIds, owner: 'p2', leaseMs: long, deliverable: ['b'], retentionMs: long, limit: 100 });
  t.deepEqual(reserved.map((r) => r.slotId), [running[0]!.slotId]);
  // Fencing tokens keep growing on the new master.
  t.true(reserved[0]!.token > Math.max(...running.map((o) => o.token)));
}

test('a manual failover of the name\'s master loses no acknowledged write, and calls meanwhile succeed', async (t) => {
  t.timeout(90_000);
  const cluster = await ownCluster(t);
  const { store, running } = await storeWithTasks(t, cluster);
  const before = await cluster.shardOf(tag);
  const failover = cluster.failover(tag);
  const outcomes = await renewWhile(store, running, failover);
  const { from, to } = await failover;
  t.deepEqual([from, to], [before.master, before.replica]);
  t.is((await cluster.shardOf(tag)).master, before.replica);
  // The old master paused its writers until the replica caught up, then sent them on (MOVED).
  t.true(outcomes.length > 0);
  t.deepEqual(outcomes.filter((outcome) => outcome !== true), []);
  await stateKept(t, store, running);
});

test('a killed master: calls fail as StoreUnavailableError until its replica takes over, which serves every replicated write', async (t) => {
  t.timeout(90_000);
  const cluster = await ownCluster(t);
  const { store, running } = await storeWithTasks(t, cluster);
  const before = await cluster.shardOf(tag);
  // Replication is asynchronous: only what the replica has survives the kill.
  await cluster.replicated(tag);
  const kill = cluster.killMaster(tag);
  const outcomes = await renewWhile(store, running, kill);
  t.is((await kill).promoted, before.replica);
  const failures = outcomes.filter((outcome) => outcome !== true);
  t.true(failures.length > 0, 'no call reached the dead master');
  for (const failure of failures) t.true(failure instanceof StoreUnavailableError, `expected StoreUnavailableError, got ${String(failure)}`);
  await stateKept(t, store, running);
  // The shard gets a replica again, and a later failover finds it.
  await cluster.replaceKilled();
  const { to } = await cluster.failover(tag);
  t.not(to, before.replica);
  await stateKept(t, store, running.slice(1));
});
