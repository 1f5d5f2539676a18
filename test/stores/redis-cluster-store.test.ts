/**
 * The slot-store contract and the scheduler conformance suite on a Redis Cluster of the test's own
 * (3 masters, 3 replicas), through an ioredis `Cluster` client: the keys of each scheduler name
 * share one hash tag, so every script runs on the one node that holds them, wherever the cluster
 * put that name, and the events of a name reach subscribers on any node.
 */
import test from 'ava';
import { Cluster } from 'ioredis';
import { RedisSlotStore } from '../../slots/redis/index.js';
import { schedulerConformanceSuite, storeContractSuite } from '../../src/testing/index.js';
import { ownCluster, type OwnCluster } from '../helpers/own-cluster.js';
import { uniqueName } from '../helpers/services.js';

/** The cluster and one client for the whole file, stopped after all its tests. */
const cleanups: Array<() => unknown> = [];
let shared: Promise<{ cluster: OwnCluster; client: Cluster }> | undefined;
const setup = () =>
  (shared ??= (async () => {
    const cluster = await ownCluster({ teardown: (fn) => cleanups.push(fn) });
    const client = new Cluster([...cluster.startupNodes], { redisOptions: { maxRetriesPerRequest: 3 } });
    cleanups.push(() => client.disconnect());
    return { cluster, client };
  })());

test.after.always(async () => {
  for (const fn of cleanups.reverse()) await fn();
});

/** Deletes one test's keys, from whichever master holds them. */
async function dropKeys(client: Cluster, keyPrefix: string): Promise<void> {
  for (const node of client.nodes('master')) {
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', `{${keyPrefix}:*`, 'COUNT', 1000);
      for (const key of keys) await client.del(key);
      cursor = next;
    } while (cursor !== '0');
  }
}

storeContractSuite(test, {
  name: 'redis cluster',
  deliveryLog: true,
  history: true,
  acquire: true,
  async create(name, options) {
    const { client } = await setup();
    const keyPrefix = uniqueName('contract');
    return {
      store: new RedisSlotStore({ name, redis: client, keyPrefix, ...options }),
      async cleanup() {
        await dropKeys(client, keyPrefix);
      },
    };
  },
  async createPeers(names) {
    const { client } = await setup();
    const keyPrefix = uniqueName('contract');
    return {
      stores: names.map((name) => new RedisSlotStore({ name, redis: client, keyPrefix })),
      cleanup: () => dropKeys(client, keyPrefix),
    };
  },
});

schedulerConformanceSuite(test, {
  label: 'RedisSlot on a cluster',
  deliveryLog: true,
  async setup() {
    const { client } = await setup();
    const keyPrefix = uniqueName('ts');
    return {
      // The caller's client: no scheduler or store of the test may close it. The suite breaks
      // callbacks on purpose and judges by assertions: its schedulers log nothing.
      options: { logger: false, redis: client, keyPrefix },
      slotCls: 'RedisSlot',
      createStore: async (name) => new RedisSlotStore({ name, redis: client, keyPrefix }),
      cleanup: () => dropKeys(client, keyPrefix),
    };
  },
});
