/**
 * Runs the slot-store contract suite against every store of the package: memory (the reference),
 * Redis (through a shared client, and through a URL so the store owns its client) and PostgreSQL,
 * on real servers. Each test gets its own key prefix or schema; a missing server fails every test
 * of that store with how to start it, nothing is skipped.
 */
import test from 'ava';
import type { Redis } from 'ioredis';
import type pg from 'pg';
import { MemorySlotStore } from '../../slots/memory/index.js';
import { PostgresSlotStore } from '../../slots/postgres/index.js';
import { RedisSlotStore } from '../../slots/redis/index.js';
import { storeContractSuite } from '../../src/testing/index.js';
import { connectPostgres, connectRedis, freshSchema, redisUrl, uniqueName } from '../helpers/services.js';

/** Connections shared by the tests of this file, opened on first use and closed after all of them. */
let sharedRedis: Promise<Redis> | undefined;
let sharedPool: Promise<pg.Pool> | undefined;
const redis = () => (sharedRedis ??= connectRedis());
const postgres = () => (sharedPool ??= connectPostgres());

test.after.always(async () => {
  await Promise.allSettled([sharedRedis?.then((client) => client.quit()), sharedPool?.then((pool) => pool.end())]);
});

/** Deletes one test's Redis keys (all of them share the `{keyPrefix:` hash-tag start). */
async function dropRedisKeys(client: Redis, keyPrefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await client.scan(cursor, 'MATCH', `{${keyPrefix}:*`, 'COUNT', 1000);
    if (keys.length > 0) await client.del(...keys);
    cursor = next;
  } while (cursor !== '0');
}

storeContractSuite(test, {
  name: 'memory',
  deliveryLog: true,
  history: true,
  acquire: true,
  async create(_name, options) {
    return { store: new MemorySlotStore(options), cleanup: async () => {} };
  },
  async createPeers(names) {
    // One instance per name: in one process, schedulers of a name share the instance.
    const byName = new Map(names.map((name) => [name, new MemorySlotStore()]));
    return { stores: names.map((name) => byName.get(name)!), cleanup: async () => {} };
  },
});

storeContractSuite(test, {
  name: 'redis',
  deliveryLog: true,
  history: true,
  acquire: true,
  async create(name, options) {
    const client = await redis();
    const keyPrefix = uniqueName('contract');
    return {
      store: new RedisSlotStore({ name, redis: client, keyPrefix, ...options }),
      async cleanup() {
        // The store was closed first: the client it was given must still work.
        await client.ping();
        await dropRedisKeys(client, keyPrefix);
      },
    };
  },
  async createPeers(names) {
    const client = await redis();
    const keyPrefix = uniqueName('contract');
    return {
      stores: names.map((name) => new RedisSlotStore({ name, redis: client, keyPrefix })),
      cleanup: () => dropRedisKeys(client, keyPrefix),
    };
  },
});

storeContractSuite(test, {
  name: 'redis (url)',
  deliveryLog: true,
  history: true,
  acquire: true,
  async create(name, options) {
    const client = await redis(); // fails with how to start Redis before any store exists
    const keyPrefix = uniqueName('contract');
    return {
      store: new RedisSlotStore({ name, redis: redisUrl, keyPrefix, ...options }),
      cleanup: () => dropRedisKeys(client, keyPrefix),
    };
  },
  async createPeers(names) {
    // Each store opens its own connection, as schedulers in separate processes would.
    const client = await redis();
    const keyPrefix = uniqueName('contract');
    return {
      stores: names.map((name) => new RedisSlotStore({ name, redis: redisUrl, keyPrefix })),
      cleanup: () => dropRedisKeys(client, keyPrefix),
    };
  },
});

storeContractSuite(test, {
  name: 'postgres',
  deliveryLog: true,
  history: true,
  acquire: true,
  async create(name, options) {
    const pool = await postgres();
    const schema = await freshSchema(pool);
    return {
      store: new PostgresSlotStore({ name, postgres: pool, schema, ...options }),
      async cleanup() {
        // The store was closed first: the pool it was given must still work.
        await pool.query(`DROP SCHEMA ${schema} CASCADE`);
      },
    };
  },
  async createPeers(names) {
    const pool = await postgres();
    const schema = await freshSchema(pool);
    return {
      stores: names.map((name) => new PostgresSlotStore({ name, postgres: pool, schema })),
      cleanup: async () => {
        await pool.query(`DROP SCHEMA ${schema} CASCADE`);
      },
    };
  },
});
