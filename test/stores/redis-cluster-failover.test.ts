/**
 * RedisSlot on a Redis Cluster of the test's own while the master holding the scheduler name's
 * hash slot changes: a manual failover (CLUSTER FAILOVER on its replica), and a kill of the master
 * (SIGKILL; its replica is promoted once the other masters judge it failed). What a user relies on:
 * the store follows the new master by itself, its calls fail as `StoreUnavailableError` while no
 * master serves the slot, and every write that was replicated survives. A write that was not is
 * lost with the master; with `waitReplicas` the store acknowledges none such.
 */
import test, { type ExecutionContext } from 'ava';
import { Cluster } from 'ioredis';
import { StoreUnavailableError } from '../../src/core/errors.js';
import { Scheduler } from '../../src/scheduler/scheduler.js';
import { ScriptedBackend } from '../../src/testing/scheduler-kit.js';
import { RedisSlotStore, type RedisSlotStoreOptions } from '../../slots/redis/index.js';
import type { Occupancy } from '../../src/contracts/store.js';
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
async function storeWithTasks(
  t: ExecutionContext,
  cluster: OwnCluster,
  options: Pick<RedisSlotStoreOptions, 'waitReplicas'> = {},
): Promise<{ store: RedisSlotStore; running: Occupancy[] }> {
  const store = new RedisSlotStore({ name, redis: clusterClient(t, cluster), keyPrefix, ...options });
  t.teardown(() => store.close());
  await store.init(slotIds);
  const { reserved } = await store.beginPass({ slotIds, owner: 'p1', leaseMs: long, deliverable: ['b'], retentionMs: long, limit: 100 });
  const started = await store.startMany(
    reserved.map((r) => ({ ...r, taskId: `task-${r.slotId}`, backend: 'b', timeoutMs: long, maxRuntimeMs: null })),
  );
  const running = started.map((result) => (result.ok ? result.occupancy : t.fail(`start failed: ${JSON.stringify(result)}`)) as Occupancy);
  t.is(running.length, slotIds.length);
  return { store, running };
}

