/** Runs the scheduler conformance suite on the three built-in slot kinds, against the real servers. */
import test from 'ava';
import type pg from 'pg';
import { schedulerConformanceSuite, type SlotKind } from '../conformance/scheduler-suite.js';
import { MemorySlotStore } from '../../slots/memory/index.js';
import { RedisSlotStore } from '../../slots/redis/index.js';
import { PostgresSlotStore } from '../../slots/postgres/index.js';
import { connectPostgres, connectRedis, freshSchema, redisUrl, uniqueName } from '../helpers/services.js';

const memory: SlotKind = {
  label: 'MemorySlot',
  deliveryLog: true,
  async setup() {
    // One store instance shared by every scheduler of the test, as one process would share it.
    const shared = new MemorySlotStore();
    return {
      options: {},
      slotCls: 'MemorySlot',
      register: (scheduler) => scheduler.registerSlotClass('MemorySlot', () => shared),
      createStore: async () => shared,
      cleanup: async () => {},
    };
  },
};

const redis: SlotKind = {
  label: 'RedisSlot',
  deliveryLog: true,
  async setup() {
    (await connectRedis()).disconnect(); // fail loudly, with how to start Redis, if it is down
    const keyPrefix = uniqueName('ts');
    return {
      options: { redis: redisUrl, keyPrefix },
      slotCls: 'RedisSlot',
      createStore: async (name) => new RedisSlotStore({ name, redis: redisUrl, keyPrefix }),
      cleanup: async () => {
        const client = await connectRedis();
        const keys = await client.keys(`{${keyPrefix}:*`);
        if (keys.length) await client.del(...keys);
        client.disconnect();
      },
    };
  },
};

let pool: pg.Pool | undefined;
const postgres: SlotKind = {
  label: 'PostgresSlot',
  deliveryLog: true,
  async setup() {
    pool ??= await connectPostgres({ max: 20 });
    const schema = await freshSchema(pool);
    return {
      options: { postgres: pool, postgresSchema: schema },
      slotCls: 'PostgresSlot',
      createStore: async (name) => new PostgresSlotStore({ name, postgres: pool!, schema }),
      cleanup: async () => {
        await pool!.query(`DROP SCHEMA ${schema} CASCADE`);
      },
    };
  },
};

test.after.always(async () => {
  await pool?.end();
});

for (const kind of [memory, redis, postgres]) schedulerConformanceSuite(test, kind);
