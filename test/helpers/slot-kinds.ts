/**
 * The three built-in slot kinds on the real servers, as the scheduler conformance suite and the
 * fuzz tests set them up: a memory store shared by a test's schedulers, Redis under a key prefix
 * of the test's own, PostgreSQL in a schema of the test's own. Call `closeSlotKinds()` after all
 * tests of a file.
 */
import type pg from 'pg';
import { MemorySlotStore } from '../../slots/memory/index.js';
import { PostgresSlotStore } from '../../slots/postgres/index.js';
import { RedisSlotStore } from '../../slots/redis/index.js';
import type { SlotKind } from '../../src/testing/scheduler-kit.js';
import { connectPostgres, connectRedis, freshSchema, redisUrl, uniqueName } from './services.js';

/**
 * The suites break callbacks and poll bad ids on purpose, and judge by their assertions, not by log
 * lines: their schedulers log nothing unless a test passes a logger of its own.
 */
const quiet = { logger: false } as const;

export const memoryKind: SlotKind = {
  label: 'MemorySlot',
  deliveryLog: true,
  async setup() {
    // One store instance shared by every scheduler of the test, as one process would share it.
    const shared = new MemorySlotStore();
    return {
      options: { ...quiet },
      slotCls: 'MemorySlot',
      register: (scheduler) => scheduler.registerSlotClass('MemorySlot', () => shared),
      createStore: async () => shared,
      cleanup: async () => {},
    };
  },
};

export const redisKind: SlotKind = {
  label: 'RedisSlot',
  deliveryLog: true,
  async setup() {
    (await connectRedis()).disconnect(); // fail loudly, with how to start Redis, if it is down
    const keyPrefix = uniqueName('ts');
    return {
      options: { ...quiet, redis: redisUrl, keyPrefix },
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

export const postgresKind: SlotKind = {
  label: 'PostgresSlot',
  deliveryLog: true,
  async setup() {
    pool ??= await connectPostgres({ max: 20 });
    const schema = await freshSchema(pool);
    return {
      options: { ...quiet, postgres: pool, postgresSchema: schema },
      slotCls: 'PostgresSlot',
      createStore: async (name) => new PostgresSlotStore({ name, postgres: pool!, schema }),
      cleanup: async () => {
        await pool!.query(`DROP SCHEMA ${schema} CASCADE`);
      },
    };
  },
};

export const builtInSlotKinds: readonly SlotKind[] = [memoryKind, redisKind, postgresKind];

/** Ends the pool the PostgreSQL kind opened, if any. */
export async function closeSlotKinds(): Promise<void> {
  await pool?.end();
  pool = undefined;
}