/** Renews every task until `done` settles; returns what each renewal answered or threw. */
async function renewWhile(store: RedisSlotStore, running: readonly Occupancy[], done: Promise<unknown>): Promise<Array<boolean | unknown>> {
  let over = false;
  const end = () => (over = true);
  done.then(end, end); // not .finally: its copy of a rejection would go unhandled
  const outcomes: Array<boolean | unknown> = [];
  while (!over) {
    for (const o of running)
      outcomes.push(
        await store.keepalive({ taskId: o.taskId, token: o.token }).then(
          (r) => r.ok,
          (error: unknown) => error,
        ),
      );
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
  t.deepEqual(
    reserved.map((r) => r.slotId),
    [running[0]!.slotId],
  );
  // Fencing tokens keep growing on the new master.
  t.true(reserved[0]!.token > Math.max(...running.map((o) => o.token)));
}

test("a manual failover of the name's master loses no acknowledged write, and calls meanwhile succeed", async (t) => {
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
  t.deepEqual(
    outcomes.filter((outcome) => outcome !== true),
    [],
  );
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
  for (const failure of failures)
    t.true(failure instanceof StoreUnavailableError, `expected StoreUnavailableError, got ${String(failure)}`);
  await stateKept(t, store, running);
  // The shard gets a replica again, and a later failover finds it.
  await cluster.replaceKilled();
  const { to } = await cluster.failover(tag);
  t.not(to, before.replica);
  await stateKept(t, store, running.slice(1));
});

/** A task ended, and another started in its slot, on a master whose replica gets none of it. */
async function writesTheReplicaLacks(store: RedisSlotStore, cluster: OwnCluster, first: Occupancy) {
  await cluster.cutReplication(tag);
  const ended = await store
    .end({ taskId: first.taskId, token: first.token, reason: 'stopped', deliverable: ['b'] })
    .catch((error: unknown) => error);
  const pass = await store
    .beginPass({ slotIds, owner: 'p2', leaseMs: long, deliverable: ['b'], retentionMs: long, limit: 100 })
    .catch((error: unknown) => error);
  return { ended, pass };
}

test('a master killed before its replica got the writes: the promoted replica serves the older state, so they are lost', async (t) => {
  t.timeout(90_000);
  const cluster = await ownCluster(t);
  const { store, running } = await storeWithTasks(t, cluster);
  const [first] = running;
  await cluster.replicated(tag);
  const { ended, pass } = await writesTheReplicaLacks(store, cluster, first!);
  // The master acknowledged both: the end, and a start in the slot it freed.
  t.like(ended, { ok: true });
  const reservation = (pass as { reserved: Array<{ slotId: string; token: number }> }).reserved[0]!;
  t.is(reservation.slotId, first!.slotId);
  const late = await store.start({ ...reservation, taskId: 'late', backend: 'b', timeoutMs: long, maxRuntimeMs: null });
  t.true(late.ok);
  await cluster.killMaster(tag);
  // The new master never heard of them: the late task is unknown (its scheduler tells it lost),
  // and the ended one holds its slot again, until it times out (README, State loss).
  t.like(await store.keepalive({ taskId: 'late', token: reservation.token }), { ok: false, reason: 'unknown' });
  t.like(await store.keepalive({ taskId: first!.taskId, token: first!.token }), { ok: true });
});

test('with waitReplicas, a write the replica did not confirm fails as StoreUnavailableError, and a kill loses nothing acknowledged', async (t) => {
  t.timeout(90_000);
  const cluster = await ownCluster(t);
  const { store, running } = await storeWithTasks(t, cluster, { waitReplicas: 1 });
  const [first] = running;
  const { ended, pass } = await writesTheReplicaLacks(store, cluster, first!);
  // The master ran both, but the replica confirmed neither: neither is acknowledged.
  for (const failed of [ended, pass]) {
    t.true(failed instanceof StoreUnavailableError, `expected StoreUnavailableError, got ${String(failed)}`);
    t.regex(String((failed as StoreUnavailableError).cause), /WAIT: 0 of 1 replicas/);
  }
  await cluster.killMaster(tag);
  // Until the new master has a replica, nothing it writes is confirmed either.
  const orphaned = await store.keepalive({ taskId: first!.taskId, token: first!.token }).catch((error: unknown) => error);
  t.true(
    orphaned instanceof StoreUnavailableError,
    `expected StoreUnavailableError, got ${String(orphaned)}: ${String((orphaned as Error).cause)}`,
  );
  await cluster.replaceKilled();
  // What the store acknowledged is what the new master holds: the first task runs, as its
  // scheduler, told its stop failed, still believes; stopped again, it ends.
  await stateKept(t, store, running);
});

test('a Scheduler passes redisWaitReplicas to its store: its task runs while the replica confirms, a stop it cannot confirm fails', async (t) => {
  t.timeout(90_000);
  const cluster = await ownCluster(t);
  const backend = new ScriptedBackend(['a']);
  const scheduler = new Scheduler({ name, redis: clusterClient(t, cluster), keyPrefix, redisWaitReplicas: 1 });
  t.teardown(() => scheduler.close());
  scheduler.registerBackend('b', backend);
  await scheduler.load([{ slotId: 1, backends: ['b'] }]);
  await scheduler.schedule();
  t.deepEqual(
    backend.started.map((s) => s.taskId),
    ['a'],
  );
  await cluster.cutReplication(tag);
  const failed = await scheduler.stop('a').catch((error: unknown) => error);
  t.true(failed instanceof StoreUnavailableError, `expected StoreUnavailableError, got ${String(failed)}`);
  t.regex(String((failed as StoreUnavailableError).cause), /WAIT: 0 of 1 replicas/);
});
