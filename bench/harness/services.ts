/**
 * The services of a bench run: connections to Redis and PostgreSQL (REDIS_URL, DATABASE_URL),
 * per-run isolation (a random Redis key prefix, a fresh PostgreSQL schema) and its cleanup.
 */
import { randomBytes } from 'node:crypto';
import { Redis, type RedisOptions } from 'ioredis';
import pg from 'pg';

export type StoreKind = 'memory' | 'redis' | 'postgres';

export const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
export const databaseUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** A random name for one run's keys, schema or scheduler. */
export function uniqueName(prefix: string): string {
  return `${prefix}_${randomBytes(5).toString('hex')}`;
}

/**
 * The options RedisSlotStore uses for a client it opens from a URL (see `ownedClientOptions` in
 * slots/redis/redis-store.ts), so that a client passed in by a benchmark behaves the same. No
 * auto-pipelining, as there and as ioredis has it by default: with it, a command waits until
 * every reply of the batch already sent on its connection is in, so the jobs of one process
 * sharing a client (W4's probe, its job-alone and redis-semaphore loops) would wait for each other.
 */
export const storeLikeRedisOptions: RedisOptions = {
  maxRetriesPerRequest: 3,
  connectTimeout: 5000,
  lazyConnect: true,
};

export async function connectRedis(options: RedisOptions = storeLikeRedisOptions): Promise<Redis> {
  const client = new Redis(redisUrl, { ...options, lazyConnect: true });
  client.on('error', () => {}); // reported by the failed ping below
  try {
    await client.connect();
    await client.ping();
  } catch (error) {
    client.disconnect();
    throw new Error(`Redis is not reachable at ${redisUrl} (set REDIS_URL): ${String(error)}`);
  }
  return client;
}

/**
 * A pool like the one PostgresSlotStore opens from a URL (max 10). `config` adds settings, e.g.
 * `{ options: '-c search_path=<schema>' }` for a Procrastinate schema.
 */
export async function connectPostgres(max = 10, config: pg.PoolConfig = {}): Promise<pg.Pool> {
  const pool = new pg.Pool({ connectionString: databaseUrl, max, connectionTimeoutMillis: 5000, ...config });
  pool.on('error', () => {});
  try {
    await pool.query('SELECT 1');
  } catch (error) {
    await pool.end().catch(() => {});
    throw new Error(`PostgreSQL is not reachable at ${databaseUrl} (set DATABASE_URL): ${String(error)}`);
  }
  return pool;
}

/** Deletes every key of a key prefix: the store's keys all start with `{prefix:`. */
export async function deleteRedisPrefix(client: Redis, keyPrefix: string): Promise<number> {
  let deleted = 0;
  for (const pattern of [`{${keyPrefix}:*`, `${keyPrefix}*`, `semaphore:${keyPrefix}*`]) {
    let cursor = '0';
    do {
      const [next, keys] = await client.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) deleted += await client.unlink(...keys);
    } while (cursor !== '0');
  }
  return deleted;
}

export async function dropSchema(pool: pg.Pool, schema: string): Promise<void> {
  await pool.query(`DROP SCHEMA IF EXISTS ${pg.escapeIdentifier(schema)} CASCADE`);
}

/**
 * Removes what a `Services` of `runId` may have left (its process killed before its own
 * cleanup): the keys of its prefix and every schema whose name holds the id. Returns what it did,
 * or '' when there was nothing.
 */
export async function cleanupRunId(runId: string): Promise<string> {
  const done: string[] = [];
  const client = await connectRedis();
  try {
    const deleted = await deleteRedisPrefix(client, `bench_${runId}`);
    if (deleted > 0) done.push(`deleted ${deleted} Redis keys`);
  } finally {
    client.disconnect();
  }
  const pool = await connectPostgres(1);
  try {
    const { rows } = await pool.query<{ nspname: string }>('SELECT nspname FROM pg_namespace WHERE strpos(nspname, $1) > 0', [runId]);
    for (const { nspname } of rows) await dropSchema(pool, nspname);
    if (rows.length > 0) done.push(`dropped ${rows.map((r) => r.nspname).join(', ')}`);
  } finally {
    await pool.end();
  }
  return done.join('; ');
}

