/** The SQL lockstep plus a slot store's own batch calls: each slot store's ceiling, with no Scheduler. */
import type pg from 'pg';
import type { Occupancy, SlotStore } from '../../../src/index.js';
import { PostgresSlotStore } from '../../../slots/postgres/index.js';
import { RedisSlotStore } from '../../../slots/redis/index.js';
import { fmt } from '../../harness/format.js';
import { countPostgres, countRedis, type RoundTrips } from '../../harness/round-trips.js';
import { uniqueName, type Services } from '../../harness/services.js';
import { measure, type Contender, type Drain, type Setup } from '../drain.js';
import { describe, freshQueue, queue, verify } from '../queue.js';
import { sql } from '../statements.js';

export function sqlSlotsContenders({ services, admin, options }: Setup): Contender[] {
  return [
    {
      key: 'sql-redis-slots',
      label: `SQL lockstep + Redis slot store: the lockstep's claim beside endMany (keeping the ${options.slots} slots), then startMany; no Scheduler`,
      drain: (n) => sqlSlotsDrain(services, admin, n, options.slots, 'redis'),
    },
    {
      key: 'sql-pg-slots',
      label: `SQL lockstep + PostgreSQL slot store: the same round on PostgreSQL slots`,
      drain: (n) => sqlSlotsDrain(services, admin, n, options.slots, 'postgres'),
    },
  ];
}

/**
 * The SQL lockstep plus what slots add to it, through the slot store's own batch calls and no
 * Scheduler: each round ends the running slots (keeping them reserved) beside the claim, then
 * starts the claimed jobs in them; the finish goes beside the next claim. This is the round ours
 * makes, without the Node code around it: the ceiling of each slot store on this machine.
 */
async function sqlSlotsDrain(services: Services, admin: pg.Pool, jobs: number, slots: number, kind: 'redis' | 'postgres'): Promise<Drain> {
  const q = await freshQueue(services, admin, jobs, 3); // the third for verify
  const name = uniqueName('bench_pq');
  let store: SlotStore & Required<Pick<SlotStore, 'startMany' | 'endMany'>>;
  let storeCounter: RoundTrips;
  let cleanup = async () => {};
  if (kind === 'redis') {
    const client = await services.redis();
    storeCounter = countRedis(client);
    store = new RedisSlotStore({ name, redis: client, keyPrefix: services.keyPrefix });
  } else {
    const slotSchema = services.newSchema('bench_slots');
    const slotPool = await services.postgres(2);
    storeCounter = countPostgres(slotPool);
    store = new PostgresSlotStore({ name, postgres: slotPool, schema: slotSchema });
    cleanup = async () => {
      await slotPool.end().catch(() => {});
      await services.dropSchema(admin, slotSchema);
    };
  }
  const [fetcher, finisher] = [await q.pool.connect(), await q.pool.connect()];
  try {
    const slotIds = Array.from({ length: slots }, (_, i) => String(i + 1));
    await store.init(slotIds);
    const workerId = (await fetcher.query<{ worker_id: string }>(sql.register)).rows[0]!.worker_id;
    const backend = 'Procrastinate';
    const lease = { owner: 'bench', leaseMs: 60_000 };
    const claim = async () => (await fetcher.query<{ id: string }>(sql.fetchBatch, [[queue], workerId, slots])).rows.map((r) => r.id);
    let statements = 0;
    let finishing: Promise<unknown> | undefined;
    storeCounter.reset();
    const stop = measure();
    const began = performance.now();
    let reserved = (await store.beginPass({ slotIds, ...lease, deliverable: [backend], retentionMs: 60_000, limit: 100 })).reserved;
    let running: Occupancy[] = [];
    for (;;) {
      statements++;
      const [ids, ended] = await Promise.all([
        claim(),
        running.length === 0
          ? []
          : store.endMany(
              running.map((o) => ({
                taskId: o.taskId,
                token: o.token,
                reason: 'stopped',
                status: 'succeeded',
                deliverable: [backend],
                retentionMs: 60_000,
                reserve: lease,
              })),
            ),
      ]);
      for (const result of ended) {
        if (!result.ok || !result.reserved) throw new Error(`end of ${JSON.stringify(result)} did not keep its slot`);
        reserved.push(result.reserved);
      }
      // At most one finish in flight, as ours and the lockstep.
      await finishing;
      if (running.length > 0) {
        statements++;
        finishing = finisher.query(sql.finishMany, [running.map((o) => o.taskId), 'succeeded', false]);
        finishing.catch(() => {}); // awaited at the next round, or after the loop
      }
      const starting = reserved.slice(0, ids.length);
      reserved = reserved.slice(ids.length);
      if (ids.length === 0) break;
      const started = await store.startMany(
        starting.map((r, i) => ({ ...r, taskId: ids[i]!, backend, timeoutMs: 300_000, maxRuntimeMs: null })),
      );
      running = started.map((result) => {
        if (!result.ok) throw new Error(`start refused: ${result.reason}`);
        return result.occupancy;
      });
    }
    await store.release(reserved);
    await finishing;
    const elapsedMs = performance.now() - began;
    const measured = stop();
    await verify(q.pool, jobs, `SQL lockstep + ${kind} slots`);
    await q.pool.query(sql.unregister, [workerId]);
    const requests = `SQL ${fmt(statements / jobs, 2)}; ${describe(kind === 'redis' ? 'Redis' : 'slots SQL', storeCounter, jobs)}`;
    return { contender: `sql-${kind}-slots`, jobsPerSec: (jobs / elapsedMs) * 1000, elapsedMs, requests, ...measured };
  } finally {
    fetcher.release();
    finisher.release();
    await store.close();
    await q.drop();
    await cleanup();
  }
}
