/**
 * Our W5 contender, behind this one adapter: permits of `limit` slots on Redis, taken and given
 * back. Today it is the store-level cycle of the `cycles` benchmark (cycles/store-permits.ts:
 * `beginPass` reserving one idle slot, `start`, then `end`), which waits for a slot through the
 * store's `freed` events when it must. Once the Scheduler has its own acquire, the body becomes:
 *
 *   const scheduler = new Scheduler({ name: uniqueName('w5'), redis: client, keyPrefix });
 *   await scheduler.load(slotIds.map((slotId) => ({ slotId, backends: [] })));
 *   return {
 *     acquire: async (taskId) => ({ taskId, token: (await scheduler.acquire(taskId, { wait })).token }),
 *     release: async ({ taskId }) => void (await scheduler.stop(taskId)),
 *     close: () => scheduler.close(),
 *   };
 */
import type { Redis } from 'ioredis';
import { RedisSlotStore } from '../../../slots/redis/index.js';
import { storePermits, type Permits } from '../../cycles/store-permits.js';
import { uniqueName } from '../../harness/services.js';

export type { Permits } from '../../cycles/store-permits.js';

/** Permits of `limit` Redis slots; `wait`: an acquire waits for a free slot rather than failing. */
export async function ourPermits(client: Redis, keyPrefix: string, limit: number, wait: boolean): Promise<Permits> {
  const store = new RedisSlotStore({ name: uniqueName('w5'), redis: client, keyPrefix });
  const slotIds = Array.from({ length: limit }, (_, i) => String(i + 1));
  await store.init(slotIds);
  const permits = await storePermits(store, slotIds, { owner: `bench:${process.pid}`, wait: wait ? { retryMs: 50 } : undefined });
  return {
    acquire: (taskId) => permits.acquire(taskId),
    release: (permit) => permits.release(permit),
    close: async () => {
      await permits.close();
      await store.close();
    },
  };
}
