/**
 * Reserve+start+stop cycles per second, measured at the store level (the SlotStore contract, as
 * the Scheduler drives it): one cycle is `beginPass` reserving the caller's slot, `start` of a
 * fresh task id in it, and `end` (reason `stopped`) freeing it: three store requests. Each of C
 * callers loops on its own slot, so cycles never contend.
 *
 * For comparison, in the same run and on the same Redis: redis-semaphore's `Semaphore` with a
 * limit of C, C callers each looping `new Semaphore(...)`, `acquire()`, `release()` (its documented
 * use; two requests per cycle). The limit equals the callers so that no acquire ever waits on
 * its retry interval: both libraries are measured uncontended.
 */
import { MemorySlotStore, type SlotStore } from '../../src/index.js';
import { PostgresSlotStore } from '../../slots/postgres/index.js';
import { RedisSlotStore } from '../../slots/redis/index.js';
import { fmt, type Row } from '../harness/format.js';
import { countPostgres, countRedis, type RoundTrips } from '../harness/round-trips.js';
import { uniqueName, type Services, type StoreKind } from '../harness/services.js';
import { throughput } from '../harness/timing.js';
import { loadRedisSemaphore } from './redis-semaphore.js';
import { storePermits, type Permits } from './store-permits.js';

export interface CyclesOptions {
  stores: readonly StoreKind[];
  concurrency: readonly number[];
  durationMs: number;
}

export async function cycles(services: Services, options: CyclesOptions): Promise<{ rows: Row[]; notes: string[] }> {
  const rows: Row[] = [];
  const notes: string[] = [];
  const maxConcurrency = Math.max(...options.concurrency);
  const slotIds = Array.from({ length: maxConcurrency }, (_, i) => String(i + 1));
  const ours = new Map<string, number>(); // `${store}/${c}` -> cycles/s

  const owner = `bench:${process.pid}`;
  /** One cycle of `worker` on its own slot, with a task id unique to `i`. */
  async function cycle(permits: readonly Permits[], worker: number, i: number): Promise<void> {
    await permits[worker]!.release(await permits[worker]!.acquire(`w${worker}-${i}`));
  }

  for (const kind of options.stores) {
    const name = uniqueName('cycles');
    let store: SlotStore;
    let counter: RoundTrips | undefined;
    if (kind === 'memory') store = new MemorySlotStore();
    else if (kind === 'redis') {
      const client = await services.redis();
      counter = countRedis(client);
      store = new RedisSlotStore({ name, redis: client, keyPrefix: services.keyPrefix });
    } else {
      const pool = await services.postgres();
      counter = countPostgres(pool);
      store = new PostgresSlotStore({ name, postgres: pool, schema: services.schema });
    }
    await store.init(slotIds);
    const permits = await Promise.all(slotIds.map((slotId) => storePermits(store, [slotId], { owner })));
    await cycle(permits, 0, 0); // warm: scripts cached on the server, connections open
    counter?.reset();
    await cycle(permits, 0, 1);
    const perCycle = counter ? `${counter.total} (${counter.describe()})` : 'none (in process)';
    let offset = 2; // task ids stay unique across measurements
    for (const c of options.concurrency) {
      const result = await throughput(c, options.durationMs, (worker, i) => cycle(permits, worker, offset + i));
      offset += 10_000_000;
      ours.set(`${kind}/${c}`, result.opsPerSec);
      rows.push({
        library: 'task-semaphore',
        store: kind,
        callers: c,
        'requests/cycle': perCycle,
        'cycles/s': fmt(result.opsPerSec, 0),
        'ours ÷ redis-semaphore': '',
      });
    }
    await store.close();
  }

  if (options.stores.includes('redis')) {
    const loaded = loadRedisSemaphore();
    if ('error' in loaded) notes.push(loaded.error);
    else {
      const client = await services.redis();
      const counter = countRedis(client);
      const { Semaphore } = loaded;
      for (const c of options.concurrency) {
        const key = `${services.keyPrefix}:semaphore:${c}`;
        const once = async () => {
          const semaphore = new Semaphore(client, key, c);
          await semaphore.acquire();
          await semaphore.release();
        };
        await once();
        counter.reset();
        await once();
        const perCycle = `${counter.total} (${counter.describe().replace(/evalsha:\w+/, 'evalsha')})`;
        const result = await throughput(c, options.durationMs, once);
        const ratio = ours.get(`redis/${c}`)! / result.opsPerSec;
        rows.push({
          library: `redis-semaphore ${loaded.version}`,
          store: 'redis',
          callers: c,
          'requests/cycle': perCycle,
          'cycles/s': fmt(result.opsPerSec, 0),
          'ours ÷ redis-semaphore': '',
        });
        const oursRow = rows.find((r) => r.library === 'task-semaphore' && r.store === 'redis' && r.callers === c);
        if (oursRow) oursRow['ours ÷ redis-semaphore'] = fmt(ratio, 2);
      }
    }
  }
  return { rows, notes };
}
