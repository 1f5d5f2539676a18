/**
 * W6 one pass over N idle slots whose only backend is empty (the `pass` benchmark's
 * measurePasses), at each slot count on Redis and on PostgreSQL slots: ms per pass, store round
 * trips per pass, and the store's bytes per slot, measured once the slots are loaded: Redis,
 * MEMORY USAGE of the run's keys; PostgreSQL, pg_total_relation_size of the schema's tables
 * against the freshly migrated schema. No peer: the target is round trips that do not grow
 * with the slot count.
 */
import pg from 'pg';
import { migrate } from '../../../slots/postgres/migrate.js';
import { fmt } from '../../harness/format.js';
import type { Services } from '../../harness/services.js';
import { countedStore } from '../../harness/store.js';
import { measurePasses } from '../../pass/index.js';
import type { ContenderInfo, Measured } from '../model.js';
import type { RunContext, WorkloadSpec } from '../workload.js';

const label = (store: string) => (store === 'redis' ? 'Redis' : 'PostgreSQL');

export const w6: WorkloadSpec = {
  describe(o) {
    const contenders: ContenderInfo[] = ['redis', 'postgres'].flatMap((store) =>
      o.w6SlotCounts.map((n) => ({
        key: `${store}-${n}`,
        label: `task-semaphore, ${fmt(n, 0)} ${label(store)} slots`,
        short: `${label(store)}, ${fmt(n, 0)} slots`,
        ours: true,
      })),
    );
    return {
      key: 'W6',
      title: `W6 one pass over N idle slots, empty backend: ${o.w6Passes} passes after 2 unmeasured, at ${o.w6SlotCounts.map((n) => fmt(n, 0)).join(', ')} slots`,
      metrics: [
        { key: 'ms', label: 'ms/pass', better: 'lower', decimals: 2 },
        { key: 'trips', label: 'round trips/pass', better: 'lower', decimals: 0 },
        { key: 'bytesPerSlot', label: 'bytes/slot', better: 'lower', decimals: 0 },
      ],
      contenders,
      pairs: [],
      notes: [
        'Bytes per slot, measured once the slots are loaded (idle): Redis, the sum of MEMORY USAGE (SAMPLES 0) over the run’s keys, after the load minus before it; PostgreSQL, pg_total_relation_size (indexes included) of the schema’s tables after the load minus after the migration. Tables grow by 8 kB pages, so small slot counts overstate it.',
      ],
    };
  },

  async run(contender: string, { services, options: o }: RunContext): Promise<Measured> {
    const [store, count] = contender.split('-') as ['redis' | 'postgres', string];
    const slots = Number(count);
    const { options, counter, pool } = await countedStore(services, store);
    const size = store === 'redis' ? await redisBytes(services) : await postgresBytes(pool!, services.schema);
    const before = await size();
    let after = NaN;
    const measured = await measurePasses(options, counter, slots, { passes: o.w6Passes, warmup: 2, budgetMs: 60_000 }, async () => {
      after = await size();
    });
    const { min, max } = measured.trips;
    return {
      metrics: { ms: measured.ms.median, trips: max, bytesPerSlot: (after - before) / slots },
      details: [`${measured.requests}${min === max ? '' : `; round trips varied ${min}–${max}`}; ms/pass p95 ${fmt(measured.ms.p95)}`],
    };
  },
};

/** The bytes of the run's Redis keys (the store's keys all start with `{prefix:`). */
async function redisBytes(services: Services): Promise<() => Promise<number>> {
  const client = await services.redis();
  return async () => {
    let bytes = 0;
    let cursor = '0';
    do {
      const [next, keys] = await client.scan(cursor, 'MATCH', `{${services.keyPrefix}:*`, 'COUNT', 1000);
      cursor = next;
      for (const key of keys) bytes += Number((await client.call('MEMORY', 'USAGE', key, 'SAMPLES', '0')) ?? 0);
    } while (cursor !== '0');
    return bytes;
  };
}

/** The bytes of the schema's tables with their indexes; the schema is migrated first, so that the baseline is the empty store. */
async function postgresBytes(pool: pg.Pool, schema: string): Promise<() => Promise<number>> {
  const client = await pool.connect();
  try {
    await migrate(client, schema, pg.escapeIdentifier(schema));
  } finally {
    client.release();
  }
  return async () => {
    const { rows } = await pool.query<{ bytes: string }>(
      `SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) AS bytes
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = $1 AND c.relkind = 'r'`,
      [schema],
    );
    return Number(rows[0]!.bytes);
  };
}
