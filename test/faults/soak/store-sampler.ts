/**
 * The soak's look at the slot store, from outside the workers: how many keys or rows it holds and
 * how much memory or disk they take. A store that grows with the tasks it has seen (a log never
 * trimmed, tombstones never pruned) shows here. Read-only: it never touches what it measures.
 */
import pg from 'pg';
import { Redis } from 'ioredis';
import type { WorkerConfig } from '../harness/worker-config.js';

/** Named figures of one look; `rows:`/`keys:`/`size:` names are judged flat, `bytes:` ones reported. */
export type StoreFigures = Record<string, number>;

export interface StoreSampler {
  sample(): Promise<StoreFigures>;
  close(): Promise<void>;
}

/** The slot tables of the PostgreSQL store (slots/postgres/sql/migrate-*.sql). */
const postgresTables = [
  'task_semaphore_slots',
  'task_semaphore_ended',
  'task_semaphore_occupancy_ends',
  'task_semaphore_outbox',
  'task_semaphore_deliveries',
] as const;

/** @throws Error for a Redis Cluster, which the soak does not run on (its keys spread over nodes). */
export function storeSampler(store: WorkerConfig['store']): StoreSampler {
  if (store.kind === 'redis-cluster') throw new Error('the soak samples a redis or postgres store; got redis-cluster');
  return store.kind === 'redis' ? redisSampler(store.url) : postgresSampler(store.url, store.schema);
}

/**
 * Redis: every key with its element count (`size:<key>`), the number of keys (`keys:total`),
 * and the server's memory (`bytes:used_memory`).
 */
function redisSampler(url: string): StoreSampler {
  const redis = new Redis(url, { maxRetriesPerRequest: 3 });
  redis.on('error', () => {});
  const sizeOf = async (key: string): Promise<number> => {
    const type = await redis.type(key);
    if (type === 'hash') return redis.hlen(key);
    if (type === 'zset') return redis.zcard(key);
    if (type === 'list') return redis.llen(key);
    if (type === 'set') return redis.scard(key);
    return 1;
  };
  return {
    async sample() {
      const figures: StoreFigures = { 'keys:total': await redis.dbsize() };
      // SCAN, not KEYS: a store of a few keys, but the habit costs nothing.
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'COUNT', 1000);
        cursor = next;
        for (const key of keys) figures[`size:${key}`] = await sizeOf(key);
      } while (cursor !== '0');
      const memory = /used_memory:(\d+)/.exec(await redis.info('memory'));
      figures['bytes:used_memory'] = Number(memory?.[1] ?? NaN);
      return figures;
    },
    async close() {
      redis.disconnect();
    },
  };
}

/** PostgreSQL: the rows of each slot table (`rows:<table>`) and its size on disk with indexes (`bytes:<table>`). */
function postgresSampler(url: string, schema: string): StoreSampler {
  const pool = new pg.Pool({ connectionString: url, max: 1 });
  pool.on('error', () => {});
  return {
    async sample() {
      const figures: StoreFigures = {};
      for (const table of postgresTables) {
        const name = pg.escapeIdentifier(schema) + '.' + pg.escapeIdentifier(table);
        const { rows } = await pool.query<{ n: string; bytes: string }>(
          `SELECT (SELECT count(*) FROM ${name}) AS n, pg_total_relation_size($1::regclass) AS bytes`,
          [name],
        );
        figures[`rows:${table}`] = Number(rows[0]!.n);
        figures[`bytes:${table}`] = Number(rows[0]!.bytes);
      }
      return figures;
    },
    async close() {
      await pool.end();
    },
  };
}