/**
 * The services of one bench run: clients and pools made on demand (each benchmark gets its own,
 * so that the counters wrapped around them stay separate), one key prefix and one schema for the
 * whole run, and the cleanup that deletes both and closes every connection.
 */
export class Services {
  readonly keyPrefix: string;
  readonly schema: string;
  private readonly clients: Redis[] = [];
  private readonly pools: pg.Pool[] = [];
  private schemaUsed = false;
  /** Schemas handed out by `newSchema` and not yet dropped. */
  private readonly extraSchemas = new Set<string>();
  private schemasMade = 0;

  /**
   * @param autoPipelining - of the Redis clients handed out: off, as in the store's own client, or on.
   * @param runId - names the key prefix and every schema after it (`bench_<runId>…`), so that a
   *   parent that gave it can clean up after a process that died before its own cleanup
   *   (`cleanupRunId`); random by default.
   */
  constructor(
    readonly autoPipelining = false,
    private readonly runId?: string,
  ) {
    this.keyPrefix = runId ? `bench_${runId}` : uniqueName('bench');
    this.schema = runId ? `bench_${runId}` : uniqueName('bench');
  }

  async redis(): Promise<Redis> {
    const client = await connectRedis({ ...storeLikeRedisOptions, enableAutoPipelining: this.autoPipelining });
    this.clients.push(client);
    return client;
  }

  /** A pool; the run's schema is created by the first store that migrates it, and dropped by cleanup. */
  async postgres(max = 10, config: pg.PoolConfig = {}): Promise<pg.Pool> {
    const pool = await connectPostgres(max, config);
    this.pools.push(pool);
    this.schemaUsed = true;
    return pool;
  }

  /**
   * A fresh schema name of its own (the caller creates the schema, or has a library create it),
   * dropped by `dropSchema` or, at the latest, by cleanup.
   */
  newSchema(prefix = 'bench'): string {
    const schema = this.runId ? `${prefix}_${this.runId}_${++this.schemasMade}` : uniqueName(prefix);
    this.extraSchemas.add(schema);
    this.schemaUsed = true;
    return schema;
  }

  /** Drops a schema of `newSchema` now, over `pool`. */
  async dropSchema(pool: pg.Pool, schema: string): Promise<void> {
    await dropSchema(pool, schema);
    this.extraSchemas.delete(schema);
  }

  /**
   * Closes the run's connections first, so that nothing still running (a run cut short) writes
   * after the keys are deleted, then deletes the keys and drops the schema over fresh connections.
   */
  async cleanup(): Promise<string> {
    for (const client of this.clients) client.disconnect();
    // pool.end() waits for clients still checked out: a run cut short mid-query must not keep the
    // schemas from being dropped, so give it 3 s.
    await Promise.race([
      Promise.allSettled(this.pools.map((pool) => pool.end())),
      new Promise((resolve) => setTimeout(resolve, 3000).unref()),
    ]);
    const done: string[] = [];
    if (this.clients.length > 0) {
      const client = await connectRedis();
      try {
        done.push(`deleted ${await deleteRedisPrefix(client, this.keyPrefix)} Redis keys of prefix ${this.keyPrefix}`);
      } finally {
        client.disconnect();
      }
    }
    if (this.schemaUsed) {
      const pool = await connectPostgres(1);
      try {
        await dropSchema(pool, this.schema);
        done.push(`dropped schema ${this.schema}`);
        // A run cut short may still be working in one (e.g. graphile-worker's own connections):
        // its DROP can then fail on a deadlock or a lock; try again, and drop the others anyway.
        const failed: string[] = [];
        for (const schema of this.extraSchemas) {
          for (let attempt = 1; ; attempt++) {
            try {
              await dropSchema(pool, schema);
              done.push(`dropped schema ${schema}`);
              break;
            } catch (error) {
              if (attempt === 5) {
                failed.push(`${schema} (${String(error)})`);
                break;
              }
              await new Promise((resolve) => setTimeout(resolve, 500));
            }
          }
        }
        this.extraSchemas.clear();
        if (failed.length > 0) throw new Error(`could not drop schema(s), drop them by hand: ${failed.join(', ')}`);
      } finally {
        await pool.end();
      }
    }
    return done.join('; ');
  }
}
