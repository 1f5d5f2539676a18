/**
 * Our W5 contender: permits of `limit` slots on Redis, taken with `scheduler.acquire` (one round
 * trip; waiting callers queue in the store, first come first served, woken by its `granted`
 * event) and given back with `scheduler.stop` (one round trip, batched with the other stops of
 * the same tick). The slots list no backend, so no pass ever reserves them.
 */
import type { Redis } from 'ioredis';
import { Scheduler } from '../../../src/index.js';
import type { Permits } from '../../cycles/store-permits.js';
import { uniqueName } from '../../harness/services.js';

export type { Permits } from '../../cycles/store-permits.js';

/** Permits of `limit` Redis slots; `wait`: an acquire waits for a free slot rather than failing. */
export async function ourPermits(client: Redis, keyPrefix: string, limit: number, wait: boolean): Promise<Permits> {
  const scheduler = new Scheduler({ name: uniqueName('w5'), redis: client, keyPrefix, logger: false });
  await scheduler.load(Array.from({ length: limit }, (_, i) => ({ slotId: i + 1, backends: [], timeout: '60s' })));
  return {
    async acquire(taskId) {
      const acquired = await scheduler.acquire(taskId, { wait });
      if (!acquired.ok) throw new Error(`W5: acquire of ${taskId} answered ${acquired.reason}`);
      return { taskId, token: acquired.token };
    },
    release: async ({ taskId }) => void (await scheduler.stop(taskId)),
    close: () => scheduler.close(),
  };
}
