/**
 * Pass cost vs slot count: `schedule()` over N idle slots whose only backend is empty. Every slot
 * is reserved by the pass, polled (the empty backend is asked once per pass, then skipped), and
 * released. Reports store round trips per pass (counted exactly on the client) and milliseconds
 * per pass, split into time waiting on the store and the rest (the Scheduler's own work).
 */
import type { Redis } from 'ioredis';
import type pg from 'pg';
import { Backend, Scheduler } from '../src/index.js';
import { countPostgres, countRedis, fmt, summarize, uniqueName, type RoundTrips, type Row } from './common.js';

/** Never has a task. */
class Empty extends Backend {
  poll(): null {
    return null;
  }
  startCallback(): void {}
}

export interface PassCostOptions {
  slotCounts: readonly number[];
  passes: number;
  warmup: number;
  redis?: { client: Redis; keyPrefix: string };
  postgres?: { pool: pg.Pool; schema: string };
}

export async function passCost(options: PassCostOptions): Promise<Row[]> {
  const rows: Row[] = [];
  const targets: Array<{ store: string; counter: RoundTrips; schedulerOptions: object }> = [];
  if (options.redis) {
    const { client, keyPrefix } = options.redis;
    targets.push({ store: 'redis', counter: countRedis(client), schedulerOptions: { redis: client, keyPrefix } });
  }
  if (options.postgres) {
    const { pool, schema } = options.postgres;
    targets.push({ store: 'postgres', counter: countPostgres(pool), schedulerOptions: { postgres: pool, postgresSchema: schema } });
  }
  for (const { store, counter, schedulerOptions } of targets) {
    for (const slots of options.slotCounts) {
      const scheduler = new Scheduler({ name: uniqueName('pass'), ...schedulerOptions });
      scheduler.registerBackend('Empty', Empty);
      try {
        await scheduler.load(Array.from({ length: slots }, (_, i) => ({ slotId: i + 1, backends: ['Empty'] })));
        for (let i = 0; i < options.warmup; i++) await scheduler.schedule();
        const ms: number[] = [];
        const storeMs: number[] = [];
        const trips: number[] = [];
        let breakdown = '';
        let polls = 0;
        for (let i = 0; i < options.passes; i++) {
          counter.reset();
          const began = performance.now();
          const report = await scheduler.schedule();
          ms.push(performance.now() - began);
          storeMs.push(counter.busyMs);
          trips.push(counter.total);
          breakdown = counter.describe();
          polls = report.polls;
          if (report.released !== slots) throw new Error(`expected ${slots} released slots, got ${report.released}`);
        }
        const t = summarize(trips);
        const total = summarize(ms);
        const inStore = summarize(storeMs);
        rows.push({
          store,
          slots: fmt(slots, 0),
          'round trips/pass': t.min === t.max ? t.min : `${t.min}–${t.max}`,
          requests: breakdown,
          polls,
          'ms/pass median': fmt(total.median),
          'ms/pass p95': fmt(total.p95),
          'waiting on store ms (median)': fmt(inStore.median),
          'rest ms (median)': fmt(total.median - inStore.median),
        });
      } finally {
        await scheduler.close();
      }
    }
  }
  return rows;
}
