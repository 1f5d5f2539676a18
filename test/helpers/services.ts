/**
 * The real Redis and PostgreSQL the tests talk to, and per-test isolation: a random key prefix for
 * Redis, a fresh schema for PostgreSQL. A missing service fails the test loudly with the command
 * that starts it; nothing is skipped.
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import pg from 'pg';

export const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
export const databaseUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

const howToStartRedis =
  'start it with: redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no ' + '(or set REDIS_URL)';
const howToStartPostgres =
  'start it with: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start ' + '(or set DATABASE_URL)';

/** A random name for one test's keys, schema or scheduler. */
export function uniqueName(prefix = 't'): string {
  return `${prefix}_${randomBytes(6).toString('hex')}`;
}

/** A connected ioredis client; throws with how to start Redis if it cannot connect. */
export async function connectRedis(): Promise<Redis> {
  const client = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1, connectTimeout: 3000 });
  client.on('error', () => {}); // reported through the failed ping below
  try {
    await client.connect();
    await client.ping();
  } catch (error) {
    client.disconnect();
    throw new Error(`Redis is not reachable at ${redisUrl}: ${String(error)}; ${howToStartRedis}`);
  }
  return client;
}

/** A pg Pool on the test database; throws with how to start PostgreSQL if it cannot connect. */
export async function connectPostgres(options: pg.PoolConfig = {}): Promise<pg.Pool> {
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 10, ...options });
  pool.on('error', () => {}); // idle-client errors; queries report their own
  try {
    await pool.query('SELECT 1');
  } catch (error) {
    await pool.end().catch(() => {});
    throw new Error(`PostgreSQL is not reachable at ${databaseUrl}: ${String(error)}; ${howToStartPostgres}`);
  }
  return pool;
}

/** Creates a fresh schema for one test and returns its name. It is left behind for inspection. */
export async function freshSchema(pool: pg.Pool): Promise<string> {
  const schema = uniqueName('ts');
  await pool.query(`CREATE SCHEMA ${schema}`);
  return schema;
}

/**
 * How many connections still LISTEN for the store events of `schema` (the PostgreSQL store's
 * channel, as postgres-store.ts names it), once those that are ending have gone: an ended
 * connection leaves pg_stat_activity a moment later, one left open never does (waits up to 10 s).
 */
export async function storeListenersLeft(admin: pg.Pool, schema: string): Promise<number> {
  const listening = `LISTEN "${`task_semaphore_events:${schema}`.slice(0, 63)}"`;
  const count = async () =>
    Number((await admin.query<{ n: string }>('SELECT count(*) AS n FROM pg_stat_activity WHERE query = $1', [listening])).rows[0]!.n);
  for (let waited = 0; waited < 10_000 && (await count()) > 0; waited += 50) await new Promise((resolve) => setTimeout(resolve, 50));
  return count();
}
